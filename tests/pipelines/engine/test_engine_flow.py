"""Data flow through the engine: chains, loops, conditions, artifacts, parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_helpers import pipeline, py, step_map

from flowyard.errors import Conflict, InvalidInput
from flowyard.pipelines.engine import Engine
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore

ADD_ONE = py("""
    def add_one(x: int) -> int:
        print("adding one to", x)
        return x + 1
""", params={"x": "int"}, outputs={"Output": "int"})


def test_chain_passes_outputs_and_records_logs(engine: Engine, metadata: MetadataStore,
                                              objects: ObjectStore, recorder: object) -> None:
    p = pipeline("chain", {"add-one": ADD_ONE}, [
        {"name": "a", "component": "add-one", "arguments": {"x": {"parameter": "x"}}},
        {"name": "b", "component": "add-one", "arguments":
         {"x": {"step": "a", "output": "Output"}}},
        {"name": "c", "component": "add-one", "arguments":
         {"x": {"step": "b", "output": "Output"}}},
    ], parameters=[{"name": "x", "type": "int", "default": 1}],
        outputs={"result": {"step": "c", "output": "Output"}})
    run = engine.run(p, {"x": 10}, on_event=recorder)  # type: ignore[arg-type]
    assert run.state == "Succeeded", run.error
    assert run.outputs == {"result": 13}
    assert run.driver_pid is not None and run.finished_at is not None
    steps = step_map(metadata, run.id)
    assert [steps[s].outputs["Output"] for s in "abc"] == [11, 12, 13]
    assert steps["b"].inputs == {"x": 11}
    log = Path(steps["b"].log_path)
    assert log.read_text().splitlines() == ["--- attempt 1 ---", "adding one to 11"]
    assert objects.get_bytes(steps["b"].log_digest) == log.read_bytes()
    events = recorder.events  # type: ignore[attr-defined]
    assert [e.state for e in events if e.kind == "run"] == ["Running", "Succeeded"]
    assert recorder.states("a") == ["Running", "Succeeded"]  # type: ignore[attr-defined]
    assert events[-1].total == 3 and events[-1].done == 3


def test_fan_out_and_collect_in_iteration_order(engine: Engine, metadata: MetadataStore) -> None:
    square = py("""
        def square(n: int) -> int:
            import time
            time.sleep(0.05 * (3 - n % 3))   # later items finish first
            return n * n
    """, params={"n": "int"}, outputs={"Output": "int"})
    total = py("""
        def total(values: list) -> str:
            return ",".join(str(v) for v in values)
    """, params={"values": "list"}, outputs={"Output": "str"})
    p = pipeline("fan", {"square": square, "total": total}, [
        {"name": "sq", "component": "square", "forEach": {"parameter": "ns"},
         "parallelism": 2, "arguments": {"n": {"item": True}}},
        {"name": "sum", "component": "total",
         "arguments": {"values": {"step": "sq", "output": "Output", "collect": True}}},
    ], parameters=[{"name": "ns", "type": "list", "default": [1, 2, 3, 4, 5]}])
    run = engine.run(p)
    assert run.state == "Succeeded", run.error
    steps = step_map(metadata, run.id)
    assert steps["sum"].outputs["Output"] == "1,4,9,16,25"
    assert [steps[f"sq[{i}]"].iteration for i in range(5)] == list(range(5))
    assert steps["sq"].state == "Succeeded"
    assert steps["sq"].outputs == {"Output": [1, 4, 9, 16, 25]}


def test_loop_parallelism_limit_is_respected(engine: Engine, metadata: MetadataStore,
                                             tmp_path: Path) -> None:
    probe = py(f"""
        def probe(i: int) -> int:
            import os, time
            marker = os.path.join({str(tmp_path)!r}, f"running-{{i}}")
            open(marker, "w").close()
            time.sleep(0.15)
            count = len([n for n in os.listdir({str(tmp_path)!r}) if n.startswith("running-")])
            os.remove(marker)
            return count
    """, params={"i": "int"}, outputs={"Output": "int"})
    p = pipeline("limit", {"probe": probe}, [
        {"name": "p", "component": "probe", "forEach": [0, 1, 2, 3], "parallelism": 1,
         "arguments": {"i": {"item": True}}},
    ])
    run = Engine(metadata, engine.objects, engine.settings, workers=2).run(p)
    assert run.state == "Succeeded", run.error
    assert all(s.outputs.get("Output") == 1 for s in metadata.get_steps(run.id)
               if s.iteration is not None)


def test_dynamic_fan_out_with_iteration_wise_wiring(engine: Engine,
                                                   metadata: MetadataStore) -> None:
    make = py("""
        def make(n: int) -> list:
            return [{"name": f"m{i}", "k": i} for i in range(n)]
    """, params={"n": "int"}, outputs={"Output": "list"})
    first = py("""
        def first(k: int) -> int:
            return k * 10
    """, params={"k": "int"}, outputs={"Output": "int"})
    second = py("""
        def second(v: int, name: str) -> str:
            return f"{name}={v + 1}"
    """, params={"v": "int", "name": "str"}, outputs={"Output": "str"})
    join = py("""
        def join(parts: list) -> str:
            return ";".join(parts)
    """, params={"parts": "list"}, outputs={"Output": "str"})
    loop = {"step": "make", "output": "Output"}
    p = pipeline("dyn", {"make": make, "first": first, "second": second, "join": join}, [
        {"name": "make", "component": "make", "arguments": {"n": 3}},
        {"name": "first", "component": "first", "forEach": loop,
         "arguments": {"k": {"item": "k"}}},
        {"name": "second", "component": "second", "forEach": loop,
         "arguments": {"v": {"step": "first", "output": "Output"}, "name": {"item": "name"}}},
        {"name": "join", "component": "join",
         "arguments": {"parts": {"step": "second", "output": "Output", "collect": True}}},
    ], outputs={"joined": {"step": "join", "output": "Output"}})
    run = engine.run(p)
    assert run.state == "Succeeded", run.error
    assert run.outputs == {"joined": "m0=1;m1=11;m2=21"}
    steps = step_map(metadata, run.id)
    assert {k for k in steps if k.startswith("second[")} == {"second[0]", "second[1]", "second[2]"}


def test_empty_loop_collects_an_empty_list(engine: Engine, metadata: MetadataStore) -> None:
    noop = py("""
        def noop(i: int) -> int:
            return i
    """, params={"i": "int"}, outputs={"Output": "int"})
    count = py("""
        def count(xs: list) -> int:
            return len(xs)
    """, params={"xs": "list"}, outputs={"Output": "int"})
    p = pipeline("empty", {"noop": noop, "count": count}, [
        {"name": "l", "component": "noop", "forEach": {"value": []},
         "arguments": {"i": {"item": True}}},
        {"name": "c", "component": "count",
         "arguments": {"xs": {"step": "l", "output": "Output", "collect": True}}},
    ])
    run = engine.run(p)
    assert run.state == "Succeeded", run.error
    assert step_map(metadata, run.id)["c"].outputs == {"Output": 0}


def test_conditions_true_false_elif_and_skip_propagation(engine: Engine,
                                                        metadata: MetadataStore) -> None:
    flip = py("""
        def flip(v: str) -> str:
            return v
    """, params={"v": "str"}, outputs={"Output": "str"})
    say = py("""
        def say(text: str) -> str:
            return text
    """, params={"text": "str"}, outputs={"Output": "str"})
    coin = {"step": "coin", "output": "Output"}
    heads = {"op": "==", "left": coin, "right": "heads"}
    tails = {"op": "==", "left": coin, "right": "tails"}
    p = pipeline("cond", {"flip": flip, "say": say}, [
        {"name": "coin", "component": "flip", "arguments": {"v": {"parameter": "side"}}},
        {"name": "if-heads", "component": "say", "when": heads, "arguments": {"text": "H"}},
        {"name": "elif-tails", "component": "say",
         "when": {"all": [{"not": heads}, tails]}, "arguments": {"text": "T"}},
        {"name": "else", "component": "say",
         "when": {"all": [{"not": heads}, {"not": tails}]}, "arguments": {"text": "E"}},
        {"name": "uses-heads", "component": "say",
         "arguments": {"text": {"step": "if-heads", "output": "Output"}}},
        {"name": "after-heads", "component": "say", "after": ["if-heads"],
         "arguments": {"text": "after"}},
    ], parameters=[{"name": "side", "type": "str"}])
    expect = {
        "heads": {"if-heads": "Succeeded", "elif-tails": "Skipped", "else": "Skipped",
                  "uses-heads": "Succeeded"},
        "tails": {"if-heads": "Skipped", "elif-tails": "Succeeded", "else": "Skipped",
                  "uses-heads": "Skipped"},
        "edge": {"if-heads": "Skipped", "elif-tails": "Skipped", "else": "Succeeded",
                 "uses-heads": "Skipped"},
    }
    for side, states in expect.items():
        run = engine.run(p, {"side": side}, cache=False)
        assert run.state == "Succeeded", run.error
        steps = step_map(metadata, run.id)
        assert {k: steps[k].state for k in states} == states, side
        assert steps["after-heads"].state == "Succeeded"   # `after` a Skipped step still runs


def test_artifacts_flow_between_steps(engine: Engine, metadata: MetadataStore,
                                      objects: ObjectStore) -> None:
    write = py("""
        def write(rows: int, data: Output[Dataset], metrics: Output[Metrics],
                  folder: Output[Artifact]):
            import os
            with open(data.path, "w") as f:
                f.write("\\n".join(str(i) for i in range(rows)))
            data.metadata["rows"] = rows
            metrics.log_metric("rows", rows)
            os.makedirs(folder.path)
            with open(os.path.join(folder.path, "a.txt"), "w") as f:
                f.write("A")
    """, params={"rows": "int"},
        outputs_art={"data": "Dataset", "metrics": "Metrics", "folder": "Artifact"})
    read = py("""
        def read(data: Input[Dataset], folder: Input[Artifact]) -> int:
            import os
            assert open(os.path.join(folder.path, "a.txt")).read() == "A"
            assert data.metadata["rows"] == 4
            return len(open(data.path).read().splitlines())
    """, inputs_art={"data": "Dataset", "folder": "Artifact"}, outputs={"Output": "int"})
    p = pipeline("arts", {"write": write, "read": read}, [
        {"name": "w", "component": "write", "arguments": {"rows": 4}},
        {"name": "r", "component": "read",
         "arguments": {"data": {"step": "w", "output": "data"},
                       "folder": {"step": "w", "output": "folder"}}},
    ], outputs={"data": {"step": "w", "output": "data"}})
    run = engine.run(p)
    assert run.state == "Succeeded", run.error
    steps = step_map(metadata, run.id)
    assert steps["r"].outputs == {"Output": 4}
    arts = {a.name: a for a in metadata.list_artifacts(run_id=run.id)}
    assert run.outputs == {"data": arts["data"].id}
    assert objects.get_bytes(arts["data"].digest) == b"0\n1\n2\n3"
    assert arts["data"].type == "Dataset" and arts["data"].metadata == {"rows": 4}
    assert json.loads(objects.get_bytes(arts["metrics"].digest)) == {"rows": 4}
    assert arts["folder"].is_tree and objects.is_tree(arts["folder"].digest)
    assert steps["r"].input_artifacts == {"data": arts["data"].id, "folder": arts["folder"].id}
    assert metadata.artifact_consumers(arts["data"].id) == [(run.id, "r")]


def test_wrong_return_type_fails_the_step(engine: Engine, metadata: MetadataStore) -> None:
    bad = py("""
        def bad() -> int:
            return "seven"
    """, outputs={"Output": "int"})
    run = engine.run(pipeline("badret", {"bad": bad}, [{"name": "b", "component": "bad"}]))
    assert run.state == "Failed"
    error = step_map(metadata, run.id)["b"].error
    assert "output 'Output'" in error and "expected int" in error and "'seven'" in error


def test_parameter_errors_name_the_parameter(engine: Engine) -> None:
    p = pipeline("params", {"add-one": ADD_ONE}, [
        {"name": "a", "component": "add-one", "arguments": {"x": {"parameter": "x"}}},
    ], parameters=[{"name": "x", "type": "int"}])
    with pytest.raises(InvalidInput, match=r"unknown parameter 'y'.*takes: x"):
        engine.submit(p, {"x": 1, "y": 2})
    with pytest.raises(InvalidInput, match=r"parameter 'x': 'abc' is not a int"):
        engine.submit(p, {"x": "abc"})
    with pytest.raises(InvalidInput, match=r"parameter 'x' \(int\) is required"):
        engine.submit(p, {})


def test_submit_records_pending_and_execute_twice_conflicts(engine: Engine,
                                                           metadata: MetadataStore) -> None:
    p = pipeline("twice", {"add-one": ADD_ONE}, [
        {"name": "a", "component": "add-one", "arguments": {"x": 1}}])
    run = engine.submit(p, labels={"team": "ml"})
    assert metadata.get_run(run.id).state == "Pending"
    assert [s.state for s in metadata.get_steps(run.id)] == ["Pending"]
    assert engine.execute(run.id).state == "Succeeded"
    with pytest.raises(Conflict, match=rf"run '{run.id}' is Succeeded, not Pending"):
        engine.execute(run.id)
    with pytest.raises(Conflict, match="use retry"):
        engine.resume(run.id)
    with pytest.raises(Conflict, match="nothing to cancel"):
        engine.cancel(run.id)


def test_large_outputs_travel_through_a_result_file(engine: Engine,
                                                    metadata: MetadataStore) -> None:
    big = py("""
        def big(n: int) -> str:
            return "x" * n
    """, params={"n": "int"}, outputs={"Output": "str"})
    size = py("""
        def size(s: str) -> int:
            return len(s)
    """, params={"s": "str"}, outputs={"Output": "int"})
    p = pipeline("bigout", {"big": big, "size": size}, [
        {"name": "big", "component": "big", "arguments": {"n": 100_000}},
        {"name": "size", "component": "size",
         "arguments": {"s": {"step": "big", "output": "Output"}}},
    ])
    run = engine.run(p)
    assert run.state == "Succeeded", run.error
    assert step_map(metadata, run.id)["size"].outputs == {"Output": 100_000}


def test_steps_do_not_inherit_the_zygotes_ld_bind_now(engine: Engine, metadata: MetadataStore,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The pool starts the zygote with LD_BIND_NOW (fewer copy-on-write faults per step);
    # the zygote drops it again so that commands a step runs start as they would anyway.
    monkeypatch.delenv("LD_BIND_NOW", raising=False)
    probe = py("""
        def probe() -> str:
            import os
            return os.environ.get("LD_BIND_NOW", "unset")
    """, outputs={"Output": "str"})
    run = engine.run(pipeline("bindnow", {"probe": probe}, [{"name": "p", "component": "probe"}]))
    assert run.state == "Succeeded", run.error
    assert step_map(metadata, run.id)["p"].outputs == {"Output": "unset"}
