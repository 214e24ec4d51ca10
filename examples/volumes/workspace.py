"""A workspace volume: fill it, snapshot it twice (the second costs nothing), restore it,
turn a snapshot into a data commit, and let a pipeline step work in it.

    python examples/volumes/workspace.py            # a throwaway FLOWYARD_HOME, 100 MiB
    python examples/volumes/workspace.py --mb 500   # a bigger workspace
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from flowyard import dsl
from flowyard.pipelines.engine import Engine
from flowyard.settings import Settings
from flowyard.store import MetadataStore, ObjectStore
from flowyard.volumes import Volumes, volume_resource


@dsl.component
def summarize() -> int:
    """Counts the workspace's files and leaves a report in it."""
    import os

    folder = os.environ["FLOWYARD_VOLUME_EXPLORE_WS"]
    files = [name for name in os.listdir(folder) if name.endswith(".bin")]
    with open(os.path.join(folder, "report.txt"), "w") as handle:
        handle.write(f"{len(files)} shards\n")
    return len(files)


@dsl.pipeline(name="summarize-workspace")
def summarize_workspace() -> None:
    summarize().add_volume("explore-ws", mount_path="/workspace")


def blobs(objects: ObjectStore) -> int:
    return sum(1 for _ in objects.iter_digests())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100, help="workspace size in MiB")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="flowyard-volumes-"))
    settings = Settings(home=home)
    settings.ensure_home()
    meta, objects = MetadataStore.from_settings(settings), ObjectStore.from_settings(settings)
    vols = Volumes(meta, objects, settings)

    vols.create(volume_resource("explore-ws", "team-a"))
    folder = vols.path("team-a", "explore-ws")
    block = os.urandom(4 << 20)
    for i in range(max(1, args.mb // 4)):
        (folder / f"shard-{i:03d}.bin").write_bytes(block[i:] + block[:i])
    time.sleep(0.1)  # the stat cache does not trust files younger than 50 ms

    for name in ("monday", "tuesday"):
        started = time.monotonic()
        snap = vols.snapshot("team-a", "explore-ws", name)
        s = snap.status
        print(f"snapshot {name}: {s['files']} files, {s['bytes'] >> 20} MiB, "
              f"{s['newBytes']} new bytes, {s['filesRead']} files read, "
              f"{time.monotonic() - started:.3f}s, {blobs(objects)} blobs in the store")

    vols.restore("team-a", "monday", "explore-copy")
    print("restored into", vols.path("team-a", "explore-copy"))

    vols.data.create_repo("datasets")
    commit = vols.commit("team-a", "monday", "datasets@master:/explore")
    assert commit is not None
    print(f"snapshot as data: datasets@{commit.id} ({commit.files} files), provenance "
          f"{[c.repo + '@' + c.id for c in vols.data.provenance('datasets@master')]}")

    vols.attach("team-a", "explore-ws", "notebook/explore")
    try:
        vols.attach("team-a", "explore-ws", "notebook/other")
    except Exception as exc:  # the point: show the message a second writer gets
        print(f"second writer refused: {exc}")
    vols.release("team-a", "explore-ws", "notebook/explore")

    with Engine(meta, objects, settings) as engine:
        run = engine.run(dsl.compile(summarize_workspace), namespace="team-a")
    print(f"pipeline {run.state}: {(folder / 'report.txt').read_text().strip()}")
    vols.close()
    meta.close()


if __name__ == "__main__":
    main()
