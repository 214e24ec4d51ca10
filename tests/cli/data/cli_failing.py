"""A pipeline whose only step raises, for exit-code and retry tests."""

from flowyard import dsl


@dsl.component
def explode(message: str) -> None:
    print("about to fail")
    raise RuntimeError(message)


@dsl.pipeline(name="failing")
def failing(message: str = "boom"):
    explode(message=message)
