"""kfp pipelines whose shape Flowyard cannot run; each must fail with a clear message."""

import functools

from kfp import dsl
from kfp.dsl import Dataset, Input

component = functools.partial(dsl.component, install_kfp_package=False, base_image="python:3.11")


@component
def echo(x: int) -> int:
    return x


@component
def pick(n: int) -> str:
    return "a" if n > 0 else "b"


@dsl.pipeline(name="nested-loops")
def nested_loops() -> None:
    with dsl.ParallelFor([1, 2]) as a, dsl.ParallelFor([3, 4]) as b:
        echo(x=a)
        echo(x=b)


@dsl.pipeline(name="importer")
def importer() -> None:
    dsl.importer(artifact_uri="gs://bucket/data.csv", artifact_class=Dataset)


@dsl.pipeline(name="one-of")
def one_of(n: int = 1) -> str:
    p = pick(n=n)
    with dsl.If(p.output == "a"):
        a = pick(n=1)
    with dsl.Else():
        b = pick(n=0)
    return dsl.OneOf(a.output, b.output)


@dsl.component(target_image="registry.example/echo:1", base_image="python:3.11")
def containerized(x: int) -> int:
    return x


@dsl.pipeline(name="containerized")
def containerized_pipeline() -> None:
    containerized(x=1)


@dsl.container_component
def job_name_echo():
    return dsl.ContainerSpec(image="alpine:3.20", command=["echo"],
                             args=[dsl.PIPELINE_JOB_NAME_PLACEHOLDER])


@dsl.pipeline(name="job-name")
def job_name() -> None:
    job_name_echo()


@component
def read(data: Input[Dataset]) -> int:
    return 0


@dsl.pipeline(name="input-artifact")
def input_artifact(data: Input[Dataset]) -> None:
    read(data=data)
