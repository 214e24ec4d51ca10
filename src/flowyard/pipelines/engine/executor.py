"""What one step attempt does inside its own process (a fork of the zygote).

The child gets a *task* (plain JSON data built by the scheduler), runs the Python function or
the container command, ingests its output artifacts into the object store itself (so hashing
and uploading happen in parallel across steps), writes a result JSON atomically and exits.
This module is imported by the zygote before any fork, so it imports only the standard
library and the tiny artifact classes; the object store is loaded by the zygote once.
"""

from __future__ import annotations
import __future__

import contextlib
import json
import json.decoder
import json.encoder
import json.scanner
import linecache
import os
import sys
import time
import traceback
from pathlib import Path
from types import CodeType
from typing import Any

from flowyard.pipelines.artifacts import ARTIFACT_CLASSES, Artifact, Metrics

_ANNOTATIONS_FLAG = __future__.annotations.compiler_flag
_STORES: dict[tuple[str, str], Any] = {}
_CODE: dict[tuple[str, str], CodeType] = {}


# The C halves of the json module, called without its Python layer (json.loads/dumps and
# the JSONDecoder/JSONEncoder methods around them). In a freshly forked step every object
# that layer touches costs a copy-on-write page fault: parsing a task and encoding a result
# through json.loads/json.dumps touched ~140 pages, through these ~50. Built here, in the
# zygote, so that every step inherits them.
_SCAN: Any = (json.scanner.c_make_scanner(json.decoder.JSONDecoder())  # type: ignore[attr-defined]
               if json.scanner.c_make_scanner is not None else None)  # type: ignore[attr-defined]
_ENCODE: Any = (json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, repr, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    if json.encoder.c_make_encoder is not None else None)  # type: ignore[attr-defined]


def loads(text: str) -> Any:
    """json.loads of a str, through the C scanner when there is one."""
    if _SCAN is None:
        return json.loads(text)
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        return json.loads(text)   # raises the usual JSONDecodeError
    if end != len(text):
        return json.loads(text)
    return value


def dumps(value: Any) -> str:
    """json.dumps(value, default=repr), through the C encoder when there is one."""
    if _ENCODE is None:
        return json.dumps(value, default=repr)
    try:
        return "".join(_ENCODE(value, 0))
    except Exception:
        # It skips json.dumps' circular-reference check (a cycle ends in RecursionError):
        # on any error, json.dumps gives its usual result or error.
        return json.dumps(value, default=repr)


class StepError(Exception):
    """A step failed for a reason worth one line in the record (no traceback needed)."""


def compile_source(function: str, source: str) -> CodeType:
    """Compile a component once per zygote; annotations are never evaluated."""
    key = (function, source)
    code = _CODE.get(key)
    if code is None:
        filename = f"<component {function}>"
        code = compile(source, filename, "exec", flags=_ANNOTATIONS_FLAG, dont_inherit=True)
        # Lets tracebacks in the step log show the component's source lines.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        _CODE[key] = code
    return code


def is_local_url(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def get_store(spec: dict[str, Any]) -> Any:
    """One ObjectStore per URL; local ones are built in the zygote and inherited by forks."""
    key = (spec["url"], spec["cache_dir"])
    store = _STORES.get(key)
    if store is None:
        from flowyard.store.objects import ObjectStore

        store = ObjectStore(spec["url"], cache_dir=Path(spec["cache_dir"]),
                            storage_options=spec.get("storage_options") or None)
        _STORES[key] = store
    return store


def check_type(value: Any, type_name: str) -> Any:
    """Return `value` if it fits the declared parameter type (ints widen to float)."""
    if type_name == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    ok = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, float),
        "bool": lambda v: isinstance(v, bool),
        "list": lambda v: isinstance(v, list | tuple),
        "dict": lambda v: isinstance(v, dict),
    }.get(type_name, lambda v: True)(value)
    if not ok:
        raise TypeError(f"expected {type_name}, got {type(value).__name__} {value!r}")
    return list(value) if isinstance(value, tuple) else value


