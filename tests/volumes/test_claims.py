"""Attachment claims: one writer unless shared, readers always, released on stop or death."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from flowyard.errors import Conflict, InvalidInput, NotFound
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore
from flowyard.volumes import Volumes, attach, current_claims, release, volume_resource


def test_second_writer_is_refused_naming_volume_holder_and_fix(vols: Volumes) -> None:
    vols.create(volume_resource("ws", "team-a"))
    first = vols.attach("team-a", "ws", "notebook/explore")
    assert first.path == vols.path("team-a", "ws") and first.phase == "Ready"
    with pytest.raises(Conflict) as err:
        vols.attach("team-a", "ws", "notebook/other")
    message = err.value.message
    assert "volume 'ws'" in message and "notebook/explore" in message
    assert "notebook/other" in message
    assert "shared" in (err.value.hint or "") and "stop notebook/explore" in (err.value.hint or "")
    assert [c.holder for c in vols.claims("team-a", "ws")] == ["notebook/explore"]

    reader = vols.attach("team-a", "ws", "notebook/other", "ro")       # readers are fine
    assert [(c.holder, c.mode) for c in reader.claims] == [("notebook/explore", "rw"),
                                                           ("notebook/other", "ro")]
    vols.attach("team-a", "ws", "notebook/explore", "rw")             # idempotent
    assert len(vols.claims("team-a", "ws")) == 2

    assert vols.release("team-a", "ws", "notebook/explore") is True
    assert vols.release("team-a", "ws", "notebook/explore") is False
    vols.attach("team-a", "ws", "notebook/other", "rw")               # now it may write


def test_shared_volumes_take_many_writers(vols: Volumes) -> None:
    vols.create(volume_resource("team", "team-a", shared=True))
    for name in ("a", "b", "c"):
        got = vols.attach("team-a", "team", f"notebook/{name}")
    assert got.shared and [c.holder for c in got.claims] == ["notebook/a", "notebook/b",
                                                             "notebook/c"]


def test_delete_is_refused_while_attached(vols: Volumes) -> None:
    vols.create(volume_resource("ws", "team-a"))
    vols.attach("team-a", "ws", "notebook/explore", "ro")
    with pytest.raises(Conflict, match=r"attached to notebook/explore \(ro\)"):
        vols.delete("team-a", "ws")
    assert vols.path("team-a", "ws").is_dir() and vols.get("team-a", "ws")
    vols.release("team-a", "ws", "notebook/explore")
    vols.delete("team-a", "ws")
    assert not vols.path("team-a", "ws").exists()


def test_claim_of_a_dead_process_lapses(vols: Volumes) -> None:
    vols.create(volume_resource("ws", "team-a"))
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    vols.attach("team-a", "ws", "run/gone", pid=proc.pid)
    vols.attach("team-a", "ws", "notebook/explore")      # the dead holder is not in the way
    assert [c.holder for c in vols.claims("team-a", "ws")] == ["notebook/explore"]


def test_bad_claims(vols: Volumes, metadata: MetadataStore, settings: Settings) -> None:
    with pytest.raises(NotFound, match="Volume 'ghost' not found in namespace 'team-a'"):
        attach(metadata, settings.home, "team-a", "ghost", "notebook/x")
    vols.create(volume_resource("ws", "team-a"))
    with pytest.raises(InvalidInput, match="attach mode 'write'"):
        attach(metadata, settings.home, "team-a", "ws", "notebook/x", "write")
    with pytest.raises(InvalidInput, match="holder ''"):
        attach(metadata, settings.home, "team-a", "ws", "")
    with pytest.raises(InvalidInput, match="volume name 'WS'"):
        release(metadata, "team-a", "WS", "notebook/x")
    assert current_claims(metadata, "team-a", "ws") == []


def _race(url: str, home: str, holder: str, start: multiprocessing.synchronize.Event,
          out: multiprocessing.Queue[str]) -> None:
    meta = MetadataStore(url)
    start.wait()
    try:
        attach(meta, Path(home), "team-a", "ws", holder)
        out.put(f"won {holder}")
    except Conflict:
        out.put(f"lost {holder}")
    finally:
        meta.close()


def _racing_writers(url: str, home: Path) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(url, str(home), f"notebook/n{i}", start, out))
             for i in range(3)]
    for p in procs:
        p.start()
    start.set()
    results = sorted(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    return results


def test_racing_writers_exactly_one_wins_sqlite(vols: Volumes, settings: Settings) -> None:
    vols.create(volume_resource("ws", "team-a"))
    vols.attach("team-a", "ws", "notebook/reader", "ro")  # the claims row exists: updates race
    results = _racing_writers(vols.meta.url, settings.home)
    assert sum(r.startswith("won") for r in results) == 1, results
    assert len(vols.claims("team-a", "ws")) == 2


@pytest.mark.postgres
def test_racing_writers_exactly_one_wins_postgresql(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    vols = Volumes(MetadataStore(pg_url), ObjectStore.from_settings(settings), settings)
    try:
        vols.create(volume_resource("ws", "team-a"))
        vols.attach("team-a", "ws", "notebook/reader", "ro")
        results = _racing_writers(pg_url, settings.home)
        assert sum(r.startswith("won") for r in results) == 1, results
        assert len(vols.claims("team-a", "ws")) == 2
        with pytest.raises(Conflict):
            vols.delete("team-a", "ws")
    finally:
        vols.close()
        vols.meta.close()
