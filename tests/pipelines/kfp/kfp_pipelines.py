"""Real kfp v2 pipelines, compiled by the kfp SDK in the tests and the benchmark."""

import functools
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output

# No `from __future__ import annotations`: kfp reads the annotations at decoration time.
component = functools.partial(dsl.component, install_kfp_package=False, base_image="python:3.11")


@component
def add_one(x: int) -> int:
    return x + 1


@component
def produce() -> list:
    return list(range(20))


@component
def square(x: int) -> int:
    return x * x


@component
def total(xs: list) -> int:
    return int(sum(xs))


@dsl.pipeline(name="w1-chain")
def w1(start: int = 0) -> int:
    t = add_one(x=start)
    for _ in range(9):
        t = add_one(x=t.output)
    return t.output


@dsl.pipeline(name="w2-fan")
def w2() -> int:
    p = produce()
    with dsl.ParallelFor(p.output) as item:
        s = square(x=item)
    return total(xs=dsl.Collected(s.output)).output


@component
def make_data(rows: int, data: Output[Dataset]) -> None:
    with open(data.path, "w") as handle:
        handle.write("\n".join(str(i) for i in range(rows)))
    data.metadata["rows"] = rows
    data.metadata["uri_is_path"] = data.uri == data.path


@component
def train(data: Input[Dataset], scale: float, model: Output[Model],
          metrics: Output[Metrics]) -> NamedTuple("Outputs", [("score", float), ("n", int)]):
    with open(data.path) as handle:
        values = [int(line) for line in handle.read().split()]
    weight = scale * sum(values)
    with open(model.path, "w") as handle:
        handle.write(str(weight))
    model.metadata["framework"] = "toy"
    metrics.log_metric("weight", weight)
    from collections import namedtuple

    return namedtuple("Outputs", ["score", "n"])(weight, len(values))


@component
def evaluate(model: Input[Model], report: Output[ClassificationMetrics]) -> str:
    report.log_confusion_matrix(["a", "b"], [[1, 2], [3, 4]])
    report.log_roc_data_point(fpr=0.1, tpr=0.9, threshold=0.5)
    with open(model.path) as handle:
        return f"{model.metadata['framework']}:{handle.read()}"


@dsl.pipeline(name="artifacts")
def artifacts(rows: int = 4, scale: float = 2.0) -> str:
    d = make_data(rows=rows)
    t = train(data=d.outputs["data"], scale=scale)
    return evaluate(model=t.outputs["model"]).outputs["Output"]


@component
def flip(value: str) -> str:
    return value


@component
def say(msg: str) -> str:
    print(msg)
    return msg


@dsl.pipeline(name="branches")
def branches(choice: str = "heads", n: int = 3) -> None:
    f = flip(value=choice)
    with dsl.If(f.output == "heads"):
        say(msg="got heads")
    with dsl.Elif(f.output == "tails"):
        say(msg="got tails")
    with dsl.Else():
        say(msg="got other")
    with dsl.If(n > 2):
        say(msg="big n")


@dsl.pipeline(name="loops")
def loops(xs: list = [1, 2, 3, 4]) -> int:  # noqa: B006 - kfp reads the default
    with dsl.ParallelFor(xs, parallelism=2) as x:
        a = add_one(x=x)
        s = square(x=a.output)
    with dsl.ParallelFor([{"a": 1, "b": 10}, {"a": 2, "b": 20}]) as pair:
        add_one(x=pair.b)
    return total(xs=dsl.Collected(s.output)).output


@component
def collect_paths(models: Input[list[Model]]) -> str:
    parts = []
    for m in models:
        with open(m.path) as handle:
            parts.append(handle.read())
    return ",".join(parts)


@component
def write_model(x: int, model: Output[Model]) -> None:
    with open(model.path, "w") as handle:
        handle.write(str(x * 10))


@dsl.pipeline(name="collect-artifacts")
def collect_artifacts() -> str:
    with dsl.ParallelFor([1, 2, 3]) as x:
        w = write_model(x=x)
    return collect_paths(models=dsl.Collected(w.outputs["model"])).output


@component
def notify(status: dsl.PipelineTaskFinalStatus, tag: str) -> None:
    print(f"exit {tag} {status.state} {status.pipeline_task_name} {status.error_code}")


@component
def fail(msg: str) -> None:
    raise RuntimeError(msg)


@dsl.pipeline(name="exit-handler")
def exit_handler(should_fail: bool = False) -> None:
    final = notify(tag="bye")
    with dsl.ExitHandler(final):
        a = add_one(x=1)
        with dsl.If(should_fail == True):  # noqa: E712 - kfp condition syntax
            fail(msg="asked to fail")
        add_one(x=a.output)


@dsl.pipeline(name="scoped-exit")
def scoped_exit(should_fail: bool = False) -> None:
    outside = add_one(x=10)   # outside every block: runs independently
    final = notify(tag="group")
    with dsl.ExitHandler(final):
        a = add_one(x=1)
        with dsl.If(should_fail == True):  # noqa: E712 - kfp condition syntax
            fail(msg="asked to fail")
        add_one(x=a.output)
    second = notify(tag="second")
    with dsl.ExitHandler(second):
        add_one(x=outside.output)


@component
def flaky(marker: str) -> int:
    import os
    count = 0
    if os.path.exists(marker):
        with open(marker) as handle:
            count = int(handle.read())
    with open(marker, "w") as handle:
        handle.write(str(count + 1))
    if count < 2:
        raise RuntimeError(f"attempt {count + 1} fails")
    return count + 1


@dsl.pipeline(name="retries")
def retries(marker: str, marker2: str) -> int:
    t = flaky(marker=marker)
    t.set_retry(num_retries=3, backoff_duration="0s")
    t2 = flaky(marker=marker2)
    t2.set_caching_options(False)
    t2.set_retry(num_retries=2, backoff_duration="1s", backoff_factor=1.5,
                 backoff_max_duration="2s")
    return t.output


@dsl.container_component
def echo_container(text: str, out: dsl.OutputPath(str), blob: Output[Dataset]):
    return dsl.ContainerSpec(
        image="alpine:3.20",
        command=["sh", "-c", 'printf "%s!" "$0" > "$1"; printf "%s" "$0" > "$2"'],
        args=[text, out, blob.path],
    )


@component
def read_blob(blob: Input[Dataset], said: str) -> str:
    with open(blob.path) as handle:
        return handle.read() + "|" + said


@dsl.pipeline(name="containers")
def containers(text: str = "hi") -> str:
    e = echo_container(text=text)
    return read_blob(blob=e.outputs["blob"], said=e.outputs["out"]).output


@dsl.pipeline(name="inner")
def inner(x: int = 1) -> int:
    a = add_one(x=x)
    return add_one(x=a.output).output


@dsl.pipeline(name="outer")
def outer(x: int = 1) -> int:
    first = add_one(x=x)
    nested = inner(x=first.output)
    return add_one(x=nested.output).output
