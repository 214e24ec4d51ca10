"""Resource kinds, declared as data: kind name -> model class."""

from __future__ import annotations

from flowyard.resources.base import API_VERSION, FlowModel, ObjectMeta, Resource
from flowyard.resources.data_pipeline import DataPipeline
from flowyard.resources.inference_graph import InferenceGraph
from flowyard.resources.notebook import Notebook
from flowyard.resources.pipeline import Pipeline, PipelineSpec

KINDS: dict[str, type[Resource]] = {  # type: ignore[type-arg]
    "Pipeline": Pipeline,
    "InferenceGraph": InferenceGraph,
    "DataPipeline": DataPipeline,
    "Notebook": Notebook,
}

__all__ = [
    "API_VERSION",
    "KINDS",
    "DataPipeline",
    "FlowModel",
    "InferenceGraph",
    "ObjectMeta",
    "Pipeline",
    "PipelineSpec",
    "Resource",
]
