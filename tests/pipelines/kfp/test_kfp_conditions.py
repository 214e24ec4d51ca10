"""The CEL subset kfp writes for dsl.If/Elif/Else, parsed into Flowyard Conditions."""

from __future__ import annotations

import pytest

from flowyard.errors import InvalidInput
from flowyard.pipelines.kfp.conditions import parse_condition
from flowyard.resources.pipeline import Condition, Ref


def channel(name: str) -> Ref:
    return Ref(parameter=name.removeprefix("pipelinechannel--"))


def parse(text: str) -> Condition:
    return parse_condition(text, channel, "t.yaml: kfp task 'c'")


def test_comparison_with_cast_and_literals() -> None:
    cond = parse("int(inputs.parameter_values['pipelinechannel--n']) >= -2")
    assert cond.op == ">=" and cond.left == Ref(parameter="n") and cond.right == Ref(value=-2)
    assert parse("inputs.parameter_values[\"pipelinechannel--f\"] < 0.5").right == Ref(value=0.5)
    assert parse("inputs.parameter_values['pipelinechannel--b'] == true").right == Ref(value=True)
    assert parse("inputs.parameter_values['pipelinechannel--s'] != 'it\\'s'").right == Ref(
        value="it's")


def test_elif_else_shapes() -> None:
    cond = parse("!(inputs.parameter_values['pipelinechannel--x'] == 'a') && "
                 "(inputs.parameter_values['pipelinechannel--x'] == 'b' || "
                 "inputs.parameter_values['pipelinechannel--y'] > 1)")
    assert cond.all is not None and len(cond.all) == 2
    assert cond.all[0].not_ is not None and cond.all[0].not_.right == Ref(value="a")
    assert cond.all[1].any is not None and cond.all[1].any[1].left == Ref(parameter="y")


@pytest.mark.parametrize(("text", "found"), [
    ("inputs.parameter_values['pipelinechannel--x'] + 1 == 2",
     "unexpected text at column 47 ('+ 1 == 2')"),
    ("inputs.parameter_values['pipelinechannel--x'] == ", "unexpected end"),
    ("inputs.parameter_values['pipelinechannel--x'] == 1 1", "unexpected '1'"),
    ("inputs.artifacts['a'] == 1", "unexpected text at column 7"),
    ("inputs.parameter_values['pipelinechannel--x']", "unexpected end"),
    ("size(inputs.parameter_values['pipelinechannel--x']) > 1", "unsupported operand 'size'"),
    ("inputs.parameter_values['pipelinechannel--x'] == @", "unexpected text at column 50"),
])
def test_outside_the_subset(text: str, found: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse(text)
    assert info.value.message.startswith(f"t.yaml: kfp task 'c': condition {text!r}: ")
    assert found in info.value.message
