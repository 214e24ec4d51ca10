"""The origin of a pipeline (file and line map) travels with it from the loader or
`dsl.compile` to every later check: the engine's on submit and the client's, so their
problems carry `Problem.file` and `Problem.line`, not only `flowyard validate`'s."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowyard.client import Client
from flowyard.errors import PipelineInvalid
from flowyard.pipelines.engine import Engine
from flowyard.pipelines.target import load_target
from flowyard.pipelines.validate import validate_pipeline
from flowyard.resources.loader import load_path, parse_resource
from flowyard.resources.origins import origin_of

DATA = Path(__file__).parents[1] / "cli" / "data"
YAML = DATA / "bad_graphs.yaml"
PY = DATA / "bad_graphs.py"


def line_of(path: Path, marker: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    [found] = [n for n, text in enumerate(lines, 1) if text.rstrip().endswith(marker)]
    return found


def test_engine_submit_locates_a_yaml_problem(engine: Engine) -> None:
    pipeline = load_target(f"{YAML}:unknown-step")
    with pytest.raises(PipelineInvalid) as info:
        engine.submit(pipeline)
    [problem] = info.value.problems
    assert problem.file == str(YAML)
    assert problem.line == line_of(YAML, "# unknown-step: here")
    assert problem.field == "spec.steps[0].arguments.x.step"
    assert engine.metadata.list_runs() == []


def test_client_run_locates_problems_of_files(flowyard_home: Path) -> None:
    with Client() as client:
        with pytest.raises(PipelineInvalid) as info:
            client.run(f"{YAML}:cycle")
        [problem] = info.value.problems
        assert (problem.file, problem.line) == (str(YAML), line_of(YAML, "# cycle: here"))
        assert problem.field == "spec.steps[0].after[0]"
        # A Pipeline loaded first keeps its origin too.
        with pytest.raises(PipelineInvalid) as info:
            client.run(client.load(f"{PY}:wrong_artifact"))
        [problem] = info.value.problems
        assert problem.file == str(PY)
        assert problem.line == line_of(PY, "# wrong_artifact: here")
        assert problem.field == "spec.steps[1].arguments.model"


def test_sdk_after_cycle_names_the_after_call(engine: Engine) -> None:
    with pytest.raises(PipelineInvalid) as info:
        engine.submit(load_target(f"{PY}:after_cycle"))
    [problem] = info.value.problems
    assert (problem.file, problem.line) == (str(PY), line_of(PY, "# after_cycle: here"))


def test_origin_is_not_part_of_the_resource() -> None:
    # Read from a file or built from the same data: equal, and only the first is located.
    [loaded] = [x for x in load_path(YAML) if x.resource.name == "cycle"]
    rebuilt = parse_resource(loaded.resource.to_dict())
    assert rebuilt == loaded.resource
    assert origin_of(loaded.resource) is loaded.origin
    assert origin_of(rebuilt) is None
    assert origin_of(loaded.resource.model_copy()) is None
    with pytest.raises(PipelineInvalid) as info:   # plain data: the field path, no line
        validate_pipeline(rebuilt)
    [problem] = info.value.problems
    assert problem.file is None and problem.line is None
    assert problem.field == "spec.steps[0].after[0]"