def parse_text(text: str, type_name: str) -> Any:
    """An output parameter written to a file by a container command."""
    if type_name == "str":
        return text[:-1] if text.endswith("\n") else text
    stripped = text.strip()
    if type_name == "int":
        return int(stripped)
    if type_name == "float":
        return float(stripped)
    if type_name == "bool":
        if stripped.lower() in ("true", "1", "yes"):
            return True
        if stripped.lower() in ("false", "0", "no", ""):
            return False
        raise ValueError(f"not a bool: {stripped!r}")
    return check_type(json.loads(stripped), type_name)


def _input_artifact(spec: dict[str, Any], work: Path, store: Any, watch: Watch | None,
                    label: str) -> Artifact:
    cls = ARTIFACT_CLASSES.get(spec["type"], Artifact)
    if spec.get("is_tree"):
        dest = work / "inputs" / f"{spec['name']}-{spec['digest'][7:19]}"
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            store.materialize(spec["digest"], dest)
        path = str(dest)
        # The folder is the step's own, but its files are hard links to the blobs
        # (ObjectStore.materialize): writing into one writes the blob.
        if watch is not None:
            for rel, entry in store.tree_entries(spec["digest"]).items():
                _watch(watch, str(store.local_path(entry["digest"])), entry["digest"],
                       f"{label} (its file {rel!r})")
    else:
        path = str(store.local_path(spec["digest"]))
        if watch is not None:
            _watch(watch, path, spec["digest"], label)
    return cls(name=spec["name"], uri=spec.get("uri", ""), metadata=spec.get("metadata"),
               path=path)


def outputs_from_return(value: Any, outputs: dict[str, str]) -> dict[str, Any]:
    """A component function's return value as its declared output parameters (shared with
    the in-image step runner, pipelines/kube_step.py, so both places read it alike)."""
    if not outputs:
        return {}
    names = list(outputs)
    if names == ["Output"]:
        values = {"Output": value}
    elif isinstance(value, dict):
        values = {n: value[n] for n in names if n in value}
    elif hasattr(value, "_fields"):
        values = {n: getattr(value, n) for n in names if hasattr(value, n)}
    elif isinstance(value, tuple | list) and len(value) == len(names):
        values = dict(zip(names, value, strict=True))
    else:
        raise StepError(f"the function must return the outputs {names} "
                        f"(a NamedTuple or dict), got {type(value).__name__}")
    result: dict[str, Any] = {}
    for name in names:
        if name not in values:
            raise StepError(f"the return value has no output {name!r}")
        try:
            result[name] = check_type(values[name], outputs[name])
        except TypeError as exc:
            raise StepError(f"output {name!r}: {exc}") from None
    return result


def _run_python(task: dict[str, Any], code: CodeType, work: Path,
                outs: dict[str, Artifact], store: Any, watch: Watch | None) -> dict[str, Any]:
    python = task["python"]
    namespace: dict[str, Any] = {"__name__": "__flowyard_component__"}
    exec(code, namespace)
    function = namespace.get(python["function"])
    if not callable(function):
        raise StepError(f"the component source defines no function {python['function']!r}")
    kwargs: dict[str, Any] = dict(task["parameters"])
    for name, spec in task["input_artifacts"].items():
        if isinstance(spec, list):
            kwargs[name] = [_input_artifact(s, work, store, watch, f"{name!r}[{i}]")
                            for i, s in enumerate(spec)]
        else:
            kwargs[name] = _input_artifact(spec, work, store, watch, repr(name))
    kwargs.update(outs)
    value = function(**kwargs)
    return outputs_from_return(value, task["output_parameters"])


