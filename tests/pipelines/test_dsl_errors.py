"""Mistakes in components and pipelines: each message names the place and the value."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from flowyard import dsl
from flowyard.dsl import Dataset, Input, Output
from flowyard.errors import InvalidInput

HERE = __file__
LIMIT = 3
SEEN: list[Any] = []  # assigned by a component through `global`


def at(func: Callable[..., Any], needle: str, nth: int = 1) -> str:
    """'file:line' of the nth line of func's source containing needle."""
    lines, start = inspect.getsourcelines(func)
    found = [start + offset for offset, line in enumerate(lines) if needle in line]
    if len(found) < nth:
        raise AssertionError(f"{needle!r} not in {func.__name__}")
    return f"{HERE}:{found[nth - 1]}"


@dsl.component
def add(a: int, b: int = 1) -> int:
    return a + b


@dsl.component
def load(rows: int, data: Output[Dataset]) -> None:
    print(rows, data.path)


@dsl.component
def use(data: Input[Dataset], scores: list[Any] = []) -> str:  # noqa: B006
    return str(data)


@dsl.component
def notify(status: dsl.PipelineTaskFinalStatus) -> None:
    print(status)


@dsl.component
def notify_value(status: dsl.PipelineTaskFinalStatus) -> int:
    return len(status)


def compile_error(pipeline: Any) -> str:
    with pytest.raises(InvalidInput) as info:
        dsl.compile(pipeline)
    return str(info.value)


# --- components ------------------------------------------------------------------------------


def test_unsupported_parameter_annotation_names_function_parameter_and_allowed() -> None:
    with pytest.raises(InvalidInput) as info:
        @dsl.component
        def bad(rows: int, when: complex) -> None:
            print(rows, when)
    text = str(info.value)
    assert "component 'bad', parameter 'when'" in text
    assert "unsupported annotation complex" in text
    assert "allowed: str, int, float, bool, list, dict" in text
    assert f"{HERE}:" in text


def test_unsupported_return_annotation() -> None:
    with pytest.raises(InvalidInput) as info:
        @dsl.component
        def bad() -> set[int]:
            return set()
    assert "component 'bad': unsupported return annotation set[int]" in str(info.value)


def test_global_name_in_the_body_names_the_global_and_line() -> None:
    def define() -> None:
        @dsl.component
        def uses_global(x: int) -> int:
            y = x * 2
            return y + LIMIT
    with pytest.raises(InvalidInput) as info:
        define()
    text = str(info.value)
    assert at(define, "return y + LIMIT") in text
    assert "component 'uses_global' uses the global name 'LIMIT'" in text
    assert "import 'LIMIT' (e.g. `from mymodule import LIMIT`) inside the function body" \
        in str(info.value.hint)


def test_global_module_lists_every_missing_name() -> None:
    with pytest.raises(InvalidInput) as info:
        @dsl.component
        def uses_modules(path: str) -> str:
            data = json.loads(pathlib.Path(path).read_text())  # type: ignore[name-defined]  # noqa: F821
            return str(data)
    assert "'json'" in str(info.value)
    assert "(also: pathlib)" in str(info.value)


def test_global_name_in_a_default_value() -> None:
    with pytest.raises(InvalidInput) as info:
        @dsl.component
        def defaulted(x: int = LIMIT) -> int:
            return x
    assert "uses the global name 'LIMIT'" in str(info.value)


def test_names_inside_the_body_are_fine() -> None:
    @dsl.component
    def self_contained(xs: list[int], n: int = 2) -> list[Any]:
        import math
        from collections import Counter

        def helper(v: int) -> float:
            return math.sqrt(v) + n

        class Box:
            size = n

        total: float = sum(helper(x) for x in xs)
        counts = Counter(xs)
        global SEEN
        SEEN = [lambda q=x: q for x in xs]
        try:
            pass
        except ValueError as exc:
            print(exc, __name__)
        return [total, Box.size, dict(counts), len(SEEN), self_contained]

    assert self_contained([1, 4])[0] == 7


