"""dsl.compile on real pipelines: the exact resource produced, and that it validates."""

from __future__ import annotations

import textwrap
from typing import Any, NamedTuple

import pytest

from flowyard import dsl
from flowyard.dsl import Dataset, Input, Metrics, Model, Output
from flowyard.resources.pipeline import Pipeline


@dsl.component
def add(a: int, b: int = 1) -> int:
    """Add two numbers."""
    return a + b


@dsl.component
def load(rows: int, data: Output[Dataset]) -> None:
    import csv

    with open(data.path, "w", newline="") as handle:
        csv.writer(handle).writerows([[i] for i in range(rows)])


@dsl.component(packages=["scikit-learn"], cache=False)
def train(data: Input[Dataset], kind: str, model: Output[Model],
          metrics: Output[Metrics], seed: int = 0) -> float:
    metrics.log_metric("accuracy", 0.5)
    return 0.5


@dsl.component
def pick(scores: list) -> str:  # type: ignore[type-arg]  # a bare `list` is allowed
    return "forest" if max(scores) > 0.4 else "logreg"


@dsl.component
def say(msg: str) -> None:
    print(msg)


@dsl.component
def notify(status: dsl.PipelineTaskFinalStatus, channel: str = "ops") -> None:
    print(channel, status["state"])


class Split(NamedTuple):
    train_rows: int
    test_rows: int


