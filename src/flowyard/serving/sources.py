"""Model sources: turn a node's `modelUri` into a local path.

Forms handled now: a local path (relative to the graph file's folder), `file://`, and any
fsspec URL (`s3://bucket/key`, `gs://...`), downloaded once into a cache folder keyed by the
URL. `run:<run-id>/<artifact>` and `repo@ref:/path` are declared in `RESOLVERS` so the
platform can plug in the metadata and data stores without touching the runtimes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowyard.errors import ConfigError, NotFound, StoreError
from flowyard.settings import Settings

Resolver = Callable[[str, "SourceContext"], Path]
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
_REPO_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*@[^:/\s]+:/")


class SourceContext:
    """What resolving a URI needs: where relative paths start and where downloads go."""

    def __init__(self, base_dir: Path, cache_dir: Path,
                 storage_options: dict[str, Any] | None = None) -> None:
        self.base_dir = base_dir
        self.cache_dir = cache_dir
        self.storage_options = storage_options or {}


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


def _later(what: str) -> Resolver:
    def resolve(uri: str, ctx: SourceContext) -> Path:
        raise ConfigError(f"modelUri {uri!r}: {what} sources are not available yet",
                          hint="use a local path or an fsspec URL such as s3://bucket/model")
    return resolve


RESOLVERS: dict[str, Resolver] = {
    "run": _later("pipeline run artifact (run:<run-id>/<artifact>)"),
    "repo": _later("versioned data (repo@ref:/path)"),
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
