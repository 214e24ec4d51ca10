"""Pack indexes: one small object per pack naming the chunks it holds, like git's `.idx`.

Deduplication needs "is this chunk stored already, and where?". Answering it from one
database row per chunk made the first put of 100,000 small files write (and look up) 100,000
rows; an index object per pack is written once, beside the pack, as one blob and one registry
row (`data_blobs`, kind `index`), in the same publishing transaction as the pack itself.

Layout, little-endian, in columns (numpy reads the digests without copying):

    b"FYPX" | version u8 | 3 zero bytes | pack digest (32 raw bytes) | count u32
    count x chunk digest (32 raw bytes, sorted) | count x offset u64 | count x length u32

The object is named by its blake3 digest like any blob (so a damaged copy is found by
`fsck --verify`), and its header names the pack, so the registry needs no extra column.
Lookups load every registered index once per commit writer (restic loads its index files
the same way): a few digests are bisected in each index's bytes; many at once (a big put into
a big store) merge the indexes into one sorted numpy array searched with `searchsorted`.
"""

from __future__ import annotations

import bisect
import itertools
import struct
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from flowyard.errors import FlowyardError, StoreError
from flowyard.store.objects import ObjectStore

if TYPE_CHECKING:
    import numpy.typing as npt

MAGIC: Final = b"FYPX"
VERSION: Final = 1
KIND: Final = "index"
"""The kind of an index's row in the blob registry (data_blobs)."""
_HEAD: Final = struct.Struct("<4sB3x32sI")
_PREFIX: Final = "blake3:"
BISECT_MAX: Final = 20_000
"""Up to this many (digest x index) probes, lookups bisect each index in plain Python (no
numpy import, ~0.1 s of a CLI process); beyond it the indexes are merged with numpy."""


class PackIndex:
    """The chunks of one pack, read straight from the index object's bytes."""

    __slots__ = ("count", "data", "pack")

    def __init__(self, pack: str, data: bytes, count: int) -> None:
        self.pack = pack
        self.data = data
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> bytes:
        """The i-th smallest chunk digest (raw), so `bisect` searches the index in place."""
        at = _HEAD.size + 32 * i
        return self.data[at : at + 32]

    def digests(self) -> list[bytes]:
        return [self[i] for i in range(self.count)]

    def offsets(self) -> tuple[int, ...]:
        return struct.unpack_from(f"<{self.count}Q", self.data, _HEAD.size + 32 * self.count)

    def lengths(self) -> tuple[int, ...]:
        return struct.unpack_from(f"<{self.count}I", self.data, _HEAD.size + 40 * self.count)

    def find(self, raw: bytes) -> tuple[int, int] | None:
        """(offset, length) of a chunk given by its raw digest, if this pack holds it."""
        i = bisect.bisect_left(self, raw)
        if i == self.count or self[i] != raw:
            return None
        base = _HEAD.size + 32 * self.count
        (offset,) = struct.unpack_from("<Q", self.data, base + 8 * i)
        (length,) = struct.unpack_from("<I", self.data, base + 8 * self.count + 4 * i)
        return offset, length

    def end(self) -> int:
        """How many bytes the pack must hold for every chunk listed here."""
        return max((o + n for o, n in zip(self.offsets(), self.lengths(), strict=True)),
                   default=0)

    def check_sorted(self, digest: str) -> None:
        """StoreError unless the digests are strictly increasing (what lookups rely on)."""
        if any(a >= b for a, b in itertools.pairwise(self.digests())):
            raise StoreError(f"pack index {digest} is damaged: chunk digests are not sorted",
                             hint="run `flowyard data fsck --collect`")


def encode(pack: str, chunks: Iterable[tuple[str, int, int]]) -> bytes:
    """The index of `pack` for chunks given as ('blake3:<hex>', offset, length)."""
    rows = list(chunks)
    return encode_columns(pack, [r[0] for r in rows], [r[1] for r in rows],
                          [r[2] for r in rows])


def encode_columns(
    pack: str, digests: Sequence[str], offsets: Sequence[int], lengths: Sequence[int]
) -> bytes:
    """encode() for chunks given as three columns (what a pack writer keeps).

    Every step is one C call over the whole column (a pack of 1 KiB files lists ~32,000
    chunks): lower-case hex sorts like the raw digests, so the order is found on the text.
    """
    count = len(digests)
    order = sorted(range(count), key=digests.__getitem__)
    hexes = "".join(map(digests.__getitem__, order)).replace(_PREFIX, "")
    return b"".join((
        _HEAD.pack(MAGIC, VERSION, bytes.fromhex(pack[len(_PREFIX):]), count),
        bytes.fromhex(hexes),
        struct.pack(f"<{count}Q", *map(offsets.__getitem__, order)),
        struct.pack(f"<{count}I", *map(lengths.__getitem__, order)),
    ))


