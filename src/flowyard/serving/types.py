"""The few types every serving layer speaks: what flows between nodes, what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A node's data: a numpy array (one tensor), a dict of name -> array (several V2 inputs),
# a str (Seldon strData), bytes (binData) or any JSON value (jsonData).
Data = Any


@dataclass
class Payload:
    """A request as the graph sees it, whatever protocol it arrived in."""

    data: Data
    names: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    """Seldon meta (puid, tags) or V2 request parameters; passed to user code as `meta`."""
    inputs: list[str] = field(default_factory=list)
    """V2 input names, so errors can name the input a client sent."""


@dataclass
class Prediction:
    """A graph's answer plus where it went: feedback uses `routing` and `puid`."""

    data: Data
    names: list[str]
    output_name: str
    puid: str
    predictor: str
    routing: dict[str, int] = field(default_factory=dict)
    request_path: dict[str, str] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {"puid": self.puid, "predictor": self.predictor,
                               "routing": self.routing, "requestPath": self.request_path,
                               "tags": self.tags}
        if self.metrics:
            out["metrics"] = self.metrics
        return out


@dataclass
class Feedback:
    """Seldon feedback: the request, the response it got (for routing), a reward, the truth."""

    request: Payload
    reward: float
    routing: dict[str, int] | None = None
    puid: str | None = None
    predictor: str | None = None
    truth: Data = None
