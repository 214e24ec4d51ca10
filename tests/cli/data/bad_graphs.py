"""SDK pipelines with graph mistakes found after tracing (artifact types, `.after` cycles):
`flowyard run` must name the line of the call that wired them
(tests/cli/test_cli_error_locations.py)."""

from flowyard import dsl
from flowyard.dsl import Dataset, Input, Model, Output


@dsl.component
def make(data: Output[Dataset]) -> None:
    with open(data.path, "w", encoding="utf-8") as handle:
        handle.write("x")


@dsl.component
def fit(model: Input[Model]) -> None:
    print(model.path)


@dsl.component
def nop() -> None:
    print("nop")


@dsl.pipeline
def wrong_artifact():
    made = make()
    fit(model=made.outputs["data"])  # wrong_artifact: here


@dsl.pipeline
def after_cycle():
    first = nop()
    second = nop().after(first)
    first.after(second)  # after_cycle: here
