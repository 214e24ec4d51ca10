"""File content on the ObjectStore: chunks packed into pack blobs.

Every byte of a file lives in a *chunk*, and chunks live in *packs*: one blob per ~32 MiB of
new chunks, so 100,000 small files become a handful of objects. A file below SMALL_FILE is
one chunk; a bigger one is cut with FastCDC (content-defined, so an append or an edit in the
middle only produces new chunks around the change). A chunk is named by the blake3 digest
of its bytes and stored once: each pack is stored with an index object beside it (see
packindex.py) that maps its chunks to (offset, length), and a file entry lists the
(pack, offset, length) of its chunks.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final, NamedTuple

import blake3

from flowyard.data import packindex
from flowyard.errors import StoreError
from flowyard.store.objects import ObjectStore, hash_bytes

PREFIX: Final = "blake3:"
SMALL_FILE: Final = 1 << 20
"""Files below this are one chunk; bigger ones are cut with FastCDC."""
CDC_AVG: Final = 1 << 20
CDC_MIN: Final = 256 << 10
CDC_MAX: Final = 4 << 20
WRITE_BUFFER: Final = 1 << 20
DIRECT_WRITE: Final = 64 << 10
PACK_SIZE: Final = 32 << 20
"""A pack is written once this many bytes of new chunks have gathered."""
IOV_MAX: Final = 1024
"""Buffers per writev call (Linux's limit)."""

Part = tuple[str, int, int]
"""(pack digest, offset, length) of one chunk of a file."""


class FileEntry(NamedTuple):
    """One file of a commit: where its bytes are, its size, mode and content digest.

    A named tuple, not a dataclass: a put or a tree page of 100,000 files makes them in
    bulk with `make_entries`, without a Python-level __init__ call each.
    """

    path: str
    size: int
    mode: int
    digest: str
    parts: tuple[Part, ...]

    def same_content(self, other: FileEntry) -> bool:
        return self.digest == other.digest and self.mode == other.mode


_new_entry: Callable[[tuple[str, int, int, str, tuple[Part, ...]]], FileEntry] = (
    functools.partial(tuple.__new__, FileEntry)
)


def make_entries(
    fields: Iterable[tuple[str, int, int, str, tuple[Part, ...]]],
) -> Iterator[FileEntry]:
    """FileEntry(*f) for each (path, size, mode, digest, parts) in `fields`, made in C."""
    return map(_new_entry, fields)


def digest_of(data: bytes | memoryview) -> str:
    h = blake3.blake3(max_threads=blake3.blake3.AUTO) if len(data) >= 8 << 20 else blake3.blake3()
    h.update(data)
    return PREFIX + str(h.hexdigest())


_chunker: Any = None


def cut(data: bytes | memoryview) -> Iterable[memoryview]:
    """Content-defined chunks of a buffer (FastCDC 2020 via pyfastcdc's compiled chunker)."""
    global _chunker
    if _chunker is None:
        from pyfastcdc import FastCDC

        _chunker = FastCDC(CDC_AVG, min_size=CDC_MIN, max_size=CDC_MAX)
    view = memoryview(data)
    for chunk in _chunker.cut_buf(view):
        yield view[chunk.offset : chunk.offset + chunk.length]


class PendingPack:
    """A pack still gathering chunks, in a temporary file; `digest` is set once stored."""

    __slots__ = ("buf", "digest", "digests", "fd", "hasher", "lengths", "offsets", "path",
                 "size")

    def __init__(self, folder: Path) -> None:
        self.path = folder / f"pack-{os.getpid()}-{uuid.uuid4().hex}"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.buf = bytearray()
        self.size = 0
        # The pack's digest, made from the bytes as they are written: the pack file is not
        # read back for it (the store still verifies what it takes in). One thread: on
        # buffers of a few hundred KiB, blake3's thread pool costs twice the CPU.
        self.hasher: Any = blake3.blake3()
        self.digest: str | None = None
        # Every chunk's digest, offset and length, for the pack's index: three columns, so a
        # run of small files is recorded with three list extends.
        self.digests: list[str] = []
        self.offsets: list[int] = []
        self.lengths: list[int] = []

    def append(self, data: bytes | memoryview) -> None:
        # Small chunks gather in memory: 100,000 1 KiB files are then 100 writes, not 100,000.
        # Big ones go straight to the file (no extra copy).
        self.size += len(data)
        if len(data) >= DIRECT_WRITE:
            self._write()
            self._write_all(data)
            return
        self.buf += data
        if len(self.buf) >= WRITE_BUFFER:
            self._write()

    def append_many(self, datas: Sequence[bytes], total: int) -> None:
        """append() for chunks that come together (`total` bytes). Small ones are joined
        (hashing one buffer beats a hash call per KiB); big ones are hashed one by one and
        written with writev, a call per IOV_MAX chunks, without a joined copy."""
        if total < len(datas) * DIRECT_WRITE // 4:
            self.append(b"".join(datas))
            return
        self._write()
        self.size += total
        deque(map(self.hasher.update, datas), maxlen=0)
        for at in range(0, len(datas), IOV_MAX):
            batch = datas[at : at + IOV_MAX]
            n = os.writev(self.fd, batch)
            want = sum(map(len, batch))
            if n < want:  # a short write: the rest the plain way
                self._write_unhashed(memoryview(b"".join(batch))[n:])

    def _write_all(self, data: bytes | memoryview | bytearray) -> None:
        self.hasher.update(data)
        self._write_unhashed(data)

    def _write_unhashed(self, data: bytes | memoryview | bytearray) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        view.release()

    def _write(self) -> None:
        if self.buf:
            self._write_all(self.buf)
            self.buf = bytearray()

    def close(self) -> None:
        self._write()
        os.close(self.fd)
        self.fd = -1

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.path.unlink(missing_ok=True)


def temp_folder(objects: ObjectStore, fallback: Path) -> Path:
    """Where packs are written before they are stored: inside a local store (so storing them
    is a rename), else a cache folder."""
    if objects.is_local:
        folder = Path(objects.url.removeprefix("file://")).expanduser().absolute() / "tmp"
    else:
        folder = fallback
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class PackWriter:
    """Gathers new chunks into packs and stores each full pack as one blob, with its index.

    `before_write(digests)` runs before a pack and its index are stored, so the caller can
    record the intent (a killed writer's blobs are then found and collected by fsck).
    """

    def __init__(
        self,
        objects: ObjectStore,
        temp: Path,
        *,
        pack_size: int = PACK_SIZE,
        before_write: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        self.objects = objects
        self.temp = temp
        self.pack_size = pack_size
        self.before_write = before_write
        self.locations: dict[str, tuple[PendingPack | str, int, int]] = {}
        self.packs: list[str] = []
        self.sizes: dict[str, int] = {}
        self.indexes: list[tuple[str, int]] = []
        """(digest, size) of the index object of each pack stored."""
        self.bytes_written = 0
        self._current: PendingPack | None = None

    def add(self, digest: str, data: bytes | memoryview) -> None:
        """Store a chunk unless it is already stored (in the index or in this writer)."""
        if digest in self.locations:
            return
        pack = self._current
        if pack is None:
            pack = self._current = PendingPack(self.temp)
        offset = pack.size
        pack.append(data)
        self.locations[digest] = (pack, offset, len(data))
        pack.digests.append(digest)
        pack.offsets.append(offset)
        pack.lengths.append(len(data))
        if pack.size >= self.pack_size:
            self.flush()

    def add_many(self, chunks: Iterable[tuple[str, bytes | memoryview]]) -> None:
        """add() for many chunks: the same, with the per-chunk calls of small chunks inlined
        (a put of 100,000 small files spends its time in such per-file steps)."""
        locations = self.locations
        for digest, data in chunks:
            if digest in locations:
                continue
            pack = self._current
            if pack is None:
                pack = self._current = PendingPack(self.temp)
            offset = pack.size
            n = len(data)
            if n >= DIRECT_WRITE:
                pack.append(data)
            else:
                pack.buf += data
                pack.size = offset + n
                if len(pack.buf) >= WRITE_BUFFER:
                    pack._write()
            locations[digest] = (pack, offset, n)
            pack.digests.append(digest)
            pack.offsets.append(offset)
            pack.lengths.append(n)
            if pack.size >= self.pack_size:
                self.flush()

    def add_run(
        self, digests: list[str], datas: list[bytes], sizes: list[int]
    ) -> list[tuple[PendingPack, list[int]]] | None:
        """add_many() for a run of whole small files (one chunk each, `sizes[i] ==
        len(datas[i])`): when none of them is stored yet and none repeats, they go into the
        pack with one write (append_many) and their locations with a few C-level list and
        dict calls (no Python step per file), and the packs and offsets the files went to,
        in order, are returned. Else add_many() sorts out the duplicates one by one (and
        None is returned)."""
        count = len(digests)
        locations = self.locations
        if len(set(digests)) != count or not locations.keys().isdisjoint(digests):
            self.add_many(zip(digests, datas, strict=True))
            return None
        runs: list[tuple[PendingPack, list[int]]] = []
        # starts[i]: where file i begins, counted from the start of the run.
        starts = list(itertools.accumulate(sizes, initial=0))
        i = 0
        while i < count:
            pack = self._current
            if pack is None:
                pack = self._current = PendingPack(self.temp)
            # As add(): chunks go in until the pack reaches pack_size, the last one included.
            j = min(count, bisect.bisect_left(starts, starts[i] + self.pack_size - pack.size,
                                              i + 1))
            shift = pack.size - starts[i]
            offsets = list(map(shift.__add__, starts[i:j]))
            pack.append_many(datas[i:j], starts[j] - starts[i])
            run, lengths = digests[i:j], sizes[i:j]
            locations.update(zip(run, zip(itertools.repeat(pack), offsets, lengths, strict=False),
                                 strict=True))
            pack.digests += run
            pack.offsets += offsets
            pack.lengths += lengths
            runs.append((pack, offsets))
            if pack.size >= self.pack_size:
                self.flush()
            i = j
        return runs

    def learn(self, digest: str, pack: str, offset: int, length: int) -> None:
        """Record a chunk the pack index already holds."""
        self.locations.setdefault(digest, (pack, offset, length))

    def flush(self) -> None:
        pack = self._current
        if pack is None:
            return
        self._current = None
        pack.close()
        try:
            # Known before the blob exists, so the intent can be recorded first; put_file
            # hashes the file again to verify it.
            digest = PREFIX + str(pack.hasher.hexdigest())
            index = packindex.encode_columns(digest, pack.digests, pack.offsets, pack.lengths)
            index_digest = hash_bytes(index)
            if self.before_write is not None:
                self.before_write([digest, index_digest])
            info = self.objects.put_file(pack.path, move=True)
        finally:
            pack.path.unlink(missing_ok=True)
        if info.digest != digest:
            raise StoreError(f"pack {pack.path} changed while it was stored")
        # The index goes in after its pack: an index never names a pack that is not there.
        self.objects.put_bytes(index)
        self.indexes.append((index_digest, len(index)))
        pack.digests, pack.offsets, pack.lengths = [], [], []
        pack.digest = digest
        self.packs.append(digest)
        self.sizes[digest] = pack.size
        self.bytes_written += pack.size

    def discard(self) -> None:
        if self._current is not None:
            self._current.discard()
            self._current = None

    def part(self, digest: str) -> Part:
        """(pack, offset, length) of a stored chunk; call after flush()."""
        pack, offset, length = self.locations[digest]
        if isinstance(pack, PendingPack):
            assert pack.digest is not None, "part() before flush()"
            return (pack.digest, offset, length)
        return (pack, offset, length)


@dataclass(slots=True)
class ReadFile:
    """A file read into chunks: content digest and the digests of its chunks, in order."""

    digest: str
    size: int
    chunks: list[tuple[str, memoryview | bytes]]


def read_file(path: str | Path) -> tuple[ReadFile, os.stat_result]:
    """Read a small file whole and hash it (one chunk). Big files go through stream_chunks."""
    fd = os.open(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        data = _read_all(fd, st.st_size)
    finally:
        os.close(fd)
    d = digest_of(data)
    return ReadFile(d, len(data), [(d, data)]), st


def stream_chunks(f: BinaryIO) -> Iterator[bytes]:
    """Content-defined chunks of an open file, read in blocks (no mmap: a file truncated
    while it is read must give an error, not a SIGBUS)."""
    global _chunker
    if _chunker is None:
        from pyfastcdc import FastCDC

        _chunker = FastCDC(CDC_AVG, min_size=CDC_MIN, max_size=CDC_MAX)
    for chunk in _chunker.cut_stream(f):
        yield bytes(chunk.data)  # the view is only valid until the next chunk


def split_bytes(data: bytes) -> ReadFile:
    if len(data) < SMALL_FILE:
        d = digest_of(data)
        return ReadFile(d, len(data), [(d, data)])
    chunks: list[tuple[str, memoryview | bytes]] = [(digest_of(c), c) for c in cut(data)]
    return ReadFile(digest_of(data), len(data), chunks)


def _read_all(fd: int, size: int) -> bytes:
    # A regular file returns fewer bytes than asked only at EOF: one read of size+1 bytes
    # proves there is no more, unless the file grew meanwhile.
    data = os.read(fd, size + 1)
    if len(data) <= size:
        return data
    return read_rest(fd, data)


def read_rest(fd: int, data: bytes) -> bytes:
    """`data` and what is left of an open file (one that grew after its fstat)."""
    rest = [data]
    while block := os.read(fd, 1 << 20):
        rest.append(block)
    return b"".join(rest)


class PackReader:
    """Reads chunks out of packs; remote packs are downloaded (and verified) once."""

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects
        self._paths: dict[str, Path] = {}
        self._fds: dict[str, int] = {}

    def fd(self, pack: str) -> int:
        fd = self._fds.get(pack)
        if fd is None:
            fd = os.open(self.objects.local_path(pack), os.O_RDONLY)
            self._fds[pack] = fd
        return fd

    def read(self, parts: Iterable[Part]) -> bytes:
        return b"".join(os.pread(self.fd(p), n, off) for p, off, n in parts)

    def copy_to(self, parts: Iterable[Part], out_fd: int) -> None:
        for pack, offset, length in parts:
            src = self.fd(pack)
            done = 0
            while done < length:
                try:
                    n = os.copy_file_range(src, out_fd, length - done, offset + done)
                except OSError:
                    n = os.write(out_fd, os.pread(src, length - done, offset + done))
                if n == 0:
                    raise OSError(f"pack {pack} is shorter than expected")
                done += n

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> PackReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_blob(objects: ObjectStore, digest: str) -> bytes:
    """A blob's bytes; remote blobs go through the verified local cache."""
    if objects.is_local:
        return objects.get_bytes(digest)
    return objects.local_path(digest).read_bytes()
