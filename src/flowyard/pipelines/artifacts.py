"""Artifact classes a component sees at run time, in the shape kfp v2 users know.

A step receives `Input[Dataset]` as an object whose `.path` is a local file to read, and
`Output[Model]` as one whose `.path` is where to write. `metadata` travels with the artifact
into the run record. These classes are deliberately tiny: the child process imports them on
every step, so they must cost nothing to import.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar


class Artifact:
    TYPE: ClassVar[str] = "Artifact"

    def __init__(self, name: str = "", uri: str = "", metadata: dict[str, Any] | None = None,
                 path: str | None = None) -> None:
        self.name = name
        self.uri = uri
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._path = path

    @property
    def path(self) -> str:
        if self._path is None:
            raise AttributeError(f"artifact {self.name!r} has no local path in this context")
        return self._path

    @path.setter
    def path(self, value: str) -> None:
        self._path = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, uri={self.uri!r})"


class Dataset(Artifact):
    TYPE = "Dataset"


class Model(Artifact):
    TYPE = "Model"

    @property
    def framework(self) -> str | None:
        value = self.metadata.get("framework")
        return str(value) if value is not None else None


class Metrics(Artifact):
    """Scalar metrics; `log_metric` values are stored in metadata and written as JSON."""

    TYPE = "Metrics"

    def log_metric(self, metric: str, value: float | int) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise TypeError(f"metric {metric!r} must be a number, got {value!r}")
        self.metadata[metric] = value

    def write(self) -> None:
        with open(self.path, "w", encoding="utf-8") as handle:
            json.dump(self.metadata, handle, sort_keys=True)


class ClassificationMetrics(Metrics):
    TYPE = "ClassificationMetrics"

    def log_confusion_matrix(self, categories: list[str], matrix: list[list[int]]) -> None:
        self.metadata["confusionMatrix"] = {"categories": list(categories),
                                            "matrix": [list(r) for r in matrix]}

    def log_roc_curve(self, fpr: list[float], tpr: list[float], threshold: list[float]) -> None:
        self.metadata["roc"] = {"fpr": list(fpr), "tpr": list(tpr), "thresholds": list(threshold)}


class HTML(Artifact):
    TYPE = "HTML"


class Markdown(Artifact):
    TYPE = "Markdown"


ARTIFACT_CLASSES: dict[str, type[Artifact]] = {
    cls.TYPE: cls
    for cls in (Artifact, Dataset, Model, Metrics, ClassificationMetrics, HTML, Markdown)
}
