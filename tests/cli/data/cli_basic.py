"""A tiny two-step pipeline for CLI and client tests (no third-party imports, fast)."""

from flowyard import dsl
from flowyard.dsl import Dataset, Input, Output


@dsl.component
def make_numbers(count: int, numbers: Output[Dataset]) -> int:
    with open(numbers.path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(str(i) for i in range(count)))
    print(f"wrote {count} numbers")
    return count


@dsl.component
def total(numbers: Input[Dataset], scale: float) -> float:
    with open(numbers.path, encoding="utf-8") as handle:
        values = [int(line) for line in handle if line.strip()]
    print(f"sum {sum(values)}")
    return sum(values) * scale


@dsl.pipeline(name="basic")
def basic(count: int = 5, scale: float = 1.0, label: str = "x"):
    made = make_numbers(count=count)
    summed = total(numbers=made.outputs["numbers"], scale=scale)
    return {"total": summed.output}
