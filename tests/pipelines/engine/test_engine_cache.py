"""The step cache (content-addressed keys) and container steps."""

from __future__ import annotations

from pathlib import Path

from engine_helpers import pipeline, py, step_map

from flowyard.pipelines.engine import Engine
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore


def _counting_pipeline(source_file: Path, counter: Path, *, step_cache: bool = True) -> object:
    # `load` copies an external file into a Dataset (never cached, so it re-reads the file);
    # `count` reads that Dataset and counts its own executions in `counter`.
    load = py("""
        def load(src: str, data: Output[Dataset]) -> None:
            import shutil
            shutil.copy(src, data.path)
    """, params={"src": "str"}, outputs_art={"data": "Dataset"})
    count = py(f"""
        def count(data: Input[Dataset]) -> int:
            with open({str(counter)!r}, "a") as f:
                f.write("x")
            return len(open(data.path).read())
    """, inputs_art={"data": "Dataset"}, outputs={"Output": "int"})
    return pipeline("cache", {"load": load, "count": count}, [
        {"name": "load", "component": "load", "cache": False,
         "arguments": {"src": str(source_file)}},
        {"name": "count", "component": "count", "cache": step_cache,
         "arguments": {"data": {"step": "load", "output": "data"}}},
    ])


def test_cache_hits_on_same_content_and_misses_when_content_changes(
        engine: Engine, metadata: MetadataStore, tmp_path: Path, recorder: object) -> None:
    source, counter = tmp_path / "input.txt", tmp_path / "count"
    source.write_text("hello")
    p = _counting_pipeline(source, counter)
    first = engine.run(p)  # type: ignore[arg-type]
    assert first.state == "Succeeded" and counter.read_text() == "x"

    second = engine.run(p, on_event=recorder)  # type: ignore[arg-type]
    steps = step_map(metadata, second.id)
    assert steps["count"].state == "Cached" and steps["count"].cache_hit
    assert steps["count"].outputs == {"Output": 5}
    assert steps["load"].state == "Succeeded"          # cache: false on the step
    assert counter.read_text() == "x"                   # no process started for the hit
    hit = [e for e in recorder.events if e.step_id == "count"]  # type: ignore[attr-defined]
    assert [e.state for e in hit] == ["Cached"] and "cache hit" in (hit[0].message or "")

    source.write_text("hello, world")                   # same path, new content
    third = engine.run(p)  # type: ignore[arg-type]
    steps = step_map(metadata, third.id)
    assert steps["count"].state == "Succeeded" and steps["count"].outputs == {"Output": 12}
    assert counter.read_text() == "xx"


def test_cached_artifacts_reuse_digests(engine: Engine, metadata: MetadataStore,
                                        objects: ObjectStore) -> None:
    make = py("""
        def make(model: Output[Model]) -> None:
            open(model.path, "w").write("weights")
            model.metadata["framework"] = "toy"
    """, outputs_art={"model": "Model"})
    p = pipeline("cachedart", {"make": make}, [{"name": "m", "component": "make"}],
                 outputs={"model": {"step": "m", "output": "model"}})
    first, second = engine.run(p), engine.run(p)
    assert step_map(metadata, second.id)["m"].state == "Cached"
    a1 = metadata.get_artifact(first.outputs["model"])
    a2 = metadata.get_artifact(second.outputs["model"])
    assert a1.id != a2.id and a2.run_id == second.id
    assert a1.digest == a2.digest and a2.metadata == {"framework": "toy"}
    assert objects.get_bytes(a2.digest) == b"weights"


