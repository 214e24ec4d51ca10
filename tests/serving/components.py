"""User classes for the serving tests, written the way Seldon users write them."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np


class Identity:
    def predict(self, X: Any, names: list[str]) -> Any:
        return X


class Scale:
    """A transformer with a typed constructor parameter."""

    def __init__(self, factor: float = 2.0) -> None:
        self.factor = factor

    def transform_input(self, X: Any, names: list[str]) -> Any:
        return np.asarray(X) * self.factor


class AddOne:
    def transform_output(self, X: Any, names: list[str]) -> Any:
        return np.asarray(X) + 1


class Constant:
    """Predicts `value` for each row; tags say which arm answered."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def predict(self, X: Any, names: list[str], meta: dict[str, Any] | None = None) -> Any:
        return np.full((np.asarray(X).shape[0], 1), self.value)

    def tags(self) -> dict[str, Any]:
        return {"arm": self.value}

    def metrics(self) -> list[dict[str, Any]]:
        return [{"type": "COUNTER", "key": "constant_calls", "value": 1},
                {"type": "GAUGE", "key": "constant_value", "value": self.value},
                {"type": "TIMER", "key": "constant_ms", "value": 0.5}]


class Recorder:
    """Remembers every batch it saw (class level, so the test can read it)."""

    seen: ClassVar[list[Any]] = []

    def predict(self, X: Any, names: list[str]) -> Any:
        Recorder.seen.append(np.asarray(X).tolist())
        return np.asarray(X) * 100


class Boom:
    def predict(self, X: Any, names: list[str]) -> Any:
        raise RuntimeError("the model blew up on purpose")


class FailsToLoad:
    def load(self) -> None:
        raise OSError("weights file is corrupt")

    def predict(self, X: Any, names: list[str]) -> Any:
        return X


class BadRouter:
    def route(self, X: Any, names: list[str]) -> int:
        return 5


class FirstRouter:
    def route(self, X: Any, names: list[str]) -> int:
        return 0


class Echo:
    """Returns what it got (str, bytes, dict) so protocol forms round-trip."""

    def predict(self, X: Any, names: list[str], meta: dict[str, Any]) -> Any:
        if isinstance(X, str):
            return X.upper()
        return X


class Sum:
    class_names: ClassVar[list[str]] = ["total"]

    def predict(self, X: Any, names: list[str]) -> Any:
        return np.asarray(X).sum(axis=1, keepdims=True)


class WithUri:
    def __init__(self, model_uri: str, threshold: int = 1) -> None:
        self.model_uri = model_uri
        self.threshold = threshold

    def predict(self, X: Any, names: list[str]) -> Any:
        return np.array([[len(self.model_uri), self.threshold]])


class Stateful:
    """Collects feedback; shows send_feedback reaching a model on the routed branch."""

    rewards: ClassVar[list[float]] = []

    def predict(self, X: Any, names: list[str]) -> Any:
        return X

    def send_feedback(self, features: Any, feature_names: list[str], reward: float,
                      truth: Any, routing: int | None = None) -> None:
        Stateful.rewards.append(reward)
