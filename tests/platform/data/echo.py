"""A Python-class model for InferenceGraph tests."""

from typing import Any


class Echo:
    def predict(self, X: Any, names: list[str]) -> Any:
        return X
