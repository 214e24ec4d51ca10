"""Static pipeline checks: every problem names the step, the field path, the line and the fix."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from flowyard import dsl
from flowyard.errors import InvalidInput, PipelineInvalid, Problem, ResourceInvalid
from flowyard.pipelines.validate import (
    CHECKS,
    Context,
    check,
    dependencies,
    validate_parameters,
    validate_pipeline,
)
from flowyard.resources import Pipeline
from flowyard.resources.loader import load_string, parse_resource

HEADER = """\
apiVersion: flowyard.dev/v1alpha1
kind: Pipeline
metadata: {name: checks}
spec:
  parameters:
    - {name: n, type: int, default: 1}
    - {name: rate, type: float, default: 0.5}
    - {name: names, type: list, default: [a, b]}
    - {name: label, type: str, default: x}
  components:
    make:
      inputs:
        parameters: [{name: n, type: int, default: 1}]
      outputs:
        parameters: [{name: Output, type: int}, {name: items, type: list}]
        artifacts: [{name: data, type: Dataset}]
      python: {function: make, source: "def make(n=1): pass"}
    use:
      inputs:
        parameters: [{name: x, type: float}, {name: s, type: str, default: ""}]
        artifacts: [{name: data, type: Dataset}]
      outputs:
        parameters: [{name: Output, type: str}]
        artifacts: [{name: model, type: Model}]
      python: {function: use, source: "def use(x, data, s=''): pass"}
    take-any:
      inputs:
        artifacts: [{name: thing, type: Artifact}]
      python: {function: take, source: "def take(thing): pass"}
    gather:
      inputs:
        parameters: [{name: values, type: list}]
      python: {function: gather, source: "def gather(values): pass"}
    report:
      inputs:
        parameters: [{name: status, type: dict}]
      python: {function: report, source: "def report(status): pass"}
  steps:
