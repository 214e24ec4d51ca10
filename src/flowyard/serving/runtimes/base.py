"""The node contract, Seldon's: one class, each method optional.

A runtime is what the graph engine calls for one node. The base class gives every method a
neutral default (predict and the transforms pass data through, metrics and tags are empty),
so a prepackaged server overrides only what it implements and a user class wrapped by
`PythonClassRuntime` defines only what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowyard.errors import ConfigError
from flowyard.resources.inference_graph import Node
from flowyard.serving import sources
from flowyard.serving.errors import ModelError


@dataclass
class RuntimeContext:
    """What a runtime may need from its surroundings: file locations and transports."""

    graph: str
    predictor: str
    base_dir: Path
    cache_dir: Path
    storage_options: dict[str, Any] = field(default_factory=dict)
    http_transport: Any = None
    """An httpx async transport for REMOTE nodes; None uses real sockets (tests pass ASGI)."""


class Runtime:
    """Base of every node runtime. Methods mirror Seldon's Python component contract."""

    output_name = "output-0"
    """V2 output name used when the node returns one tensor."""
    remote = False
    lineage: dict[str, Any] | None = None
    """Where the model came from (modelUri; run, step, artifact, digest for `run:`)."""

    def __init__(self, node: Node, ctx: RuntimeContext) -> None:
        self.node = node
        self.name = node.name
        self.ctx = ctx
        self.params: dict[str, Any] = node.params()

    # -- life cycle
    def load(self) -> None:
        """Load weights; raising here leaves the node not ready with the message as reason."""

    def health_status(self) -> Any:
        return None

    def init_metadata(self) -> dict[str, Any]:
        return {}

    # -- request path
    def predict(self, X: Any, names: list[str], meta: dict[str, Any]) -> Any:
        return X

    def transform_input(self, X: Any, names: list[str], meta: dict[str, Any]) -> Any:
        return X

    def transform_output(self, X: Any, names: list[str], meta: dict[str, Any]) -> Any:
        return X

    def route(self, X: Any, names: list[str]) -> int:
        raise ModelError(f"node {self.name!r} has no route() but is used as a ROUTER")

    def aggregate(self, Xs: list[Any], names_list: list[list[str]]) -> Any:
        raise ModelError(f"node {self.name!r} has no aggregate() but is used as a COMBINER")

    def output_names(self, names: list[str]) -> list[str]:
        """Column names of what predict returned (Seldon's `class_names`)."""
        return names

    async def call_remote(self, X: Any, names: list[str], meta: dict[str, Any]
                          ) -> tuple[Any, list[str]]:
        raise NotImplementedError

    # -- feedback and telemetry
    def send_feedback(self, X: Any, names: list[str], reward: float, truth: Any,
                      routing: int | None) -> None:
        return None

    def metrics(self) -> list[dict[str, Any]]:
        return []

    def tags(self) -> dict[str, Any]:
        return {}

    def get_state(self) -> dict[str, Any] | None:
        """Learned state to persist after feedback (routers); None when stateless."""
        return None

    def set_state(self, state: dict[str, Any]) -> None:
        return None

    async def aclose(self) -> None:
        return None

    # -- helpers for subclasses
    def describe(self) -> str:
        """What `meta.requestPath` shows for this node."""
        return self.node.model_uri or self.node.class_name or self.node.impl.value

    def model_path(self) -> Path:
        uri = self.node.model_uri
        if not uri:
            raise ConfigError(f"node {self.name!r} has no modelUri")
        ctx = sources.SourceContext(self.ctx.base_dir, self.ctx.cache_dir,
                                    self.ctx.storage_options)
        path = sources.resolve(uri, ctx)
        self.lineage = ctx.lineage or {"modelUri": uri}
        return path


def require_extra(module: str, extra: str, node: str) -> Any:
    """Import an optional backend, or say which extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"node {node!r} needs the Python package {module!r}, which is not installed",
            hint=f"pip install 'flowyard[{extra}]'",
        ) from exc
