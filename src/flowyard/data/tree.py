"""A commit's tree: a root blob listing pages, each page a sorted run of file entries.

Pages are cut where a path's crc32 hits a fixed pattern (about one cut per PAGE_FANOUT
entries), so the cuts depend on the paths themselves, not on positions: changing, adding or
removing a few files rewrites only the pages around them plus the small root, and unchanged
pages keep their digests (and are not written again).

    root: {"type":"flowyard-tree","version":1,"files":N,"bytes":B,
           "pages":[[page_hex, first_path, last_path, files, bytes], ...]}
    page: {"type":"flowyard-tree-page","packs":[pack_hex, ...],
           "entries":[[path, size, mode, digest_hex, [[pack_index, offset, length], ...]], ...]}

A *delta* root (version 2) holds only what a commit changed on top of another tree, as the
layered filesets Pachyderm compacts: its pages list the files added or replaced, `deleted`
the files of the base removed, and `files`/`bytes` count the whole tree. Random changes to
1% of 100,000 files touch nearly every page of 512, so without deltas a small change costs a
decode and re-encode of the whole tree; with them it costs the change. A chain is folded
into a full tree (compaction) once it is MAX_DEPTH deep or its changes reach 1/DELTA_SHARE of
the files, so reads stay within a bounded factor of a full tree's.

    delta root: {"type":"flowyard-tree","version":2,"files":N,"bytes":B,"pages":[...],
                 "base":root_hex,"deleted":[path, ...],"depth":d,"changes":c}
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

import orjson

from flowyard.data.content import PREFIX, FileEntry, make_entries, read_blob
from flowyard.errors import StoreError
from flowyard.store.objects import ObjectStore, hash_bytes

PAGE_FANOUT: Final = 512
PAGE_MAX: Final = 4 * PAGE_FANOUT
ROOT_TYPE: Final = "flowyard-tree"
PAGE_TYPE: Final = "flowyard-tree-page"
MAX_DEPTH: Final = 8
"""Deltas a read may have to lay over a full tree."""
DELTA_SHARE: Final = 8
"""A chain of deltas is folded into a full tree once its changes reach files / DELTA_SHARE."""


@dataclass(frozen=True, slots=True)
class PageRef:
    digest: str
    first: str
    last: str
    files: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Tree:
    digest: str
    files: int
    bytes: int
    pages: tuple[PageRef, ...]
    base: str | None = None
    """A delta's base tree (None for a full tree)."""
    deleted: tuple[str, ...] = ()
    """The files of the base a delta removes (file paths, not folders)."""
    depth: int = 0
    """Deltas between this tree and the full tree under it."""
    changes: int = 0
    """Entries and deletions held by the deltas down to the full tree."""

    def takes_delta(self, changes: int) -> bool:
        """Whether a commit of `changes` (files put or removed) on top of this tree may be
        written as a delta rather than as a full tree."""
        return (self.depth < MAX_DEPTH
                and (self.changes + changes) * DELTA_SHARE <= max(self.files, 1))


def _cut_here(path: str) -> bool:
    return zlib.crc32(path.encode()) % PAGE_FANOUT == 0


def _pages(entries: list[FileEntry]) -> Iterator[list[FileEntry]]:
    page: list[FileEntry] = []
    for e in entries:
        page.append(e)
        if _cut_here(e.path) or len(page) >= PAGE_MAX:
            yield page
            page = []
    if page:
        yield page


def encode_page(entries: list[FileEntry]) -> bytes:
    packs: dict[str, int] = {}
    n = len(PREFIX)
    rows = [
        [e.path, e.size, e.mode, e.digest[n:],
         [[packs.setdefault(p, len(packs)), off, size] for p, off, size in e.parts]]
        for e in entries
    ]
    body = {"type": PAGE_TYPE, "packs": [p[n:] for p in packs], "entries": rows}
    # orjson: compact, key order kept, ~10x the speed of json.dumps for 100,000 entries.
    # (Non-ASCII paths are written as UTF-8, not \u escapes: pages written by older versions
    # with such paths get a new digest once, and both decode the same.)
    return orjson.dumps(body)


