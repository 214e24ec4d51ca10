"""The engine's handle on the zygote: hand tasks to its spares, read what they report.

Tasks go straight to the zygote's idle spare children over a SOCK_SEQPACKET socket (one
record per task; the kernel gives each record to one reader), so the zygote is off the
critical path of a step; control messages (warm-up, kill, exit) go to its stdin.

There is no reader thread: a driver that waits for reports reads the zygote's pipe itself
(`pump`) and dispatches every report to its listener, its own or another run's. With one run
executing (the common case) a step's result goes from the pipe to the scheduler without any
thread hand-off; with several, one waiting driver reads for all and the others wake on their
queues.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from flowyard.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ProcessReport:
    """A child reported its result (done), or ended without one (exit: code or signal)."""

    id: str
    event: str          # "done" | "exit"
    pid: int | None = None
    code: int | None = None
    signal: int | None = None
    result: dict[str, Any] | None = None
    result_file: str | None = None


Listener = Callable[[ProcessReport], None]
_MAX_RECORD = 192 * 1024   # bigger tasks travel as a file (a record must fit the send buffer)


class ZygotePool:
    def __init__(self, *, python: str | None = None) -> None:
        self._python = python or sys.executable
        self._lock = threading.Lock()        # process state and listeners
        self._read_lock = threading.Lock()   # whoever holds it reads the pipe
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdin: IO[bytes] | None = None
        self._fd: int | None = None
        self._pending = b""
        self._listeners: dict[str, Listener] = {}
        self._ids = itertools.count(1)
        self._tasks: socket.socket | None = None
        self._warm: set[str] = set()
        self._preloaded: set[str] = set()
        # Tasks held back while the zygote preloads (it retires its idle spares first, and
        # a task sent before its answer could still reach one of them).
        self._held: list[bytes] = []
        self._preloads_pending = 0
        self._preload_crashed = False   # a zygote died importing: never preload again
        self.ready = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _ensure_started(self) -> None:
        if self._proc is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with contextlib.suppress(OSError):
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        argv = [self._python, "-m", "flowyard.pipelines.engine.zygote",
                "--tasks", str(theirs.fileno())]
        if threading.current_thread() is threading.main_thread():
            argv += ["--parent", str(os.getpid())]
        env = None
        if "LD_BIND_NOW" not in os.environ:
            # Resolve the zygote's dynamic symbols at load time: lazily, every spare that
            # first calls a C function the zygote never called (setpgid, epoll_create...)
            # writes the GOT entry itself, a copy-on-write fault and a symbol lookup each.
            # The zygote removes the variable again, so steps' subprocesses do not inherit it.
            env = {**os.environ, "LD_BIND_NOW": "1"}
            argv.append("--unset-bind-now")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    bufsize=0, close_fds=True, pass_fds=(theirs.fileno(),),
                                    env=env)
        except OSError as exc:
            ours.close()
            raise ConfigError(f"cannot start the step executor {argv[0]}: {exc}",
                              hint="check that the Python interpreter is runnable") from exc
        finally:
            theirs.close()
        self._tasks = ours
        self._warm = set()
        self._preloaded = set()
        self._held = []
        self._preloads_pending = 0
        assert proc.stdout is not None and proc.stdin is not None
        # No waiting for its "ready" line: requests queue up in the pipe while the
        # interpreter boots (~60 ms), which overlaps with validating and recording the run.
        self._proc = proc
        self._stdin = proc.stdin
        self._fd = proc.stdout.fileno()
        self._pending = b""
        self.ready = False

    def start(self) -> None:
        """Launch the zygote now (it is also launched by the first submit)."""
        with self._lock:
            self._ensure_started()

    def preload(self, modules: list[str]) -> None:
        """Have the zygote import `modules` (those not asked for yet) before later tasks."""
        with self._lock:
            self._ensure_started()
            if self._preload_crashed:
                return
            new = [m for m in modules if m not in self._preloaded]
            if new:
                self._preloaded.update(new)
                self._preloads_pending += 1
                self._write(b"P %s\n" % json.dumps(new).encode())

    def submit(self, task: dict[str, Any], listener: Listener, *, key: str | None = "-") -> str:
        """Run `task` in a child; `listener` gets one report: "done" (with the result) when
        the child finishes, or "exit" when it died without one.

        `key` names the component's content (no spaces): the zygote compiles each new key
        once so that later children inherit the compiled code. None: nothing to compile (a
        data pipeline's datum).
        """
        payload = json.dumps(task, separators=(",", ":")).encode()
        with self._lock:
            self._ensure_started()
            rid = str(next(self._ids))
            self._listeners[rid] = listener
            if key is not None and key not in self._warm:
                self._warm.add(key)
                warm = {"python": task.get("python"), "objects": task["objects"]}
                self._write(b"W %s %s\n" % (key.encode(), json.dumps(warm).encode()))
            if len(payload) > _MAX_RECORD:
                spill = task["result"] + ".task"
                with open(spill, "wb") as handle:
                    handle.write(payload)
                payload = b"@" + spill.encode()
            record = rid.encode() + b" " + payload
            if self._preloads_pending:
                self._held.append(record)
            else:
                self._send(record)
        return rid

    def _send(self, record: bytes) -> None:
        assert self._tasks is not None
        # If the zygote and its spares are gone, pump reports the death to the listener.
        with contextlib.suppress(OSError):
            self._tasks.sendall(record)

    def kill(self, rid: str, sig: int = 9) -> None:
        with self._lock:
            if self._proc is not None:
                self._write(b"K %s %d\n" % (rid.encode(), sig))

    def _write(self, line: bytes) -> None:
        assert self._stdin is not None
        # A dead zygote shows as EOF on its pipe, which fails every listener (see pump).
        with contextlib.suppress(BrokenPipeError, ValueError):
            self._stdin.write(line)

    # -- reading --------------------------------------------------------------------------

    def pump(self, timeout: float) -> None:
        """Wait up to `timeout` s for reports and hand each to its listener.

        Returns after the first batch. If another thread is reading, sleeps briefly instead:
        that thread delivers this caller's reports to its queue.
        """
        if not self._read_lock.acquire(blocking=False):
            time.sleep(min(timeout, 0.002))
            return
        try:
            fd = self._fd
            if fd is None:
                time.sleep(min(timeout, 0.05))
                return
            try:
                ready, _, _ = select.select([fd], [], [], timeout)
            except InterruptedError:
                return
            if not ready:
                return
            try:
                chunk = os.read(fd, 1 << 20)
            except InterruptedError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._zygote_died()
                return
            self._pending += chunk
            if b"\n" in self._pending:
                *lines, self._pending = self._pending.split(b"\n")
                for line in lines:
                    self._dispatch(line)
        finally:
            self._read_lock.release()

    def _dispatch(self, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            return
        rid = msg.get("id")
        if rid is None:
            self.ready = self.ready or msg.get("event") == "ready"
            if msg.get("event") == "preloaded":
                with self._lock:
                    self._preloads_pending = max(0, self._preloads_pending - 1)
                    if not self._preloads_pending and self._tasks is not None:
                        held, self._held = self._held, []
                        for record in held:
                            self._send(record)
            return
        # The child's own "done" ends it for the listener; the zygote reports "exit" only for
        # a child that ended without one (should both come, the "exit" finds no listener).
        with self._lock:
            listener = self._listeners.pop(str(rid), None)
        if listener is not None:
            listener(ProcessReport(id=str(rid), event=msg["event"], pid=msg.get("pid"),
                                   code=msg.get("code"), signal=msg.get("signal"),
                                   result=msg.get("result"), result_file=msg.get("file")))

    def _zygote_died(self) -> None:
        with self._lock:
            # A module that kills the process at import (a crashing C extension) must not
            # take every later zygote down too: its steps import it themselves from now on.
            self._preload_crashed = self._preload_crashed or self._preloads_pending > 0
            proc, self._proc, self._fd, self._stdin = self._proc, None, None, None
            orphans = list(self._listeners.items())
            self._listeners.clear()
            self._held = []
            if self._tasks is not None:
                self._tasks.close()
                self._tasks = None
        if proc is not None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.close()
                proc.stdout.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        for rid, listener in orphans:
            listener(ProcessReport(id=rid, event="exit", pid=None, signal=9))

    def close(self) -> None:
        with self._read_lock, self._lock:
            proc, self._proc, self._fd, self._stdin = self._proc, None, None, None
            orphans = list(self._listeners.items())
            self._listeners.clear()
            self._held = []
            if self._tasks is not None:
                self._tasks.close()   # idle spares see EOF and exit
                self._tasks = None
        if proc is None:
            return
        assert proc.stdin is not None and proc.stdout is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()   # EOF: the zygote kills its children and exits
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        for rid, listener in orphans:
            listener(ProcessReport(id=rid, event="exit", pid=None, signal=9))
