"""Model sources: turn a node's `modelUri` into a local path.

Forms handled now: a local path (relative to the graph file's folder), `file://`, any
fsspec URL (`s3://bucket/key`, `gs://...`), downloaded once into a cache folder keyed by the
URL, and `run:<run-id>/[<step-id>/]<artifact>`, an artifact of a pipeline run, looked up in
the metadata and object stores of the configured Flowyard home, and `repo@ref:/path`, a file
or folder of a versioned-data repo, pinned to the commit the ref names at load time.

A resolver may fill `SourceContext.lineage` (run, step, artifact, digest; repo, commit, path);
the runtime keeps it and the V2 model metadata shows it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyard.errors import ConfigError, Conflict, FlowyardError, InvalidInput, NotFound, StoreError
from flowyard.settings import Settings

if TYPE_CHECKING:
    from flowyard.data.refs import Target
    from flowyard.data.repo import DataStore
    from flowyard.store.records import ArtifactRecord, RunRecord

Resolver = Callable[[str, "SourceContext"], Path]
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
# Loose on purpose: anything shaped `name@ref:/` goes to the data resolver, which names what
# is wrong with a bad repo name or ref instead of reporting a missing local file.
_REPO_REF = re.compile(r"^[^/:@\s]*@[^/\s]*:/")


class SourceContext:
    """What resolving a URI needs: where relative paths start and where downloads go."""

    def __init__(self, base_dir: Path, cache_dir: Path,
                 storage_options: dict[str, Any] | None = None) -> None:
        self.base_dir = base_dir
        self.cache_dir = cache_dir
        self.storage_options = storage_options or {}
        self.lineage: dict[str, Any] = {}


def _local(uri: str, ctx: SourceContext) -> Path:
    path = Path(uri[len("file://"):] if uri.startswith("file://") else uri).expanduser()
    if not path.is_absolute():
        path = ctx.base_dir / path
    if not path.exists():
        raise NotFound(f"model file {str(path)!r} does not exist (modelUri {uri!r})",
                       hint="paths are relative to the graph file's folder")
    return path


def _fsspec(uri: str, ctx: SourceContext) -> Path:
    import fsspec

    key = hashlib.sha256(uri.encode()).hexdigest()[:24]
    target = ctx.cache_dir / key
    if target.exists():
        return _single_file_or_dir(target)
    options = dict(ctx.storage_options)
    scheme = _SCHEME.match(uri)
    endpoint = Settings().s3_endpoint_url
    if scheme and scheme.group(1).lower() in ("s3", "s3a") and endpoint:
        options.setdefault("client_kwargs", {"endpoint_url": endpoint})
    partial = ctx.cache_dir / f".{key}.partial-{os.getpid()}"
    try:
        fs, path = fsspec.core.url_to_fs(uri, **options)
        if not fs.exists(path):
            raise NotFound(f"model {uri!r} does not exist in its store")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        if fs.isdir(path):
            fs.get(path.rstrip("/") + "/", str(partial) + "/", recursive=True)
        else:
            fs.get(path, str(partial / Path(path).name))
        partial.rename(target)  # atomic: a crashed download never looks complete
    except NotFound:
        raise
    except ImportError as exc:
        raise ConfigError(f"cannot read {uri!r}: {exc}",
                          hint="install the fsspec backend, e.g. `pip install flowyard[s3]`"
                          ) from exc
    except Exception as exc:  # fsspec backends raise anything; name the URI at the boundary
        shutil.rmtree(partial, ignore_errors=True)
        if target.exists():  # another worker won the race
            return _single_file_or_dir(target)
        raise StoreError(f"cannot download model {uri!r}: {type(exc).__name__}: {exc}") from exc
    return _single_file_or_dir(target)


def _single_file_or_dir(folder: Path) -> Path:
    entries = list(folder.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_file() else folder


def parse_run_uri(uri: str) -> tuple[str, str | None, str]:
    """`run:<run-id>/[<step-id>/]<artifact>` -> (run id, step id or None, artifact name)."""
    parts = uri[len("run:"):].strip("/").split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(f"modelUri {uri!r} is not run:<run-id>/<artifact> or "
                          "run:<run-id>/<step-id>/<artifact>",
                          hint="see the run's artifacts with `flowyard runs artifacts RUN_ID`")
    return parts[0], (parts[1] if len(parts) == 3 else None), parts[-1]


def _pick_artifact(uri: str, run: RunRecord, artifacts: list[ArtifactRecord],
                   step: str | None, name: str) -> ArtifactRecord:
    def listing() -> str:
        return ", ".join(sorted(f"{a.step_id}/{a.name}" for a in artifacts)) or "none"

    if step is not None:
        found = [a for a in artifacts if a.step_id == step and a.name == name]
    else:
        # A pipeline output of that name wins: `run:<id>/model` is the run's model, even when
        # several steps wrote an artifact called "model" on the way.
        output = run.outputs.get(name)
        found = [a for a in artifacts if a.id == output] or \
            [a for a in artifacts if a.name == name]
    if not found:
        raise NotFound(f"modelUri {uri!r}: run {run.id!r} has no artifact "
                       f"{(f'{step}/' if step else '') + name!r}; it has: {listing()}",
                       hint="use run:<run-id>/<step-id>/<artifact>")
    if len(found) > 1:
        where = ", ".join(f"run:{run.id}/{a.step_id}/{a.name}" for a in found)
        raise ConfigError(f"modelUri {uri!r}: {len(found)} steps wrote an artifact {name!r}; "
                          f"name the step: {where}")
    return found[0]


def resolve_run(uri: str, ctx: SourceContext) -> Path:
    """Materialize a pipeline run's artifact into the cache (by digest) and return its path.

    The stores are those of the current settings (FLOWYARD_HOME, FLOWYARD_DATABASE_URL,
    FLOWYARD_OBJECT_STORE_URL), which `flowyard serve` passes to its worker processes.
    """
    from flowyard.store.metadata import MetadataStore
    from flowyard.store.objects import ObjectStore

    run_id, step, name = parse_run_uri(uri)
    settings = Settings()
    with MetadataStore.from_settings(settings) as store:
        try:
            run = store.get_run(run_id)
        except NotFound:
            recent = [r.id for r in store.list_runs(limit=10)]
            raise NotFound(f"modelUri {uri!r}: no run {run_id!r} in {settings.home}; "
                           f"recent runs: {', '.join(recent) or 'none'}",
                           hint="flowyard runs list (is FLOWYARD_HOME the one the run used?)"
                           ) from None
        record = _pick_artifact(uri, run, store.list_artifacts(run_id=run_id), step, name)
    ctx.lineage.update({"modelUri": uri, "runId": run.id, "pipeline": run.pipeline_name,
                        "stepId": record.step_id, "artifact": record.name,
                        "artifactId": record.id, "digest": record.digest,
                        "type": record.type})
    folder = ctx.cache_dir / "runs" / record.digest.replace(":", "-")
    if not folder.exists():
        partial = folder.parent / f".{folder.name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            partial.mkdir(parents=True)
            ObjectStore.from_settings(settings).materialize(record.digest, partial / name)
            partial.rename(folder)  # atomic: a half-copied artifact is never used
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            if not folder.exists():  # another worker may have won the race
                raise StoreError(f"modelUri {uri!r}: cannot copy artifact {record.id} into "
                                 f"{folder}: {exc}") from exc
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    # One entry, named after the artifact that first brought this digest here.
    return next(folder.iterdir())


def parse_repo_uri(uri: str) -> Target:
    """`repo@ref:/path` -> the data store's Target (ref required; `:/` alone is the root)."""
    from flowyard.data.refs import parse_target

    try:
        return parse_target(uri, need_ref=True)
    except InvalidInput as exc:
        raise ConfigError(f"modelUri {uri!r} is not a valid repo@ref:/path: {exc.message}",
                          hint="e.g. models@master:/iris/model.joblib (a branch, a commit id "
                          "or master^); see `flowyard data ls REPO@REF`") from None