def _substitute(text: str, values: dict[str, str]) -> str:
    if "{{" not in text:
        return text
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _run_container(task: dict[str, Any], work: Path, outs: dict[str, Artifact],
                   store: Any, watch: Watch | None) -> dict[str, Any]:
    import subprocess

    spec = task["container"]
    values: dict[str, str] = {}
    for name, value in task["parameters"].items():
        values[f"{{{{inputs.parameters.{name}}}}}"] = (
            value if isinstance(value, str) else json.dumps(value))
    for name, art in task["input_artifacts"].items():
        if isinstance(art, list):
            paths = [_input_artifact(a, work, store, watch, f"{name!r}[{i}]").path
                     for i, a in enumerate(art)]
            values[f"{{{{inputs.artifacts.{name}.path}}}}"] = json.dumps(paths)
        else:
            values[f"{{{{inputs.artifacts.{name}.path}}}}"] = _input_artifact(
                art, work, store, watch, repr(name)).path
    param_dir = work / "parameters"
    param_dir.mkdir(parents=True, exist_ok=True)
    for name in task["output_parameters"]:
        values[f"{{{{outputs.parameters.{name}.path}}}}"] = str(param_dir / name)
    for name, art in outs.items():
        values[f"{{{{outputs.artifacts.{name}.path}}}}"] = art.path
    argv = [_substitute(a, values) for a in [*spec["command"], *spec["args"]]]
    print(f"flowyard: warning: image {spec['image']!r} is not used locally; running "
          f"{argv[:1]} in the host environment", flush=True)
    if not argv:
        raise StepError("the container component has no command or args to run")
    env = {**os.environ, **spec.get("env", {})}
    sys.stdout.flush()
    sys.stderr.flush()
    code = subprocess.call(argv, env=env, cwd=str(work))
    if code != 0:
        raise StepError(f"command {argv[0]!r} exited with code {code}")
    result: dict[str, Any] = {}
    for name, type_name in task["output_parameters"].items():
        path = param_dir / name
        if not path.exists():
            raise StepError(f"output parameter {name!r} was not written to {path}")
        try:
            result[name] = parse_text(path.read_text(encoding="utf-8"), type_name)
        except (ValueError, TypeError) as exc:
            raise StepError(f"output parameter {name!r} is not a valid {type_name}: "
                            f"{exc}") from None
    return result


