"""A pipeline whose second step waits for a file the test creates (to kill mid-run)."""

from typing import Any

from flowyard import dsl


@dsl.component
def first(count: int) -> int:
    print(f"first {count}", flush=True)
    return count * 2


@dsl.component
def gate(value: int, marker: str) -> int:
    import os
    import time

    print("waiting at the gate", flush=True)
    while not os.path.exists(marker):
        time.sleep(0.05)
    return value + 1


@dsl.pipeline(name="gated")
def gated(count: int = 3, marker: str = "/nonexistent") -> dict[str, Any]:
    made = first(count=count)
    passed = gate(value=made.output, marker=marker)
    return {"result": passed.output}
