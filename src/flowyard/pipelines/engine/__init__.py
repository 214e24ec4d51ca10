"""The local pipeline engine: a scheduler in the driving process, steps forked from a zygote.

Importing this package is cheap on purpose: the zygote (`python -m
flowyard.pipelines.engine.zygote`) starts through it and must not load SQLAlchemy or pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyard.pipelines.engine.engine import Engine
    from flowyard.pipelines.engine.events import RunEvent

__all__ = ["Engine", "RunEvent"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from flowyard.pipelines.engine.engine import Engine

        return Engine
    if name == "RunEvent":
        from flowyard.pipelines.engine.events import RunEvent

        return RunEvent
    raise AttributeError(f"module 'flowyard.pipelines.engine' has no attribute {name!r}")