def _ingest(outs: dict[str, Artifact], store: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, art in outs.items():
        if isinstance(art, Metrics) and not os.path.exists(art.path):
            art.write()
        if not os.path.exists(art.path):
            raise StepError(f"output artifact {name!r} was not written to {art.path}")
        is_tree = os.path.isdir(art.path)
        info = store.put_path(art.path, move=True)
        found[name] = {"digest": info.digest, "size": info.size, "is_tree": is_tree,
                       "type": type(art).TYPE, "metadata": _jsonable(art.metadata)}
    return found


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        cleaned: dict[str, Any] = json.loads(json.dumps(value, default=repr))
        return cleaned


def _write_result(path: str, result: dict[str, Any]) -> None:
    # Raw os calls: a forked child pays a page fault for every page it touches, and the
    # buffered-file machinery touches many (175 faults vs 40 measured).
    data = json.dumps(result, default=repr).encode()
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.replace(tmp, path)


_SMALL_LOG = 256 * 1024


def _store_log(store: Any, path: str) -> str:
    """Copy the step log into the object store (small logs without a 1 MiB copy buffer)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, _SMALL_LOG + 1)
    finally:
        os.close(fd)
    if len(data) > _SMALL_LOG:
        return str(store.put_file(path).digest)
    known = _KNOWN_BLOBS.get((id(store), data))
    if known is not None:
        return known
    return str(store.put_bytes(data).digest)


_KNOWN_BLOBS: dict[tuple[int, bytes], str] = {}


def remember_headers(store: Any) -> None:
    """Store the logs of quiet steps (just the attempt header) once, in the zygote.

    Most logs of small steps are exactly `--- attempt N ---`; children forked later find
    the digest here instead of hashing and probing the store (~80 page faults each).
    """
    for attempt in range(1, 4):
        data = f"--- attempt {attempt} ---\n".encode()
        _KNOWN_BLOBS[(id(store), data)] = str(store.put_bytes(data).digest)


_INLINE_MAX = 3800   # a "done" line must fit one atomic pipe write (PIPE_BUF is 4096)


def report_done(report_fd: int, rid: str, task: dict[str, Any], result: dict[str, Any]) -> None:
    """Tell the driver the result before exiting: one atomic write on the zygote's pipe.

    Results too big for one atomic write go to the task's result file (tmp + rename) and the
    line only points at it.
    """
    pid = os.getpid()
    line = dumps({"id": rid, "event": "done", "pid": pid, "result": result})
    if len(line) > _INLINE_MAX:
        _write_result(task["result"], result)
        line = json.dumps({"id": rid, "event": "done", "pid": pid, "file": task["result"]})
    os.write(report_fd, line.encode() + b"\n")


def failure(error: str) -> dict[str, Any]:
    return {"ok": False, "outputs": {}, "artifacts": {}, "error": error}


_NO_WORK = Path("/nonexistent/flowyard-no-work-folder")


def _uses_work(task: dict[str, Any]) -> bool:
    return bool(task["output_artifacts"] or task["input_artifacts"] or task.get("container"))


def run_datum(spec: dict[str, Any]) -> dict[str, Any]:
    """One datum of a data pipeline: call its `module:function` / `file.py:function` with
    the input and output folders, or run its command (flowyard.data.transforms builds
    `spec`). Called in a fork of the zygote, or in a fresh interpreter; fds 1/2 already
    point at the datum's log."""
    result: dict[str, Any] = {"ok": False, "error": None}
    os.environ.update(spec["env"])
    for entry in reversed(spec["path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        os.chdir(spec["cwd"])
        if spec.get("cmd") is not None:
            return _run_datum_command(spec["cmd"], result)
        target, _, name = spec["python"].rpartition(":")
        if target.endswith(".py"):
            import runpy

            function = runpy.run_path(target).get(name)
        else:
            import importlib

            function = getattr(importlib.import_module(target), name, None)
        if not callable(function):
            raise StepError(f"{target} defines no function {name!r}: the transform "
                            "must name a function of that file or module")
        function(Path(spec["input"]), Path(spec["output"]))
        result["ok"] = True
    except StepError as exc:
        result["error"] = str(exc)
        print(f"flowyard: datum failed: {exc}", file=sys.stderr)
    except SystemExit as exc:   # as in a process of its own: exit 0 is success
        if exc.code in (None, 0):
            result["ok"] = True
        else:
            result["error"] = f"the transform called sys.exit({exc.code!r})"
            print(f"flowyard: datum failed: {result['error']}", file=sys.stderr)
    except BaseException as exc:  # the whole point is to report any failure of user code
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    return result


def _run_datum_command(argv: list[str], result: dict[str, Any]) -> dict[str, Any]:
    """A command transform: its output goes to the datum's log (fds 1/2)."""
    import subprocess

    try:
        code = subprocess.call(argv)
    except OSError as exc:
        code, why = 127, f"cannot start {argv[0] if argv else ''!r}: {exc}"
    else:
        why = f"command {argv[0]!r} exited with code {code}" if code else ""
    if code:
        result["error"] = why
        print(f"flowyard: datum failed: {why}", file=sys.stderr)
    else:
        result["ok"] = True
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    return result


def run_task(task: dict[str, Any], code: CodeType | None) -> dict[str, Any]:
    """Run one attempt; fds 1/2 already point at the step log. Returns the result."""
    # A Path (or even os.path.isdir) costs ~100 page faults in a fresh fork; most steps
    # never need their work folder, so it is only touched when there are files to place.
    work = Path(task["work"]) if _uses_work(task) else _NO_WORK
    result: dict[str, Any] = {"ok": False, "outputs": {}, "artifacts": {}, "error": None}
    store: Any = None
    # Input artifacts' blobs (see _watch); None, not even an empty dict, for the others.
    watch: Watch | None = {} if task["input_artifacts"] else None
    if task.get("env"):
        os.environ.update(task["env"])   # e.g. FLOWYARD_VOLUME_<NAME>; this process only
    try:
        store = get_store(task["objects"])
        outs: dict[str, Artifact] = {}
        if task["output_artifacts"]:
            out_dir = work / "outputs"
            out_dir.mkdir(parents=True, exist_ok=True)
            for name, type_name in task["output_artifacts"].items():
                cls = ARTIFACT_CLASSES.get(type_name, Artifact)
                outs[name] = cls(name=name, path=str(out_dir / name))
        if task.get("container"):
            result["outputs"] = _run_container(task, work, outs, store, watch)
        else:
            assert code is not None
            result["outputs"] = _run_python(task, code, work, outs, store, watch)
        if watch:
            damage, watch = check_inputs(watch), None
            if damage:
                raise StepError(damage)
        result["artifacts"] = _ingest(outs, store)
        result["ok"] = True
        if work is not _NO_WORK and os.path.isdir(work):   # kept after a failure
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    except StepError as exc:
        print(f"flowyard: step failed: {exc}", file=sys.stderr)
        result["error"] = str(exc)
    except SystemExit as exc:
        code_ = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code_ == 0:
            result["error"] = "the function called sys.exit(0) before returning"
        else:
            result["error"] = f"the function called sys.exit({exc.code!r})"
        print(f"flowyard: step failed: {result['error']}", file=sys.stderr)
    except BaseException as exc:  # the whole point is to report any failure of user code
        traceback.print_exc()
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
        result["error"] = f"{type(exc).__name__}: {exc}{where}"
    if watch:   # the step failed before its inputs were checked: they still must be
        damage = check_inputs(watch)
        if damage:
            print(f"flowyard: step failed: {damage}", file=sys.stderr)
            result["error"] = damage
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    if store is not None:
        try:
            result["log_digest"] = _store_log(store, task["log"])
        except Exception as exc:  # the result matters more than the log copy
            result["log_error"] = str(exc)
    return result


# -- input checks (at the end of the module: the objects every step touches keep their
# places in memory, so a step without inputs touches no more pages than before) --------

# What an input artifact's files looked like before the step ran: blob path ->
# (digest, what to call it in an error, os.stat fingerprint, verify by hash anyway).
Watch = dict[str, tuple[str, str, tuple[int, int, int, int], bool]]
# The clock the kernel stamps file times with (coarse: one tick, 1-10 ms); see _watch.
_COARSE_CLOCK = getattr(time, "CLOCK_REALTIME_COARSE", 5 if sys.platform == "linux" else None)


def _watch(watch: Watch, path: str, digest: str, label: str) -> None:
    """Remember an input blob's stat fingerprint before the step's code runs.

    Input artifacts are the object store's files themselves (zero-copy reads; a cached copy
    for a remote store), read-only by mode, which does not stop root. A write changes the
    size or the mtime; a replaced file changes the inode. The ctime is part of the
    fingerprint too, but changes without a write (another step hard-linking the blob, a
    chmod), so a changed fingerprint is confirmed by hashing. A kernel without fine-grained
    timestamps stamps files with its coarse clock: a write in the same tick as the blob's
    last change would leave every time unchanged, so such a blob is hashed in any case.
    """
    if path in watch:
        return
    st = os.stat(path)
    now = time.clock_gettime_ns(_COARSE_CLOCK) if _COARSE_CLOCK is not None else (
        time.time_ns() - 10_000_000)
    watch[path] = (digest, label, (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns),
                   st.st_ctime_ns >= now)


def check_inputs(watch: Watch) -> str | None:
    """None when no input blob changed; else remove the changed ones and say what happened.

    A changed blob no longer matches its digest: nothing may serve it again (cache lookups
    check that blobs exist, so a later run recomputes it, and a remote store's cached copy
    is fetched again).
    """
    damaged: list[str] = []
    for path, (digest, label, before, verify) in watch.items():
        try:
            st = os.stat(path)
        except FileNotFoundError:
            damaged.append(f"{label} was deleted")
            continue
        if not verify and (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) == before:
            continue
        from flowyard.store.objects import hash_file

        try:
            if hash_file(path) == digest:
                continue
        except OSError:
            pass
        with contextlib.suppress(OSError):
            os.unlink(path)
        damaged.append(f"{label} was modified")
    if not damaged:
        return None
    return (f"input artifact {'; '.join(damaged)} by the step: input artifacts are shared "
            "read-only files (the object store's own copy, which other steps and cache hits "
            "read too), so the damaged file was removed from the store; write to an "
            "Output artifact instead (or copy the input first)")