def test_python_component_rejects_output_path() -> None:
    with pytest.raises(InvalidInput) as info:
        @dsl.component
        def writes(out: dsl.OutputPath(str)) -> None:  # type: ignore[valid-type]
            print(out)
    assert "component 'writes', parameter 'out': OutputPath(str) is for container" \
        in str(info.value)


def test_star_args_and_bad_default_and_unresolvable_annotation() -> None:
    with pytest.raises(InvalidInput, match=r"'many', parameter 'rest': \*args"):
        @dsl.component
        def many(*rest: int) -> None:
            print(rest)
    with pytest.raises(InvalidInput, match=r"parameter 'n': default 'x' is not an int"):
        @dsl.component
        def wrong_default(n: int = "x") -> None:  # type: ignore[assignment]
            print(n)
    with pytest.raises(InvalidInput, match=r"'later', parameter 'x': cannot evaluate the "
                                           r"annotation 'NotDefinedYet'"):
        @dsl.component
        def later(x: NotDefinedYet) -> None:  # type: ignore[name-defined]  # noqa: F821
            print(x)


def test_input_and_output_names_collide() -> None:
    with pytest.raises(InvalidInput, match="'Output' is used by an input and an output"):
        @dsl.component
        def clash(Output: int) -> int:
            return Output


def test_container_component_must_return_a_container_spec() -> None:
    with pytest.raises(InvalidInput, match=r"container component 'nothing' must return "
                                           r"dsl.ContainerSpec"):
        @dsl.container_component
        def nothing(x: str) -> None:
            print(x)


def test_container_component_outside_a_pipeline() -> None:
    @dsl.container_component
    def echo(x: str) -> dsl.ContainerSpec:
        return dsl.ContainerSpec(image="alpine", command=["echo", x])

    with pytest.raises(InvalidInput, match="container component 'echo' only runs as a step"):
        echo(x="a")


# --- placeholders ----------------------------------------------------------------------------


def test_task_output_used_as_an_int() -> None:
    @dsl.pipeline
    def arith() -> None:
        first = add(a=1)
        add(a=int(first.output) + 1)

    text = compile_error(arith)
    assert text.startswith(at(arith, "int(first.output)"))
    assert "output 'Output' of task 'add' is only known when the run executes" in text
    assert "converted with int()" in text


def test_task_output_in_python_if_and_arithmetic_and_fstring() -> None:
    @dsl.pipeline
    def branchy(n: int = 1) -> None:
        first = add(a=n)
        if first.output > 3:
            add(a=2)

    @dsl.pipeline
    def plus(n: int = 1) -> None:
        add(a=n + 1)

    @dsl.pipeline
    def fmt(n: int = 1) -> None:
        print(f"{n}")

    text = compile_error(branchy)
    assert text.startswith(at(branchy, "if first.output > 3"))
    assert "a comparison of pipeline values" in text
    text = compile_error(plus)
    assert at(plus, "n + 1") in text
    assert "pipeline parameter 'n'" in text and "arithmetic (+)" in text
    assert "formatted into a string" in compile_error(fmt)


def test_ambiguous_output_and_unknown_output_name() -> None:
    @dsl.component
    def two(out: Output[Dataset]) -> int:
        return 1

    @dsl.pipeline
    def ambiguous() -> None:
        add(a=two().output)

    @dsl.pipeline
    def unknown() -> None:
        add(a=two().outputs["nope"])

    text = compile_error(ambiguous)
    assert "task 'two' (component 'two') has 2 outputs (out, Output)" in text
    assert at(ambiguous, "two().output") in text
    text = compile_error(unknown)
    assert "has no output 'nope'; its outputs: out, Output" in text


# --- arguments -------------------------------------------------------------------------------


