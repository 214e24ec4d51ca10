"""Every MetadataStore method, on SQLite and PostgreSQL (the `meta` fixture runs both)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from flowyard.errors import Conflict, InvalidInput, NotFound, StoreError
from flowyard.store.metadata import MetadataStore
from flowyard.store.records import ArtifactRecord, CacheEntry, RunRecord, StepRecord

DIGEST = "blake3:" + "ab" * 32
T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def make_run(run_id: str = "r1", **kw: object) -> RunRecord:
    fields: dict[str, object] = {
        "namespace": "default",
        "pipeline_name": "train",
        "pipeline": {"kind": "Pipeline", "metadata": {"name": "train"}, "spec": {"steps": []}},
        "parameters": {"lr": 0.1, "layers": [1, 2]},
    }
    fields.update(kw)
    return RunRecord(run_id, **fields)  # type: ignore[arg-type]


def make_step(run_id: str, step_id: str, **kw: object) -> StepRecord:
    name = step_id.split("[")[0]
    iteration = int(step_id[len(name) + 1 : -1]) if "[" in step_id else None
    return StepRecord(run_id, step_id, name, iteration, "comp", **kw)  # type: ignore[arg-type]


def make_artifact(
    art_id: str, run_id: str = "r1", step_id: str = "a", **kw: object
) -> ArtifactRecord:
    fields: dict[str, object] = {"name": "out", "type": "Dataset", "digest": DIGEST, "size": 42}
    fields.update(kw)
    return ArtifactRecord(art_id, run_id, step_id, **fields)  # type: ignore[arg-type]


# -- runs ---------------------------------------------------------------------------------


def test_run_roundtrip_keeps_every_field(meta: MetadataStore) -> None:
    run = make_run(
        state="Running",
        options={"cache": True},
        outputs={"acc": 0.9},
        error="boom",
        created_at=T0,
        started_at=T0 + timedelta(seconds=1),
        finished_at=T0 + timedelta(seconds=2),
        driver_pid=1234,
        driver_host="box",
        labels={"team": "ml"},
    )
    meta.create_run(run)
    got = meta.get_run("r1")
    assert got == run
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == timedelta(0)


def test_non_finite_floats_come_back_as_floats(meta: MetadataStore) -> None:
    """JSON has no Infinity/NaN and PostgreSQL refuses Python's bare tokens for them: they
    are stored as marker objects and read back as floats, in lists and dicts too."""
    params = {"t": math.inf, "low": -math.inf, "odd": [1.5, math.nan],
              "nested": {"x": math.inf}, "text": "$nonfinite is just text"}
    meta.create_run(make_run(parameters=params, outputs={"best": -math.inf}))
    got = meta.get_run("r1")
    assert got.parameters["t"] == math.inf and got.parameters["low"] == -math.inf
    assert got.parameters["odd"][0] == 1.5 and math.isnan(got.parameters["odd"][1])
    assert got.parameters["nested"] == {"x": math.inf}
    assert got.parameters["text"] == "$nonfinite is just text"
    assert got.outputs == {"best": -math.inf}
    meta.save_step(make_step("r1", "a", outputs={"Output": math.inf}))
    assert meta.get_step("r1", "a").outputs == {"Output": math.inf}


def test_timestamps_come_back_aware_utc(meta: MetadataStore) -> None:
    plus2 = timezone(timedelta(hours=2))
    meta.create_run(make_run(created_at=datetime(2026, 1, 1, 12, 0, tzinfo=plus2)))
    meta.update_run("r1", started_at=datetime(2026, 1, 1, 11, 0))  # naive is taken as UTC
    got = meta.get_run("r1")
    assert got.created_at == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert got.created_at.tzinfo == UTC
    assert got.started_at == datetime(2026, 1, 1, 11, 0, tzinfo=UTC)


def test_get_run_missing_names_the_id(meta: MetadataStore) -> None:
    with pytest.raises(NotFound) as info:
        meta.get_run("nope-123")
    assert "run 'nope-123' not found" in str(info.value)
    assert info.value.hint == "flowyard runs list"


def test_create_run_twice_conflicts(meta: MetadataStore) -> None:
    meta.create_run(make_run())
    with pytest.raises(Conflict, match="run 'r1' already exists"):
        meta.create_run(make_run())


def test_create_run_rejects_steps_of_another_run(meta: MetadataStore) -> None:
    with pytest.raises(InvalidInput, match=r"step 'a' has run_id 'other'.*run 'r1'"):
        meta.create_run(make_run(), [make_step("other", "a")])
    with pytest.raises(NotFound):
        meta.get_run("r1")


def test_list_runs_newest_first_with_filters_and_paging(meta: MetadataStore) -> None:
    for i in range(5):
        meta.create_run(
            make_run(
                f"r{i}",
                namespace="a" if i % 2 else "b",
                pipeline_name="p" if i < 3 else "q",
                state="Succeeded" if i == 4 else "Pending",
                created_at=T0 + timedelta(minutes=i),
            )
        )
    assert [r.id for r in meta.list_runs()] == ["r4", "r3", "r2", "r1", "r0"]
    assert [r.id for r in meta.list_runs(namespace="a")] == ["r3", "r1"]
    assert [r.id for r in meta.list_runs(pipeline="q")] == ["r4", "r3"]
    assert [r.id for r in meta.list_runs(state="Succeeded")] == ["r4"]
    assert [r.id for r in meta.list_runs(namespace="b", pipeline="p")] == ["r2", "r0"]
    assert [r.id for r in meta.list_runs(limit=2, offset=1)] == ["r3", "r2"]
    assert meta.list_runs(namespace="none") == []


def test_update_run_changes_fields_and_returns_the_record(meta: MetadataStore) -> None:
    meta.create_run(make_run())
    got = meta.update_run("r1", state="Succeeded", outputs={"m": 1}, finished_at=T0)
    assert (got.state, got.outputs, got.finished_at) == ("Succeeded", {"m": 1}, T0)
    assert meta.get_run("r1") == got


def test_update_run_unknown_field_is_a_type_error(meta: MetadataStore) -> None:
    meta.create_run(make_run())
    with pytest.raises(TypeError, match="bogus"):
        meta.update_run("r1", bogus=1)
    with pytest.raises(TypeError, match="id"):
        meta.update_run("r1", id="r2")


def test_update_run_missing(meta: MetadataStore) -> None:
    with pytest.raises(NotFound, match="run 'ghost' not found"):
        meta.update_run("ghost", state="Failed")


def test_delete_run_removes_steps_artifacts_and_cache(meta: MetadataStore) -> None:
    meta.create_run(make_run(), [make_step("r1", "a")])
    meta.create_run(make_run("r2"), [make_step("r2", "b", input_artifacts={"x": "art1"})])
    meta.finish_step(
        make_step("r1", "a", state="Succeeded"),
        [make_artifact("art1")],
        CacheEntry("k1", "r1", "a", {}, {"out": "art1"}),
    )
    meta.delete_run("r1")
    with pytest.raises(NotFound):
        meta.get_run("r1")
    assert meta.list_artifacts(run_id="r1") == []
    assert meta.cache_get("k1") is None
    assert meta.get_steps("r2")[0].id == "b"  # other runs untouched
    with pytest.raises(NotFound, match="run 'r1' not found"):
        meta.delete_run("r1")


# -- steps --------------------------------------------------------------------------------


def test_steps_come_back_in_creation_order(meta: MetadataStore) -> None:
    ids = ["zeta", "alpha", "mid"]
    meta.create_run(make_run(), [make_step("r1", s) for s in ids])
    meta.save_step(make_step("r1", "loop[1]"))
    meta.save_step(make_step("r1", "loop[0]"))
    meta.save_step(make_step("r1", "alpha", state="Running"))  # an update keeps its place
    steps = meta.get_steps("r1")
    assert [s.id for s in steps] == [*ids, "loop[1]", "loop[0]"]
    assert steps[1].state == "Running"
    assert (steps[3].name, steps[3].iteration) == ("loop", 1)


def test_step_roundtrip_keeps_every_field(meta: MetadataStore) -> None:
    meta.create_run(make_run())
    step = make_step(
        "r1",
        "train[2]",
        state="Failed",
        attempt=3,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=5),
        cache_hit=True,
        cache_key="k" * 64,
        inputs={"lr": 0.5, "nested": {"a": [1, None]}},
        outputs={"loss": 1.5},
        input_artifacts={"data": "art-in"},
        output_artifacts={"model": "art-out"},
        exit_code=137,
        error="killed",
        log_path="/logs/x.log",
        log_digest=DIGEST,
        resources={"cpu": "1"},
        pid=99,
    )
    meta.save_step(step)
    assert meta.get_step("r1", "train[2]") == step


def test_save_step_upserts(meta: MetadataStore) -> None:
    meta.create_run(make_run(), [make_step("r1", "a")])
    meta.save_step(make_step("r1", "a", state="Running", attempt=1))
    got = meta.get_step("r1", "a")
    assert (got.state, got.attempt) == ("Running", 1)
    assert len(meta.get_steps("r1")) == 1


def test_save_steps_batch(meta: MetadataStore) -> None:
    meta.create_run(make_run(), [make_step("r1", "a")])
    meta.save_steps([make_step("r1", "a", state="Skipped"), make_step("r1", "b", state="Omitted")])
    assert [(s.id, s.state) for s in meta.get_steps("r1")] == [("a", "Skipped"), ("b", "Omitted")]
    meta.save_steps([])


def test_save_step_for_missing_run_conflicts(meta: MetadataStore) -> None:
    with pytest.raises(Conflict, match="metadata store"):
        meta.save_step(make_step("ghost", "a"))


def test_get_step_missing(meta: MetadataStore) -> None:
    meta.create_run(make_run())
    with pytest.raises(NotFound, match=r"step 'nope\[3\]' not found in run 'r1'"):
        meta.get_step("r1", "nope[3]")
    with pytest.raises(NotFound, match="run 'ghost' not found"):
        meta.get_step("ghost", "a")
    with pytest.raises(NotFound, match="run 'ghost' not found"):
        meta.get_steps("ghost")
    assert meta.get_steps("r1") == []


def test_finish_step_writes_step_artifacts_and_cache(meta: MetadataStore) -> None:
    meta.create_run(make_run(), [make_step("r1", "a")])
    step = make_step("r1", "a", state="Succeeded", output_artifacts={"out": "art1"})
    entry = CacheEntry("key1", "r1", "a", {"y": 2}, {"out": "art1"}, created_at=T0)
    art = make_artifact("art1", is_tree=True, uri="s3://b/x", metadata={"rows": 3}, created_at=T0)
    meta.finish_step(step, [art], entry)
    assert meta.get_step("r1", "a") == step
    assert meta.get_artifact("art1") == art
    assert meta.cache_get("key1") == entry


def test_finish_step_is_atomic(meta: MetadataStore) -> None:
    meta.create_run(make_run(), [make_step("r1", "a", state="Running")])
    step = make_step("r1", "a", state="Succeeded", input_artifacts={"in": "art0"})
    bad_cache = CacheEntry("key1", "r1", "a", {"y": object()}, {})
    with pytest.raises(InvalidInput, match="JSON"):
        meta.finish_step(step, [make_artifact("art1")], bad_cache)
    assert meta.get_step("r1", "a").state == "Running"
    assert meta.list_artifacts(run_id="r1") == []
    assert meta.cache_get("key1") is None
    assert meta.artifact_consumers("art0") == []
    # a database-side failure (artifact of a run that does not exist) rolls back the same way
    with pytest.raises(Conflict):
        meta.finish_step(step, [make_artifact("art1"), make_artifact("art2", run_id="ghost")])
    assert meta.get_step("r1", "a").state == "Running"
    assert meta.list_artifacts() == []


def test_finish_step_retry_is_idempotent(meta: MetadataStore) -> None:
    meta.create_run(make_run(), [make_step("r1", "a")])
    for _ in range(2):
        meta.finish_step(make_step("r1", "a", state="Succeeded"), [make_artifact("art1")])
    assert [a.id for a in meta.list_artifacts(run_id="r1")] == ["art1"]


def test_non_json_values_are_invalid_input(meta: MetadataStore) -> None:
    meta.create_run(make_run())
    with pytest.raises(InvalidInput, match="JSON"):
        meta.save_step(make_step("r1", "a", outputs={"when": datetime.now(UTC)}))


# -- artifacts and lineage ----------------------------------------------------------------


def test_artifacts_listing_and_lineage(meta: MetadataStore) -> None:
    meta.create_run(make_run(), [make_step("r1", "a"), make_step("r1", "b")])
    other = "blake3:" + "cd" * 32
    meta.finish_step(
        make_step("r1", "a", state="Succeeded"),
        [
            make_artifact("art1", created_at=T0),
            make_artifact("art2", digest=other, created_at=T0 + timedelta(seconds=1)),
        ],
    )
    meta.create_run(make_run("r2"), [make_step("r2", "c", input_artifacts={"data": "art1"})])
    meta.save_step(make_step("r1", "b", input_artifacts={"x": "art1", "y": "art2"}))
    meta.finish_step(make_step("r2", "c", input_artifacts={"data": "art1"}, state="Succeeded"))

    assert [a.id for a in meta.list_artifacts(run_id="r1")] == ["art1", "art2"]
    assert [a.id for a in meta.list_artifacts(digest=other)] == ["art2"]
    assert [a.id for a in meta.list_artifacts(run_id="r2")] == []
    assert meta.artifact_consumers("art1") == [("r1", "b"), ("r2", "c")]
    assert meta.artifact_consumers("art2") == [("r1", "b")]
    # re-saving a step replaces its inputs in the lineage index
    meta.save_step(make_step("r1", "b", input_artifacts={"y": "art2"}))
    assert meta.artifact_consumers("art1") == [("r2", "c")]


def test_get_artifact_missing(meta: MetadataStore) -> None:
    with pytest.raises(NotFound, match="artifact 'art-x' not found"):
        meta.get_artifact("art-x")


# -- cache --------------------------------------------------------------------------------


def test_cache_put_get_clear(meta: MetadataStore) -> None:
    meta.create_run(make_run())
    assert meta.cache_get("k") is None
    meta.cache_put(CacheEntry("k", "r1", "a", {"y": 1}, {"m": "art1"}, created_at=T0))
    meta.cache_put(CacheEntry("k", "r1", "b", {"y": 2}, {}, created_at=T0))  # replaces
    meta.cache_put(CacheEntry("k2", "r1", "a", {}, {}, created_at=T0))
    got = meta.cache_get("k")
    assert got == CacheEntry("k", "r1", "b", {"y": 2}, {}, created_at=T0)
    assert meta.cache_clear() == 2
    assert meta.cache_get("k") is None
    assert meta.cache_clear() == 0


# -- generic resources --------------------------------------------------------------------


def body(spec: dict[str, object], labels: dict[str, str] | None = None) -> dict[str, object]:
    return {"kind": "Model", "metadata": {"name": "m", "labels": labels or {}}, "spec": spec}


def test_resource_generation_bumps_only_on_spec_change(meta: MetadataStore) -> None:
    assert meta.put_resource("Model", "default", "m", body({"v": 1})) == 1
    assert meta.put_resource("Model", "default", "m", body({"v": 1}, {"x": "y"})) == 1
    assert meta.put_resource("Model", "default", "m", body({"v": 2})) == 2
    got = meta.get_resource("Model", "default", "m")
    assert got["spec"] == {"v": 2}
    assert got["metadata"]["generation"] == 2


def test_a_resource_gets_a_uid_when_created_and_keeps_it(meta: MetadataStore) -> None:
    meta.put_resource("Model", "default", "m", body({"v": 1}))
    uid = meta.get_resource("Model", "default", "m")["metadata"]["uid"]
    assert str(uuid.UUID(uid)) == uid
    forged = body({"v": 2})
    forged["metadata"]["uid"] = "another"   # type: ignore[index]
    meta.put_resource("Model", "default", "m", forged)   # a controller writing it back
    assert meta.get_resource("Model", "default", "m")["metadata"]["uid"] == uid
    meta.delete_resource("Model", "default", "m")
    meta.put_resource("Model", "default", "m", body({"v": 1}))
    assert meta.get_resource("Model", "default", "m")["metadata"]["uid"] != uid


def test_list_and_delete_resources(meta: MetadataStore) -> None:
    meta.put_resource("Model", "a", "m1", body({}, {"team": "x"}))
    meta.put_resource("Model", "b", "m2", body({}, {"team": "y"}))
    meta.put_resource("Model", "a", "m0", body({}, {"team": "y", "tier": "1"}))
    meta.put_resource("Dataset", "a", "d", body({}))
    names = [b["metadata"]["name"] for b in meta.list_resources("Model")]
    assert len(names) == 3
    assert [b["spec"] for b in meta.list_resources("Model", "a")] == [{}, {}]
    assert len(meta.list_resources("Model", labels={"team": "y"})) == 2
    assert len(meta.list_resources("Model", "a", labels={"team": "y", "tier": "1"})) == 1
    meta.delete_resource("Model", "a", "m1")
    assert len(meta.list_resources("Model")) == 2
    with pytest.raises(NotFound, match="Model 'm1' not found in namespace 'a'"):
        meta.delete_resource("Model", "a", "m1")
    with pytest.raises(NotFound, match="Model 'm1' not found in namespace 'a'"):
        meta.get_resource("Model", "a", "m1")


def test_closed_store_refuses_work(db_url: str) -> None:
    store = MetadataStore(db_url)
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.get_run("r1")


def test_unknown_states_are_invalid_input(meta: MetadataStore) -> None:
    with pytest.raises(InvalidInput, match="run 'r1': state 'Runing' is not one of Pending"):
        meta.create_run(make_run(state="Runing"))
    meta.create_run(make_run())
    with pytest.raises(InvalidInput, match="run 'r1': state 'Done' is not one of"):
        meta.update_run("r1", state="Done")
    with pytest.raises(InvalidInput, match=r"step 'a\[0\]' of run 'r1': state 'ok'"):
        meta.save_step(make_step("r1", "a[0]", state="ok"))
    with pytest.raises(InvalidInput, match=r"list_runs.*'Finished'"):
        meta.list_runs(state="Finished")


def test_public_names_resolve() -> None:
    import flowyard.store as store

    for name in store.__all__:
        assert getattr(store, name) is not None
    with pytest.raises(AttributeError, match="nope"):
        _ = store.nope
