"""Serving errors, placed in the one Flowyard tree with the HTTP status each transport uses."""

from __future__ import annotations

from flowyard.errors import Conflict, InvalidInput, RunFailed


class PayloadTooLarge(InvalidInput):
    headline = "Request too large"
    status = 413


class ModelNotReady(Conflict):
    """The model exists but is loading or failed to load; the reason says which."""

    headline = "Model not ready"
    status = 503


class ModelError(RunFailed):
    """User or model code raised while serving a request; the server stays up."""

    headline = "Model error"
    status = 500


class RemoteError(RunFailed):
    """A REMOTE node's server failed or could not be reached."""

    headline = "Remote node failed"
    status = 502


class Unreachable(RemoteError):
    """A serving endpoint that `flowyard predict` (or the client) could not reach."""

    headline = "Cannot reach the server"
