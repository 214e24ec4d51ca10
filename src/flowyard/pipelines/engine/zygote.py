"""The warm process every step attempt is forked from: `python -m flowyard.pipelines.engine.zygote`.

The driver starts it with a SOCK_SEQPACKET socket (`--tasks FD`) on which the zygote keeps
*spare* children, forked in advance, blocked in read(). The driver sends each task as one
record, `<id> <task-json>` (or `<id> @<file>` for huge ones): the kernel hands it to exactly
one idle spare, so starting a step costs one wake-up and neither a fork nor a zygote
round trip. The spare tells the zygote which task it took (so the zygote can kill it and
fork a replacement), runs it and writes its result to the driver itself.

On stdin, one line each (from the driver):

    W <component-key> <json>   compile this component here so later spares inherit it
    P <json list of modules>   import these here (see preload.py); idle spares forked
                               before are retired first, so every later task inherits them
    K <id> <signal>            signal that task's process group and process tree
    X                          exit (as does EOF on stdin)

On stdout, JSON lines (the zygote's and its children's):

    {"event": "ready", "pid": 41}                                 the zygote, once
    {"event": "preloaded"}                                        after each P
    {"id": "7", "event": "done", "pid": 4242, "result": {...}}    a child, before it exits
    {"id": "7", "event": "exit", "pid": 4242, "code": 0, "signal": null}   after a reap, for a
                                                  child that ended without its "done"

Each child is its own process group. A timeout or cancel kills the step's group and its
whole process tree (on Linux, read from /proc: also what it started in a session of its
own). A step about to exit kills what it left running, and its group is killed when it is
reaped (a container's processes end with it). The zygote is a child subreaper: orphaned
grandchildren (a daemon that double-forked) become its children; it kills them once no step
runs, and at exit. It exits, killing all of that, when stdin closes (the driver died or
closed the pool) or on SIGTERM (its parent-death signal); idle spares exit when the
driver's end of the task socket closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import select
import selectors
import signal
import sys
from typing import Any

from flowyard.pipelines.engine import executor

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
# Idle spares: when fewer than _SPARES are left the zygote forks up to _SPARES_HIGH at
# once. Every fork makes all of the zygote's pages copy-on-write again, so each page its
# loop writes afterwards costs it a fault: forking one spare per step taken cost it ~115
# faults a step, forking in batches ~45.
_SPARES = 3
_SPARES_HIGH = 6
_MAX_RECORD = 1 << 20   # the driver sends bigger tasks as a file
# Orphans a finished step left are killed once no step has run for this long (seconds): not
# between two steps of a busy run, where the /proc read would cost every step.
_ORPHAN_SWEEP_IDLE = 0.05
_SAMPLE_RESULT = {"id": "1", "event": "done", "pid": 1,
                  "result": {"ok": True, "outputs": {"x": [1, 2.5, "s", None]},
                             "artifacts": {}, "error": None, "log_digest": "d"}}
_LIBC: list[Any] = []


def _prctl(option: int, value: int) -> None:
    try:
        if not _LIBC:
            _LIBC.append(ctypes.CDLL(None, use_errno=True))
        _LIBC[0].prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: stdin EOF still stops us
        pass


def _preload() -> None:
    # Imported once here so that no fork pays for it. Not `subprocess`: it imports
    # `threading`, whose at-fork hook doubles the cost of every fork (0.4 -> 0.8 ms);
    # container steps import it in their own child instead.
    import traceback  # noqa: F401

    import blake3  # noqa: F401

    with contextlib.suppress(ImportError):
        import flowyard.store.objects  # noqa: F401


class Zygote:
    def __init__(self, tasks_fd: int) -> None:
        self.tasks_fd = tasks_fd
        self.children: dict[int, str] = {}   # pid -> task id, for spares that took one
        self.by_id: dict[str, int] = {}
        self.spares: set[int] = set()         # idle spares, blocked on the task socket
        self.pending_kills: dict[str, int] = {}
        self.buffer = b""
        self.busy_buffer = b""
        self.stopping = False
        self.pid = os.getpid()
        self.null_fd = os.open(os.devnull, os.O_RDONLY)
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        # Spares write "<task id> <pid>" once they took a task, "<task id> -" once they
        # reported its result (the driver then needs no "exit" report for it).
        self.busy_r, self.busy_w = os.pipe()
        self.reported: set[str] = set()
        for fd in (self.wake_r, self.wake_w, self.busy_r):
            os.set_blocking(fd, False)
        # Idle spares wait on the task socket and on this pipe; a byte written to it (see
        # _preload_modules) retires every spare of that generation that has no task yet.
        self.retire_r, self.retire_w = os.pipe()
        self.retired: set[int] = set()
        # Children that are neither spares nor steps but ours: started by a preloaded module.
        self.own: set[int] = set()
        self.sweep_due = False   # a step ended since the last look for orphans
        # Spares poll before they read, so that a woken spare that lost the race for a
        # record goes back to waiting instead of blocking where retiring cannot reach it.
        os.set_blocking(tasks_fd, False)

    def report(self, message: dict[str, Any]) -> None:
        _write_all(1, (executor.dumps(message) + "\n").encode())

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, _ignore)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_int)
        signal.set_wakeup_fd(self.wake_w)
        # For the steps (a killed step keeps what it printed), set once here rather than in
        # each spare (~20 copy-on-write faults each); our own reports use os.write.
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        self.selector.register(0, selectors.EVENT_READ, "stdin")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.selector.register(self.busy_r, selectors.EVENT_READ, "busy")
        self._refill()
        self.report({"event": "ready", "pid": os.getpid()})
        while not self.stopping:
            idle = self.sweep_due and not self.children
            ready = self.selector.select(_ORPHAN_SWEEP_IDLE if idle else None)
            if not ready and idle:
                # No step runs: any child but the spares is an orphan a finished step left
                # (a daemon that double-forked, a grandchild of a crashed step), reparented
                # to us (we are a child subreaper).
                self.sweep_due = False
                self._kill_orphans()
            for key, _ in ready:
                if key.data == "stdin":
                    self._read_stdin()
                elif key.data == "busy":
                    self._read_busy()
                else:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_r, 4096)
                    self._reap()
            if not self.stopping:
                self._refill()
        self._shutdown()

    def _on_term(self, *_: Any) -> None:
        if os.getpid() != self.pid:   # a step got SIGTERM: die of it, as by default
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        self.stopping = True

    def _on_int(self, *_: Any) -> None:
        if os.getpid() != self.pid:   # Ctrl-C in a step behaves as in any Python program
            raise KeyboardInterrupt
        # The zygote itself ignores it: the driver decides what Ctrl-C means.

    def _read_stdin(self) -> None:
        try:
            chunk = os.read(0, 1 << 20)
        except InterruptedError:
            return
        if not chunk:
            self.stopping = True
            return
        self.buffer += chunk
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self._handle(line)

    def _handle(self, line: bytes) -> None:
        op = line[:1]
        if op == b"K":
            _, rid_bytes, sig = line.split(b" ", 2)
            rid = rid_bytes.decode()
            pid = self.by_id.get(rid)
            if pid is not None:
                kill_tree(pid, int(sig))
            else:   # not taken by a spare yet (or already gone): kill it when it shows up
                self.pending_kills[rid] = int(sig)
        elif op == b"W":
            _, _key, payload = line.split(b" ", 2)
            self._warm(payload)
        elif op == b"P":
            self._preload_modules(line[2:])
            # The driver holds back tasks until this: none can reach a retired spare.
            self.report({"event": "preloaded"})
        elif op == b"X":
            self.stopping = True

    def _warm(self, payload: bytes) -> None:
        """Compile a component once here, so that spares forked later inherit the code."""
        with contextlib.suppress(Exception):
            spec = json.loads(payload)
            python = spec.get("python")
            if python:
                executor.compile_source(python["function"], python["source"])
            objects = spec["objects"]
            if executor.is_local_url(objects["url"]):
                executor.remember_headers(executor.get_store(objects))
            else:
                # Remote stores: import the filesystem driver (s3fs ...) once for all later
                # children; the client itself is made per child (no shared sockets).
                import importlib

                importlib.import_module(objects["url"].split("://", 1)[0] + "fs")

    def _preload_modules(self, payload: bytes) -> None:
        try:
            names = [str(n) for n in json.loads(payload)]
        except (ValueError, TypeError):
            return
        todo = [n for n in names if n not in sys.modules]
        if not todo:
            return
        # Retire the idle spares before importing, so that no task lands on a spare without
        # the modules meanwhile: tasks wait in the socket until the new spares exist.
        # A byte, not only EOF: a spare forked a moment ago that has not run yet still holds
        # its inherited copy of the write end, and while it does no spare of that generation
        # would see EOF; one of them could take the first task. A byte in the pipe is seen at
        # once by every spare polling its read end (none of them reads it).
        _write_all(self.retire_w, b"R")
        os.close(self.retire_w)
        os.close(self.retire_r)
        self.retire_r, self.retire_w = os.pipe()
        self.retired |= self.spares
        self.spares = set()
        import_modules(todo)
        # A module may start a helper process at import: it is ours, not a step's orphan.
        self.own.update(p for p in _children(self.pid)
                        if p not in self.children and p not in self.retired)

    def _read_busy(self) -> None:
        try:
            self.busy_buffer += os.read(self.busy_r, 65536)
        except (BlockingIOError, InterruptedError):
            return
        while b"\n" in self.busy_buffer:
            line, self.busy_buffer = self.busy_buffer.split(b"\n", 1)
            rid, pid_text = line.decode().split(" ")
            if pid_text == "-":
                self.reported.add(rid)
                continue
            pid = int(pid_text)
            self.spares.discard(pid)
            self.retired.discard(pid)   # it took a task just before it was retired
            self.children[pid] = rid
            self.by_id[rid] = pid
            sig = self.pending_kills.pop(rid, None)
            if sig is not None:
                kill_tree(pid, sig)

    # -- spares ---------------------------------------------------------------------------

    def _refill(self) -> None:
        if len(self.spares) >= _SPARES:
            return
        # As little as possible between two forks: whatever the zygote writes after a fork
        # costs it a copy-on-write fault, and the next fork shares those pages again.
        fork = os.fork
        pids: list[int] = []
        try:
            for _ in range(_SPARES_HIGH - len(self.spares)):
                pid = fork()
                if pid == 0:
                    self._spare_main()
                pids.append(pid)
        finally:
            for pid in pids:
                with contextlib.suppress(OSError):   # also done in the child: first one wins
                    os.setpgid(pid, pid)
                self.spares.add(pid)

    def _spare_main(self) -> None:
        """A forked spare: prepare while idle, take one task, run it, exit."""
        status = 70
        try:
            os.close(self.retire_w)      # the zygote writes it (see _preload_modules)
            os.setpgid(0, 0)
            # What a step needs that does not depend on the task happens here, before the
            # task exists. Kept small anyway: after a fork every page CPython writes (even a
            # reference count) is a copy-on-write fault, and on a shared 2-core box the CPU
            # is the limit. signal.signal() costs ~90 faults and prctl through ctypes ~140,
            # so handlers are not reset (the inherited ones act as the defaults in a child,
            # see _on_term/_on_int) and there is no parent-death signal: an idle spare sees
            # EOF when the driver's end of the task socket closes, a running step finishes.
            signal.set_wakeup_fd(-1)
            report_fd = os.dup(1)        # close-on-exec: steps' subprocesses never see it
            os.dup2(self.null_fd, 0)     # a step reading stdin must not eat our requests
            # Touch the JSON codec while idle: its first use after the fork costs ~25
            # copy-on-write faults, better paid now than between "task" and "done".
            executor.loads(executor.dumps(_SAMPLE_RESULT))
            _reseed()
            # To see at exit whether the step left processes running: this thread's /proc
            # children file, opened now (a constant path, no formatting) and read at the end.
            try:
                children_fd = (os.open("/proc/thread-self/children", os.O_RDONLY)
                               if _HAVE_CHILDREN_FILES else -1)
            except OSError:
                children_fd = -1
            record = _take_record(self.tasks_fd, self.retire_r)
            if not record:               # the driver closed its end, or we were retired
                os._exit(0)
            rid_bytes, _, payload = record.partition(b" ")
            rid = rid_bytes.decode()
            os.write(self.busy_w, b"%s %d\n" % (rid_bytes, os.getpid()))
            if payload[:1] == b"@":      # too big for one record: the driver wrote a file
                with open(payload[1:].decode(), "rb") as handle:
                    payload = handle.read()
            task: dict[str, Any] = executor.loads(payload.decode())
            log_fd = os.open(task["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.close(log_fd)
            os.write(1, f"--- attempt {task['attempt']} ---\n".encode())
            result = self._execute(task)
            # Kill what the step left running, before "done": the run ends with nothing left
            # over. Usually nothing: one pread of an empty /proc file (a waitpid failing
            # with ECHILD cost ~10 copy-on-write faults more a step). Children of other
            # threads are not in this thread's file: with threads, look properly.
            try:
                left = (children_fd < 0 or os.pread(children_fd, 1, 0)
                        or ("threading" in sys.modules
                            and sys.modules["threading"].active_count() > 1))
            except OSError:
                left = True
            if left:
                end_leftovers()
            executor.report_done(report_fd, rid, task, result)
            os.write(self.busy_w, b"%s -\n" % rid_bytes)
            status = 0 if result.get("ok") else 1
        except BaseException:
            with contextlib.suppress(BaseException):
                import traceback

                traceback.print_exc()
            with contextlib.suppress(BaseException):
                end_leftovers()
        finally:
            os._exit(status)

    def _execute(self, task: dict[str, Any]) -> dict[str, Any]:
        if "datum" in task:   # a data pipeline's Python transform (flowyard.data.transforms)
            return executor.run_datum(task["datum"])
        python = task.get("python")
        code = None
        if python:
            try:
                code = executor.compile_source(python["function"], python["source"])
            except SyntaxError as exc:
                import traceback

                traceback.print_exception(exc)
                return executor.failure(f"the component source does not compile: {exc}")
        return executor.run_task(task, code)

    # -- reaping --------------------------------------------------------------------------

    def _reap(self) -> None:
        self._read_busy()   # a spare that took a task and died at once must be known
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            rid = self.children.pop(pid, None)
            if rid is None:
                # A spare that died idle, or an orphaned grandchild (we are its subreaper).
                self.spares.discard(pid)
                self.retired.discard(pid)
                self.own.discard(pid)
                continue
            self.by_id.pop(rid, None)
            self.sweep_due = True
            # Whatever the step left running in its group dies with it (what it started in
            # other sessions it killed itself before exiting: end_leftovers).
            _killpg(pid, signal.SIGKILL)
            if rid not in self.reported:
                # It may have said "reported" after the read above and exited since: read
                # again, or the note would arrive later and stay in the set for good.
                self._read_busy()
            if rid in self.reported:       # its "done" ended it for the driver
                self.reported.discard(rid)
                continue
            code = os.waitstatus_to_exitcode(status)
            self.report({"id": rid, "event": "exit", "pid": pid,
                         "code": code if code >= 0 else None,
                         "signal": -code if code < 0 else None})

    def _kill_orphans(self) -> list[int]:
        keep = self.spares | self.retired | self.own
        orphans = [p for p in _children(self.pid) if p not in keep and p not in self.children]
        for pid in orphans:
            kill_tree(pid, signal.SIGKILL)
        return orphans

    def _shutdown(self) -> None:
        for pid in self.children:
            kill_tree(pid, signal.SIGKILL)
        pids = list(self.children) + list(self.spares) + list(self.retired)
        for pid in pids:
            _killpg(pid, signal.SIGKILL)
        # Orphans reparented to us (we are their subreaper), also those the kills above
        # just made: nothing a step started outlives the engine.
        self.own.clear()
        pids += self._kill_orphans()
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _take_record(fd: int, retire_fd: int) -> bytes:
    """One whole record from the (non-blocking) SOCK_SEQPACKET task socket.

    b"" when the driver closed its end or the zygote retired this spare (checked first: a
    retired spare must leave a waiting record to a spare forked after the preload).
    """
    exclusive = getattr(select, "EPOLLEXCLUSIVE", 0)
    if exclusive:
        # Exclusive: a record wakes one idle spare, not all of them (select would).
        poller = select.epoll(2)
        poller.register(fd, select.EPOLLIN | exclusive)
        poller.register(retire_fd, select.EPOLLIN)
    while True:
        try:
            if exclusive:
                ready = [f for f, _ in poller.poll()]
            else:
                ready, _, _ = select.select([fd, retire_fd], [], [])
        except InterruptedError:
            continue
        if retire_fd in ready:
            return b""
        try:
            return os.read(fd, _MAX_RECORD)
        except (BlockingIOError, InterruptedError):
            continue   # another spare took it


def import_modules(names: list[str]) -> list[str]:
    """Import what is installed of `names` here, within the memory limit; the ones imported.

    A module that fails to import is skipped (the step that needs it reports the error).
    Output of the imports goes to stderr: our stdout carries the reports to the driver.
    """
    import importlib
    import importlib.util

    limit = _preload_limit_mb()
    done: list[str] = []
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        for name in names:
            if _rss_mb() > limit:
                break
            try:
                if importlib.util.find_spec(name.split(".", 1)[0]) is None:
                    continue
                importlib.import_module(name)
            except (Exception, SystemExit):
                continue
            done.append(name)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    return done


def _preload_limit_mb() -> int:
    try:
        return int(os.environ.get("FLOWYARD_PRELOAD_MAX_MB", "2048"))
    except ValueError:
        return 2048


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def _ignore(*_: Any) -> None:
    return None


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError as exc:
        if exc.errno not in (errno.ESRCH, errno.EPERM):
            raise


def _reseed() -> None:
    """Give this fork random state of its own where a preloaded module holds a global one.

    Python's `random` reseeds itself after a fork; numpy's global generator (np.random.rand,
    np.random.shuffle) does not, so every step and datum forked from a zygote that imported
    `numpy.random` would draw the same numbers. A step that seeds it explicitly still gets
    its seed (it seeds after this)."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        with contextlib.suppress(Exception):
            numpy_random.seed()


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError as exc:
        if exc.errno not in (errno.ESRCH, errno.EPERM):
            raise


