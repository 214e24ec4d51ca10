"""`Volumes`: create, snapshot, restore, commit and delete volumes of a profile.

The records are the generic resources `Volume` and `VolumeSnapshot` in the metadata store,
the same documents `flowyard apply` stores and the platform's controller reconciles; the
files are a folder per volume (`folders.py`) and data commits per snapshot (`snapshots.py`).
Everything here is a library call: the CLI calls it in-process, the platform's controller
calls it for resources applied through the API.

Nothing half-done stays visible: a volume is recorded `Pending` and its folder renamed into
place only once filled (a failure removes both); a snapshot's resource is written once its
commit is published, so a snapshot killed halfway leaves no snapshot behind.
"""

from __future__ import annotations

import builtins
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyard.errors import Conflict, FlowyardError, InvalidInput, NotFound
from flowyard.volumes import claims as claim_registry
from flowyard.volumes import folders, snapshots
from flowyard.volumes.folders import check_name

if TYPE_CHECKING:
    from flowyard.data.records import Commit
    from flowyard.data.repo import DataStore
    from flowyard.resources.volume import Volume, VolumeSnapshot
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore
    from flowyard.store.objects import ObjectStore

log = logging.getLogger("flowyard.volumes")
VOLUME = "Volume"
SNAPSHOT = "VolumeSnapshot"
READY, PENDING, FAILED = "Ready", "Pending", "Failed"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def volume_resource(name: str, profile: str = "default", *, size: str = "10Gi",
                    shared: bool = False, snapshot: str | None = None,
                    data: str | None = None, labels: dict[str, str] | None = None) -> Volume:
    """A `Volume` resource from plain arguments (validated like a YAML document)."""
    from flowyard.resources.loader import parse_resource
    from flowyard.resources.volume import Volume

    spec: dict[str, Any] = {"size": size, "shared": shared}
    if snapshot is not None or data is not None:
        spec["source"] = {k: v for k, v in (("snapshot", snapshot), ("data", data)) if v}
    body = {"apiVersion": "flowyard.dev/v1alpha1", "kind": VOLUME,
            "metadata": {"name": name, "namespace": profile, "labels": labels or {}},
            "spec": spec}
    resource = parse_resource(body)
    assert isinstance(resource, Volume)
    return resource


