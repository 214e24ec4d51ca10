"""A snapshot killed with SIGKILL halfway leaves no snapshot; the next one works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from flowyard.settings import Settings
from flowyard.store.objects import ObjectStore
from flowyard.volumes import Volumes, volume_resource
from flowyard.volumes.snapshots import repo_for

SNAPSHOT_SCRIPT = textwrap.dedent("""
    import sys
    from flowyard.settings import Settings
    from flowyard.store import MetadataStore, ObjectStore
    from flowyard.volumes import Volumes
    settings = Settings()
    vols = Volumes(MetadataStore.from_settings(settings), ObjectStore.from_settings(settings),
                   settings)
    print("started", flush=True)
    vols.snapshot("team-a", "big", "doomed")
    print("finished", flush=True)
""")


def test_sigkill_during_snapshot_leaves_nothing_visible(vols: Volumes, settings: Settings,
                                                         objects: ObjectStore) -> None:
    vols.create(volume_resource("big", "team-a"))
    folder = vols.path("team-a", "big")
    for i in range(12):  # 192 MiB of random data: several 32 MiB packs, a few seconds
        (folder / f"chunk-{i:02d}.bin").write_bytes(os.urandom(16 << 20))
    env = {**os.environ, "FLOWYARD_HOME": str(settings.home)}
    for name in ("FLOWYARD_DATABASE_URL", "FLOWYARD_OBJECT_STORE_URL", "FLOWYARD_SERVER"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-c", SNAPSHOT_SCRIPT], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"started"
        deadline = time.monotonic() + 120
        while not any(True for _ in objects.iter_digests()):   # the first pack is stored
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            assert time.monotonic() < deadline, "the snapshot never stored a pack"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    assert vols.snapshots("team-a") == []                     # no snapshot visible
    branch = next(b for b in vols.data.list_branches(repo_for("team-a")) if b.name == "big")
    assert branch.head is None                                 # no commit published
    assert "lastSnapshot" not in vols.get("team-a", "big").status

    snap = vols.snapshot("team-a", "big", "doomed")            # the name is free, it works
    assert snap.status["phase"] == "Ready" and snap.status["files"] == 12
    report = vols.data.fsck(collect=True, grace=0)             # the killed one's packs go
    assert report.ok
    vols.restore("team-a", "doomed", "copy")
    copy = vols.path("team-a", "copy")
    assert (copy / "chunk-05.bin").read_bytes() == (folder / "chunk-05.bin").read_bytes()
    assert sorted(p.name for p in Path(copy).iterdir()) == sorted(os.listdir(folder))
