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
        self._uri = uri
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._path = path

    @property
    def uri(self) -> str:
        """Where the artifact lives; locally (as in kfp.local) its path when none was set."""
        return self._uri or (self._path or "")

    @uri.setter
    def uri(self, value: str) -> None:
        self._uri = value

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

    # The incremental kfp v2 calls, so kfp components run unchanged.
    def log_roc_data_point(self, fpr: float, tpr: float, threshold: float) -> None:
        roc = self.metadata.setdefault("roc", {"fpr": [], "tpr": [], "thresholds": []})
        roc["fpr"].append(fpr)
        roc["tpr"].append(tpr)
        roc["thresholds"].append(threshold)

    def set_confusion_matrix_categories(self, categories: list[str]) -> None:
        size = len(categories)
        self.metadata["confusionMatrix"] = {"categories": list(categories),
                                            "matrix": [[0] * size for _ in range(size)]}

    def _matrix(self) -> dict[str, Any]:
        matrix = self.metadata.get("confusionMatrix")
        if not isinstance(matrix, dict):
            raise ValueError("call set_confusion_matrix_categories() first")
        return matrix

    def log_confusion_matrix_row(self, row_category: str, row: list[int]) -> None:
        matrix = self._matrix()
        if len(row) != len(matrix["categories"]):
            raise ValueError(f"row {row_category!r} has {len(row)} values for "
                             f"{len(matrix['categories'])} categories")
        matrix["matrix"][matrix["categories"].index(row_category)] = list(row)

    def log_confusion_matrix_cell(self, row_category: str, col_category: str,
                                  value: int) -> None:
        matrix = self._matrix()
        categories = matrix["categories"]
        matrix["matrix"][categories.index(row_category)][categories.index(col_category)] = value


class HTML(Artifact):
    TYPE = "HTML"


class Markdown(Artifact):
    TYPE = "Markdown"


ARTIFACT_CLASSES: dict[str, type[Artifact]] = {
    cls.TYPE: cls
    for cls in (Artifact, Dataset, Model, Metrics, ClassificationMetrics, HTML, Markdown)
}
