"""Rendering errors: a feature the target engine cannot express, named with its place."""

from __future__ import annotations

from flowyard.errors import InvalidInput


class Unsupported(InvalidInput):
    """A resource uses something the environment's engine has no equivalent for."""

    headline = "Cannot render"

    def __init__(self, feature: str, *, resource: str, environment: str, where: str = "",
                 hint: str | None = None) -> None:
        place = f" at {where}" if where else ""
        super().__init__(
            f"{resource}{place}: {feature} has no equivalent in environment {environment!r}",
            hint=hint)
        self.feature = feature
        self.resource = resource
        self.environment = environment