def test_unknown_missing_positional_and_mistyped_arguments() -> None:
    @dsl.pipeline
    def unknown() -> None:
        add(a=1, c=2)

    @dsl.pipeline
    def missing() -> None:
        add(b=1)

    @dsl.pipeline
    def positional() -> None:
        add(1)

    @dsl.pipeline
    def mistyped() -> None:
        add(a="one")

    @dsl.pipeline
    def output_passed() -> None:
        load(rows=1, data="x")

    text = compile_error(unknown)
    assert text.startswith(at(unknown, "c=2"))
    assert "component 'add' got argument 'c', which is not one of its inputs; its inputs: a, b" \
        in text
    assert "is missing the required argument 'a' (int)" in compile_error(missing)
    assert "called with 1 positional argument(s)" in compile_error(positional)
    assert "argument 'a': expected an int, got 'one' (str)" in compile_error(mistyped)
    assert "'data', which is an output" in compile_error(output_passed)


def test_artifact_and_parameter_mismatches() -> None:
    @dsl.pipeline
    def literal_artifact() -> None:
        use(data="file.csv")

    @dsl.pipeline
    def param_to_artifact() -> None:
        use(data=add(a=1).output)

    @dsl.pipeline
    def artifact_to_param() -> None:
        add(a=load(rows=1).output)

    @dsl.pipeline
    def placeholder_in_list() -> None:
        use(data=load(rows=1).output, scores=[add(a=1).output])

    assert "an artifact input (Dataset) needs an artifact output of another task, got the " \
        "literal 'file.csv'" in compile_error(literal_artifact)
    assert "output 'Output' of task 'add' is a parameter, but the input is an artifact" \
        in compile_error(param_to_artifact)
    assert "output 'data' of task 'load' is an artifact, but the input is a parameter (int)" \
        in compile_error(artifact_to_param)
    assert "a list or dict literal cannot hold pipeline values" \
        in compile_error(placeholder_in_list)


# --- loops -----------------------------------------------------------------------------------


def test_looped_output_used_outside_the_loop_without_collected() -> None:
    @dsl.pipeline
    def leaky() -> None:
        with dsl.ParallelFor([1, 2]) as n:
            inner = add(a=n)
        add(a=inner.output)

    text = compile_error(leaky)
    assert text.startswith(at(leaky, "add(a=inner.output)"))
    assert f"produced inside the dsl.ParallelFor at {at(leaky, 'ParallelFor')}" in text
    assert "wrap it in dsl.Collected(...)" in text


def test_collected_inside_the_same_loop() -> None:
    @dsl.pipeline
    def same_loop() -> None:
        with dsl.ParallelFor([1, 2]) as n:
            inner = add(a=n)
            use(data=load(rows=1).outputs["data"], scores=dsl.Collected(inner.output))

    text = compile_error(same_loop)
    assert text.startswith(at(same_loop, "dsl.Collected(inner.output)"))
    assert "argument 'scores'" in text
    assert "is used inside the same dsl.ParallelFor" in text


def test_collected_of_a_task_outside_any_loop() -> None:
    @dsl.pipeline
    def nothing_to_collect() -> None:
        use(data=load(rows=1).outputs["data"], scores=dsl.Collected(add(a=1).output))

    assert "is not inside a dsl.ParallelFor, so there is nothing to collect" \
        in compile_error(nothing_to_collect)


def test_loop_item_outside_its_loop_and_nested_loops() -> None:
    @dsl.pipeline
    def escaped() -> None:
        with dsl.ParallelFor([1, 2]) as n:
            pass
        add(a=n)

    @dsl.pipeline
    def nested() -> None:
        with dsl.ParallelFor([1, 2]), dsl.ParallelFor([3, 4]) as m:
            add(a=m)

    @dsl.pipeline
    def not_a_list() -> None:
        with dsl.ParallelFor(3):
            pass

    assert "is used outside that loop" in compile_error(escaped)
    text = compile_error(nested)
    assert "dsl.ParallelFor inside the dsl.ParallelFor" in text and "is not supported" in text
    assert "needs a list (literal, list parameter or list output), got 3" \
        in compile_error(not_a_list)