def decode_page(data: bytes, digest: str) -> list[FileEntry]:
    try:
        body = orjson.loads(data)
        if body.get("type") != PAGE_TYPE:
            raise ValueError("not a tree page")
        packs = [PREFIX + h for h in body["packs"]]
        fields = []
        for path, size, mode, hexd, parts in body["entries"]:
            if len(parts) == 1:
                i, off, n = parts[0]
                located: tuple[tuple[str, int, int], ...] = ((packs[i], off, n),)
            else:
                located = tuple([(packs[i], off, n) for i, off, n in parts])
            fields.append((path, size, mode, PREFIX + hexd, located))
        return list(make_entries(fields))
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise StoreError(
            f"tree page {digest} is damaged: {exc}", hint="run `flowyard data fsck`"
        ) from exc


def write_tree(
    objects: ObjectStore,
    entries: Mapping[str, FileEntry],
    known: Callable[[list[str]], set[str]] | None = None,
) -> tuple[Tree, list[str]]:
    """Store the tree of `entries`; returns it and every blob digest it is made of.

    `known(digests)` names the pages already stored, which are then not written again.
    """
    ordered = [entries[p] for p in sorted(entries)]
    refs, blobs = _write_pages(objects, ordered, known)
    files = len(ordered)
    total = sum(r.bytes for r in refs)
    root = {"type": ROOT_TYPE, "version": 1, "files": files, "bytes": total,
            "pages": _page_rows(refs)}
    info = objects.put_bytes(orjson.dumps(root))
    blobs.append(info.digest)
    return Tree(info.digest, files, total, tuple(refs)), blobs


def write_delta(
    objects: ObjectStore,
    base: Tree,
    changed: Mapping[str, FileEntry],
    deleted: Iterable[str],
    *,
    files: int,
    size: int,
    known: Callable[[list[str]], set[str]] | None = None,
) -> tuple[Tree, list[str]]:
    """Store a delta on `base`: the entries `changed` (added or replaced), the base's files
    `deleted`, and the whole tree's `files` and `size` (the caller knows what it replaced).
    Returns the tree and the blobs written for it (not the base's)."""
    refs, blobs = _write_pages(objects, [changed[p] for p in sorted(changed)], known)
    gone = sorted(deleted)
    depth, changes = base.depth + 1, base.changes + len(changed) + len(gone)
    root = {"type": ROOT_TYPE, "version": 2, "files": files, "bytes": size,
            "pages": _page_rows(refs), "base": base.digest[len(PREFIX) :], "deleted": gone,
            "depth": depth, "changes": changes}
    info = objects.put_bytes(orjson.dumps(root))
    blobs.append(info.digest)
    return Tree(info.digest, files, size, tuple(refs), base.digest, tuple(gone), depth,
                changes), blobs


def _write_pages(
    objects: ObjectStore,
    ordered: list[FileEntry],
    known: Callable[[list[str]], set[str]] | None,
) -> tuple[list[PageRef], list[str]]:
    refs: list[PageRef] = []
    encoded: list[tuple[str, bytes]] = []
    for page in _pages(ordered):
        data = encode_page(page)
        digest = hash_bytes(data)
        encoded.append((digest, data))
        refs.append(
            PageRef(digest, page[0].path, page[-1].path, len(page), sum(e.size for e in page))
        )
    have = known([d for d, _ in encoded]) if known is not None else set()
    for digest, data in encoded:
        if digest not in have:
            objects.put_bytes(data)
    return refs, [d for d, _ in encoded]


def _page_rows(refs: Iterable[PageRef]) -> list[list[object]]:
    return [[r.digest[len(PREFIX) :], r.first, r.last, r.files, r.bytes] for r in refs]


