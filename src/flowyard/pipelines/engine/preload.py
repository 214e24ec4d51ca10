"""Which third-party modules the zygote imports once so that every step inherits them.

A component imports what it needs inside its body (`from sklearn.linear_model import ...`),
so without help every forked step pays that import again (1.4-2.7 s for scikit-learn). The
driver reads the components' source with `ast` (nothing is executed) and asks the zygote to
import the modules named there before it forks the next spares (see zygote.py, "P").

Left out: the standard library (cheap to import, and `subprocess`/`threading` would make
every fork slower), flowyard itself, relative imports, the user's own modules (found in the
current folder, or beside a data transform's file: their module-level code must run in each
step, not once for all), and packages known not to survive a
fork after import (they start threads or runtimes that a child cannot use). The zygote skips
modules that are not installed and stops preloading past a memory limit.
`FLOWYARD_PRELOAD=0` turns it off; FLOWYARD_PRELOAD_MAX_MB (2048) is the zygote's memory limit.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Iterable
from typing import Final

from flowyard.resources.pipeline import PipelineSpec

MAX_MODULES: Final = 64
# Packages whose import starts threads, runtimes or connections a forked child cannot use.
FORK_UNSAFE: Final = frozenset({
    "tensorflow", "keras", "jax", "jaxlib", "grpc", "ray", "pyspark", "mpi4py", "dask",
    "distributed", "torch", "cupy", "pycuda", "tritonclient", "zmq",
})


def enabled() -> bool:
    return os.environ.get("FLOWYARD_PRELOAD", "1").strip().lower() not in ("0", "false", "no")


def modules_in_source(source: str) -> list[str]:
    """The absolute modules a function's source imports (anywhere in it), in order."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []   # the step reports the syntax error itself
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def worth_preloading(module: str, local: Iterable[str] = ()) -> bool:
    top = module.split(".", 1)[0]
    return not (top in sys.stdlib_module_names or top in FORK_UNSAFE or top == "flowyard"
                or top.startswith("_") or top == "__future__" or _is_local(top, local))


def _is_local(top: str, folders: Iterable[str]) -> bool:
    """The user's own module (`top.py` or `top/` in one of `folders`): its module-level code
    must run in every step or datum, as without preloading, not once in the zygote."""
    return any(os.path.isfile(os.path.join(f, top + ".py")) or os.path.isdir(os.path.join(f, top))
               for f in folders)


def select_modules(names: Iterable[str], local: Iterable[str] | None = None) -> list[str]:
    """Unique modules worth preloading, first mention first, at most MAX_MODULES. Modules
    found in `local` folders (default: the current folder) are the user's, not preloaded."""
    folders = [os.getcwd()] if local is None else list(local)
    out: list[str] = []
    for name in names:
        if name not in out and worth_preloading(name, folders):
            out.append(name)
            if len(out) >= MAX_MODULES:
                break
    return out


def preload_modules(spec: PipelineSpec) -> list[str]:
    """What the zygote should import for this pipeline ([] when preloading is off)."""
    if not enabled():
        return []
    names: list[str] = []
    for component in spec.components.values():
        if component.python is not None:
            names.extend(modules_in_source(component.python.source))
    return select_modules(names)
