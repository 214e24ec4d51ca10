"""A pipeline with one long step, for cancel tests."""

from flowyard import dsl


@dsl.component
def nap(seconds: float) -> None:
    import time

    print("napping", flush=True)
    time.sleep(seconds)


@dsl.pipeline(name="slow")
def slow(seconds: float = 60.0):
    nap(seconds=seconds)
