"""Build Flowyard's own pydantic models without looking for pydantic plugins.

The first model a process builds makes pydantic scan the entry points of every installed
distribution for plugins (`importlib.metadata.entry_points(group="pydantic")`): a few
milliseconds per 100 packages, paid by every `flowyard run` before its first step, for
models (the resource kinds, the settings) that no plugin is meant to observe.

`PYDANTIC_DISABLE_PLUGINS` is pydantic's documented switch and is read at each model build,
so setting it only while Flowyard's models are built skips the scan for them and leaves the
answer unasked: the user's own models, built later, still find their plugins. Typer builds
its parameter adapters the same way. The variable is restored afterwards; a model another
thread builds in that window gets no plugins either.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

VARIABLE = "PYDANTIC_DISABLE_PLUGINS"


@contextmanager
def skipped() -> Iterator[None]:
    """Models defined inside this block are built without pydantic plugins."""
    previous = os.environ.get(VARIABLE)
    os.environ[VARIABLE] = "__all__"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(VARIABLE, None)
        else:
            os.environ[VARIABLE] = previous