_HAVE_CHILDREN_FILES = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def _children(pid: int) -> list[int]:
    """The live children of process `pid` (of all its threads), from /proc; [] elsewhere."""
    if not _HAVE_CHILDREN_FILES:
        return []
    base = f"/proc/{pid}/task"
    try:
        tids = os.listdir(base)
    except OSError:
        return []
    found: list[int] = []
    for tid in tids:
        try:
            fd = os.open(f"{base}/{tid}/children", os.O_RDONLY)
        except OSError:
            continue
        try:
            data = b""
            while chunk := os.read(fd, 65536):
                data += chunk
        except OSError:
            pass
        finally:
            os.close(fd)
        found.extend(int(p) for p in data.split())
    return found


def kill_tree(pid: int, sig: int) -> None:
    """Signal `pid`, its process group and every process descending from it.

    The group alone misses what the step started in a session (or group) of its own
    (`start_new_session=True`, daemons). For SIGKILL the tree is first frozen with SIGSTOP,
    top-down, and walked twice, so that nothing forks a child the walk would miss.
    Where /proc has no children files (not Linux), only the process and its group.
    """
    tree: list[int] = []
    if _HAVE_CHILDREN_FILES:
        freeze = sig == signal.SIGKILL
        if freeze:
            _killpg(pid, signal.SIGSTOP)
            _kill(pid, signal.SIGSTOP)
        seen = {pid}
        for _pass in range(2 if freeze else 1):
            todo = list(seen)
            while todo:
                for child in _children(todo.pop()):
                    if child not in seen:
                        seen.add(child)
                        if freeze:
                            _kill(child, signal.SIGSTOP)
                        todo.append(child)
        seen.discard(pid)
        tree = list(seen)
    _killpg(pid, sig)
    _kill(pid, sig)
    for child in tree:
        _kill(child, sig)


def end_leftovers() -> None:
    """In a step process about to exit: kill what it started that still runs.

    Zombies are reaped first: if that leaves no child (ECHILD), /proc is not read. The
    step's own group is killed anyway when the zygote reaps it; this also reaches what
    runs in other sessions or groups.
    """
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass   # a zombie child: reaped, look again
    except ChildProcessError:
        return
    except OSError:
        pass
    for child in _children(os.getpid()):
        kill_tree(child, signal.SIGKILL)


def main() -> None:
    if "--unset-bind-now" in sys.argv:   # set by the pool for this process only (pool.py)
        os.environ.pop("LD_BIND_NOW", None)
    if "--parent" in sys.argv:
        # Only asked for when the pool was started by the main thread: the signal fires when
        # the *thread* that forked us ends, which is the process only for the main thread.
        parent = int(sys.argv[sys.argv.index("--parent") + 1])
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:   # the parent died before prctl took effect
            return
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _preload()
    Zygote(int(sys.argv[sys.argv.index("--tasks") + 1])).serve()
    # Children are gone and every report is written (unbuffered): skip the interpreter's
    # teardown, which the driver's close() would otherwise wait for.
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