def decode(data: bytes, digest: str) -> PackIndex:
    """Parse an index object's header; StoreError naming it when it is damaged. (Whether
    the digests are sorted is checked by fsck: `check_sorted`.)"""
    try:
        if len(data) < _HEAD.size:
            raise ValueError(f"{len(data)} bytes, shorter than the header")
        magic, version, pack, count = _HEAD.unpack_from(data)
        if magic != MAGIC:
            raise ValueError("not a pack index (bad magic)")
        if version != VERSION:
            raise ValueError(f"unknown version {version}")
        if len(data) != _HEAD.size + 44 * count:
            raise ValueError(f"{len(data)} bytes for {count} chunks")
    except (ValueError, struct.error) as exc:
        raise StoreError(
            f"pack index {digest} is damaged: {exc}", hint="run `flowyard data fsck`"
        ) from exc
    return PackIndex(_PREFIX + pack.hex(), data, count)


_cache: dict[str, PackIndex] = {}
_cache_lock = threading.Lock()


def read(objects: ObjectStore, digest: str) -> PackIndex:
    """An index object, parsed; kept for the life of the process (an object never changes
    under its digest). NotFound when it is missing, StoreError when it is damaged."""
    with _cache_lock:
        found = _cache.get(digest)
    if found is not None:
        return found
    data = (objects.get_bytes(digest) if objects.is_local
            else objects.local_path(digest).read_bytes())
    index = decode(data, digest)
    with _cache_lock:
        _cache[digest] = index
    return index


def load(objects: ObjectStore, digests: Iterable[str]) -> ChunkIndex:
    """The merged index of the given index objects (those that cannot be read are left out:
    their chunks are stored again rather than found, and fsck reports them)."""
    out = []
    for digest in digests:
        try:
            out.append(read(objects, digest))
        except FlowyardError:
            continue
    return ChunkIndex(out)


class ChunkIndex:
    """Every chunk of a set of packs, for batch lookups: each index bisected in place for a
    few digests, or all of them merged into one sorted numpy array for many."""

    def __init__(self, indexes: Sequence[PackIndex]) -> None:
        self._indexes = [ix for ix in indexes if len(ix)]
        self._merged: tuple[Any, ...] | None = None

    def __len__(self) -> int:
        return sum(len(ix) for ix in self._indexes)

    def lookup(self, digests: Sequence[str]) -> Iterator[tuple[str, str, int, int]]:
        """(digest, pack, offset, length) for those of `digests` ('blake3:<hex>') stored."""
        if not self._indexes or not digests:
            return
        n = len(_PREFIX)
        if len(digests) * len(self._indexes) <= BISECT_MAX:
            for d in digests:
                raw = bytes.fromhex(d[n:])
                for ix in self._indexes:
                    found = ix.find(raw)
                    if found is not None:
                        yield (d, ix.pack, found[0], found[1])
                        break
            return
        import numpy as np

        keys, offsets, lengths, owner = self._merge()
        want = np.frombuffer(bytes.fromhex("".join([d[n:] for d in digests])), dtype="S32")
        at = np.searchsorted(keys, want)
        inside = at < len(keys)
        hit = np.zeros(len(want), dtype=bool)
        hit[inside] = keys[at[inside]] == want[inside]
        for i in np.flatnonzero(hit).tolist():
            j = int(at[i])
            yield (digests[i], self._indexes[int(owner[j])].pack, int(offsets[j]),
                   int(lengths[j]))

    def _merge(self) -> tuple[npt.NDArray[Any], ...]:
        if self._merged is None:
            import numpy as np

            parts = self._indexes
            keys = np.concatenate([
                np.frombuffer(ix.data, dtype="S32", count=ix.count, offset=_HEAD.size)
                for ix in parts])
            order = np.argsort(keys, kind="stable")
            offsets = np.concatenate([np.array(ix.offsets(), dtype=np.uint64) for ix in parts])
            lengths = np.concatenate([np.array(ix.lengths(), dtype=np.uint32) for ix in parts])
            owner = np.concatenate(
                [np.full(len(ix), i, dtype=np.int32) for i, ix in enumerate(parts)])
            self._merged = (keys[order], offsets[order], lengths[order], owner[order])
        return self._merged
