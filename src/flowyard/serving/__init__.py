"""Model serving: InferenceGraph -> in-process graph engine -> V2 / Seldon REST.

    InferenceGraph (resource) -> GraphEngine (predictors -> NodeExec -> Runtime)
                              -> DataPlane -> REST routes (Starlette) -> uvicorn

Use it as a library (`GraphEngine(graph).load()`, then `await engine.predict(Payload(X))`),
or serve a file: `flowyard serve graph.yaml --port 8080` (or `python -m flowyard.serving`).
"""

from __future__ import annotations

from flowyard.serving.config import load_graph, parse_graph
from flowyard.serving.dataplane import DataPlane
from flowyard.serving.graph import GraphEngine
from flowyard.serving.runtimes import Runtime, RuntimeContext
from flowyard.serving.server import build_app, build_engine, serve
from flowyard.serving.state import JsonFileStateStore, MemoryStateStore, StateStore
from flowyard.serving.types import Feedback, Payload, Prediction

__all__ = [
    "DataPlane",
    "Feedback",
    "GraphEngine",
    "JsonFileStateStore",
    "MemoryStateStore",
    "Payload",
    "Prediction",
    "Runtime",
    "RuntimeContext",
    "StateStore",
    "build_app",
    "build_engine",
    "load_graph",
    "parse_graph",
    "serve",
]