def test_pipeline_returning_a_looped_output() -> None:
    @dsl.pipeline
    def returns_loop() -> Any:
        with dsl.ParallelFor([1, 2]) as n:
            inner = add(a=n)
        return inner.output

    assert "which is produced inside a dsl.ParallelFor" in compile_error(returns_loop)


# --- conditions ------------------------------------------------------------------------------


def test_elif_without_if() -> None:
    @dsl.pipeline
    def orphan(n: int = 1) -> None:
        with dsl.Elif(n == 1):
            add(a=n)

    text = compile_error(orphan)
    assert text.startswith(at(orphan, "dsl.Elif(n == 1)"))
    assert "dsl.Elif must directly follow a `with dsl.If` or `with dsl.Elif` block" in text


def test_else_after_a_task_between() -> None:
    @dsl.pipeline
    def interrupted(n: int = 1) -> None:
        with dsl.If(n == 1):
            add(a=n)
        add(a=2)
        with dsl.Else():
            add(a=3)

    text = compile_error(interrupted)
    assert text.startswith(at(interrupted, "dsl.Else()"))
    assert "dsl.Else must directly follow" in text


def test_if_needs_a_comparison() -> None:
    @dsl.pipeline
    def plain_value(flag: bool = True) -> None:
        with dsl.If(flag):
            add(a=1)

    text = compile_error(plain_value)
    assert text.startswith(at(plain_value, "dsl.If(flag)"))
    assert "dsl.If needs a comparison of pipeline values" in text
    assert "got <pipeline parameter 'flag'>" in text


# --- exit handler ----------------------------------------------------------------------------


def test_run_status_outside_the_exit_task() -> None:
    @dsl.pipeline
    def misplaced() -> None:
        notify(status=dsl.PipelineTaskFinalStatus())

    text = compile_error(misplaced)
    assert text.startswith(at(misplaced, "notify(status="))
    assert "task 'notify' gets dsl.PipelineTaskFinalStatus(), which only the exit task" in text


def test_exit_handler_misuse() -> None:
    @dsl.pipeline
    def twice() -> None:
        final = notify()
        with dsl.ExitHandler(final):
            add(a=1)
        with dsl.ExitHandler(final):
            add(a=2)

    @dsl.pipeline
    def depends_on_exit() -> None:
        final = notify()
        with dsl.ExitHandler(final):
            add(a=1).after(final)

    @dsl.pipeline
    def reads_exit() -> None:
        final = notify_value()
        with dsl.ExitHandler(final):
            add(a=final.output)

    @dsl.pipeline
    def empty_block() -> None:
        final = notify()
        add(a=1)
        with dsl.ExitHandler(final):
            pass

    @dsl.pipeline
    def not_a_task() -> None:
        with dsl.ExitHandler(add):  # type: ignore[arg-type]
            pass

    text = compile_error(twice)
    assert text.startswith(at(twice, "dsl.ExitHandler(final)", nth=2))
    assert "task 'notify' is already the exit task of the dsl.ExitHandler at" in text
    text = compile_error(depends_on_exit)
    assert text.startswith(at(depends_on_exit, "add(a=1)"))
    assert "task 'add' runs after the exit task 'notify', which runs after every task" in text
    assert "move the task out of the `with dsl.ExitHandler` block" in text
    assert "comes from the exit task of the dsl.ExitHandler at" in compile_error(reads_exit)
    assert "the dsl.ExitHandler block has no tasks" in compile_error(empty_block)
    assert "dsl.ExitHandler takes a task created earlier" in compile_error(not_a_task)


# --- pipelines -------------------------------------------------------------------------------


def test_control_block_outside_a_pipeline() -> None:
    def outside() -> None:
        with dsl.ParallelFor([1]):
            pass

    with pytest.raises(InvalidInput) as info:
        outside()
    assert str(info.value).startswith(at(outside, "dsl.ParallelFor([1])"))
    assert "only usable inside a @dsl.pipeline function" in str(info.value)


