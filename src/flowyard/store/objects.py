"""Content-addressed blobs on a local folder or any fsspec filesystem (S3 via s3fs).

A blob is named by the blake3 digest of its bytes, `blake3:<64 hex>`, and lives at
`<root>/blobs/<aa>/<bb>/<hex>`, so storing the same content twice stores it once. A folder
is stored as one blob per file plus a JSON manifest blob (a "tree") whose digest names it.

Local stores write to `<root>/tmp` and rename into place, so a reader never sees a partial
blob; remote stores write each blob with a single PUT, which S3 makes visible atomically.
Blobs fetched from a remote store are verified against their digest before anyone reads them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, NoReturn

import blake3

from flowyard.errors import ConfigError, Conflict, FlowyardError, InvalidInput, NotFound, StoreError

if TYPE_CHECKING:
    from flowyard.settings import Settings

CHUNK: Final = 1 << 20
"""Read size when hashing and copying (1 MiB)."""
THREADED_HASH_MIN: Final = 8 * CHUNK
"""Files at least this big are hashed with blake3's multithreaded update."""
PREFIX: Final = "blake3:"
_DIGEST_RE: Final = re.compile(r"blake3:[0-9a-f]{64}")
_TREE_HEAD: Final = b'{"type":"tree",'
_BLOB_MODE: Final = 0o444  # blobs are hard-linked out by materialize; keep them read-only


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: str
    size: int


def _hasher(size: int) -> Any:
    if size >= THREADED_HASH_MIN:
        return blake3.blake3(max_threads=blake3.blake3.AUTO)
    return blake3.blake3()


def hash_bytes(data: bytes) -> str:
    """Digest of some bytes: 'blake3:<hex>'."""
    h = _hasher(len(data))
    h.update(data)
    return PREFIX + str(h.hexdigest())


def hash_file(path: str | Path) -> str:
    """Digest of a file's content, streamed in 1 MiB chunks."""
    with open(path, "rb") as f:
        return _hash_stream(f, os.fstat(f.fileno()).st_size)[0]


def _hash_stream(f: BinaryIO, size_hint: int, out: BinaryIO | None = None) -> tuple[str, int]:
    """Hash (and optionally copy to `out`) a stream; returns (digest, size)."""
    h = _hasher(size_hint)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    total = 0
    while n := f.readinto(view):  # type: ignore[attr-defined]
        chunk = view[:n]
        h.update(chunk)
        if out is not None:
            out.write(chunk)
        total += n
    return PREFIX + str(h.hexdigest()), total


