"""Names, repo paths and the `REPO@REF[:/path]` syntax.

A ref is a branch name, a commit id (or a unique prefix of at least 4 hex digits), followed
by any number of ancestry steps. Commits have one parent, so `^` and `~` mean the same thing
(as in Pachyderm): `^` or `~` is one generation back, `^N` or `~N` is N generations back, and
steps add up: `master^^` == `master~2` == `master^2`; `master~0` is master itself.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from flowyard.errors import Conflict, InvalidInput

REPO_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
BRANCH_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,252}")
COMMIT_RE: Final = re.compile(r"[0-9a-f]{32}")
PREFIX_RE: Final = re.compile(r"[0-9a-f]{4,32}")
_REF_RE: Final = re.compile(r"(?P<base>[^\^~]+)(?P<steps>(?:[\^~][0-9]*)*)")
_STEP_RE: Final = re.compile(r"([\^~])([0-9]*)")
SYNTAX: Final = "REPO@REF[:/path], e.g. images@master:/train or images@master^2"
BRANCH_SYNTAX: Final = "REPO@BRANCH, e.g. images@dev"
OWNER_KIND: Final = "DataPipeline"


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed `REPO@REF:/path`: ref is None when the text had no `@`; path is '' for root."""

    repo: str
    ref: str | None
    path: str
    text: str

    @property
    def base(self) -> str | None:
        """The ref without its ancestry steps (a branch name or a commit id/prefix)."""
        return None if self.ref is None else split_ref(self.ref, self.text)[0]

    @property
    def generations(self) -> int:
        return 0 if self.ref is None else split_ref(self.ref, self.text)[1]

    def display_path(self) -> str:
        return "/" + self.path


def check_repo_name(name: str) -> str:
    if not isinstance(name, str) or not REPO_RE.fullmatch(name):
        raise InvalidInput(
            f"repo name {name!r} is not valid",
            hint="use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return name


def check_branch_name(name: str, where: str = "") -> str:
    if not isinstance(name, str) or not BRANCH_RE.fullmatch(name) or COMMIT_RE.fullmatch(name):
        raise InvalidInput(
            f"{where}branch name {name!r} is not valid",
            hint="use letters, digits, '_', '.' or '-' (not '^', '~', ':', '@' or '/'), "
            "starting with a letter or digit, and not a 32-hex-digit commit id",
        )
    return name


def split_ref(ref: str, text: str = "") -> tuple[str, int]:
    """'master^2~1' -> ('master', 3)."""
    m = _REF_RE.fullmatch(ref)
    if m is None or not m.group("base"):
        raise InvalidInput(
            f"ref {ref!r}{_in(text)} is not valid",
            hint="a ref is a branch, a commit id (or a unique prefix), optionally followed by "
            "ancestry steps ^, ^N, ~ or ~N (e.g. master^ or master~3)",
        )
    base = m.group("base")
    if not (BRANCH_RE.fullmatch(base) or PREFIX_RE.fullmatch(base)):
        raise InvalidInput(
            f"ref {ref!r}{_in(text)}: {base!r} is neither a branch name nor a commit id",
            hint="branch names use letters, digits, '_', '.' and '-'; commit ids are hex",
        )
    generations = 0
    for _, digits in _STEP_RE.findall(m.group("steps")):
        generations += int(digits) if digits else 1
    return base, generations


def _in(text: str) -> str:
    return f" in {text!r}" if text else ""


def normalize_path(path: str, where: str = "") -> str:
    """A repo path as stored: 'a/b.txt' (no leading slash); '' is the root.

    '..' components and NUL bytes are refused, so nothing can name a place outside the repo.
    """
    if not isinstance(path, str) or "\x00" in path or "\\" in path:
        raise InvalidInput(
            f"path {path!r}{_in(where)} is not a valid repo path",
            hint="repo paths use '/' separators, e.g. /train/x.csv",
        )
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(
            f"path {path!r}{_in(where)} escapes the repo ('..' is not allowed)",
            hint="name the place from the repo root, e.g. /data/file.csv",
        )
    return "/".join(parts)


def parse_target(text: str, *, need_ref: bool = False) -> Target:
    """Parse `REPO[@REF][:/path]`."""
    if not isinstance(text, str) or not text:
        raise InvalidInput(f"{text!r} is not a repo reference", hint=f"write {SYNTAX}")
    head, sep, path = text.partition(":")
    repo, at, ref = head.partition("@")
    if not repo:
        raise InvalidInput(f"{text!r} names no repo", hint=f"write {SYNTAX}")
    if not REPO_RE.fullmatch(repo):
        raise InvalidInput(
            f"{text!r}: repo name {repo!r} is not valid",
            hint=f"write {SYNTAX}; repo names use letters, digits, '_', '.' and '-'",
        )
    if at and not ref:
        raise InvalidInput(f"{text!r} has an empty ref after '@'", hint=f"write {SYNTAX}")
    if need_ref and not at:
        raise InvalidInput(f"{text!r} names no branch or commit", hint=f"write {SYNTAX}")
    if at:
        split_ref(ref, text)
    return Target(repo, ref if at else None, normalize_path(path, text) if sep else "", text)


def parse_branch(text: str) -> tuple[str, str]:
    """Parse `REPO@BRANCH`, what branch create and delete take: (repo, branch name).

    A path (`images@a:b`) or an ancestry (`images@a^`) is refused rather than dropped.
    """
    if isinstance(text, str) and ":" in text:
        head, _, path = text.partition(":")
        raise InvalidInput(
            f"{text!r} is not a branch: ':{path}' names a path, and a branch is named "
            "REPO@BRANCH",
            hint=f"write {BRANCH_SYNTAX}" + (f"; here: {head}" if "@" in head else ""),
        )
    if isinstance(text, str) and "@" not in text:
        raise InvalidInput(f"{text!r} names no branch", hint=f"write {BRANCH_SYNTAX}")
    tgt = parse_target(text)
    assert tgt.ref is not None
    return tgt.repo, check_branch_name(tgt.ref, f"{text!r}: ")


def owned_repo(repo: str, owner: str, refusal: str, *, alt: str = "") -> Conflict:
    """The refusal of a change by hand (a put, a branch create or delete, a repo delete) to a
    repo its owner, a data pipeline, writes alone; the hint names the pipeline to delete."""
    kind, _, name = owner.partition("/")
    fix = (f"delete the pipeline first: flowyard data pipeline delete {name}"
           if kind == OWNER_KIND and name else f"delete {owner} first")
    return Conflict(f"repo '{repo}' is the output of {owner}; {refusal}",
                    hint=f"{alt}, or {fix}" if alt else fix)


def suggest(name: str, options: Iterable[str]) -> str:
    """'; did you mean 'x'? (known: a, b, c)' for error hints."""
    opts = sorted(options)
    close = difflib.get_close_matches(name, opts, n=3, cutoff=0.5)
    known = ", ".join(opts[:20]) + (", ..." if len(opts) > 20 else "")
    parts = []
    if close:
        parts.append("did you mean " + " or ".join(repr(c) for c in close) + "?")
    parts.append(f"known: {known}" if opts else "there are none yet")
    return "; ".join(parts)