@dsl.component
def split(rows: int) -> Split:
    from typing import NamedTuple

    class Split(NamedTuple):
        train_rows: int
        test_rows: int

    return Split(rows * 3 // 4, rows - rows * 3 // 4)  # type: ignore[return-value]


@dsl.container_component
def echo(msg: str, out: dsl.OutputPath(str)) -> dsl.ContainerSpec:  # type: ignore[valid-type]
    return dsl.ContainerSpec(image="alpine", command=["sh", "-c", 'echo "$0" > "$1"'],
                             args=[msg, out])


def compiled(pipeline: Any, **overrides: Any) -> dict[str, Any]:
    resource = dsl.compile(pipeline, overrides or None)
    assert isinstance(resource, Pipeline)
    data = resource.to_dict()
    # The YAML round trip holds: what we print is what validates.
    assert Pipeline.model_validate(data).to_dict() == data
    _engine_validate(resource)
    return data


def _engine_validate(resource: Pipeline) -> None:
    try:
        from flowyard.pipelines.validate import validate_pipeline
    except ImportError:  # the engine's static checks are optional for this suite
        return
    validate_pipeline(resource)


def py(function: str, source: str, **extra: Any) -> dict[str, Any]:
    return {"function": function, "source": textwrap.dedent(source).lstrip("\n"), **extra}


ADD = {
    "description": "Add two numbers.",
    "inputs": {"parameters": [{"name": "a", "type": "int"},
                              {"name": "b", "type": "int", "default": 1}]},
    "outputs": {"parameters": [{"name": "Output", "type": "int"}]},
    "python": py("add", '''
        def add(a: int, b: int = 1) -> int:
            """Add two numbers."""
            return a + b
        '''),
}


def test_chain_with_parameters_and_output() -> None:
    @dsl.pipeline(name="chain", description="Adds twice.")
    def chain(x: int = 1, y: int = 2) -> Any:
        first = add(a=x, b=y)
        second = add(a=first.output)
        return second.output

    assert compiled(chain) == {
        "apiVersion": "flowyard.dev/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "chain"},
        "spec": {
            "description": "Adds twice.",
            "parameters": [{"name": "x", "type": "int", "default": 1},
                           {"name": "y", "type": "int", "default": 2}],
            "components": {"add": ADD},
            "steps": [
                {"name": "add", "component": "add",
                 "arguments": {"a": {"parameter": "x"}, "b": {"parameter": "y"}}},
                {"name": "add-2", "component": "add",
                 "arguments": {"a": {"step": "add", "output": "Output"}}},
            ],
            "outputs": {"Output": {"step": "add-2", "output": "Output"}},
        },
    }


def test_compile_overrides_parameter_defaults() -> None:
    @dsl.pipeline
    def chain(x: int = 1) -> None:
        add(a=x)

    spec = compiled(chain, x=5)["spec"]
    assert spec["parameters"] == [{"name": "x", "type": "int", "default": 5}]


def test_parameter_types_from_annotations_and_defaults() -> None:
    @dsl.pipeline
    def typed(a, b: float, c: bool = True, d: list = ["x"],  # type: ignore[no-untyped-def,type-arg]  # noqa: B006
              e: dict | None = None, f=3, g: list[int] = [1, 2]) -> None:  # type: ignore[type-arg]  # noqa: B006
        """First line.

        More text."""

    spec = compiled(typed)["spec"]
    assert spec["description"] == "First line.\n\nMore text."
    assert spec["parameters"] == [
        {"name": "a", "type": "str"},
        {"name": "b", "type": "float"},
        {"name": "c", "type": "bool", "default": True},
        {"name": "d", "type": "list", "default": ["x"]},
        {"name": "e", "type": "dict", "default": None},
        {"name": "f", "type": "int", "default": 3},
        {"name": "g", "type": "list", "default": [1, 2]},
    ]
    assert spec["steps"] == []


def test_fan_out_fan_in_with_artifacts() -> None:
    @dsl.pipeline(name="train-iris")
    def train_pipeline(kinds: list[str] = ["logreg", "forest"]) -> Any:  # noqa: B006
        data = load(rows=100)
        with dsl.ParallelFor(kinds, parallelism=2) as kind:
            trained = train(data=data.outputs["data"], kind=kind)
        best = pick(scores=dsl.Collected(trained.outputs["Output"]))
        return best.output

    data = compiled(train_pipeline)
    spec = data["spec"]
    assert list(spec["components"]) == ["load", "train", "pick"]
    assert spec["components"]["train"] == {
        "inputs": {"parameters": [{"name": "kind", "type": "str"},
                                  {"name": "seed", "type": "int", "default": 0}],
                   "artifacts": [{"name": "data", "type": "Dataset"}]},
        "outputs": {"parameters": [{"name": "Output", "type": "float"}],
                    "artifacts": [{"name": "model", "type": "Model"},
                                  {"name": "metrics", "type": "Metrics"}]},
        "python": py("train", '''
            def train(data: Input[Dataset], kind: str, model: Output[Model],
                      metrics: Output[Metrics], seed: int = 0) -> float:
                metrics.log_metric("accuracy", 0.5)
                return 0.5
            ''', packages=["scikit-learn"]),
    }
    assert spec["steps"] == [
        {"name": "load", "component": "load", "arguments": {"rows": {"value": 100}}},
        {"name": "train", "component": "train",
         "arguments": {"data": {"step": "load", "output": "data"}, "kind": {"item": True}},
         "forEach": {"parameter": "kinds"}, "parallelism": 2, "cache": False},
        {"name": "pick", "component": "pick",
         "arguments": {"scores": {"step": "train", "output": "Output", "collect": True}}},
    ]
    assert spec["outputs"] == {"Output": {"step": "pick", "output": "Output"}}


def test_loop_body_is_wired_iteration_wise_and_items_have_keys() -> None:
    @dsl.pipeline
    def body() -> None:
        with dsl.ParallelFor([{"n": 1, "m": 2}, {"n": 3, "m": 4}]) as item:
            first = add(a=item.n, b=item["m"])
            second = add(a=first.output)
        add(a=3).after(second)
        pick(scores=dsl.Collected(second.output))

    steps = compiled(body)["spec"]["steps"]
    loop = {"value": [{"n": 1, "m": 2}, {"n": 3, "m": 4}]}
    assert steps == [
        {"name": "add", "component": "add",
         "arguments": {"a": {"item": "n"}, "b": {"item": "m"}}, "forEach": loop},
        {"name": "add-2", "component": "add",
         "arguments": {"a": {"step": "add", "output": "Output"}}, "forEach": loop},
        {"name": "add-3", "component": "add", "arguments": {"a": {"value": 3}},
         "after": ["add-2"]},
        {"name": "pick", "component": "pick",
         "arguments": {"scores": {"step": "add-2", "output": "Output", "collect": True}}},
    ]


def test_loop_over_a_task_output() -> None:
    @dsl.component
    def make() -> list[int]:
        return [1, 2]

    @dsl.pipeline
    def over_output() -> None:
        items = make()
        with dsl.ParallelFor(items.output) as n:
            add(a=n)

    steps = compiled(over_output)["spec"]["steps"]
    assert steps[1] == {"name": "add", "component": "add", "arguments": {"a": {"item": True}},
                        "forEach": {"step": "make", "output": "Output"}}


EQ_FOREST = {"op": "==", "left": {"step": "pick", "output": "Output"},
             "right": {"value": "forest"}}
EQ_TREE = {"op": "==", "left": {"step": "pick", "output": "Output"},
           "right": {"value": "tree"}}


def test_if_elif_else() -> None:
    @dsl.pipeline
    def branches() -> None:
        best = pick(scores=[0.5])
        with dsl.If(best.output == "forest"):
            say(msg="forest")
        with dsl.Elif(best.output == "tree"):
            say(msg="tree")
        with dsl.Else():
            say(msg="other")

    steps = compiled(branches)["spec"]["steps"]
    assert [s.get("when") for s in steps] == [
        None,
        EQ_FOREST,
        {"all": [{"not": EQ_FOREST}, EQ_TREE]},
        {"all": [{"not": EQ_FOREST}, {"not": EQ_TREE}]},
    ]
    assert [s["name"] for s in steps] == ["pick", "say", "say-2", "say-3"]


def test_nested_conditions_combine_with_all_and_operators() -> None:
    @dsl.pipeline
    def nested(n: int = 3, flag: bool = False) -> None:
        best = pick(scores=[0.5])
        with dsl.If(best.output == "forest"), dsl.If((n > 2) & (n <= 10) | ~(flag != True)):  # noqa: E712
            say(msg="deep")
        with dsl.Else(), dsl.If(1 < n):  # noqa: SIM300 - the reflected comparison is tested
            say(msg="else-deep")

    steps = compiled(nested)["spec"]["steps"]
    n = {"parameter": "n"}
    assert steps[1]["when"] == {"all": [EQ_FOREST, {"any": [
        {"all": [{"op": ">", "left": n, "right": {"value": 2}},
                 {"op": "<=", "left": n, "right": {"value": 10}}]},
        {"not": {"op": "!=", "left": {"parameter": "flag"}, "right": {"value": True}}},
    ]}]}
    # Else's `all` is flattened with the inner If; `1 < n` reads as `n > 1`.
    assert steps[2]["when"] == {"all": [{"not": EQ_FOREST},
                                        {"op": ">", "left": n, "right": {"value": 1}}]}


def test_condition_inside_a_loop_and_loop_inside_a_condition() -> None:
    @dsl.pipeline
    def mixed(items: list[int] = [1, 2]) -> None:  # noqa: B006
        with dsl.ParallelFor(items) as item, dsl.If(item >= 2):
            add(a=item)
        best = pick(scores=[1])
        with dsl.If(best.output != "x"), dsl.ParallelFor([5, 6]) as five:
            add(a=five)

    steps = compiled(mixed)["spec"]["steps"]
    assert steps[0] == {"name": "add", "component": "add", "arguments": {"a": {"item": True}},
                        "forEach": {"parameter": "items"},
                        "when": {"op": ">=", "left": {"item": True}, "right": {"value": 2}}}
    assert steps[2]["forEach"] == {"value": [5, 6]}
    assert steps[2]["when"]["op"] == "!="


def test_exit_handler() -> None:
    @dsl.pipeline
    def with_exit() -> None:
        final = notify(status=dsl.PipelineTaskFinalStatus())
        with dsl.ExitHandler(final):
            first = add(a=1)
            add(a=first.output)

    spec = compiled(with_exit)["spec"]
    assert [s["name"] for s in spec["steps"]] == ["add", "add-2"]
    assert spec["onExit"] == {"name": "notify", "component": "notify",
                              "arguments": {"status": {"runStatus": True}}}
    assert spec["components"]["notify"]["inputs"] == {"parameters": [
        {"name": "status", "type": "dict"}, {"name": "channel", "type": "str", "default": "ops"}]}


def test_exit_task_status_is_filled_in_when_not_passed() -> None:
    @dsl.pipeline
    def implicit() -> None:
        final = notify(channel="dev")
        with dsl.ExitHandler(final):
            add(a=1)

    assert compiled(implicit)["spec"]["onExit"]["arguments"] == {
        "channel": {"value": "dev"}, "status": {"runStatus": True}}


def test_task_options() -> None:
    @dsl.pipeline
    def options() -> None:
        task = add(a=1)
        task.set_retry(num_retries=3, backoff_duration="1s", backoff_factor=2.0,
                       backoff_max_duration="10s")
        task.set_timeout("5m").set_caching_options(False).set_display_name("Add one")
        task.set_cpu_request("1").set_memory_request("1Gi").set_accelerator_limit(1)
        add(a=2).set_retry(2).set_timeout(30)
        train_task = train(data=load(rows=1).outputs["data"], kind="x")
        train_task.set_caching_options(True)

    steps = compiled(options)["spec"]["steps"]
    assert steps[0] == {
        "name": "add", "component": "add", "arguments": {"a": {"value": 1}},
        "retry": {"limit": 3, "backoff": {"duration": 1.0, "factor": 2.0, "maxDuration": 10.0}},
        "timeout": 300.0, "cache": False,
        "resources": {"cpu": "1", "memory": "1Gi", "gpu": 1}, "displayName": "Add one",
    }
    assert steps[1] == {"name": "add-2", "component": "add", "arguments": {"a": {"value": 2}},
                        "retry": {"limit": 2}, "timeout": 30.0}
    # The task's own caching option wins over the component's cache=False.
    assert "cache" not in steps[3]


def test_container_component_and_named_tuple_outputs() -> None:
    @dsl.pipeline
    def mixed_kinds() -> None:
        parts = split(rows=10)
        said = echo(msg="hi")
        add(a=parts.outputs["train_rows"], b=parts.outputs["test_rows"])
        say(msg=said.outputs["out"])

    spec = compiled(mixed_kinds)["spec"]
    assert spec["components"]["echo"] == {
        "inputs": {"parameters": [{"name": "msg", "type": "str"}]},
        "outputs": {"parameters": [{"name": "out", "type": "str"}]},
        "container": {"image": "alpine", "command": ["sh", "-c", 'echo "$0" > "$1"'],
                      "args": ["{{inputs.parameters.msg}}", "{{outputs.parameters.out.path}}"]},
    }
    assert spec["components"]["split"]["outputs"] == {"parameters": [
        {"name": "train_rows", "type": "int"}, {"name": "test_rows", "type": "int"}]}
    assert spec["steps"][2]["arguments"] == {
        "a": {"step": "split", "output": "train_rows"},
        "b": {"step": "split", "output": "test_rows"}}
    assert spec["steps"][3]["arguments"] == {"msg": {"step": "echo", "output": "out"}}


def test_container_component_with_artifacts() -> None:
    @dsl.container_component
    def wc(data: Input[Dataset], count: Output[Metrics],
           raw: dsl.InputPath("Dataset"), lines: int = 1) -> dsl.ContainerSpec:  # type: ignore[valid-type]
        return dsl.ContainerSpec(image="busybox", command=["sh", "-c"],
                                 args=[f"wc -l {data.path} {raw} > {count.path} # {lines}"],
                                 env={"LINES": lines})

    @dsl.pipeline
    def counting() -> None:
        first = load(rows=3)
        wc(data=first.outputs["data"], raw=first.outputs["data"])

    comp = compiled(counting)["spec"]["components"]["wc"]
    assert comp == {
        "inputs": {"parameters": [{"name": "lines", "type": "int", "default": 1}],
                   "artifacts": [{"name": "data", "type": "Dataset"},
                                 {"name": "raw", "type": "Dataset"}]},
        "outputs": {"artifacts": [{"name": "count", "type": "Metrics"}]},
        "container": {"image": "busybox", "command": ["sh", "-c"],
                      "args": ["wc -l {{inputs.artifacts.data.path}} "
                               "{{inputs.artifacts.raw.path}} > "
                               "{{outputs.artifacts.count.path}} # {{inputs.parameters.lines}}"],
                      "env": {"LINES": "{{inputs.parameters.lines}}"}},
    }


def test_step_and_component_names() -> None:
    @dsl.component
    def my_step_fn(x: str) -> None:
        print(x)

    @dsl.pipeline
    def My_Pipeline(x: str = "a") -> None:
        my_step_fn(x=x)
        my_step_fn(x="b")
        my_step_fn(x="c")

    data = compiled(My_Pipeline)
    assert data["metadata"] == {"name": "my-pipeline"}
    assert list(data["spec"]["components"]) == ["my-step-fn"]
    assert [s["name"] for s in data["spec"]["steps"]] == ["my-step-fn", "my-step-fn-2",
                                                          "my-step-fn-3"]


def test_two_components_with_the_same_function_name() -> None:
    def first() -> Any:
        @dsl.component
        def work() -> None:
            print(1)
        return work

    def second() -> Any:
        @dsl.component
        def work() -> None:
            print(2)
        return work

    one, two = first(), second()

    @dsl.pipeline
    def twice() -> None:
        one()
        two()

    spec = compiled(twice)["spec"]
    assert list(spec["components"]) == ["work", "work-2"]
    assert [(s["name"], s["component"]) for s in spec["steps"]] == [("work", "work"),
                                                                    ("work-2", "work-2")]


def test_pipeline_outputs_forms() -> None:
    class Out(NamedTuple):
        total: int
        best: str

    @dsl.pipeline
    def several(x: int = 1) -> Any:
        total = add(a=x)
        with dsl.ParallelFor([1, 2]) as n:
            looped = add(a=n)
        return Out(total.output, pick(scores=dsl.Collected(looped.output)).output)

    @dsl.pipeline
    def as_dict(x: int = 1) -> Any:
        with dsl.ParallelFor([1, 2]) as n:
            looped = add(a=n)
        return {"all": dsl.Collected(looped.output), "x": x, "task": add(a=1)}

    assert compiled(several)["spec"]["outputs"] == {
        "total": {"step": "add", "output": "Output"},
        "best": {"step": "pick", "output": "Output"}}
    assert compiled(as_dict)["spec"]["outputs"] == {
        "all": {"step": "add", "output": "Output", "collect": True},
        "x": {"parameter": "x"},
        "task": {"step": "add-2", "output": "Output"}}


def test_pipeline_level_options_and_plain_function() -> None:
    @dsl.pipeline(name="limited", parallelism=2, deadline="1h")
    def limited() -> None:
        add(a=1)

    def plain(x: int = 1) -> None:
        add(a=x)

    spec = compiled(limited)["spec"]
    assert (spec["parallelism"], spec["deadline"]) == (2, 3600.0)
    assert compiled(plain)["metadata"]["name"] == "plain"


def test_component_called_outside_a_pipeline_is_the_plain_function(tmp_path: Any) -> None:
    assert add(2, b=3) == 5
    assert split(10) == (7, 3)
    data = Dataset(name="data", path=str(tmp_path / "rows.csv"))
    load(3, data)
    assert (tmp_path / "rows.csv").read_text().split() == ["0", "1", "2"]


def test_an_option_the_resource_rejects_is_reported_with_its_field() -> None:
    from flowyard.errors import PipelineInvalid

    @dsl.pipeline
    def retried() -> None:
        add(a=1).set_retry(num_retries=500)

    with pytest.raises(PipelineInvalid) as info:
        dsl.compile(retried)
    assert "spec.steps.0.retry.limit" in str(info.value)
    assert "(got 500)" in str(info.value)
