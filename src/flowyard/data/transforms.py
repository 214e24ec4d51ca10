"""How a datum's transform runs: in a fork of a warm zygote, or in a process of its own.

A job's transform runs each datum in a fork of the pipeline engine's zygote (see
flowyard.pipelines.engine.zygote), started once per job. For a Python transform
(`module:function` or `file.py:function`) the zygote first imports the third-party modules
its source names (pandas, scikit-learn, ...), so each datum costs a fork (a few ms) instead
of an interpreter start and those imports again (~30 ms bare, seconds with pandas). Every
datum still gets its own process and process group, as a container would: a crash,
`os._exit`, or a hang (killed at the datum timeout, with whatever it started) stays in that
datum. With FLOWYARD_DATUM_FORK=0, and for the single datum of a Kubernetes pod, each datum
runs as a fresh process instead. Both ways call the same function on the same datum spec
(executor.run_datum).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Protocol

from flowyard.resources.data_pipeline import DataPipeline

LOG_TAIL: Final = 2000
_RUNNER: Final = ("import json, sys\n"
                  "from flowyard.pipelines.engine.executor import run_datum\n"
                  "sys.exit(0 if run_datum(json.loads(sys.argv[1]))['ok'] else 1)\n")
"""A fresh interpreter running one Python datum as a fork of the zygote would."""


class Transforms(Protocol):
    def run(self, inp: Path, out: Path, root: Path, attempt: int) -> tuple[int, str]:
        """Run the transform for one datum; its exit code (negative: killed) and log tail."""
        ...


def _env(p: DataPipeline, inp: Path, out: Path) -> dict[str, str]:
    return {**p.spec.transform.env, "FLOWYARD_INPUT": str(inp), "FLOWYARD_OUTPUT": str(out)}


def _datum_spec(p: DataPipeline, target: str | None, inp: Path, out: Path,
                root: Path) -> dict[str, Any]:
    """What executor.run_datum needs for one datum: the function (or the command), its
    folders, its environment and where its imports are found."""
    what: dict[str, Any] = ({"python": target} if target is not None
                            else {"cmd": list(p.spec.transform.cmd or [])})
    return {**what, "input": str(inp), "output": str(out), "cwd": str(root),
            "env": _env(p, inp, out), "path": [os.getcwd()]}


def _timed_out(p: DataPipeline) -> bytes:
    return f"\n[flowyard] datum timed out after {p.spec.datum_timeout}s and was killed\n".encode()


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-LOG_TAIL:]


class ProcessTransforms:
    """Each datum in a fresh process: `python -c <_RUNNER>`, or the transform's command."""

    def __init__(self, p: DataPipeline) -> None:
        self.p = p

    def run(self, inp: Path, out: Path, root: Path, attempt: int) -> tuple[int, str]:
        tr = self.p.spec.transform
        env = {**os.environ, **_env(self.p, inp, out)}
        cmd = ([sys.executable, "-c", _RUNNER,
                json.dumps(_datum_spec(self.p, _absolute(tr.python), inp, out, root))]
               if tr.python else list(tr.cmd or []))
        log_path = root / "log.txt"
        with open(log_path, "wb") as log:
            log.write(f"--- attempt {attempt} ---\n".encode())   # as the forked runner writes
            log.flush()
            try:
                proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                return 127, f"cannot start {cmd[0]!r}: {exc}"
            from flowyard.pipelines.engine.zygote import kill_tree

            try:
                code = proc.wait(timeout=self.p.spec.datum_timeout)
            except subprocess.TimeoutExpired:
                kill_tree(proc.pid, signal.SIGKILL)   # also what it started in other sessions
                proc.wait()
                log.write(_timed_out(self.p))
                code = -9
            # What the datum left running in its group ends with it, as in a container.
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        return code, _tail(log_path)


