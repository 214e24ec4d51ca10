"""`/stats` over several worker processes: snapshots in a shared folder, added up once."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from serving_helpers import py_node

from flowyard.serving import GraphEngine
from flowyard.serving.state import MemoryStateStore
from flowyard.serving.stats import RecordingStateStore, StatsBook, combine_router

INF = float("inf")


def test_restored_counts_are_counted_once_and_learning_summed() -> None:
    restored = {"success": [2, 5], "tries": [4, 5], "best": 1}
    a = {"state": {"success": [3, 8], "tries": [6, 8], "best": 1}, "loaded": restored}
    b = {"state": {"success": [2, 7], "tries": [5, 7], "best": 1}, "loaded": restored}
    merged = combine_router([a, b], [1.0, 1.1])
    assert merged["success"] == [3.0, 10.0] and merged["tries"] == [7.0, 10.0]
    assert merged["best"] == 1


def test_a_worker_restoring_later_does_not_count_what_it_restored_again() -> None:
    first = {"state": {"success": [0, 6], "tries": [0, 6], "best": 1},
             "loaded": {"success": [0, 2], "tries": [0, 2], "best": 1}}
    # started after `first` had saved 3 of its 4 new successes: restored [0, 5]
    later = {"state": {"success": [1, 5], "tries": [3, 5], "best": 1},
             "loaded": {"success": [0, 5], "tries": [0, 5], "best": 1}}
    merged = combine_router([later, first], [9.0, 1.0])
    assert merged["success"] == [1.0, 6.0] and merged["tries"] == [3.0, 6.0]


def test_thompson_evidence_adds_up_over_the_beta_prior() -> None:
    a = {"state": {"alpha": [3.0, 1.0], "beta": [1.0, 2.0]}, "loaded": None}
    b = {"state": {"alpha": [2.0, 4.0], "beta": [2.0, 1.0]}, "loaded": None}
    merged = combine_router([a, b], [INF, INF])
    assert merged == {"alpha": [4.0, 4.0], "beta": [2.0, 2.0]}


def test_states_that_are_not_counts_are_the_answering_workers() -> None:
    mine = {"state": {"weights": "abc", "tries": [1, 2]}, "loaded": None}
    other = {"state": {"weights": "xyz", "tries": [5, 5]}, "loaded": None}
    assert combine_router([mine, other], [INF, INF]) == mine["state"]  # a user router's
    odd = {"state": {"success": [1, 2, 3], "tries": [1, 2, 3]}, "loaded": None}
    two = {"state": {"success": [1, 2], "tries": [1, 2]}, "loaded": None}
    assert combine_router([two, odd], [INF, INF]) == two["state"]  # arms disagree
    assert combine_router([two], [INF]) == two["state"]


def test_no_feedback_keeps_the_configured_best_branch() -> None:
    a = {"state": {"success": [0, 0], "tries": [0, 0], "best": 1}, "loaded": None}
    b = {"state": {"success": [0, 0], "tries": [0, 0], "best": 1}, "loaded": None}
    assert combine_router([a, b], [INF, INF])["best"] == 1


def bandit(make_engine: Callable[..., GraphEngine], store: Any) -> GraphEngine:
    arms = [py_node(f"a{i}", "Constant", parameters=[
        {"name": "value", "value": str(i), "type": "FLOAT"}]) for i in (0, 1)]
    engine = make_engine({"predictors": [{"name": "main", "graph": {
        "name": "eg", "implementation": "EPSILON_GREEDY", "children": arms}}]},
        name="duo", seed=3)
    engine.state_store = store
    return engine


def test_a_worker_answers_with_its_peers_snapshots(
        make_engine: Callable[..., GraphEngine], tmp_path: Path) -> None:
    saved = MemoryStateStore()
    saved.save("duo", "main/eg", {"success": [0, 4], "tries": [1, 4], "best": 1})
    store = RecordingStateStore(saved)
    engine = bandit(make_engine, store)
    engine.load()
    assert store.loaded == {"main/eg": {"success": [0, 4], "tries": [1, 4], "best": 1}}
    engine.metrics.node_requests.labels("duo", "main", "eg", "ok").inc(3)
    engine.metrics.node_requests.labels("duo", "main", "a1", "ok").inc(3)
    engine.predictors["main"].root.runtime.set_state(
        {"success": [0, 7], "tries": [1, 7], "best": 1})  # learned 3 more here
    peer = StatsBook(engine).snapshot()  # another worker: same graph, other numbers
    peer.update(pid=1, started=peer["started"] - 5.0, loadedAt=0.0, requests=[
        ["main", "eg", "ok", 5.0], ["main", "a0", "ok", 2.0], ["main", "a1", "ok", 3.0]],
        latency=[["main", "eg", [["0.01", 5.0], ["inf", 5.0]], 0.02, 5.0]])
    peer["routers"]["main/eg"] = {"state": {"success": [1, 6], "tries": [3, 6], "best": 1},
                                  "loaded": {"success": [0, 4], "tries": [1, 4], "best": 1}}
    (tmp_path / "worker-1.json").write_text(json.dumps(peer))
    book = StatsBook(engine, share=tmp_path)
    try:
        doc = book.document()
    finally:
        assert book.share is not None
        book.share.close()
    assert doc["workers"] == 2 and doc["requests"] == 8
    assert doc["uptimeSeconds"] >= 5.0  # since the earliest worker started
    arms = doc["routers"][0]["arms"]
    assert [a["pulls"] for a in arms] == [2, 6]
    # restored [0, 4]/[1, 4] once + 3 successes here + (1, 2) successes and 2, 2 tries there
    assert [a["rewards"] for a in arms] == [1.0, 9.0]
    assert [a["feedback"] for a in arms] == [3.0, 9.0]
    mine = json.loads((tmp_path / f"worker-{os.getpid()}.json").read_text())
    assert mine["requests"], "the answering worker published its own snapshot"
    # the rate's window is shared: the next look (by any worker) starts from this one
    rate = json.loads((tmp_path / "rate.json").read_text())
    assert rate["total"] == 8.0


def test_without_a_share_folder_the_numbers_are_this_process(
        make_engine: Callable[..., GraphEngine], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWYARD_SERVING_STATS_DIR", raising=False)
    engine = bandit(make_engine, MemoryStateStore())
    engine.load()
    book = StatsBook(engine)
    assert book.share is None
    doc = book.document()
    assert doc["workers"] == 1 and doc["requests"] == 0
    assert doc["routers"][0]["best"] == 0


def test_a_killed_server_s_share_folder_is_removed_by_the_next_one(tmp_path: Path) -> None:
    import subprocess
    import sys

    from flowyard.serving.stats import make_share, sweep_shares

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = tmp_path / f"flowyard-stats-{gone.stdout.strip()}-iris-abc"   # SIGKILLed server's
    (dead / "workers").mkdir(parents=True)
    alive = tmp_path / f"flowyard-stats-{os.getppid()}-iris-def"          # a running server's
    alive.mkdir()
    other = tmp_path / "flowyard-stats-notapid-x"                         # not one of ours
    other.mkdir()
    share = make_share("iris", tmp_path)
    assert share.name.startswith(f"flowyard-stats-{os.getpid()}-iris-") and share.is_dir()
    assert not dead.exists() and alive.exists() and other.exists()
    assert sweep_shares(tmp_path) == []          # ours and the live one stay


def test_workers_saving_router_state_add_up_their_evidence(tmp_path: Path) -> None:
    from flowyard.serving.state import JsonFileStateStore

    a, b = JsonFileStateStore(tmp_path), JsonFileStateStore(tmp_path)   # two workers
    assert a.load("g") == b.load("g") == {}
    a.save("g", "p/router", {"alpha": [4.0, 1.0], "beta": [1.0, 1.0]})   # 3 wins on arm 0
    b.save("g", "p/router", {"alpha": [1.0, 1.0], "beta": [1.0, 3.0]})   # 2 losses on arm 1
    assert JsonFileStateStore(tmp_path).load("g")["p/router"] == {
        "alpha": [4.0, 1.0], "beta": [1.0, 3.0]}
    a.save("g", "p/router", {"alpha": [5.0, 1.0], "beta": [1.0, 1.0]})   # one more win
    assert JsonFileStateStore(tmp_path).load("g")["p/router"] == {
        "alpha": [5.0, 1.0], "beta": [1.0, 3.0]}
    # Epsilon-greedy counts stay integers; what is not evidence (the best arm) is the saver's.
    b.save("g", "p/eg", {"success": [1, 0], "tries": [2, 1], "best": 0})
    a.save("g", "p/eg", {"success": [0, 2], "tries": [0, 3], "best": 1})
    assert JsonFileStateStore(tmp_path).load("g")["p/eg"] == {
        "success": [1, 2], "tries": [2, 4], "best": 1}
    # One process alone: the file holds exactly its state.
    solo = tmp_path / "solo"
    c = JsonFileStateStore(solo)
    c.load("g")
    for n in range(1, 4):
        c.save("g", "p/router", {"alpha": [1.0 + n, 1.0], "beta": [1.0, 1.0]})
    assert JsonFileStateStore(solo).load("g")["p/router"]["alpha"] == [4.0, 1.0]


def _worker_saves(folder: str, arm: int, times: int) -> None:
    from flowyard.serving.state import JsonFileStateStore

    store = JsonFileStateStore(Path(folder))
    # As a router does: it starts from the state restored at load (the other worker may
    # have saved some already).
    tries = list(store.load("g").get("p/eg", {}).get("tries", [0, 0]))
    state = {"success": [0, 0], "tries": tries, "best": arm}
    for _ in range(times):
        tries[arm] += 1   # in place, as a router counts into the lists its state hands out
        store.save("g", "p/eg", state)


def test_concurrent_workers_lose_no_feedback(tmp_path: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker_saves, args=(str(tmp_path), arm, 150))
             for arm in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    from flowyard.serving.state import JsonFileStateStore

    assert JsonFileStateStore(tmp_path).load("g")["p/eg"]["tries"] == [150, 150]
