"""The one exception tree every Flowyard layer raises.

Grouped by what the caller can do about it (the httpx habit):

    FlowyardError                 headline, exit_code, status
    ├── InvalidInput              fix the input and try again          (exit 2, HTTP 400)
    │   ├── ResourceInvalid       a resource file or object is wrong   (names file:line and field)
    │   └── PipelineInvalid       a pipeline's graph is wrong          (names the step and field)
    ├── ConfigError               fix the settings or the environment  (exit 2, HTTP 500)
    ├── NotFound                  check the name or id                 (exit 2, HTTP 404)
    ├── Conflict                  the state does not allow it now      (exit 2, HTTP 409)
    ├── RunFailed                 the work ran and failed              (exit 1)
    └── StoreError                a backend (database, object store) failed (exit 1, HTTP 503)

Every transport maps this tree once: the CLI prints `headline` (no traceback for known
errors) and exits with `exit_code`; the HTTP API answers with `status`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class FlowyardError(Exception):
    """Base of every error Flowyard raises on purpose."""

    headline = "Flowyard error"
    exit_code = 1
    status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class InvalidInput(FlowyardError):
    headline = "Invalid input"
    exit_code = 2
    status = 400


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a resource, located as precisely as we can."""

    message: str
    field: str = ""
    file: str | None = None
    line: int | None = None
    value: object = None
    allowed: str | None = None

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        elif self.line:
            where = f"line {self.line}"
        parts = [p for p in (where, self.field) if p]
        head = ": ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.allowed:
            text += f"; {self.allowed}"
        return text


class ResourceInvalid(InvalidInput):
    """A resource failed validation; `problems` lists every place, not just the first."""

    headline = "Invalid resource"

    def __init__(self, problems: Sequence[Problem], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        lines = [p.render() for p in self.problems]
        message = lines[0] if len(lines) == 1 else "\n".join(["several problems:", *lines])
        super().__init__(message, hint=hint)


class PipelineInvalid(ResourceInvalid):
    headline = "Invalid pipeline"


class ConfigError(FlowyardError):
    headline = "Configuration error"
    exit_code = 2
    status = 500


class NotFound(FlowyardError):
    headline = "Not found"
    exit_code = 2
    status = 404


class Conflict(FlowyardError):
    headline = "Conflict"
    exit_code = 2
    status = 409


class RunFailed(FlowyardError):
    headline = "Run failed"
    exit_code = 1
    status = 200


class StoreError(FlowyardError):
    headline = "Storage error"
    exit_code = 1
    status = 503