def _in_uri(uri: str, exc: FlowyardError) -> FlowyardError:
    """The data store's error (it names the value and lists the options), prefixed by the URI."""
    kind = type(exc) if type(exc) in (NotFound, InvalidInput, Conflict, ConfigError) \
        else StoreError
    return kind(f"modelUri {uri!r}: {exc.message}", hint=exc.hint)


def resolve_repo(uri: str, ctx: SourceContext) -> Path:
    """Fetch `repo@ref:/path` once into `<cache>/data/<repo>/<commit>/<path key>/<name>`.

    The ref is resolved at every load (a branch may have moved); the bytes are fetched only
    for a commit not cached yet, into a temporary folder renamed into place when complete.
    """
    from flowyard.data.repo import DataStore

    tgt = parse_repo_uri(uri)
    name = tgt.path.rsplit("/", 1)[-1] if tgt.path else tgt.repo
    try:
        with DataStore.from_settings(Settings()) as store:
            commit = store.resolve(tgt)
            ctx.lineage.update({"modelUri": uri, "repo": tgt.repo, "ref": tgt.ref,
                                "commit": commit.id, "path": tgt.display_path()})
            if commit.origin != "user":  # e.g. the run and step of the pipeline that wrote it
                ctx.lineage.update({"origin": commit.origin, "info": commit.info})
            key = hashlib.sha256(tgt.path.encode()).hexdigest()[:16]
            folder = ctx.cache_dir / "data" / tgt.repo / commit.id / key
            if not folder.exists():
                _fetch(store, f"{tgt.repo}@{commit.id}:/{tgt.path}", folder, name)
    except FlowyardError as exc:
        raise _in_uri(uri, exc) from exc
    except Exception as exc:  # a database driver's own error; name the URI at the boundary
        raise StoreError(f"modelUri {uri!r}: cannot read the data store: "
                         f"{type(exc).__name__}: {exc}") from exc
    return folder / name


def _fetch(store: DataStore, source: str, folder: Path, name: str) -> None:
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    except OSError as exc:
        raise StoreError(f"cannot create the cache folder {folder.parent}: {exc}",
                         hint="check --cache-dir and its permissions") from exc
    try:
        store.get(source, partial / name)
        try:
            partial.rename(folder)  # atomic: a half-fetched model is never loaded
        except OSError:
            if not folder.exists():  # otherwise another worker won the race; use theirs
                raise
    except OSError as exc:
        raise StoreError(f"cannot copy {source} into {folder}: {exc}") from exc
    finally:
        shutil.rmtree(partial, ignore_errors=True)


RESOLVERS: dict[str, Resolver] = {
    "run": resolve_run,
    "repo": resolve_repo,
    "fsspec": _fsspec,
    "local": _local,
}


def kind_of(uri: str) -> str:
    if uri.startswith("run:"):
        return "run"
    if _REPO_REF.match(uri):
        return "repo"
    scheme = _SCHEME.match(uri)
    if scheme and scheme.group(1).lower() != "file":
        return "fsspec"
    return "local"


def resolve(uri: str, ctx: SourceContext) -> Path:
    """Local path of the model at `uri`, downloading it into the cache if it is remote."""
    return RESOLVERS[kind_of(uri)](uri, ctx)
