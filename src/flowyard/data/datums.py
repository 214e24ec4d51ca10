"""Datums: which input files one run of a data pipeline's transform sees.

Globs are matched against the paths of an input commit, files and folders alike (`/` is the
whole commit): `/*` gives one datum per top-level file or folder, `/*/*` one per second-level
entry, `/**` one per file at any depth (when a folder and something under it both match, the
deeper match wins). A matched folder brings every file under it. Parentheses capture parts of
the path for joins and groups: `/(*)-(*).csv` with `joinOn: "$1"`.

cross = every combination of the children's datums; union = all of them; join = for each
join key present in every child, the combinations of the datums with that key; group = one
datum per group key with the files of every datum that has it.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import blake3

from flowyard.data.content import FileEntry
from flowyard.errors import InvalidInput
from flowyard.resources.data_pipeline import Input, PfsInput


@dataclass(frozen=True, slots=True)
class DatumFile:
    input: str
    entry: FileEntry


@dataclass(frozen=True, slots=True)
class Datum:
    files: tuple[DatumFile, ...]
    key: str | None = None

    @property
    def id(self) -> str:
        h = blake3.blake3()
        for f in sorted(self.files, key=lambda f: (f.input, f.entry.path)):
            h.update(f"{f.input}\0{f.entry.path}\0{f.entry.digest}\0{f.entry.mode}\n".encode())
        return str(h.hexdigest())[:32]

    def describe(self) -> str:
        names = [f"{f.input}:/{f.entry.path}" for f in self.files[:3]]
        more = f" (+{len(self.files) - 3} more)" if len(self.files) > 3 else ""
        return ", ".join(names) + more if names else "(no files)"


def glob_regex(glob: str) -> re.Pattern[str]:
    """A glob ('/', '/*', '/*/*', '/**', '/(*)-x.csv') as a regex over '/'-led paths."""
    if not isinstance(glob, str) or not glob.startswith("/"):
        raise InvalidInput(
            f"glob {glob!r} must start with '/'", hint="e.g. '/', '/*', '/*/*' or '/**'"
        )
    out = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**", i):
            out.append(".+")
            i += 2
            continue
        if c == "*":
            out.append("[^/]+")
        elif c == "?":
            out.append("[^/]")
        elif c in "()":
            out.append(c)
        elif c == "[":
            j = glob.find("]", i + 1)
            if j < 0:
                raise InvalidInput(f"glob {glob!r} has an unclosed '['")
            out.append("[" + glob[i + 1 : j].replace("\\", "\\\\") + "]")
            i = j + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out).rstrip("/"))
    except re.error as exc:
        raise InvalidInput(f"glob {glob!r} is not valid: {exc}") from exc


def _key(template: str | None, groups: tuple[str | None, ...], where: str) -> str | None:
    if template is None:
        return None

    def sub(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n < 1 or n > len(groups):
            raise InvalidInput(
                f"{where}: {template!r} names capture group {n}, but the glob has {len(groups)}",
                hint="put parentheses around the part of the glob to capture, e.g. /(*).csv",
            )
        return groups[n - 1] or ""

    return re.sub(r"\$(\d+)", sub, template)


def pfs_datums(pfs: PfsInput, entries: Mapping[str, FileEntry]) -> list[Datum]:
    """The datums one pfs input gives on a commit's files (path -> entry, no leading '/')."""
    name = pfs.input_name
    if pfs.glob.rstrip("/") == "":
        whole = tuple(DatumFile(name, entries[p]) for p in sorted(entries))
        return [Datum(whole, _key(pfs.join_on or pfs.group_by, (), name))] if whole else []
    regex = glob_regex(pfs.glob)
    candidates: set[str] = set()
    for path in entries:
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            candidates.add("/" + "/".join(parts[:i]))
    matches = {c: m for c in candidates if (m := regex.fullmatch(c)) is not None}
    ordered = sorted(matches)
    paths = sorted(entries)
    out = []
    for c in ordered:
        if _has_under(ordered, c):  # a folder match gives way to matches below it ('/**')
            continue
        rel = c[1:]
        if rel in entries:
            files: tuple[DatumFile, ...] = (DatumFile(name, entries[rel]),)
        else:  # a folder: the files under it, a range of the sorted paths
            lo, hi = bisect.bisect_left(paths, rel + "/"), bisect.bisect_left(paths, rel + "0")
            files = tuple(DatumFile(name, entries[p]) for p in paths[lo:hi])
        out.append(Datum(files, _key(pfs.join_on or pfs.group_by, matches[c].groups(), name)))
    return out


def _has_under(ordered: list[str], path: str) -> bool:
    """Whether a path in sorted `ordered` lies under `path/` (those sort together, from
    `path/` on; '/a-b' sorts between '/a' and '/a/x', so the next path is no answer)."""
    i = bisect.bisect_left(ordered, path + "/")
    return i < len(ordered) and ordered[i].startswith(path + "/")


def datums(node: Input, inputs: Mapping[str, Mapping[str, FileEntry]]) -> list[Datum]:
    """All datums of an input tree; `inputs` maps input name -> that input commit's files."""
    if node.pfs is not None:
        return pfs_datums(node.pfs, inputs.get(node.pfs.input_name, {}))
    children = [datums(child, inputs) for child in node.children()]
    if node.cross is not None:
        return [
            Datum(tuple(f for d in combo for f in d.files))
            for combo in itertools.product(*children)
        ]
    if node.union is not None:
        return [d for child in children for d in child]
    if node.join is not None:
        keyed = [_by_key(child, "join") for child in children]
        common = set.intersection(*(set(k) for k in keyed)) if keyed else set()
        return [
            Datum(tuple(f for d in combo for f in d.files), key)
            for key in sorted(common)
            for combo in itertools.product(*(k[key] for k in keyed))
        ]
    groups: dict[str, list[DatumFile]] = {}
    for child in children:
        for key, ds in _by_key(child, "group").items():
            groups.setdefault(key, []).extend(f for d in ds for f in d.files)
    return [Datum(tuple(files), key) for key, files in sorted(groups.items())]


def _by_key(items: Iterable[Datum], what: str) -> dict[str, list[Datum]]:
    out: dict[str, list[Datum]] = {}
    for d in items:
        if d.key is None:
            raise InvalidInput(
                f"every input of a {what} needs {'joinOn' if what == 'join' else 'groupBy'}",
                hint="e.g. pfs: {repo: a, glob: '/(*).csv', joinOn: '$1'}",
            )
        out.setdefault(d.key, []).append(d)
    return out
