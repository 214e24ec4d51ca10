"""Transforms that tell how their datum ran (tests of the warm-fork runner)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

# Was yaml there before this file imported it? Only if the zygote preloaded it, having read
# the import below in this file's source.
YAML_WAS_LOADED = "yaml" in sys.modules
import yaml  # noqa: E402


def where(inputs: Path, output: Path) -> None:
    """One JSON file per datum: its process, its parent, what it inherited."""
    name = next(p.name for p in sorted(inputs.rglob("*")) if p.is_file())
    touched = getattr(yaml, "_flowyard_touched", False)   # left by an earlier datum?
    yaml._flowyard_touched = True  # type: ignore[attr-defined]
    (output / f"{name}.json").write_text(json.dumps({
        "pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0),
        "preloaded": YAML_WAS_LOADED, "touched": touched, "cwd": os.getcwd(),
        "greeting": os.environ.get("GREETING"), "input": os.environ["FLOWYARD_INPUT"],
    }))


def crash_on_b(inputs: Path, output: Path) -> None:
    """Dies without a word on b.txt (as a segfault or an OOM kill would)."""
    if any(p.name == "b.txt" for p in inputs.rglob("*")):
        print("about to die", flush=True)
        os._exit(7)
    where(inputs, output)


def hang_with_child(inputs: Path, output: Path) -> None:
    """Starts a child that would outlive it, records the child's pid, then hangs."""
    child = subprocess.Popen(["sleep", "120"])
    name = next(p.name for p in inputs.rglob("*") if p.is_file())
    Path(os.environ["PID_DIR"], f"{name}.pid").write_text(str(child.pid))
    time.sleep(120)


def same_name(inputs: Path, output: Path) -> None:
    """Every datum writes the same output path: the job must fail, naming two datums."""
    (output / "result.txt").write_text("mine")