class Volumes:
    """Volumes and snapshots on a MetadataStore (records) and an ObjectStore (bytes)."""

    def __init__(self, meta: MetadataStore, objects: ObjectStore, settings: Settings, *,
                 own_profile_data: bool = False) -> None:
        """`own_profile_data`: a volume is filled from, and a snapshot committed into, only
        repos of its own profile. The platform sets it, where profiles are permission
        boundaries and its controller acts for users whose access to other profiles' repos
        it does not know; in-process every repo is the caller's."""
        self.meta = meta
        self.objects = objects
        self.settings = settings
        self.own_profile_data = own_profile_data
        self.home = settings.home.expanduser()
        self._data: DataStore | None = None

    @property
    def data(self) -> DataStore:
        if self._data is None:
            from flowyard.data.repo import DataStore

            self._data = DataStore(self.meta, self.objects, self.settings)
        return self._data

    def close(self) -> None:
        if self._data is not None:
            self._data.close()  # the stat cache; the stores belong to the caller

    # -- volumes ----------------------------------------------------------------------------

    def path(self, profile: str, name: str) -> Path:
        """The folder of a volume on this machine."""
        check_name(profile, "profile", "profiles are DNS-1123 labels, e.g. 'team-a'")
        check_name(name, "volume name", "volume names are DNS-1123 labels, e.g. 'explore-ws'")
        return folders.volume_path(self.home, profile, name)

    def get(self, profile: str, name: str) -> Volume:
        from flowyard.resources.volume import Volume

        return Volume.model_validate(self.meta.get_resource(VOLUME, profile, name))

    def list(self, profile: str | None = None) -> list[Volume]:
        from flowyard.resources.volume import Volume

        return [Volume.model_validate(b) for b in self.meta.list_resources(VOLUME, profile)]

    def create(self, volume: Volume) -> Volume:
        """Record the volume and fill its folder (from its source); all or nothing."""
        profile, name = volume.namespace, volume.name
        self.path(profile, name)
        try:
            self.meta.get_resource(VOLUME, profile, name)
        except NotFound:
            pass
        else:
            raise Conflict(f"Volume '{name}' already exists in profile '{profile}'",
                           hint="pick another name, or delete it first: "
                           f"flowyard volume delete {name}")
        source = volume.spec.source
        if source is not None and source.snapshot is not None:
            self._ready_snapshot(profile, source.snapshot, f"volume '{name}': source.snapshot")
        body = volume.to_dict()
        body["metadata"]["namespace"] = profile
        body["status"] = {"phase": PENDING}
        self.meta.put_resource(VOLUME, profile, name, body)
        try:
            return self.provision(profile, name, raise_errors=True)
        except BaseException:
            self.meta.delete_resource(VOLUME, profile, name)
            raise

    def provision(self, profile: str, name: str, *, raise_errors: bool = False) -> Volume:
        """Bring a recorded volume to Ready: fill its folder if it has none yet.

        Idempotent (the controller calls it for every new or changed Volume). A failure is
        written to status (phase Failed, message) unless `raise_errors`.
        """
        body = self.meta.get_resource(VOLUME, profile, name)
        generation = body["metadata"].get("generation")
        folder = self.path(profile, name)
        status: dict[str, Any] = dict(body.get("status") or {})
        try:
            if not folder.is_dir():
                status["source"] = self._fill(profile, name, body, folder)
            files, size = folders.usage(folder)
            status.update(phase=READY, path=str(folder), files=files, bytes=size,
                          observedGeneration=generation)
            status.pop("message", None)
        except FlowyardError as exc:
            if raise_errors:
                raise
            status.update(phase=FAILED, message=exc.message, observedGeneration=generation)
            log.warning("Volume %s/%s failed: %s", profile, name, exc.message)
        self._set_status(VOLUME, profile, name, status)
        return self.get(profile, name)

    def _fill(self, profile: str, name: str, body: dict[str, Any], folder: Path) -> dict[str, Any]:
        source = (body.get("spec") or {}).get("source") or {}
        staging = folders.new_staging(self.home, profile, name)
        try:
            origin: dict[str, Any] = {}
            if source.get("snapshot"):
                snap = self._ready_snapshot(profile, source["snapshot"],
                                            f"volume '{name}': source.snapshot")
                commit = snap["status"].get("commit", "")
                snapshots.restore(self.data, profile, commit, staging)
                origin = {"snapshot": source["snapshot"], "commit": commit}
            elif source.get("data"):
                self._own_repo(profile, source["data"], f"volume '{name}': source.data")
                got = self.data.get(source["data"], staging)
                origin = {"data": source["data"], "commit": got.commit}
            folders.install(staging, folder)
            return origin
        except BaseException:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
            raise

    def delete(self, profile: str, name: str) -> None:
        """Delete a volume and its folder; refused while a notebook or step has it attached.
        Its snapshots stay (they are independent of the volume)."""
        folder = self.path(profile, name)
        claim_registry.delete_unclaimed(self.meta, profile, name)
        folders.remove(folder)

    def attach(self, profile: str, name: str, holder: str, mode: str = "rw", *,
               pid: int | None = None) -> claim_registry.Attachment:
        """See `flowyard.volumes.claims.attach`."""
        return claim_registry.attach(self.meta, self.home, profile, name, holder, mode, pid=pid)

    def release(self, profile: str, name: str, holder: str) -> bool:
        return claim_registry.release(self.meta, profile, name, holder)

    def claims(self, profile: str, name: str) -> builtins.list[claim_registry.Claim]:
        return claim_registry.current_claims(self.meta, profile, name)

    # -- snapshots --------------------------------------------------------------------------

    def snapshot(self, profile: str, volume: str, name: str | None = None, *,
                 labels: dict[str, str] | None = None) -> VolumeSnapshot:
        """Snapshot a volume now; the VolumeSnapshot is recorded only once it is complete."""
        from flowyard.resources.loader import parse_resource
        from flowyard.resources.volume import VolumeSnapshot

        self.path(profile, volume)
        name = name or default_snapshot_name(volume)
        check_name(name, "snapshot name", "snapshot names are DNS-1123 labels, e.g. "
                   f"'{volume}-monday'")
        try:
            self.meta.get_resource(SNAPSHOT, profile, name)
        except NotFound:
            pass
        else:
            raise Conflict(f"VolumeSnapshot '{name}' already exists in profile '{profile}'",
                           hint="snapshots never change; pick another --name")
        resource = parse_resource({
            "apiVersion": "flowyard.dev/v1alpha1", "kind": SNAPSHOT,
            "metadata": {"name": name, "namespace": profile, "labels": labels or {}},
            "spec": {"volume": volume}})
        assert isinstance(resource, VolumeSnapshot)
        status = self._take(profile, volume, name)
        body = resource.to_dict()
        body["metadata"]["namespace"] = profile
        body["status"] = status
        self.meta.put_resource(SNAPSHOT, profile, name, body)
        return VolumeSnapshot.model_validate(self.meta.get_resource(SNAPSHOT, profile, name))

    def take_applied(self, profile: str, name: str) -> dict[str, Any]:
        """Take the snapshot an applied VolumeSnapshot asks for (the controller's half);
        its status becomes Ready or Failed (with the message)."""
        body = self.meta.get_resource(SNAPSHOT, profile, name)
        if (body.get("status") or {}).get("phase") in (READY, FAILED):
            return dict(body["status"])
        volume = str((body.get("spec") or {}).get("volume", ""))
        try:
            status = self._take(profile, volume, name)
        except FlowyardError as exc:
            status = {"phase": FAILED, "message": exc.message, "volume": volume}
            log.warning("VolumeSnapshot %s/%s failed: %s", profile, name, exc.message)
        self._set_status(SNAPSHOT, profile, name, status)
        return status

    def _take(self, profile: str, volume: str, name: str) -> dict[str, Any]:
        vol = self._ready_volume(profile, volume, f"snapshot '{name}': spec.volume")
        folder = self.path(profile, volume)
        links = folders.symlinked_folders(folder)
        # Top-level links to folders are mounts (a notebook's other volumes): left out.
        # Deeper ones would be followed by the data layer, maybe in a loop: refused.
        nested = [link for link in links if "/" in link]
        if nested:
            raise InvalidInput(
                f"volume '{volume}' holds symlinks to folders ({', '.join(nested[:5])}); a "
                "snapshot stores files, not links, and would follow them",
                hint="remove the links (or replace them with the folders' content), then "
                "snapshot again; links at the top of the volume are skipped")
        started = time.monotonic()
        taken = snapshots.take(self.data, folder, profile, volume,
                               {"volume": volume, "profile": profile, "snapshot": name},
                               skip=frozenset(links))
        seconds = round(time.monotonic() - started, 3)
        log.info("VolumeSnapshot %s/%s: %d files, %d new bytes in %.3fs", profile, name,
                 taken.files, taken.new_bytes, seconds)
        status = {"phase": READY, "volume": volume, "volumeUid": vol["metadata"].get("uid"),
                  "commit": taken.commit, "digest": taken.digest, "files": taken.files,
                  "bytes": taken.bytes, "newBytes": taken.new_bytes,
                  "filesRead": taken.files_read, "seconds": seconds, "createdAt": _now(),
                  "skipped": links or None}
        self._set_status(VOLUME, profile, volume,
                         {"files": taken.files, "bytes": taken.bytes, "lastSnapshot": name},
                         merge=True)
        return {k: v for k, v in status.items() if v is not None}

    def snapshots(self, profile: str | None = None,
                  volume: str | None = None) -> builtins.list[VolumeSnapshot]:
        from flowyard.resources.volume import VolumeSnapshot

        items = [VolumeSnapshot.model_validate(b)
                 for b in self.meta.list_resources(SNAPSHOT, profile)]
        return [s for s in items if volume is None or s.spec.volume == volume]

    def get_snapshot(self, profile: str, name: str) -> VolumeSnapshot:
        from flowyard.resources.volume import VolumeSnapshot

        return VolumeSnapshot.model_validate(self.meta.get_resource(SNAPSHOT, profile, name))

    def delete_snapshot(self, profile: str, name: str) -> None:
        """Forget a snapshot. Its commit stays in the history of the profile's
        `volumes.<profile>` repo (and in any data commit made from it)."""
        self.meta.delete_resource(SNAPSHOT, profile, name)

    def restore(self, profile: str, snapshot: str, new_volume: str, *, shared: bool = False,
                size: str = "10Gi") -> Volume:
        """A new volume holding a snapshot's files."""
        return self.create(volume_resource(new_volume, profile, size=size, shared=shared,
                                           snapshot=snapshot))

    def commit(self, profile: str, snapshot: str, target: str, *,
               message: str = "") -> Commit | None:
        """Commit a snapshot's files to `repo@branch[:/path]` (no bytes copied), with the
        snapshot's commit as provenance; None when the path already held exactly them and
        the branch head already names that snapshot commit (committing it again)."""
        from flowyard.data.refs import parse_target

        snap = self._ready_snapshot(profile, snapshot, "commit")
        tgt = parse_target(target)
        self._own_repo(profile, target, "commit")
        self._target_repo(tgt.repo)
        if tgt.ref is None:
            target = f"{tgt.repo}@master" + (f":/{tgt.path}" if tgt.path else "")
        status = snap["status"]
        info = {"volumeSnapshot": snapshot, "profile": profile,
                "volume": snap["spec"]["volume"], "snapshotCommit": status.get("commit", "")}
        result = snapshots.to_data(self.data, profile, str(status.get("commit", "")), target,
                                   message=message or f"volume snapshot {profile}/{snapshot}",
                                   info=info)
        return result.commit if result.changed else None

    # -- helpers ----------------------------------------------------------------------------

    def _own_repo(self, profile: str, ref: str, where: str) -> None:
        """With own_profile_data, refuse a repo of another profile exactly as a missing one
        (its existence must not leak), like the data API."""
        from flowyard.data.refs import parse_target

        if not self.own_profile_data:
            return
        repo = parse_target(ref).repo
        if self.data.catalog.repo_namespace(repo) != profile:
            raise NotFound(f"{where}: repo '{repo}' not found in namespace '{profile}'",
                           hint=f"on a platform, volumes of profile '{profile}' read from and "
                                f"commit into its own repos; list them: FLOWYARD_NAMESPACE="
                                f"{profile} flowyard data repo list")

    def _target_repo(self, repo: str) -> None:
        """A commit's repo must exist. The hint names the user's repos, not the
        `volumes.<profile>` ones that hold snapshots, and how to create the one named."""
        from flowyard.data.refs import suggest

        if self.data.catalog.repo_namespace(repo) is not None:
            return
        create = f"flowyard data repo create {repo}"
        names = [r.name for r in self.data.list_repos()
                 if not r.name.startswith(snapshots.REPO_PREFIX)]
        raise NotFound(f"commit: repo '{repo}' not found",
                       hint=f"{suggest(repo, names)}; or create it: {create}" if names
                       else f"create it: {create}")

    def _ready_volume(self, profile: str, name: str, where: str) -> dict[str, Any]:
        try:
            body = self.meta.get_resource(VOLUME, profile, name)
        except NotFound:
            known = sorted(b["metadata"]["name"] for b in self.meta.list_resources(VOLUME, profile))
            raise NotFound(f"{where}: Volume '{name}' not found in profile '{profile}'",
                           hint=_known("volumes", known)) from None
        phase = (body.get("status") or {}).get("phase")
        if phase != READY or not self.path(profile, name).is_dir():
            raise Conflict(f"{where}: Volume '{name}' is {phase or 'Pending'}, not Ready",
                           hint=(body.get("status") or {}).get("message")
                           or "wait until it is Ready (flowyard volume list)")
        return body

    def _ready_snapshot(self, profile: str, name: str, where: str) -> dict[str, Any]:
        check_name(name, "snapshot name", "snapshot names are DNS-1123 labels")
        try:
            body = self.meta.get_resource(SNAPSHOT, profile, name)
        except NotFound:
            known = sorted(b["metadata"]["name"]
                           for b in self.meta.list_resources(SNAPSHOT, profile))
            raise NotFound(f"{where}: VolumeSnapshot '{name}' not found in profile "
                           f"'{profile}'", hint=_known("snapshots", known)) from None
        status = body.get("status") or {}
        if status.get("phase") != READY:
            raise Conflict(f"{where}: VolumeSnapshot '{name}' is "
                           f"{status.get('phase') or 'Pending'}, not Ready",
                           hint=status.get("message") or "wait until it is Ready "
                           "(flowyard volume snapshots)")
        return body

    def _set_status(self, kind: str, profile: str, name: str, status: dict[str, Any], *,
                    merge: bool = False) -> None:
        """Replace `status` (or, with `merge`, only the given keys of it) in one transaction,
        so a concurrent apply keeps its spec and concurrent status writers their keys."""
        from sqlalchemy import select, update

        from flowyard.store import schema

        r = schema.resources
        key = (r.c.kind == kind, r.c.namespace == profile, r.c.name == name)
        with self.meta._tx(write=True) as conn:
            query = select(r.c.body).where(*key)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is None:
                return  # deleted meanwhile: nothing to report on
            old = dict(row[0])
            new = {**(old.get("status") or {}), **status} if merge else status
            body = {**old, "status": new}
            conn.execute(update(r).where(*key).values(body=body, updated_at=datetime.now(UTC)))


def default_snapshot_name(volume: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{volume[: 63 - len(stamp) - 1]}-{stamp}"


def _known(what: str, names: list[str]) -> str:
    if not names:
        return f"there are no {what} in this profile yet"
    return f"known {what}: {', '.join(names[:20])}"