def test_cache_off_per_step_per_pipeline_and_per_run(engine: Engine, metadata: MetadataStore,
                                                     tmp_path: Path) -> None:
    source, counter = tmp_path / "input.txt", tmp_path / "count"
    source.write_text("abc")
    engine.run(_counting_pipeline(source, counter))  # type: ignore[arg-type]
    engine.run(_counting_pipeline(source, counter, step_cache=False))  # type: ignore[arg-type]
    assert counter.read_text() == "xx"                  # per step
    engine.run(_counting_pipeline(source, counter), cache=False)  # type: ignore[arg-type]
    assert counter.read_text() == "xxx"                 # per run
    p = _counting_pipeline(source, counter)
    p.spec.cache = False
    engine.run(p)  # type: ignore[arg-type]
    assert counter.read_text() == "xxxx"                # per pipeline
    engine.run(_counting_pipeline(source, counter))  # type: ignore[arg-type]
    assert counter.read_text() == "xxxx"                # and back on: a hit


def test_failed_steps_are_not_cached(engine: Engine, metadata: MetadataStore,
                                     tmp_path: Path) -> None:
    flag = tmp_path / "ok"
    gate = py(f"""
        def gate() -> str:
            import os
            if not os.path.exists({str(flag)!r}):
                raise RuntimeError("not yet")
            return "open"
    """, outputs={"Output": "str"})
    p = pipeline("nocachefail", {"gate": gate}, [{"name": "g", "component": "gate"}])
    assert engine.run(p).state == "Failed"
    flag.write_text("")
    run = engine.run(p)
    assert run.state == "Succeeded"
    assert step_map(metadata, run.id)["g"].state == "Succeeded"


def test_container_step_substitutes_placeholders(engine: Engine, metadata: MetadataStore,
                                                 objects: ObjectStore,
                                                 recorder: object) -> None:
    write = py("""
        def write(data: Output[Dataset]) -> None:
            open(data.path, "w").write("line1\\nline2\\n")
    """, outputs_art={"data": "Dataset"})
    shell = {
        "inputs": {"parameters": [{"name": "msg", "type": "str"}, {"name": "n", "type": "int"}],
                   "artifacts": [{"name": "data", "type": "Dataset"}]},
        "outputs": {"parameters": [{"name": "lines", "type": "int"},
                                   {"name": "echo", "type": "str"}],
                    "artifacts": [{"name": "copy", "type": "Dataset"}]},
        "container": {
            "image": "alpine:3.20",
            "command": ["sh", "-c"],
            "args": ['echo "$0 x$1" > "$2"; wc -l < "$3" > "$4"; cp "$3" "$5"; echo to-log',
                     "{{inputs.parameters.msg}}", "{{inputs.parameters.n}}",
                     "{{outputs.parameters.echo.path}}", "{{inputs.artifacts.data.path}}",
                     "{{outputs.parameters.lines.path}}", "{{outputs.artifacts.copy.path}}"],
        },
    }
    p = pipeline("container", {"write": write, "shell": shell}, [
        {"name": "w", "component": "write"},
        {"name": "sh", "component": "shell",
         "arguments": {"msg": "hi there", "n": 3, "data": {"step": "w", "output": "data"}}},
    ])
    run = engine.run(p, on_event=recorder)  # type: ignore[arg-type]
    assert run.state == "Succeeded", run.error
    step = step_map(metadata, run.id)["sh"]
    assert step.outputs == {"lines": 2, "echo": "hi there x3"}
    copy = metadata.get_artifact(step.output_artifacts["copy"])
    assert objects.get_bytes(copy.digest) == b"line1\nline2\n"
    log = Path(step.log_path).read_text()
    assert "image 'alpine:3.20' is not used locally" in log and "to-log" in log
    warnings = [e.message for e in recorder.events  # type: ignore[attr-defined]
                if e.step_id == "sh" and e.state == "Running"]
    assert warnings and "not used locally" in (warnings[0] or "")


def test_container_step_nonzero_exit_fails(engine: Engine, metadata: MetadataStore) -> None:
    shell = {"container": {"image": "busybox", "command": ["sh", "-c", "echo bad >&2; exit 3"]}}
    p = pipeline("container-fail", {"shell": shell}, [{"name": "s", "component": "shell"}])
    run = engine.run(p)
    step = step_map(metadata, run.id)["s"]
    assert run.state == "Failed" and step.error == "command 'sh' exited with code 3"
    assert "bad" in Path(step.log_path).read_text()