def test_bad_pipeline_name_and_parameter_and_override() -> None:
    with pytest.raises(InvalidInput, match="name 'Bad_Name' is not a DNS-1123 label"):
        @dsl.pipeline(name="Bad_Name")
        def named() -> None:
            pass

    with pytest.raises(InvalidInput, match=r"pipeline 'artifacty', parameter 'd': "
                                           r"unsupported annotation"):
        @dsl.pipeline
        def artifacty(d: Input[Dataset]) -> None:
            pass

    @dsl.pipeline
    def simple(x: int = 1) -> None:
        add(a=x)

    with pytest.raises(InvalidInput, match="pipeline 'simple' has no parameter 'y'; its "
                                           "parameters: x"):
        dsl.compile(simple, {"y": 2})
    with pytest.raises(InvalidInput, match="parameter 'x': expected an int, got 'one'"):
        dsl.compile(simple, {"x": "one"})


def test_calling_a_pipeline() -> None:
    @dsl.pipeline
    def inner() -> None:
        add(a=1)

    @dsl.pipeline
    def outer() -> None:
        inner()

    with pytest.raises(InvalidInput, match="is not called directly"):
        inner()
    assert "nested pipelines are not supported" in compile_error(outer)


def test_parameter_and_output_types_must_fit() -> None:
    @dsl.pipeline
    def text_into_int(x: str = "1") -> None:
        add(a=x)

    @dsl.pipeline
    def float_into_int(x: float = 1.0) -> None:
        add(a=x)

    @dsl.pipeline
    def output_into_list() -> None:
        use(data=load(rows=1).outputs["data"], scores=add(a=1).output)

    @dsl.pipeline
    def int_into_float_is_fine(x: int = 1) -> None:
        scale(f=x)

    @dsl.component
    def scale(f: float) -> float:
        return f

    text = compile_error(text_into_int)
    assert text.startswith(at(text_into_int, "add(a=x)"))
    assert "component 'add', argument 'a': pipeline parameter 'x' is a str, but the input " \
        "takes an int" in text
    assert "pipeline parameter 'x' is a float, but the input takes an int" \
        in compile_error(float_into_int)
    assert "output 'Output' of task 'add' is an int, but the input takes a list" \
        in compile_error(output_into_list)
    assert dsl.compile(int_into_float_is_fine).spec.steps[0].name == "scale"


def test_passing_a_task_instead_of_an_output() -> None:
    @dsl.pipeline
    def whole_task() -> None:
        first = add(a=1)
        add(a=first)

    text = compile_error(whole_task)
    assert "component 'add', argument 'a': got the task 'add' itself; pass one of its outputs" \
        in text


def test_loop_over_a_parameter_that_is_not_a_list() -> None:
    @dsl.pipeline
    def over_text(items: str = "a,b") -> None:
        with dsl.ParallelFor(items) as item:
            print(item)

    text = compile_error(over_text)
    assert text.startswith(at(over_text, "dsl.ParallelFor(items)"))
    assert "dsl.ParallelFor needs a list; pipeline parameter 'items' is a str" in text


def test_set_env_variable_is_explained() -> None:
    @dsl.pipeline
    def with_env() -> None:
        add(a=1).set_env_variable("MODE", "fast")

    text = compile_error(with_env)
    assert text.startswith(at(with_env, "set_env_variable"))
    assert "add.set_env_variable('MODE', ...) is not supported" in text


@pytest.mark.parametrize("bad", ["abc", -1, 0, True])
def test_bad_durations_name_the_line(bad: Any) -> None:
    @dsl.pipeline
    def timed() -> None:
        add(a=1).set_timeout(bad)

    @dsl.pipeline
    def backoff() -> None:
        add(a=1).set_retry(2, backoff_duration="1s", backoff_max_duration=bad)

    text = compile_error(timed)
    assert text.startswith(at(timed, "set_timeout(bad)"))
    assert f"add.set_timeout(...) takes seconds (> 0) or a duration like '500ms', '30s', " \
        f"'5m', '2h', got {bad!r}" in text
    assert "add.set_retry(backoff_max_duration=...) takes seconds" in compile_error(backoff)