def read_tree(objects: ObjectStore, digest: str) -> Tree:
    data = read_blob(objects, digest)
    try:
        body = orjson.loads(data)
        if body.get("type") != ROOT_TYPE:
            raise ValueError("not a tree root")
        pages = tuple(
            PageRef(PREFIX + h, first, last, files, size)
            for h, first, last, files, size in body["pages"]
        )
        base = body.get("base")
        if base is None:
            return Tree(digest, int(body["files"]), int(body["bytes"]), pages)
        return Tree(digest, int(body["files"]), int(body["bytes"]), pages, PREFIX + base,
                    tuple(body["deleted"]), int(body["depth"]), int(body["changes"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(
            f"tree {digest} is damaged: {exc}", hint="run `flowyard data fsck`"
        ) from exc


def pages_for(tree: Tree, prefix: str) -> list[PageRef]:
    """Pages that may hold paths equal to `prefix` or under `prefix/` ('' = all)."""
    if not prefix:
        return list(tree.pages)
    hi = prefix + "/\U0010ffff"
    return [p for p in tree.pages if not (p.last < prefix or p.first > hi)]


def load_entries(
    objects: ObjectStore, tree: Tree, prefix: str = ""
) -> dict[str, FileEntry]:
    """path -> entry for the whole tree, or for the file `prefix` / the files under it."""
    return TreeView(objects, tree).under(prefix)


class TreeView:
    """A tree read lazily: a page is decoded when a lookup needs it, and a delta is laid over
    its base as it is asked for, so looking up a few paths costs a few pages."""

    def __init__(self, objects: ObjectStore, tree: Tree) -> None:
        self.objects = objects
        self.tree = tree
        self._firsts = [p.first for p in tree.pages]
        self._decoded: dict[str, dict[str, FileEntry]] = {}
        self._base: TreeView | None = None
        self._deleted = frozenset(tree.deleted)

    @property
    def base(self) -> TreeView | None:
        if self._base is None and self.tree.base is not None:
            self._base = TreeView(self.objects, read_tree(self.objects, self.tree.base))
        return self._base

    def _page(self, ref: PageRef) -> dict[str, FileEntry]:
        got = self._decoded.get(ref.digest)
        if got is None:
            entries = decode_page(read_blob(self.objects, ref.digest), ref.digest)
            got = self._decoded[ref.digest] = {e.path: e for e in entries}
        return got

    def get(self, path: str) -> FileEntry | None:
        """The file at `path`, or None."""
        i = bisect.bisect_right(self._firsts, path) - 1
        if i >= 0 and path <= self.tree.pages[i].last:
            found = self._page(self.tree.pages[i]).get(path)
            if found is not None:
                return found
        base = self.base
        if base is None or path in self._deleted:
            return None
        return base.get(path)

    def under(self, prefix: str = "", *, files_only_under: bool = False) -> dict[str, FileEntry]:
        """path -> entry of the file `prefix` and the files under it ('' = all), in path order
        (files_only_under: leave the file `prefix` itself out)."""
        base = self.base
        out = base.under(prefix, files_only_under=files_only_under) if base else {}
        for path in self._deleted.intersection(out) if out else ():
            del out[path]
        added = False
        head = prefix + "/"
        for ref in pages_for(self.tree, prefix):
            page = self._page(ref)
            if not prefix:
                mine = page
            elif files_only_under:
                mine = {p: e for p, e in page.items() if p.startswith(head)}
            else:
                mine = {p: e for p, e in page.items() if p == prefix or p.startswith(head)}
            if base is not None and not added:
                added = not mine.keys() <= out.keys()
            out.update(mine)
        # Replacing keeps a key's place; a path new in a delta lands at the end.
        return dict(sorted(out.items())) if added else out


def iter_packs(entries: Iterable[FileEntry]) -> set[str]:
    return {p for e in entries for p, _, _ in e.parts}
