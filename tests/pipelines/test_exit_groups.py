"""dsl.ExitHandler scoped to its block: the exit task runs after the tasks inside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowyard import dsl
from flowyard.errors import PipelineInvalid
from flowyard.pipelines.engine import Engine
from flowyard.pipelines.validate import validate_pipeline
from flowyard.resources.pipeline import Pipeline
from flowyard.store.metadata import MetadataStore


@dsl.component
def add(a: int) -> int:
    return a + 1


@dsl.component
def fail(msg: str) -> None:
    raise RuntimeError(msg)


@dsl.component
def report(status: dsl.PipelineTaskFinalStatus, path: str) -> str:
    import json

    with open(path, "w") as handle:
        json.dump(status, handle)
    return str(status["state"])


def _scoped(tmp: Path) -> dsl.PipelineDef:
    @dsl.pipeline(name="scoped-exit")
    def scoped(should_fail: bool = False) -> None:
        outside = add(a=10)                       # independent of the group
        final = report(path=str(tmp / "group.json"))
        with dsl.ExitHandler(final):
            inner = add(a=1)
            with dsl.If(should_fail == True):  # noqa: E712 - a pipeline condition
                fail(msg="asked to fail")
            add(a=inner.output)
        later = add(a=outside.output).after(final)   # after the exit task, outside the block
        later.set_display_name("later")
        second = report(path=str(tmp / "second.json"))
        with dsl.ExitHandler(second):
            add(a=later.output)

    return scoped


def test_a_partial_block_compiles_to_a_step_triggered_when_its_group_is_done(
        tmp_path: Path) -> None:
    pipeline = dsl.compile(_scoped(tmp_path))
    spec = pipeline.spec
    assert spec.on_exit is None
    steps = {s.name: s for s in spec.steps}
    final, second = steps["report"], steps["report-2"]
    assert final.trigger == "allDone" and second.trigger == "allDone"
    assert sorted(final.after) == ["add-2", "add-3", "fail"]
    assert final.arguments["status"].kind == "group_status"
    assert second.after == ["add-5"]
    assert steps["add"].trigger == "allSucceeded" and "report" not in steps["add"].after
    assert steps["add-4"].after == ["report"]
    validate_pipeline(pipeline)   # raises PipelineInvalid on any problem
    # The YAML form round-trips through the resource model.
    data = pipeline.model_dump(mode="json", by_alias=True, exclude_unset=True)
    again = Pipeline.model_validate(data)
    assert again.spec.steps[1].trigger == "allDone"


def test_a_block_around_every_task_stays_the_runs_exit_handler(tmp_path: Path) -> None:
    @dsl.pipeline(name="whole")
    def whole() -> None:
        final = report(path=str(tmp_path / "s.json"))
        with dsl.ExitHandler(final):
            add(a=add(a=1).output)

    spec = dsl.compile(whole).spec
    assert spec.on_exit is not None and spec.on_exit.name == "report"
    assert spec.on_exit.arguments["status"].kind == "run_status"
    assert all(s.trigger == "allSucceeded" for s in spec.steps)


def test_the_exit_task_sees_its_group_and_the_rest_runs_on(
        engine: Engine, metadata: MetadataStore, tmp_path: Path) -> None:
    pipeline = dsl.compile(_scoped(tmp_path))
    ok = engine.run(pipeline)
    assert ok.state == "Succeeded"
    assert json.loads((tmp_path / "group.json").read_text())["state"] == "Succeeded"

    bad = engine.run(pipeline, {"should_fail": True}, cache=False)
    assert bad.state == "Failed"
    steps = {s.id: s for s in metadata.get_steps(bad.id)}
    assert steps["fail"].state == "Failed"
    assert steps["report"].state == "Succeeded" and steps["report"].outputs == {
        "Output": "Failed"}
    group = json.loads((tmp_path / "group.json").read_text())
    assert group["state"] == "Failed" and group["run_id"] == bad.id
    assert "step 'fail' failed" in group["error"] and "asked to fail" in group["error"]
    assert sorted(group["steps"]) == ["add-2", "add-3", "fail"]
    # The exit task started only once every task of its block had finished.
    last_in_group = max(steps[n].finished_at for n in ("add-2", "add-3", "fail"))
    assert steps["report"].started_at >= last_in_group
    # Outside the block: an independent task, a task after the exit task, and a second
    # block whose exit task sees only its own (successful) group.
    assert steps["add"].state == "Succeeded"
    assert steps["add-4"].state == "Succeeded"
    assert steps["add-4"].started_at >= steps["report"].finished_at
    assert steps["report-2"].state == "Succeeded"
    assert steps["report-2"].outputs == {"Output": "Succeeded"}
    assert json.loads((tmp_path / "second.json").read_text())["state"] == "Succeeded"


def test_retry_runs_the_group_exit_step_again(
        engine: Engine, metadata: MetadataStore, tmp_path: Path) -> None:
    flag = tmp_path / "ok"

    @dsl.component
    def maybe(flag: str) -> None:
        import os

        if not os.path.exists(flag):
            raise RuntimeError("not yet")

    @dsl.pipeline(name="retry-group")
    def retry_group() -> None:
        add(a=1)
        final = report(path=str(tmp_path / "status.json"))
        with dsl.ExitHandler(final):
            maybe(flag=str(flag))

    run = engine.run(dsl.compile(retry_group))
    assert run.state == "Failed"
    assert json.loads((tmp_path / "status.json").read_text())["state"] == "Failed"
    flag.write_text("")
    again = engine.retry(run.id)
    assert again.state == "Succeeded"
    assert json.loads((tmp_path / "status.json").read_text())["state"] == "Succeeded"
    steps = {s.id: s for s in metadata.get_steps(run.id)}
    assert steps["report"].attempt == 2 and steps["add"].attempt == 1


def test_group_status_and_trigger_are_checked(tmp_path: Path) -> None:
    base = dsl.compile(_scoped(tmp_path)).model_dump(mode="json", by_alias=True, exclude_unset=True)
    steps = base["spec"]["steps"]
    report_step = next(s for s in steps if s["name"] == "report")
    plain = next(s for s in steps if s["name"] == "add")
    plain_copy = dict(plain, name="misplaced", component=report_step["component"],
                      arguments={"status": {"groupStatus": True}, "path": "x"})
    report_step["after"] = []
    steps.append(plain_copy)
    with pytest.raises(PipelineInvalid) as info:
        validate_pipeline(Pipeline.model_validate(base))
    text = str(info.value)
    assert "`trigger: allDone` needs the steps it waits for under `after`" in text
    assert "{groupStatus: true} is only available to a step with `trigger: allDone`" in text
