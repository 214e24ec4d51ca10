"""Snapshots as data commits: a volume's files stored by the versioned-data layer.

The snapshots of a profile's volumes live in the data repo `volumes.<profile>` (in that
profile, so the data API's permissions are the profile's), one branch per volume; a snapshot
is a commit on its volume's branch holding exactly the volume's files. Reusing the data layer
gives snapshots everything it already does for data:

- content-defined chunks packed into ~32 MiB blobs of the object store, stored once
  across snapshots, volumes and data repos, so an unchanged file costs nothing;
- its stat cache: a file whose (size, mtime, ctime, inode) did not change is not read, and a
  whole unchanged folder is recognised without loading the previous tree;
- atomic publication: a killed snapshot moves no branch and `flowyard data fsck --collect`
  removes what it staged;
- the manifest is the commit's tree, (path, size, mode, blake3 digest, chunk locations) in
  content-addressed page blobs; its root digest is the snapshot's digest;
- a snapshot is a commit, so "use it as data" is a new commit in another repo that points at
  the same chunks (no bytes copied), with provenance back to the snapshot's commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyard.errors import Conflict, NotFound

if TYPE_CHECKING:
    from flowyard.data.repo import DataStore
    from flowyard.data.writer import PutResult

REPO_PREFIX = "volumes."
REPO_DESCRIPTION = "Snapshots of the volumes of profile {profile}, one branch per volume " \
    "(written by flowyard volume snapshot)"


@dataclass(frozen=True, slots=True)
class Taken:
    commit: str
    digest: str
    files: int
    bytes: int
    new_bytes: int
    files_read: int
    changed: bool


def repo_for(profile: str) -> str:
    """The data repo of a profile's snapshots: `volumes.<profile>`, in that profile, so the
    data API's permissions are the profile's. Long profile names are shortened with a hash
    (repo names have at most 63 characters)."""
    name = REPO_PREFIX + profile
    if len(name) <= 63:
        return name
    digest = hashlib.blake2b(profile.encode(), digest_size=4).hexdigest()
    return f"{REPO_PREFIX}{profile[: 63 - len(REPO_PREFIX) - 9]}-{digest}"


def ensure_branch(ds: DataStore, profile: str, volume: str) -> tuple[str, str]:
    """(repo, branch) of a volume's snapshots, created on first use."""
    repo = repo_for(profile)
    try:
        found = ds.get_repo(repo)
    except NotFound:
        with contextlib.suppress(Conflict):  # created meanwhile by another snapshot
            ds.create_repo(repo, description=REPO_DESCRIPTION.format(profile=profile),
                           namespace=profile)
        found = ds.get_repo(repo)
    if found.namespace != profile:
        raise Conflict(
            f"data repo '{repo}' belongs to profile '{found.namespace}', not '{profile}'; "
            "it cannot hold this profile's volume snapshots",
            hint=f"rename or delete that repo (it is where {profile}'s snapshots go)")
    if volume not in {b.name for b in ds.list_branches(repo)}:
        with contextlib.suppress(Conflict):
            ds.create_branch(f"{repo}@{volume}")
    return repo, volume


def take(ds: DataStore, folder: Path, profile: str, volume: str, info: dict[str, Any],
         skip: frozenset[str] = frozenset()) -> Taken:
    """Store the folder's files as the branch's next commit (or find it unchanged).

    `skip`: top-level names left out (links the notebook controller made to other volumes).
    """
    repo, branch = ensure_branch(ds, profile, volume)
    target = f"{repo}@{branch}"
    message = f"snapshot of volume {profile}/{volume}"
    if not skip:
        # One folder source: the data layer's memo recognises an unchanged folder at once.
        result = ds.put(target, [folder], sync=True, message=message, info=info)
    else:
        from flowyard.data.writer import paused_gc

        with paused_gc(), ds.open_commit(target, message=message, info=info) as writer:
            writer.delete("")
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.name in skip:
                    continue
                if entry.is_dir():
                    writer.put_tree(entry.path, entry.name)
                elif entry.is_file():
                    writer.put_file(entry.name, entry.path)
            result = writer.finish()
    commit = result.commit
    if commit is None:
        # An empty volume on a branch with no commit yet: the empty snapshot has no commit.
        return Taken("", "", 0, 0, 0, 0, False)
    if commit.tree is None:
        raise NotFound(f"snapshot commit {commit.id} of volume {profile}/{volume} has no tree",
                       hint="run `flowyard data fsck`")
    return Taken(commit.id, commit.tree, commit.files, commit.bytes, result.bytes_stored,
                 result.files_read, result.changed)


def ref(profile: str, commit: str) -> str:
    return f"{repo_for(profile)}@{commit}"


def restore(ds: DataStore, profile: str, commit: str, dest: Path) -> tuple[int, int]:
    """Write the snapshot's files into the (empty, existing) folder `dest`."""
    if not commit:
        return 0, 0  # the empty snapshot
    got = ds.get(ref(profile, commit), dest)
    return got.files, got.bytes


def to_data(ds: DataStore, profile: str, commit: str, target: str, *, message: str,
            info: dict[str, Any]) -> PutResult:
    """Commit the snapshot's files at `repo@branch[:/path]` (replacing what is under the
    path), pointing at the snapshot's chunks; provenance = the snapshot's commit. No commit
    (`changed` False) when the path holds them already and the head names that snapshot."""
    from flowyard.data.refs import parse_target
    from flowyard.data.tree import load_entries, read_tree

    entries = {}
    provenance = []
    if commit:
        snap = ds.resolve(ref(profile, commit))
        if snap.tree is None:
            raise NotFound(f"snapshot commit {commit} has no tree",
                           hint="run `flowyard data fsck`")
        entries = load_entries(ds.objects, read_tree(ds.objects, snap.tree), "")
        provenance = [snap.id]
    prefix = parse_target(target).path
    with ds.open_commit(target, message=message, provenance=provenance, info=info) as writer:
        writer.delete(prefix)
        for entry in entries.values():
            path = f"{prefix}/{entry.path}" if prefix else entry.path
            writer.put_entry(entry._replace(path=path))
        return writer.finish()
