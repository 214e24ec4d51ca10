"""Who has a volume attached: the claims that keep two writers off one volume.

A claim is `(holder, mode)` on a volume of a profile. Any number of holders may attach a
volume read-only; only one may attach it for writing unless the Volume says `shared: true`
(Kubernetes' ReadWriteOnce vs ReadWriteMany). The claims of one volume are one row of the
generic `resources` table (kind `VolumeAttachment`, not a user-facing kind), changed only
inside a write transaction that first locks the volume's claims (SQLite: the database write
lock; PostgreSQL: a transaction-scoped advisory lock), so two notebooks starting at the same
moment cannot both become the writer.

A holder that dies without releasing leaves its claim behind. Claims made with `pid=` (a
process on this host) are dropped as soon as that process is gone; the others stay until
`release` (the notebook controller releases when it stops a notebook).
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import delete, insert, select, text, update

from flowyard.errors import Conflict, InvalidInput, NotFound
from flowyard.volumes.folders import check_name, volume_path

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from flowyard.store.metadata import MetadataStore

CLAIM_KIND = "VolumeAttachment"
VOLUME_KIND = "Volume"
Mode = Literal["rw", "ro"]
MODES: tuple[str, ...] = ("rw", "ro")


@dataclass(frozen=True, slots=True)
class Claim:
    holder: str
    mode: str
    since: str
    pid: int | None = None
    host: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"holder": self.holder, "mode": self.mode, "since": self.since}
        if self.pid is not None:
            out["pid"] = self.pid
            out["host"] = self.host
        return out


@dataclass(frozen=True, slots=True)
class Attachment:
    """What `attach` gives back: where the files are and everyone holding the volume."""

    profile: str
    volume: str
    path: Path
    """The volume's folder on this machine (exists once the Volume's status.phase is Ready)."""
    shared: bool
    phase: str
    claims: tuple[Claim, ...]


def attach(
    meta: MetadataStore,
    home: Path,
    profile: str,
    volume: str,
    holder: str,
    mode: str = "rw",
    *,
    pid: int | None = None,
) -> Attachment:
    """Claim `volume` of `profile` for `holder`; refuse a second writer unless it is shared.

    For the notebook controller: call it for each of a notebook's `spec.volumes` (mode "ro"
    when `readOnly`, else "rw") and for `spec.workspace` (mode "rw") before starting the
    server, with `holder="notebook/<name>"`; mount or link `Attachment.path`; call `release`
    with the same holder when the notebook stops or is deleted. `home` is the platform's
    FLOWYARD_HOME (`settings.home`).

    - Attaching again with the same holder is idempotent (its mode is updated).
    - `mode` is "rw" (read-write) or "ro" (read-only); readers never conflict.
    - A second "rw" holder of a volume without `spec.shared: true` raises `Conflict` naming
      the volume, the current writer and the fixes (mark it shared, stop the other holder,
      or attach read-only); nothing is recorded then.
    - An unknown volume raises `NotFound`; bad names or modes raise `InvalidInput`.
    - `pid`: a process on this host whose end releases the claim by itself (a crashed
      holder does not keep the volume forever).
    """
    _check(profile, volume, holder, mode)
    me = socket.gethostname()
    with meta._tx(write=True) as conn:
        _lock(conn, profile, volume)
        body = _volume_body(conn, profile, volume)
        shared = bool((body.get("spec") or {}).get("shared", False))
        claims = [c for c in _load(conn, profile, volume) if _alive(c, me)]
        others = [c for c in claims if c.holder != holder]
        writers = [c for c in others if c.mode == "rw"]
        if mode == "rw" and writers and not shared:
            current = writers[0]
            raise Conflict(
                f"volume '{volume}' in profile '{profile}' is attached for writing by "
                f"{current.holder} (since {current.since}); {holder} cannot attach it for "
                "writing too",
                hint=f"mark the volume shared (spec.shared: true, then apply it), stop "
                f"{current.holder} first, or attach it read-only",
            )
        mine = Claim(holder, mode, _now(), pid, me if pid is not None else None)
        claims = [*others, mine]
        _save(conn, profile, volume, claims)
    phase = str((body.get("status") or {}).get("phase") or "Pending")
    return Attachment(profile, volume, volume_path(home, profile, volume), shared, phase,
                      tuple(claims))


def release(meta: MetadataStore, profile: str, volume: str, holder: str) -> bool:
    """Drop `holder`'s claim on the volume; False when it held none (idempotent)."""
    _check(profile, volume, holder, "ro")
    with meta._tx(write=True) as conn:
        _lock(conn, profile, volume)
        claims = _load(conn, profile, volume)
        kept = [c for c in claims if c.holder != holder]
        if len(kept) == len(claims):
            return False
        _save(conn, profile, volume, kept)
    return True


