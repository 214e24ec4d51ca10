"""Flowyard: Kubeflow's promise in Python.

Object model::

    Pipeline (resource) -> Run -> Step (one per loop iteration) -> Artifact (blob in the CAS)

`flowyard.Client` is the one entry point the CLI and SDK share; `flowyard.dsl` writes
pipelines. Heavy modules load on first use so that `flowyard --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

if TYPE_CHECKING:
    from flowyard.client import Client

__all__ = ["Client", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Client":
        from flowyard.client import Client

        return Client
    raise AttributeError(f"module 'flowyard' has no attribute {name!r}")