def check_digest(digest: str) -> str:
    """The hex part of a well-formed digest, or InvalidInput naming the bad value."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise InvalidInput(
            f"{digest!r} is not a blob digest",
            hint="digests look like 'blake3:' followed by 64 lowercase hex characters",
        )
    return digest[len(PREFIX) :]


def _shard(hexd: str) -> str:
    return f"{hexd[:2]}/{hexd[2:4]}/{hexd}"


class ObjectStore:
    """Blobs addressed by digest, on a local folder or an fsspec URL such as s3://bucket/prefix."""

    def __init__(
        self,
        url: str,
        *,
        cache_dir: Path | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.url = str(url)
        self._cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        text = self.url
        if text.startswith("file://"):
            text = text[len("file://") :]
        self._fs: Any = None
        if "://" in text:
            self._root = self._open_remote(text, storage_options or {})
            self._local_root: Path | None = None
        else:
            self._local_root = Path(text).expanduser().absolute()
            self._root = str(self._local_root)
            self._prepare_local(self._local_root)

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        url = settings.resolved_object_store_url()
        options: dict[str, Any] = {}
        if url.startswith(("s3://", "s3a://")) and settings.s3_endpoint_url:
            options["client_kwargs"] = {"endpoint_url": settings.s3_endpoint_url}
        if not settings.object_store_url:
            settings.ensure_home()
        return cls(
            url,
            cache_dir=settings.home.expanduser() / "cache" / "objects",
            storage_options=options,
        )

    @property
    def is_local(self) -> bool:
        return self._local_root is not None

    # -- setup ------------------------------------------------------------------------------

    def _prepare_local(self, root: Path) -> None:
        for sub in ("blobs", "tmp"):
            try:
                (root / sub).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"object store folder {root / sub} cannot be created: {exc.strerror or exc}",
                    hint="set FLOWYARD_OBJECT_STORE_URL (or FLOWYARD_HOME) to a writable folder",
                ) from exc
        if not os.access(root / "tmp", os.W_OK | os.X_OK):
            raise ConfigError(
                f"object store folder {root} is not writable",
                hint="fix its permissions, or set FLOWYARD_OBJECT_STORE_URL to a writable folder",
            )

    def _open_remote(self, url: str, options: dict[str, Any]) -> str:
        try:
            from fsspec.core import url_to_fs

            fs, root = url_to_fs(url, **options)
        except ImportError as exc:
            raise ConfigError(
                f"object store {self.url} needs a filesystem driver that is not installed: {exc}",
                hint="for S3 install the extra: pip install 'flowyard[s3]'",
            ) from exc
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"object store URL {self.url!r} is not usable: {exc}",
                hint="use a folder path or an fsspec URL such as s3://bucket/prefix",
            ) from exc
        self._fs = fs
        return str(root).rstrip("/")

    # -- paths ------------------------------------------------------------------------------

    def _blob(self, digest: str) -> str:
        return f"{self._root}/blobs/{_shard(check_digest(digest))}"

    def _local_blob(self, digest: str) -> Path:
        assert self._local_root is not None
        return self._local_root / "blobs" / _shard(check_digest(digest))

    def _tmp(self) -> Path:
        assert self._local_root is not None
        return self._local_root / "tmp" / uuid.uuid4().hex

    def _cache_root(self) -> Path:
        if self._cache_dir is None:
            from flowyard.settings import Settings

            self._cache_dir = Settings().home.expanduser() / "cache" / "objects"
        return self._cache_dir

    def _remote_error(self, action: str, exc: BaseException, digest: str | None = None) -> NoReturn:
        if isinstance(exc, FlowyardError):
            raise exc
        if isinstance(exc, FileNotFoundError) and digest is not None:
            raise self._not_found(digest) from exc
        raise StoreError(
            f"object store {self.url}: cannot {action}: {type(exc).__name__}: {exc}",
            hint="check that the store is reachable and the credentials are right "
            "(FLOWYARD_OBJECT_STORE_URL, FLOWYARD_S3_ENDPOINT_URL, AWS_* variables)",
        ) from exc

    def _not_found(self, digest: str) -> NotFound:
        return NotFound(
            f"blob {digest} not found in object store {self.url}",
            hint="the artifact may have been garbage-collected, or the store URL differs "
            "from the one that wrote it",
        )

    # -- writing ----------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> BlobInfo:
        digest = hash_bytes(data)
        info = BlobInfo(digest, len(data))
        if self._local_root is None:
            path = self._blob(digest)
            try:
                if not self._fs.exists(path):
                    self._fs.pipe_file(path, data)
            except Exception as exc:
                self._remote_error(f"write blob {digest}", exc)
            return info
        final = self._local_blob(digest)
        if final.exists():
            return info
        tmp = self._tmp()
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            self._install(tmp, final)
        except OSError as exc:
            raise self._local_write_error(digest, exc) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return info

    def put_file(self, path: str | Path, *, move: bool = False) -> BlobInfo:
        """Store a file. move=True hands the file over (renamed in when possible, else removed)."""
        src = Path(path)
        if not src.is_file():
            raise InvalidInput(
                f"cannot store {src}: it is not a file"
                + (" (it is a folder; use put_tree)" if src.is_dir() else " (it does not exist)")
            )
        if self._local_root is None:
            return self._put_file_remote(src, move)
        try:
            if move:
                return self._move_in(src)
            return self._copy_in(src)
        except OSError as exc:
            raise StoreError(
                f"object store {self.url}: cannot store {src}: {exc.strerror or exc}",
                hint="check free space and permissions of the store folder",
            ) from exc

    def _copy_in(self, src: Path) -> BlobInfo:
        digest = hash_file(src)
        final = self._local_blob(digest)
        if final.exists():
            return BlobInfo(digest, final.stat().st_size)
        tmp = self._tmp()
        try:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                copied, size = _hash_stream(fin, os.fstat(fin.fileno()).st_size, fout)
            if copied != digest:
                raise StoreError(
                    f"file {src} changed while it was being stored",
                    hint="let the writer finish before storing the file",
                )
            self._install(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return BlobInfo(digest, size)

    def _move_in(self, src: Path) -> BlobInfo:
        tmp = self._tmp()
        try:
            # Rename first and hash the private copy, so a writer still holding `src` open
            # by name cannot change bytes after they were hashed.
            os.rename(src, tmp)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            info = self._copy_in(src)
            src.unlink()
            return info
        try:
            digest = hash_file(tmp)
            size = tmp.stat().st_size
            final = self._local_blob(digest)
            if not final.exists():
                self._install(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return BlobInfo(digest, size)

    def _install(self, tmp: Path, final: Path) -> None:
        os.chmod(tmp, _BLOB_MODE)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)

    def _local_write_error(self, digest: str, exc: OSError) -> StoreError:
        return StoreError(
            f"object store {self.url}: cannot write blob {digest}: {exc.strerror or exc}",
            hint="check free space and permissions of the store folder",
        )

    def _put_file_remote(self, src: Path, move: bool) -> BlobInfo:
        digest = hash_file(src)
        size = src.stat().st_size
        path = self._blob(digest)
        try:
            if not self._fs.exists(path):
                self._fs.put_file(str(src), path)
        except Exception as exc:
            self._remote_error(f"upload {src} as {digest}", exc)
        if move:
            src.unlink()
        return BlobInfo(digest, size)

    def put_tree(self, path: str | Path, *, move: bool = False) -> BlobInfo:
        """Store a folder: one blob per file plus a manifest blob, whose info is returned."""
        src = Path(path)
        if not src.is_dir():
            raise InvalidInput(f"cannot store {src} as a tree: it is not a folder")
        entries: dict[str, dict[str, Any]] = {}
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames.sort()
            for name in sorted(filenames):
                file = Path(dirpath) / name
                if not file.is_file():  # dangling symlinks, sockets, fifos
                    continue
                mode = stat.S_IMODE(file.stat().st_mode)
                info = self.put_file(file, move=move and not file.is_symlink())
                entries[file.relative_to(src).as_posix()] = {
                    "digest": info.digest,
                    "size": info.size,
                    "mode": mode,
                }
        manifest = {"type": "tree", "entries": dict(sorted(entries.items()))}
        info = self.put_bytes(json.dumps(manifest, separators=(",", ":")).encode())
        if move:
            shutil.rmtree(src, ignore_errors=True)
        return info

    def put_path(self, path: str | Path, *, move: bool = False) -> BlobInfo:
        """A folder goes to put_tree, anything else to put_file."""
        return (
            self.put_tree(path, move=move)
            if Path(path).is_dir()
            else self.put_file(path, move=move)
        )

    # -- reading ----------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        if self._local_root is None:
            path = self._blob(digest)
            try:
                return bool(self._fs.exists(path))
            except Exception as exc:
                self._remote_error(f"check blob {digest}", exc)
        return self._local_blob(digest).exists()

    def _head(self, digest: str, n: int) -> bytes:
        if self._local_root is None:
            try:
                # A ranged GET: opening the file would read ahead a whole block.
                return bytes(self._fs.cat_file(self._blob(digest), start=0, end=n))
            except Exception as exc:
                self._remote_error(f"read blob {digest}", exc, digest)
        try:
            with open(self._local_blob(digest), "rb") as f:
                return f.read(n)
        except FileNotFoundError as exc:
            raise self._not_found(digest) from exc

    def is_tree(self, digest: str) -> bool:
        if self._head(digest, len(_TREE_HEAD)) != _TREE_HEAD:
            return False
        try:
            return bool(json.loads(self.get_bytes(digest)).get("type") == "tree")
        except (ValueError, AttributeError):
            return False

    def tree_entries(self, digest: str) -> dict[str, dict[str, Any]]:
        """The manifest of a tree: relative path -> {digest, size, mode}."""
        try:
            manifest = json.loads(self.get_bytes(digest))
            if manifest.get("type") != "tree":
                raise ValueError("not a tree")
            return dict(manifest["entries"])
        except (ValueError, AttributeError, KeyError, TypeError) as exc:
            raise InvalidInput(
                f"blob {digest} is not a tree manifest", hint="store folders with put_tree"
            ) from exc

    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes; verified against the digest when fetched from a remote store."""
        if self._local_root is None:
            try:
                data = bytes(self._fs.cat_file(self._blob(digest)))
            except Exception as exc:
                self._remote_error(f"read blob {digest}", exc, digest)
            if hash_bytes(data) != digest:
                raise self._corrupt(digest)
            return data
        try:
            return self._local_blob(digest).read_bytes()
        except FileNotFoundError as exc:
            raise self._not_found(digest) from exc

    def open(self, digest: str) -> BinaryIO:
        """A binary file object on the blob (a verified local copy for remote stores)."""
        return open(self.local_path(digest), "rb")

    def local_path(self, digest: str) -> Path:
        """A readable local file with the blob's content: the blob itself, or a cached copy."""
        if self._local_root is not None:
            path = self._local_blob(digest)
            if not path.exists():
                raise self._not_found(digest)
            return path
        hexd = check_digest(digest)
        cached = self._cache_root() / _shard(hexd)
        if cached.exists():
            return cached
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"object cache folder {cached.parent} cannot be created: {exc.strerror or exc}",
                hint="set FLOWYARD_HOME to a writable folder",
            ) from exc
        tmp = cached.parent / f".{hexd}.{uuid.uuid4().hex}.part"
        try:
            try:
                self._fs.get_file(self._blob(digest), str(tmp))
            except Exception as exc:
                self._remote_error(f"download blob {digest}", exc, digest)
            if hash_file(tmp) != digest:
                raise self._corrupt(digest)
            os.chmod(tmp, _BLOB_MODE)
            os.replace(tmp, cached)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return cached

    def _corrupt(self, digest: str) -> StoreError:
        return StoreError(
            f"blob {digest} in object store {self.url} is corrupt: its content does not "
            "match its digest",
            hint="delete the blob and re-run the step that produced it",
        )

    def materialize(self, digest: str, dest: str | Path) -> Path:
        """Write the file or tree at `dest` (hard links when possible); dest must not exist."""
        target = Path(dest)
        if target.exists() or target.is_symlink():
            raise Conflict(
                f"cannot materialize {digest} at {target}: it already exists",
                hint="pass a path that does not exist yet",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        if not self.is_tree(digest):
            self._place(self.local_path(digest), target, None)
            return target
        entries = self.tree_entries(digest)
        staging = target.parent / f".{target.name}.{uuid.uuid4().hex}.part"
        try:
            staging.mkdir()
            for rel, entry in entries.items():
                out = staging / rel
                if ".." in Path(rel).parts or Path(rel).is_absolute():
                    raise StoreError(f"tree {digest} has an unsafe entry path {rel!r}")
                out.parent.mkdir(parents=True, exist_ok=True)
                self._place(self.local_path(entry["digest"]), out, entry.get("mode"))
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def _place(self, blob: Path, out: Path, mode: int | None) -> None:
        # Executable files get their own copy: a hard link shares the blob's read-only mode.
        if mode is None or not mode & 0o111:
            try:
                os.link(blob, out)
                return
            except OSError:
                pass
        shutil.copyfile(blob, out)
        os.chmod(out, mode if mode is not None else 0o644)

    # -- maintenance ------------------------------------------------------------------------

    def delete(self, digest: str) -> None:
        """Remove a blob (and its cached copy); a missing blob is not an error."""
        if self._local_root is None:
            try:
                if self._fs.exists(self._blob(digest)):
                    self._fs.rm_file(self._blob(digest))
                self._fs.invalidate_cache()
            except Exception as exc:
                self._remote_error(f"delete blob {digest}", exc)
            if self._cache_dir is not None:
                (self._cache_dir / _shard(check_digest(digest))).unlink(missing_ok=True)
            return
        self._local_blob(digest).unlink(missing_ok=True)

    def iter_digests(self) -> Iterator[str]:
        """Every stored digest, in no particular order."""
        if self._local_root is None:
            try:
                paths = self._fs.find(f"{self._root}/blobs")
                self._fs.invalidate_cache()
            except Exception as exc:
                self._remote_error("list blobs", exc)
            for p in paths:
                name = str(p).rsplit("/", 1)[-1]
                if _DIGEST_RE.fullmatch(PREFIX + name):
                    yield PREFIX + name
            return
        blobs = self._local_root / "blobs"
        for a in sorted(os.scandir(blobs), key=lambda e: e.name):
            if not a.is_dir():
                continue
            for b in os.scandir(a.path):
                if not b.is_dir():
                    continue
                for f in os.scandir(b.path):
                    if _DIGEST_RE.fullmatch(PREFIX + f.name):
                        yield PREFIX + f.name
