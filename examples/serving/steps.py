"""User code for the example graph: classes with Seldon's method contract."""

from __future__ import annotations

from typing import Any

import numpy as np


class Clip:
    """TRANSFORMER: clip features into the range the models were trained on."""

    def __init__(self, low: float = 0.0, high: float = 8.0) -> None:
        self.low, self.high = low, high

    def transform_input(self, X: Any, names: list[str]) -> Any:
        return np.clip(np.asarray(X, dtype=np.float64), self.low, self.high)

    def tags(self) -> dict[str, Any]:
        return {"clipped": True}


class Label:
    """OUTPUT_TRANSFORMER: class index -> species name."""

    species = ("setosa", "versicolor", "virginica")

    def transform_output(self, X: Any, names: list[str]) -> Any:
        return np.array([self.species[int(i)] for i in np.asarray(X).ravel()], dtype=object)