class WarmTransforms:
    """A job's Python transform, each datum in a fork of one warm zygote."""

    def __init__(self, p: DataPipeline) -> None:
        from flowyard.pipelines.engine import preload
        from flowyard.pipelines.engine.pool import ZygotePool

        self.p = p
        self.target = _absolute(p.spec.transform.python) if p.spec.transform.python else None
        self.pool = ZygotePool()
        self.pool.start()
        if self.target is not None and preload.enabled():
            source = transform_source(self.target)
            # The user's own modules (in the current folder or beside the transform's file)
            # are not preloaded: their module-level code runs in each datum.
            path = self.target.rpartition(":")[0]
            local = [os.getcwd(), *([os.path.dirname(path)] if path.endswith(".py") else [])]
            modules = (preload.select_modules(preload.modules_in_source(source), local)
                       if source else [])
            if modules:
                self.pool.preload(modules)

    def close(self) -> None:
        self.pool.close()

    def run(self, inp: Path, out: Path, root: Path, attempt: int) -> tuple[int, str]:
        log_path = root / "log.txt"
        task = {"datum": _datum_spec(self.p, self.target, inp, out, root),
                "log": str(log_path), "attempt": attempt, "result": str(root / "result.json")}
        reports: queue.SimpleQueue[object] = queue.SimpleQueue()
        rid = self.pool.submit(task, reports.put, key=None)
        timeout = self.p.spec.datum_timeout
        deadline = time.monotonic() + timeout if timeout else None
        killed = False
        while True:
            with contextlib.suppress(queue.Empty):
                report = reports.get_nowait()
                break
            if deadline is not None and not killed and time.monotonic() > deadline:
                self.pool.kill(rid, signal.SIGKILL)
                killed = True
            self.pool.pump(0.05)
        from flowyard.pipelines.engine.pool import ProcessReport

        assert isinstance(report, ProcessReport)
        if killed:
            with open(log_path, "ab") as log:
                log.write(_timed_out(self.p))
            return -9, _tail(log_path)
        if report.event == "done":
            code = 0 if (report.result or {}).get("ok") else 1
        elif report.signal:
            code = -report.signal
        else:
            code = report.code if report.code is not None else 1
        return code, _tail(log_path) if log_path.exists() else ""


@contextlib.contextmanager
def transforms_for(p: DataPipeline, *, warm: bool = True) -> Iterator[Transforms]:
    """How this job runs its datums: forks of a warm zygote (Python and command transforms
    alike: the zygote's steps kill whatever a datum leaves running), or with `warm=False`
    (a single datum in a pod on Kubernetes) or FLOWYARD_DATUM_FORK=0, a fresh process each."""
    if not warm or os.environ.get("FLOWYARD_DATUM_FORK", "1").strip().lower() in (
            "0", "false", "no"):
        yield ProcessTransforms(p)
        return
    runner = WarmTransforms(p)
    try:
        yield runner
    finally:
        runner.close()


def _absolute(target: str | None) -> str:
    """`file.py:function` with the file taken from the current folder, not the datum's."""
    assert target is not None
    path, _, function = target.rpartition(":")
    if path.endswith(".py"):
        return f"{os.path.abspath(path)}:{function}"
    return target


def transform_source(target: str) -> str | None:
    """The transform's source text, found without importing anything (only to see which
    modules it imports): importing would run the user's packages in this process."""
    path, _, _ = target.rpartition(":")
    found = path if path.endswith(".py") else _module_file(path)
    if found is None:
        return None
    try:
        return Path(found).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _module_file(name: str) -> str | None:
    """Where `a.b.c` would be imported from: `a/b/c.py` or `a/b/c/__init__.py` under the
    current folder or a sys.path entry (regular and namespace packages; a module that only
    a custom finder knows is not found, and just not preloaded)."""
    *packages, last = name.split(".")
    folders = [os.getcwd(), *(p for p in sys.path if p)]
    for part in packages:
        folders = [os.path.join(f, part) for f in folders if os.path.isdir(os.path.join(f, part))]
    for folder in folders:
        for candidate in (os.path.join(folder, last + ".py"),
                          os.path.join(folder, last, "__init__.py")):
            if os.path.isfile(candidate):
                return candidate
    return None
