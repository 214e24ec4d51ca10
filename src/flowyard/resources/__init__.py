"""Resource kinds, declared as data: kind name -> "module:Class" of its model.

Each kind's model is imported the first time something asks for it, so a pipeline run does
not pay for building the serving, data and notebook models it never uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from flowyard.pydantic_plugins import skipped as _no_plugin_scan

with _no_plugin_scan():   # Flowyard's models need no pydantic plugins (pydantic_plugins.py)
    from flowyard.resources.base import API_VERSION, FlowModel, ObjectMeta, Resource
    from flowyard.resources.pipeline import Pipeline, PipelineSpec

if TYPE_CHECKING:
    from flowyard.resources.data_pipeline import DataPipeline
    from flowyard.resources.inference_graph import InferenceGraph
    from flowyard.resources.notebook import Notebook
    from flowyard.resources.volume import Volume, VolumeSnapshot

KIND_MODELS: dict[str, str] = {
    "Pipeline": "flowyard.resources.pipeline:Pipeline",
    "InferenceGraph": "flowyard.resources.inference_graph:InferenceGraph",
    "DataPipeline": "flowyard.resources.data_pipeline:DataPipeline",
    "Notebook": "flowyard.resources.notebook:Notebook",
    "Volume": "flowyard.resources.volume:Volume",
    "VolumeSnapshot": "flowyard.resources.volume:VolumeSnapshot",
}


class Kinds(Mapping[str, "type[Resource[Any]]"]):
    """A read-only mapping kind -> model class that imports each model on first access."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = dict(table)
        self._loaded: dict[str, type[Resource[Any]]] = {}

    def __getitem__(self, kind: str) -> type[Resource[Any]]:
        model = self._loaded.get(kind)
        if model is None:
            module, _, attr = self._table[kind].partition(":")  # KeyError: unknown kind
            with _no_plugin_scan():
                model = getattr(importlib.import_module(module), attr)
            self._loaded[kind] = model
        return model

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


KINDS = Kinds(KIND_MODELS)


def __getattr__(name: str) -> Any:
    if name in KIND_MODELS:
        return KINDS[name]
    raise AttributeError(f"module 'flowyard.resources' has no attribute {name!r}")


__all__ = [
    "API_VERSION",
    "KINDS",
    "KIND_MODELS",
    "DataPipeline",
    "FlowModel",
    "InferenceGraph",
    "Kinds",
    "Notebook",
    "ObjectMeta",
    "Pipeline",
    "PipelineSpec",
    "Resource",
    "Volume",
    "VolumeSnapshot",
]
