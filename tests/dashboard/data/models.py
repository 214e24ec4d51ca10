"""Python-class models for the dashboard's InferenceGraph: an echo and constant arms."""

from typing import Any


class Echo:
    def predict(self, X: Any, names: list[str]) -> Any:
        return X


class Constant:
    """Predicts `value` for each row (an arm of a router)."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def predict(self, X: Any, names: list[str]) -> Any:
        return [[self.value] for _ in X]