"""


MAKE = "- {name: mk, component: make}\n"
FIRST = HEADER.count("\n") + 1  # the line of the first step


def build(steps: str, tail: str = "") -> str:
    """The header, then steps (under spec.steps) and a tail (under spec), each dedented."""
    head = ""
    if steps.startswith(MAKE):
        head, steps = MAKE, steps[len(MAKE):]
    body = head + textwrap.dedent(steps)
    return HEADER + textwrap.indent(body, "    ") + textwrap.indent(textwrap.dedent(tail), "  ")


def check_text(text: str) -> list[Problem]:
    [loaded] = load_string(text, file="p.yaml")
    assert isinstance(loaded.resource, Pipeline)
    try:
        validate_pipeline(loaded.resource, loaded.origin)
    except PipelineInvalid as exc:
        return exc.problems
    return []


def problems_of(steps: str, tail: str = "") -> list[Problem]:
    return check_text(build(steps, tail))


def only(steps: str, tail: str = "") -> tuple[Problem, str, str]:
    """The single problem, its rendering, and the text it was found in."""
    text = build(steps, tail)
    found = check_text(text)
    assert len(found) == 1, [p.render() for p in found]
    return found[0], found[0].render(), text


def line_no(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)





# --- the good case -------------------------------------------------------------------------


def test_complete_example_is_valid() -> None:
    text = build(MAKE + """\
        - name: use
          component: use
          arguments: {x: {step: mk, output: Output}, data: {step: mk, output: data}}
        - name: loop
          component: use
          forEach: {parameter: names}
          arguments: {x: {parameter: rate}, s: {item: true}, data: {step: mk, output: data}}
        - name: per-item
          component: take-any
          forEach: {parameter: names}
          arguments: {thing: {step: loop, output: model}}
        - name: all
          component: gather
          when: {op: "==", left: {step: use, output: Output}, right: yes}
          arguments: {values: {step: loop, output: Output, collect: true}}
        - name: keys
          component: gather
          forEach: [{k: [1]}, {k: [2, 3]}]
          arguments: {values: {item: k}}
          after: [all]
        """, """\
          onExit:
            name: tell
            component: report
            arguments: {status: {runStatus: true}}
          outputs:
            models: {step: loop, output: model, collect: true}
        """)
    assert [p.render() for p in check_text(text)] == []


def test_dependencies_cover_data_conditions_loops_and_after() -> None:
    text = build(MAKE + """\
        - {name: a, component: gather, forEach: {step: mk, output: items}, arguments: {values: []}}
        - name: b
          component: gather
          arguments: {values: []}
          when: {op: ">", left: {step: mk, output: Output}, right: 0}
        - {name: c, component: gather, arguments: {values: {step: a, output: Output,
           collect: true}}, after: [b]}
        """, """\
          onExit: {name: e, component: report, arguments: {status: {runStatus: true}}}
        """)
    [loaded] = load_string(text)
    assert dependencies(loaded.resource) == {
        "mk": set(), "a": {"mk"}, "b": {"mk"}, "c": {"a", "b"}, "e": set()}


# --- names and components --------------------------------------------------------------------


def test_duplicate_step_names_including_the_exit_handler() -> None:
    found = problems_of(MAKE + MAKE, """\
          onExit: {name: mk, component: report, arguments: {status: {runStatus: true}}}
        """)
    rendered = [p.render() for p in found]
    assert len(found) == 2
    assert rendered[0].startswith(f"p.yaml:{FIRST + 1}: spec.steps[1].name: step 'mk': "
                                  "duplicate step name (got 'mk'); already used at spec.steps[0]")
    assert found[1].field == "spec.onExit.name" and found[1].line == FIRST + 2


def test_unknown_component_lists_known_ones() -> None:
    problem, rendered, text = only("- {name: s, component: usee}\n")
    assert problem.field == "spec.steps[0].component" and problem.line == line_no(text, "usee")
    assert "step 's': unknown component (got 'usee')" in rendered
    assert "did you mean 'use'?" in rendered
    assert "components: make, use, take-any, gather, report" in rendered


def test_argument_naming_no_input() -> None:
    problem, rendered, _ = only("- {name: s, component: make, arguments: {m: 3}}\n")
    assert problem.field == "spec.steps[0].arguments.m"
    assert "step 's': component 'make' has no input 'm'" in rendered
    assert "its inputs: n" in rendered


def test_required_inputs_without_argument() -> None:
    found = problems_of("- {name: s, component: use, arguments: {s: hi}}\n")
    rendered = [p.render() for p in found]
    assert len(found) == 2
    assert all(p.field == "spec.steps[0].arguments" and p.line == FIRST + 0 for p in found)
    assert "input 'x' of component 'use' needs an argument (it has no default)" in rendered[0]
    assert "add `x: ...` under arguments" in rendered[0]
    assert "input 'data'" in rendered[1]


# --- artifacts versus parameters -------------------------------------------------------------


@pytest.mark.parametrize(("source", "got"), [
    ("3", "the value 3"),
    ("{parameter: label}", "pipeline parameter 'label' (str)"),
    ("{step: mk, output: Output}", "output 'Output' of step 'mk' (int)"),
])
def test_artifact_input_fed_by_non_artifact(source: str, got: str) -> None:
    problem, rendered, _ = only(MAKE + f"- {{name: s, component: take-any, "
                                f"arguments: {{thing: {source}}}}}\n")
    assert problem.field == "spec.steps[1].arguments.thing"
    assert "step 's': artifact input 'thing' (Artifact) must come from another step's " \
           "artifact output" in rendered
    assert f"got {got}; use {{step: S, output: O}}" in rendered


def test_parameter_input_fed_by_artifact() -> None:
    problem, rendered, _ = only(MAKE + """\
        - name: s
          component: gather
          arguments: {values: {step: mk, output: data}}
        """)
    assert problem.field == "spec.steps[1].arguments.values" and problem.line == FIRST + 3
    assert "parameter input 'values' (list) cannot take output 'data' of step 'mk' (Dataset)" \
           in rendered
    assert "declare the input as an artifact" in rendered


# --- references ------------------------------------------------------------------------------


def test_unknown_step_reference_suggests_close_names() -> None:
    problem, rendered, _ = only(MAKE + "- {name: s, component: take-any, arguments: "
                                "{thing: {step: mak, output: data}}}\n")
    assert problem.field == "spec.steps[1].arguments.thing.step" and problem.line == FIRST + 1
    assert "unknown step (got 'mak'); did you mean 'mk'? steps: mk, s" in rendered


def test_unknown_output_lists_outputs() -> None:
    problem, rendered, _ = only(MAKE + "- {name: s, component: take-any, arguments: "
                                "{thing: {step: mk, output: dat}}}\n")
    assert problem.field == "spec.steps[1].arguments.thing.output"
    assert "step 'mk' has no output 'dat' (got 'dat'); did you mean 'data'? its outputs: " \
           "Output, items, data" in rendered


def test_unknown_pipeline_parameter() -> None:
    problem, rendered, _ = only("- {name: s, component: make, arguments: {n: {parameter: nn}}}\n")
    assert problem.field == "spec.steps[0].arguments.n"
    assert "unknown pipeline parameter (got 'nn'); did you mean 'n'? pipeline parameters: " \
           "n, rate, names, label" in rendered


def test_after_unknown_step() -> None:
    problem, rendered, text = only(MAKE + "- name: s\n  component: make\n  after: [mk, mkk]\n")
    assert problem.field == "spec.steps[1].after[1]" and problem.line == line_no(text, "after:")
    assert "`after` names an unknown step (got 'mkk'); did you mean 'mk'?" in rendered


def test_exit_handler_cannot_be_referenced() -> None:
    found = problems_of("""\
        - {name: s, component: gather, arguments: {values: {step: tell, output: x}},
           after: [tell]}
        """, """\
          onExit: {name: tell, component: report, arguments: {status: {runStatus: true}}}
        """)
    rendered = [p.render() for p in found]
    assert len(found) == 2
    assert "spec.steps[0].arguments.values.step: step 's': the exit handler cannot be " \
           "referenced (got 'tell')" in rendered[0]
    assert "spec.steps[0].after[0]: step 's': no step can run after the exit handler" \
           in rendered[1]


def test_exit_handler_cannot_take_outputs() -> None:
    problem, rendered, _ = only(MAKE, """\
          onExit: {name: tell, component: gather, arguments: {values: {step: mk, output: items}}}
        """)
    assert problem.field == "spec.onExit.arguments.values"
    assert "step 'tell': the exit handler cannot take other steps' outputs" in rendered
    assert "{runStatus: true}" in rendered


def test_run_status_only_in_exit_handler() -> None:
    problem, rendered, _ = only("- {name: s, component: report, arguments: "
                                "{status: {runStatus: true}}}\n")
    assert problem.field == "spec.steps[0].arguments.status" and problem.line == FIRST + 0
    assert "step 's': {runStatus: true} is only available to the exit handler" in rendered
    assert "spec.onExit" in rendered


def test_pipeline_outputs_are_checked() -> None:
    problem, rendered, _ = only(MAKE, "outputs:\n  best: {step: mk, output: nope}\n")
    assert problem.field == "spec.outputs.best.output"
    assert rendered.startswith(f"p.yaml:{FIRST + 2}: spec.outputs.best.output: "
                               "step 'mk' has no output")


# --- types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "ok"), [
    ("{step: mk, output: Output}", True),  # int -> float
    ("{parameter: n}", True),
    ("{parameter: rate}", True),
    ("1", True),
    ("1.5", True),
    ("null", True),
    ("{parameter: label}", False),
    ("'3'", False),
    ("true", False),
    ("[1]", False),
])
def test_parameter_types(source: str, ok: bool) -> None:
    found = problems_of(MAKE + f"- {{name: s, component: use, arguments: {{x: {source}, "
                        "data: {step: mk, output: data}}}\n")
    assert (found == []) is ok, [p.render() for p in found]
    if not ok:
        assert found[0].field == "spec.steps[1].arguments.x"
        assert "step 's': input 'x' takes float" in found[0].render()


def test_literal_type_mismatch_message() -> None:
    _, rendered, _ = only("- {name: s, component: make, arguments: {n: true}}\n")
    assert rendered == (f"p.yaml:{FIRST}: spec.steps[0].arguments.n: step 's': input 'n' "
                        "takes int, not bool (got True); write a int value")


def test_output_type_mismatch_message() -> None:
    problem, rendered, _ = only(MAKE + """\
        - {name: u, component: use, arguments: {x: 1, data: {step: mk, output: data}}}
        - {name: s, component: make, arguments: {n: {step: u, output: Output}}}
        """)
    assert problem.field == "spec.steps[2].arguments.n"
    assert "input 'n' takes int, but output 'Output' of step 'u' (str) does not fit" in rendered
    assert "int into float" in rendered


def test_artifact_type_mismatch() -> None:
    problem, rendered, _ = only(MAKE + """\
        - {name: u, component: use, arguments: {x: 1, data: {step: mk, output: data}}}
        - {name: s, component: use, arguments: {x: 1, data: {step: u, output: model}}}
        - {name: t, component: take-any, arguments: {thing: {step: u, output: model}}}
        """)
    assert problem.field == "spec.steps[2].arguments.data"
    assert "step 's': artifact input 'data' takes a Dataset, but output 'model' of step 'u' " \
           "(Model) is a Model" in rendered
    assert "declare the input as Artifact" in rendered


# --- loops ---------------------------------------------------------------------------------


def test_item_outside_a_loop() -> None:
    problem, rendered, _ = only("- {name: s, component: make, arguments: {n: {item: true}}}\n")
    assert problem.field == "spec.steps[0].arguments.n"
    assert "{item} is only available in a step with forEach" in rendered


@pytest.mark.parametrize(("for_each", "message"), [
    ("3", "forEach must be a list (got 3)"),
    ("{parameter: n}", "forEach needs a list, but pipeline parameter 'n' (int) is not one"),
    ("{step: mk, output: Output}", "forEach needs a list, but output 'Output' of step 'mk'"),
    ("{step: mk, output: data}", "forEach cannot loop over output 'data' of step 'mk' (Dataset)"),
    ("{item: true}", "forEach cannot use {item}: loops do not nest"),
])
def test_for_each_must_be_a_list(for_each: str, message: str) -> None:
    problem, rendered, _ = only(MAKE + f"- {{name: s, component: gather, forEach: {for_each}, "
                                "arguments: {values: []}}\n")
    assert problem.field.startswith("spec.steps[1].forEach") and problem.line == FIRST + 1
    assert f"step 's': {message}" in rendered


@pytest.mark.parametrize("for_each", ["[1, 2]", "{parameter: names}", "{step: mk, output: items}",
                                      "[]"])
def test_for_each_sources_that_are_lists(for_each: str) -> None:
    assert problems_of(MAKE + f"- {{name: s, component: gather, forEach: {for_each}, "
                       "arguments: {values: []}}\n") == []


def test_consumer_of_a_loop_must_collect() -> None:
    problem, rendered, _ = only("""\
        - {name: l, component: make, forEach: [1, 2], arguments: {n: {item: true}}}
        - {name: s, component: make, arguments: {n: {step: l, output: Output}}}
        """)
    assert problem.field == "spec.steps[1].arguments.n"
    assert "step 'l' runs once per item of its forEach" in rendered
    assert "add `collect: true`" in rendered and "same forEach" in rendered


def test_same_loop_source_wires_iteration_by_iteration() -> None:
    assert problems_of("""\
        - {name: l, component: make, forEach: [1, 2], arguments: {n: {item: true}}}
        - {name: s, component: make, forEach: [1, 2], arguments: {n: {step: l, output: Output}}}
        """) == []
    found = problems_of("""\
        - {name: l, component: make, forEach: [1, 2], arguments: {n: {item: true}}}
        - {name: s, component: make, forEach: [1, 3], arguments: {n: {step: l, output: Output}}}
        """)
    assert len(found) == 1 and "runs once per item" in found[0].render()


def test_collect_on_a_step_without_loop() -> None:
    problem, rendered, _ = only(MAKE + """\
        - name: s
          component: gather
          arguments:
            values: {step: mk, output: items, collect: true}
        """)
    assert problem.field == "spec.steps[1].arguments.values.collect" and problem.line == FIRST + 4
    assert "`collect: true` needs a looped producer, but step 'mk' has no forEach" in rendered
    assert "remove `collect: true`" in rendered


def test_collected_outputs_are_lists() -> None:
    _, rendered, _ = only("""\
        - {name: l, component: make, forEach: [1, 2], arguments: {n: {item: true}}}
        - {name: s, component: make, arguments: {n: {step: l, output: Output, collect: true}}}
        """)
    assert "input 'n' takes int, but the collected output 'Output' of step 'l' (list)" in rendered


def test_collected_artifacts_feed_artifact_inputs_of_a_fitting_type() -> None:
    good = """\
        - {name: l, component: make, forEach: [1, 2], arguments: {n: {item: true}}}
        - {name: s, component: take-any, arguments: {thing: {step: l, output: data,
           collect: true}}}
        """
    assert problems_of(good) == []
    _, rendered, _ = only(good.replace("component: take-any, arguments: {thing:",
                                             "component: gather, arguments: {values:"))
    assert "cannot take the collected output 'data' of step 'l' (list of Dataset)" in rendered


def test_loop_items_are_type_checked() -> None:
    _, rendered, _ = only("- {name: s, component: make, forEach: [1, two], "
                                "arguments: {n: {item: true}}}\n")
    assert "input 'n' takes int, but the loop items include a str (got 'two')" in rendered


def test_item_key_needs_mapping_items() -> None:
    problem, rendered, _ = only("- {name: s, component: make, forEach: [{n: 1}, {m: 2}], "
                                "arguments: {n: {item: n}}}\n")
    assert problem.field == "spec.steps[0].forEach.value[1]"
    assert "{item: n} needs every loop item to be a mapping with key 'n' (got {'m': 2})" in rendered


def test_exit_handler_cannot_loop() -> None:
    problem, rendered, _ = only(MAKE, """\
          onExit: {name: e, component: report, forEach: [1], arguments: {status: {runStatus: true}}}
        """)
    assert problem.field == "spec.onExit.forEach"
    assert "step 'e': the exit handler cannot loop" in rendered


# --- cycles --------------------------------------------------------------------------------


def test_cycle_through_data_and_after() -> None:
    problem, rendered, _ = only("""\
        - {name: a, component: make, arguments: {n: {step: c, output: Output}}}
        - {name: b, component: make, after: [a]}
        - {name: c, component: make, arguments: {n: {step: b, output: Output}}}
        """)
    # Located at the ref of the first step that closes the cycle (a waits for c).
    assert problem.field == "spec.steps[0].arguments.n" and problem.line == FIRST + 0
    assert "steps wait for each other in a cycle: a -> b -> c -> a" in rendered
    assert "remove one of these" in rendered


def test_cycle_through_after_names_the_after_entry() -> None:
    problem, _, _ = only("""\
        - name: a
          component: make
          after:
            - c
        - {name: c, component: make, arguments: {n: {step: a, output: Output}}}
        """)
    assert problem.field == "spec.steps[0].after[0]" and problem.line == FIRST + 3


def test_self_dependency_is_a_cycle() -> None:
    _, rendered, _ = only("- {name: a, component: make, after: [a]}\n")
    assert "cycle: a -> a" in rendered


def test_two_cycles_are_both_reported() -> None:
    found = problems_of("""\
        - {name: a, component: make, after: [b]}
        - {name: b, component: make, after: [a]}
        - {name: c, component: make, after: [d]}
        - {name: d, component: make, after: [c]}
        """)
    assert sorted(p.message.split("cycle: ")[1] for p in found) == ["a -> b -> a", "c -> d -> c"]


# --- conditions ----------------------------------------------------------------------------


@pytest.mark.parametrize(("when", "message"), [
    ("{op: '==', left: {step: mk, output: Output}, right: forest}",
     "output 'Output' of step 'mk' (int) and the value 'forest' have different types (int == str)"),
    ("{op: '==', left: true, right: 1}",
     "the value True and the value 1 have different types (bool == int)"),
    ("{op: '<', left: [1], right: [2]}", "'<' orders numbers or strings, not list"),
    ("{op: in, left: 1, right: 2}", "'in' needs a list, dict or str on the right"),
    ("{op: in, left: 1, right: [a, b]}", "the value 1 can never be in ['a', 'b']"),
    ("{op: in, left: 1, right: {parameter: label}}", "'in' on a str needs a str on the left"),
    ("{not: {op: '!=', left: {parameter: label}, right: 2.5}}",
     "pipeline parameter 'label' (str) and the value 2.5 have different types (str != float)"),
])
def test_condition_type_problems(when: str, message: str) -> None:
    problem, rendered, _ = only(MAKE + f"- {{name: s, component: make, when: {when}}}\n")
    assert problem.field.startswith("spec.steps[1].when") and problem.line == FIRST + 1
    assert f"step 's': {message}" in rendered
    assert "compare values of one type" in rendered


@pytest.mark.parametrize("when", [
    "{op: '==', left: {step: mk, output: Output}, right: 2.0}",
    "{op: '>=', left: {parameter: rate}, right: 1}",
    "{op: in, left: {parameter: label}, right: {parameter: names}}",
    "{op: in, left: a, right: [a, 1]}",
    "{any: [{op: '<', left: b, right: c}, {op: '!=', left: 1, right: 2.5}]}",
])
def test_condition_types_that_fit(when: str) -> None:
    assert problems_of(MAKE + f"- {{name: s, component: make, when: {when}}}\n") == []


def test_condition_refs_are_checked() -> None:
    found = problems_of("- {name: s, component: make, when: {all: [{op: '==', left: "
                        "{step: ghost, output: x}, right: {parameter: nope}}]}}\n")
    assert [p.field for p in found] == ["spec.steps[0].when.all[0].left.step",
                                        "spec.steps[0].when.all[0].right"]


def test_conditions_cannot_compare_artifacts() -> None:
    problem, rendered, _ = only(MAKE + "- {name: s, component: make, when: "
                                "{op: '==', left: {step: mk, output: data}, right: 1}}\n")
    assert problem.field == "spec.steps[1].when.left"
    assert "a condition cannot compare output 'data' of step 'mk' (Dataset)" in rendered


# --- interfaces and sources ----------------------------------------------------------------


def test_defaults_must_fit_types() -> None:
    text = build(MAKE).replace("{name: rate, type: float, default: 0.5}",
                               "{name: rate, type: float, default: fast}")
    [problem] = check_text(text)
    assert problem.field == "spec.parameters[1].default" and problem.line == 7
    assert "the default of parameter 'rate' is not a float (got 'fast')" in problem.render()


def test_python_source_must_parse_and_define_the_function() -> None:
    text = build(MAKE).replace('source: "def make(n=1): pass"',
                               'source: "def make(n=1) pass"').replace(
        "{function: use,", "{function: used,")
    found = check_text(text)
    rendered = [p.render() for p in found]
    assert len(found) == 2
    assert "component 'make': the python source does not parse" in rendered[0]
    assert "spec.components.use.python.function" in rendered[1]
    assert "no top-level function 'used' (got 'used'); did you mean 'use'?" in rendered[1]


def test_source_syntax_error_points_into_the_literal_block() -> None:
    text = build(MAKE).replace('python: {function: make, source: "def make(n=1): pass"}',
                               "python:\n        function: make\n        source: |\n"
                               "          def make(n=1):\n              return (\n")
    [problem] = check_text(text)
    assert problem.line == line_no(text, "return (")
    assert "'(' was never closed (source line 2)" in problem.render()


def test_container_placeholders_name_declared_ports() -> None:
    text = build(MAKE).replace(
        '      python: {function: take, source: "def take(thing): pass"}',
        "      outputs: {parameters: [{name: out, type: str}]}\n"
        "      container:\n        image: alpine\n"
        "        command: [cat, '{{inputs.artifacts.thing.path}}',\n"
        "                  '{{inputs.artifacts.thin.path}}']\n"
        "        args: ['{{outputs.parameters.out}}', '{{inputs.parameters.thing}}', '{{foo}}']\n")
    found = check_text(text)
    rendered = [p.render() for p in found]
    assert len(found) == 4, rendered
    assert "spec.components.take-any.container.command[2]: component 'take-any': no input " \
           "artifact 'thin' (declared: thing)" in rendered[0]
    assert "add `.path`" in rendered[1]
    assert "no input parameter 'thing' (declared: none)" in rendered[2]
    assert "unknown placeholder (got '{{foo}}')" in rendered[3]


# --- reporting -----------------------------------------------------------------------------


def test_all_problems_are_reported_at_once_in_file_order() -> None:
    text = build("""\
        - {name: a, component: nope}
        - {name: b, component: make, arguments: {n: {parameter: zz}}}
        - {name: a, component: make, after: [q]}
        """)
    with pytest.raises(PipelineInvalid) as info:
        [loaded] = load_string(text, file="p.yaml")
        validate_pipeline(loaded.resource, loaded.origin)
    error = info.value
    assert isinstance(error, ResourceInvalid) and isinstance(error, InvalidInput)
    assert error.exit_code == 2 and error.headline == "Invalid pipeline"
    assert [p.line for p in error.problems] == [FIRST, FIRST + 1, FIRST + 2, FIRST + 2]
    assert str(error).startswith(f"several problems:\np.yaml:{FIRST}: spec.steps[0].component")


def test_without_origin_problems_still_name_step_and_path() -> None:
    [loaded] = load_string(build("- {name: s, component: make, arguments: {n: x}}\n"))
    with pytest.raises(PipelineInvalid) as info:
        validate_pipeline(parse_resource(loaded.resource.to_dict()))  # plain data: no origin
    [problem] = info.value.problems
    assert (problem.file, problem.line) == (None, None)
    assert problem.render().startswith("spec.steps[0].arguments.n: step 's': input 'n' takes int")
    # The resource as loaded remembers where it came from, so no origin needs passing.
    with pytest.raises(PipelineInvalid) as info:
        validate_pipeline(loaded.resource)
    [problem] = info.value.problems
    assert (problem.file, problem.line) == ("<string>", FIRST)


def test_custom_checks_join_the_registry() -> None:
    @check
    def no_steps_named_bad(ctx: Context) -> Iterator[Problem]:
        for site in ctx.sites:
            if site.name == "bad":
                yield ctx.problem(site, (*site.path, "name"), "that name is reserved")

    try:
        _, rendered, _ = only("- {name: bad, component: make}\n")
        assert rendered == f"p.yaml:{FIRST}: spec.steps[0].name: step 'bad': that name is reserved"
    finally:
        CHECKS.remove(no_steps_named_bad)


# --- run parameters ------------------------------------------------------------------------


def pipeline() -> Pipeline:
    text = build(MAKE).replace("  components:", "    - {name: need, type: bool}\n"
                                                "    - {name: opts, type: dict, default: {}}\n"
                                                "  components:")
    [loaded] = load_string(text)
    assert isinstance(loaded.resource, Pipeline)
    return loaded.resource


def test_parameters_resolve_with_defaults() -> None:
    p = pipeline()
    assert validate_parameters(p, {"need": True}) == {
        "n": 1, "rate": 0.5, "names": ["a", "b"], "label": "x", "need": True, "opts": {}}
    resolved = validate_parameters(p, {"need": "false"})
    resolved["names"].append("c")  # defaults are copies
    assert p.spec.parameters[2].default == ["a", "b"]


@pytest.mark.parametrize(("given", "expected"), [
    ({"n": "3"}, {"n": 3}),
    ({"n": 7}, {"n": 7}),
    ({"rate": "0.25"}, {"rate": 0.25}),
    ({"rate": 2}, {"rate": 2.0}),
    ({"need": "TRUE"}, {"need": True}),
    ({"need": "false"}, {"need": False}),
    ({"names": '["x", "y"]'}, {"names": ["x", "y"]}),
    ({"names": ("x",)}, {"names": ["x"]}),
    ({"opts": '{"k": 1}'}, {"opts": {"k": 1}}),
    ({"label": "3"}, {"label": "3"}),
])
def test_cli_strings_are_coerced(given: dict[str, Any], expected: dict[str, Any]) -> None:
    resolved = validate_parameters(pipeline(), {"need": True, **given})
    assert {k: resolved[k] for k in expected} == expected
    assert all(type(resolved[k]) is type(v) for k, v in expected.items())


@pytest.mark.parametrize(("given", "message"), [
    ({"n": "three"}, "parameter 'n': 'three' is not a int (e.g. 3)"),
    ({"n": True}, "parameter 'n': True is not a int"),
    ({"n": 1.5}, "parameter 'n': 1.5 is not a int"),
    ({"rate": "fast"}, "parameter 'rate': 'fast' is not a float (e.g. 0.25)"),
    ({"need": "maybe"}, "parameter 'need': 'maybe' is not a bool (true or false)"),
    ({"names": "[1,"}, "parameter 'names': '[1,' is not a list (JSON like [\"a\", \"b\"])"),
    ({"names": '{"a": 1}'}, "is not a list"),
    ({"opts": "[]"}, "parameter 'opts': '[]' is not a dict"),
    ({"label": 3}, "parameter 'label': 3 is not a str"),
])
def test_bad_parameter_values(given: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_parameters(pipeline(), {"need": True, **given})
    assert message in str(info.value)
    assert "NAME=VALUE" in str(info.value)


def test_unknown_and_missing_parameters_are_all_named() -> None:
    with pytest.raises(InvalidInput) as info:
        validate_parameters(pipeline(), {"rat": "1"})
    text = str(info.value)
    assert text.startswith("bad parameters:")
    assert "unknown parameter 'rat' (did you mean 'rate'?); pipeline 'checks' takes: n, rate, " \
           "names, label, need, opts" in text
    assert "parameter 'need' (bool) is required: it has no default" in text


# --- robustness ----------------------------------------------------------------------------

_NOISE: list[Any] = [
    None, 0, 2.5, True, "x", "mk", "Output", "data", [], [1, "a"], {}, {"item": True},
    {"step": "mk", "output": "data"}, {"step": "mk", "output": "items", "collect": True},
    {"parameter": "names"}, {"runStatus": True}, {"value": {"a": 1}}, [{"k": 1}],
    "{{inputs.parameters.n}}", "def broken(:",
]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if path:
        yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def test_mutated_pipelines_fail_only_with_our_errors() -> None:
    """Random edits of a valid pipeline end in a valid pipeline or in our errors, never a crash."""
    import copy
    import random

    import yaml

    from flowyard.resources.loader import dump_yaml, parse_resource

    text = build(MAKE + """\
        - name: loop
          component: use
          forEach: {parameter: names}
          arguments: {x: {parameter: rate}, s: {item: true}, data: {step: mk, output: data}}
          when: {op: "==", left: {step: mk, output: Output}, right: 1}
        - {name: all, component: gather, arguments: {values: {step: loop, output: Output,
           collect: true}}, after: [mk]}
        """, "onExit: {name: tell, component: report, arguments: {status: {runStatus: true}}}\n")
    base = yaml.safe_load(text)
    rng = random.Random(7)
    outcomes = {"valid": 0, "resource": 0, "pipeline": 0}
    for _ in range(400):
        data = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(list(_paths(data)))
            parent = data
            for key in path[:-1]:
                parent = parent[key]
            if rng.random() < 0.3:
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(rng.choice(_NOISE))
        try:
            resource = parse_resource(data)
        except ResourceInvalid as exc:
            assert exc.problems and str(exc)
            outcomes["resource"] += 1
            continue
        assert isinstance(resource, Pipeline)
        [again] = load_string(dump_yaml([resource]))
        assert again.resource == resource
        dependencies(resource)
        try:
            validate_pipeline(resource, again.origin)
            outcomes["valid"] += 1
        except PipelineInvalid as exc:
            assert all(p.field and p.line for p in exc.problems), str(exc)
            outcomes["pipeline"] += 1
    assert min(outcomes.values()) > 0, outcomes


def test_dsl_compiled_pipeline_is_valid() -> None:
    @dsl.component
    def load(rows: int, data: dsl.Output[dsl.Dataset]) -> None:
        pass

    @dsl.component
    def train(data: dsl.Input[dsl.Dataset], kind: str, model: dsl.Output[dsl.Model]) -> float:
        return 1.0

    @dsl.component
    def pick(scores: list) -> str:
        return "forest"

    @dsl.component
    def notify(status: dsl.PipelineTaskFinalStatus) -> None:
        pass

    @dsl.pipeline(name="dsl-valid")
    def flow(rows: int = 10, kinds: list = ["a", "b"]) -> None:  # noqa: B006 - kfp style
        final = notify(status=dsl.PipelineTaskFinalStatus())
        with dsl.ExitHandler(final):
            d = load(rows=rows)
            with dsl.ParallelFor(kinds, parallelism=2) as kind:
                t = train(data=d.outputs["data"], kind=kind)
            best = pick(scores=dsl.Collected(t.outputs["Output"]))
            with dsl.If(best.output == "forest"):
                load(rows=1).after(best)

    pipeline = dsl.compile(flow)
    validate_pipeline(pipeline)
    assert dependencies(pipeline)["pick"] == {"train"}