def current_claims(meta: MetadataStore, profile: str, volume: str) -> list[Claim]:
    """The live claims on a volume (claims of processes that are gone are left out)."""
    me = socket.gethostname()
    with meta._tx(write=False) as conn:
        return [c for c in _load(conn, profile, volume) if _alive(c, me)]


def delete_unclaimed(meta: MetadataStore, profile: str, volume: str) -> None:
    """Delete the Volume record unless someone holds it, in one transaction with the check."""
    me = socket.gethostname()
    with meta._tx(write=True) as conn:
        _lock(conn, profile, volume)
        _volume_body(conn, profile, volume)
        live = [c for c in _load(conn, profile, volume) if _alive(c, me)]
        if live:
            holders = ", ".join(f"{c.holder} ({c.mode})" for c in live)
            raise Conflict(
                f"volume '{volume}' in profile '{profile}' is attached to {holders}; "
                "it was not deleted",
                hint="stop the notebooks or runs using it (they release it), then delete it",
            )
        r = _table()
        conn.execute(delete(r).where(r.c.kind.in_((VOLUME_KIND, CLAIM_KIND)),
                                     r.c.namespace == profile, r.c.name == volume))


# -- internals ----------------------------------------------------------------------------


def _check(profile: str, volume: str, holder: str, mode: str) -> None:
    check_name(profile, "profile", "profiles are DNS-1123 labels, e.g. 'team-a'")
    check_name(volume, "volume name", "volume names are DNS-1123 labels, e.g. 'explore-ws'")
    if not isinstance(holder, str) or not holder.strip() or len(holder) > 253:
        raise InvalidInput(f"volume holder {holder!r} is not valid",
                           hint="name the holder, e.g. 'notebook/explore' (1-253 characters)")
    if mode not in MODES:
        raise InvalidInput(f"attach mode {mode!r} for volume '{volume}' is not one of "
                           f"{', '.join(MODES)}",
                           hint="'rw' to write, 'ro' to only read")


def _table() -> Any:
    from flowyard.store import schema

    return schema.resources


def _lock(conn: Connection, profile: str, volume: str) -> None:
    if conn.dialect.name == "postgresql":
        key = hashlib.blake2b(f"volume-claims/{profile}/{volume}".encode(),
                              digest_size=8).digest()
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                     {"k": int.from_bytes(key, "big", signed=True)})
    # SQLite: the write transaction began with BEGIN IMMEDIATE, which is the lock.


def _volume_body(conn: Connection, profile: str, volume: str) -> dict[str, Any]:
    r = _table()
    row = conn.execute(select(r.c.body).where(
        r.c.kind == VOLUME_KIND, r.c.namespace == profile, r.c.name == volume)).first()
    if row is None:
        raise NotFound(f"Volume '{volume}' not found in namespace '{profile}'",
                       hint="create it first: flowyard volume create "
                       f"{volume} (or apply a Volume resource)")
    return dict(row[0])


def _load(conn: Connection, profile: str, volume: str) -> list[Claim]:
    r = _table()
    row = conn.execute(select(r.c.body).where(
        r.c.kind == CLAIM_KIND, r.c.namespace == profile, r.c.name == volume)).first()
    if row is None:
        return []
    return [Claim(c["holder"], c["mode"], c["since"], c.get("pid"), c.get("host"))
            for c in (row[0].get("claims") or [])]


def _save(conn: Connection, profile: str, volume: str, claims: list[Claim]) -> None:
    r = _table()
    key = (r.c.kind == CLAIM_KIND, r.c.namespace == profile, r.c.name == volume)
    body = {"kind": CLAIM_KIND, "metadata": {"name": volume, "namespace": profile},
            "claims": [c.to_dict() for c in sorted(claims, key=lambda c: c.holder)]}
    now = datetime.now(UTC)
    if not claims:
        conn.execute(delete(r).where(*key))
    elif conn.execute(update(r).where(*key).values(body=body, updated_at=now)).rowcount == 0:
        conn.execute(insert(r).values(kind=CLAIM_KIND, namespace=profile, name=volume,
                                      generation=1, body=body, created_at=now, updated_at=now))


def _alive(claim: Claim, host: str) -> bool:
    if claim.pid is None or claim.host != host:
        return True
    try:
        os.kill(claim.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
