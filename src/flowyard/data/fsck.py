"""fsck: check every reachable blob, and collect what killed writers and deleted repos left.

Reachable = the tree root, pages and packs of every finished commit, and the index object
of each reachable pack. Checked: each exists, each tree blob parses and matches its digest,
each pack matches its digest (verify=True) and is long enough for the chunks that point into
it, each pack has an index that parses, matches its digest and fits in the pack. Collected
(collect=True): staged packs and indexes of open commits whose process is gone (same host:
the pid is dead; other hosts: older than the grace period), registered blobs no commit
references any more, older than the grace period, and index objects that are damaged or
missing (useless either way: their packs' chunks are then stored again by later puts, never
lost). Blobs the data layer did not register (pipeline artifacts) are never touched.
Without collect, nothing is removed and the report lists what collect would remove by the same
rules (and counts the unreferenced blobs the grace period keeps).
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from typing import TYPE_CHECKING

from flowyard.data import packindex
from flowyard.data.catalog import HOST
from flowyard.data.content import read_blob, temp_folder
from flowyard.data.records import FsckReport
from flowyard.data.tree import decode_page, read_tree
from flowyard.errors import FlowyardError, NotFound, StoreError
from flowyard.store.objects import hash_bytes, hash_file
from flowyard.store.records import utcnow

if TYPE_CHECKING:
    from flowyard.data.repo import DataStore


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _references(ds: DataStore, tree: str, report: FsckReport | None, verify: bool,
                packs: dict[str, int], seen: set[str], where: str) -> None:
    """Add a tree's blobs to `seen` and its packs (with the bytes they must hold) to `packs`."""
    if tree in seen:
        return
    try:
        data = read_blob(ds.objects, tree)
        if verify and hash_bytes(data) != tree:
            raise FlowyardError(f"tree {tree} does not match its digest")
        root = read_tree(ds.objects, tree)
    except NotFound:
        if report is not None:
            report.problems.append(f"{where}: tree blob {tree} is missing")
        return
    except FlowyardError as exc:
        if report is not None:
            report.problems.append(f"{where}: {exc.message}")
        return
    seen.add(tree)
    if report is not None:
        report.trees += 1
    for page in root.pages:
        if page.digest in seen:
            continue
        try:
            pdata = read_blob(ds.objects, page.digest)
            if verify and hash_bytes(pdata) != page.digest:
                raise FlowyardError(f"tree page {page.digest} does not match its digest")
            entries = decode_page(pdata, page.digest)
        except NotFound:
            if report is not None:
                report.problems.append(f"{where}: tree page {page.digest} is missing")
            continue
        except FlowyardError as exc:
            if report is not None:
                report.problems.append(f"{where}: {exc.message}")
            continue
        seen.add(page.digest)
        for e in entries:
            for pack, offset, length in e.parts:
                if packs.get(pack, -1) < offset + length:
                    packs[pack] = offset + length
    if root.base is not None:  # a delta: its base's blobs are referenced too
        _references(ds, root.base, report, verify, packs, seen, where)


