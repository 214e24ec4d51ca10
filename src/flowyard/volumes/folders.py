"""Where a volume's files live on this machine, and moving whole folders in and out atomically.

A volume is the folder `$FLOWYARD_HOME/volumes/<profile>/<name>`. A new volume is filled in a
staging folder next to it (`.staging-<name>-<random>`) and renamed into place, so a volume
that exists is always complete; a deleted one is first renamed to `.trash-...`, so a crash
halfway through a delete never leaves a half-removed volume under its name. Names starting
with a dot can never be volume names (those are DNS-1123 labels).
"""

from __future__ import annotations

import os
import shutil
import stat
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from flowyard.errors import Conflict, InvalidInput
from flowyard.resources.base import DNS1123_LABEL

STAGING = ".staging-"
TRASH = ".trash-"
STALE_STAGING_SECONDS = 3600.0


def check_name(value: str, what: str, fix: str) -> str:
    """A profile or volume/snapshot name: a DNS-1123 label (so it is a safe path segment)."""
    if not isinstance(value, str) or len(value) > 63 or not DNS1123_LABEL.match(value):
        raise InvalidInput(
            f"{what} {value!r} is not valid: it must be a DNS-1123 label (at most 63 "
            "lower-case letters, digits or '-', starting and ending with a letter or digit)",
            hint=fix,
        )
    return value


def volumes_root(home: Path) -> Path:
    return home.expanduser() / "volumes"


def volume_path(home: Path, profile: str, name: str) -> Path:
    return volumes_root(home) / profile / name


def new_staging(home: Path, profile: str, name: str) -> Path:
    folder = volumes_root(home) / profile / f"{STAGING}{name}-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    return folder


def install(staging: Path, final: Path) -> None:
    """Rename a filled staging folder to the volume's name; refuses to replace a folder."""
    try:
        os.rename(staging, final)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if final.exists():
            raise Conflict(
                f"volume folder {final} already exists",
                hint="delete the volume first (flowyard volume delete), or pick another name",
            ) from exc
        raise


def remove(folder: Path) -> None:
    """Remove a volume folder: renamed away first (atomic), then deleted."""
    if not folder.exists():
        return
    trash = folder.parent / f"{TRASH}{folder.name}-{uuid.uuid4().hex[:12]}"
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def usage(folder: Path) -> tuple[int, int]:
    """(files, bytes) of the regular files under a folder, not following symlinks."""
    files = total = 0
    stack = [str(folder)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                files += 1
                total += entry.stat(follow_symlinks=False).st_size
    return files, total


def symlinked_folders(folder: Path) -> list[str]:
    """Symlinks to folders under `folder` (a snapshot would follow them, maybe in a loop)."""
    found: list[str] = []
    stack = [str(folder)]
    while stack:
        current = stack.pop()
        for entry in os.scandir(current):
            if entry.is_symlink():
                try:
                    if stat.S_ISDIR(os.stat(entry.path).st_mode):
                        found.append(os.path.relpath(entry.path, folder))
                except OSError:
                    continue  # dangling: skipped by the snapshot anyway
            elif entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return sorted(found)


def sweep(home: Path, profile: str, exists: Callable[[str], bool]) -> list[str]:
    """Remove leftovers in a profile's folder: trash, old staging folders, and folders of
    volumes that no longer exist (deleted through the API). Returns what was removed.

    `exists(name)` is asked when a folder is seen, not before: a volume is recorded before
    its folder is renamed into place, so a folder whose volume is not recorded is garbage.
    """
    root = volumes_root(home) / profile
    removed: list[str] = []
    if not root.is_dir():
        return removed
    now = time.time()
    for entry in os.scandir(root):
        name = entry.name
        stale_staging = (name.startswith(STAGING)
                         and now - entry.stat(follow_symlinks=False).st_mtime
                         > STALE_STAGING_SECONDS)
        orphan = not name.startswith(".") and not exists(name)
        if name.startswith(TRASH) or stale_staging:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(name)
        elif orphan and entry.is_dir(follow_symlinks=False):
            remove(Path(entry.path))
            removed.append(name)
    return removed
