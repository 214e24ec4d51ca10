"""A Python-class model whose tags say which serving worker process answered."""

import os
from typing import Any


class WorkerPid:
    def predict(self, X: Any, names: list[str]) -> Any:
        return X

    def tags(self) -> dict[str, Any]:
        return {"pid": os.getpid()}