def run_fsck(ds: DataStore, *, collect: bool, grace: float, verify: bool) -> FsckReport:
    report = FsckReport()
    cat, objects = ds.catalog, ds.objects
    started = utcnow()
    packs: dict[str, int] = {}
    seen: set[str] = set()
    commits = cat.all_finished()
    report.commits = len(commits)
    for commit_id, repo, tree in commits:
        where = f"commit {commit_id} of repo '{repo}'"
        if not tree:
            report.problems.append(f"{where}: finished without a tree")
            continue
        _references(ds, tree, report, verify, packs, seen, where)
    for pack, needed in sorted(packs.items()):
        report.packs += 1
        if not objects.exists(pack):
            report.problems.append(f"pack {pack} is missing")
            continue
        if not verify:
            continue
        path = objects.local_path(pack)
        size = path.stat().st_size
        report.bytes_checked += size
        if size < needed:
            report.problems.append(f"pack {pack} holds {size} bytes; chunks need {needed}")
        elif hash_file(path) != pack:
            report.problems.append(f"pack {pack} is corrupt: its content does not match its digest")
    indexes, unusable = _check_indexes(ds, report, packs, verify)
    seen.update(packs)
    seen.update(d for d, pack in indexes.items() if pack in packs)

    now = utcnow()
    removed: set[str] = set()
    for commit_id, _repo, pid, host, created, staged in cat.open_commits():
        alive = pid is not None and pid_alive(pid) if host == HOST else (
            now - created < timedelta(seconds=grace)
        )
        if alive:
            report.open_commits.append(commit_id)
            continue
        report.dead_commits_removed.append(commit_id)
        registered = cat.registered(staged)
        for digest in staged:
            if digest in seen or digest in registered or digest in removed:
                continue
            if not objects.exists(digest):
                continue  # noted, but the writer died before storing it
            report.bytes_removed += _size(ds, digest)  # a dry run counts what it would remove
            if collect:
                objects.delete(digest)
            removed.add(digest)
        if collect:
            cat.delete_open_commit(commit_id)

    # Pack files a killed writer was still filling (never stored, never registered).
    temp = temp_folder(objects, ds.settings.home.expanduser() / "cache" / "data-tmp")
    for leftover in sorted(temp.glob("pack-*-*")):
        owner = leftover.name.split("-")[1]
        if owner.isdigit() and not pid_alive(int(owner)):
            report.temp_files.append(str(leftover))
            with contextlib.suppress(OSError):
                report.bytes_removed += leftover.stat().st_size
            if collect:
                leftover.unlink(missing_ok=True)

    cutoff = now - timedelta(seconds=grace)
    candidates: list[str] = []
    for d, (_, _, created) in cat.blob_registry().items():
        if d in seen or d in removed:
            continue
        if created < cutoff:
            candidates.append(d)
        else:  # unreferenced, but maybe a put's that has not published yet: kept for now
            report.blobs_in_grace += 1
            report.bytes_in_grace += _size(ds, d)
    if not collect:
        for digest in candidates:
            report.bytes_removed += _size(ds, digest)
        removed.update(candidates)
    if collect and candidates:
        # Commits that finished while we scanned may reference some candidates: re-check them
        # in the transaction that unregisters the rest (puts check registration when they land).
        with cat.tx(write=True) as conn:
            for tree in cat.trees_finished_since(conn, started):
                _references(ds, tree, None, False, packs, seen, "")
            seen.update(d for d, pack in indexes.items() if pack in packs)
            candidates = [d for d in candidates if d not in seen and d not in packs]
            from sqlalchemy import delete

            from flowyard.data import schema as t

            for i in range(0, len(candidates), 500):
                batch = candidates[i : i + 500]
                conn.execute(delete(t.data_chunks).where(t.data_chunks.c.pack.in_(batch)))
                conn.execute(delete(t.data_blobs).where(t.data_blobs.c.digest.in_(batch)))
        for digest in candidates:
            report.bytes_removed += _size(ds, digest)
            objects.delete(digest)
            removed.add(digest)
        ds.stat_cache.forget_packs(set(candidates))
    unusable = [d for d in unusable if d not in removed]
    if unusable:
        if collect:
            cat.forget_blobs(unusable)
        for digest in unusable:
            report.bytes_removed += _size(ds, digest)
            if collect:
                objects.delete(digest)
            removed.add(digest)
    # Without collect: what collect would remove now, by the same rules (and the same grace).
    report.blobs_removed = sorted(removed)
    return report


def _check_indexes(ds: DataStore, report: FsckReport, packs: dict[str, int], verify: bool,
                   ) -> tuple[dict[str, str], list[str]]:
    """Check the registered pack indexes against the reachable packs; returns index -> pack
    for the readable ones, and the unusable ones (missing or damaged)."""
    cat, objects = ds.catalog, ds.objects
    indexes: dict[str, str] = {}
    unusable: list[str] = []
    for digest in sorted(cat.blobs_of_kind(packindex.KIND)):
        try:
            # Read afresh (not the process's cache of parsed indexes): fsck looks at the store.
            data = read_blob(objects, digest)
            if verify and hash_bytes(data) != digest:
                raise StoreError(
                    f"pack index {digest} is corrupt: its content does not match its digest")
            index = packindex.decode(data, digest)
            if verify:
                index.check_sorted(digest)
        except NotFound:
            report.problems.append(f"pack index {digest} is missing")
            unusable.append(digest)
            continue
        except FlowyardError as exc:
            report.problems.append(exc.message)
            unusable.append(digest)
            continue
        indexes[digest] = index.pack
        if verify and index.pack in packs and objects.exists(index.pack):
            size = objects.local_path(index.pack).stat().st_size
            if index.end() > size:
                report.problems.append(
                    f"pack index {digest} lists chunks past the end of pack {index.pack} "
                    f"({index.end()} > {size} bytes)")
    indexed = set(indexes.values())
    legacy = cat.packs_in_index() - indexed if set(packs) - indexed else set()
    for pack in sorted(set(packs) - indexed - legacy):
        report.problems.append(
            f"pack {pack} has no usable index object: later puts do not find its chunks and "
            "store them again (its files still read back whole)")
    return indexes, unusable


def _size(ds: DataStore, digest: str) -> int:
    if not ds.objects.is_local:
        return 0
    try:
        return ds.objects.local_path(digest).stat().st_size
    except (NotFound, OSError):
        return 0
