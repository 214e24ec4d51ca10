"""Invariants of the zygote that keep forks cheap."""

from __future__ import annotations

import subprocess
import sys


def test_zygote_preloads_no_threading() -> None:
    # `threading` registers an at-fork hook that doubles the cost of every fork.
    code = ("import sys; import flowyard.pipelines.engine.zygote as z; z._preload(); "
            "import flowyard.store.objects; "
            "assert 'threading' not in sys.modules, 'threading imported'; "
            "assert 'sqlalchemy' not in sys.modules and 'pydantic' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
