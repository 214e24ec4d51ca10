"""Non-finite float defaults (tests/cli/test_cli_non_finite.py): they must survive
`flowyard compile` and run from the YAML as from the Python file."""

from flowyard import dsl


@dsl.component
def clamp(value: float, high: float = float("inf")) -> float:
    return min(value, high)


@dsl.pipeline(name="non-finite")
def non_finite(t: float = float("inf"), low: float = float("-inf"), odd: float = float("nan")):
    clamp(value=low)
    return clamp(value=t).output
