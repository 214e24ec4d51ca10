"""Every way a resource file can be wrong names file:line, the field path, the value and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowyard.errors import InvalidInput, Problem, ResourceInvalid
from flowyard.resources.loader import load_file, load_path, load_string, parse_resource


def line_no(text: str, needle: str, start: int = 1) -> int:
    """1-based number of the first line at or after `start` containing `needle`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if n >= start and needle in line)


GOOD = """\
apiVersion: flowyard.dev/v1alpha1
kind: Pipeline
metadata:
  name: p
spec:
  components:
    c:
      inputs:
        parameters: [{name: x, type: int}]
      python: {function: f, source: "def f(x): pass"}
  steps:
    - name: s
      component: c
      arguments: {x: 1}
"""


def problems(text: str, file: str = "p.yaml") -> list[Problem]:
    with pytest.raises(ResourceInvalid) as info:
        load_string(text, file=file)
    assert isinstance(info.value, InvalidInput)
    return info.value.problems


def only(text: str, file: str = "p.yaml") -> tuple[Problem, str]:
    [problem] = problems(text, file)
    return problem, problem.render()


def test_good_base_loads() -> None:
    assert load_string(GOOD)[0].resource.name == "p"


def test_yaml_syntax_error_names_file_line_column() -> None:
    text = GOOD.replace("      component: c", "      component: c: d")
    problem, rendered = only(text)
    line = line_no(text, "component: c: d")
    assert (problem.file, problem.line) == ("p.yaml", line)
    assert rendered.startswith(f"p.yaml:{line}: YAML syntax error: mapping values are not allowed")
    assert f"(at p.yaml:{line}:19)" in rendered
    assert "indentation" in rendered


def test_unclosed_flow_sequence() -> None:
    _, rendered = only("kind: Pipeline\nsteps: [a, b\n", file="q.yaml")
    assert "(at q.yaml:3:1)" in rendered


def test_non_mapping_document() -> None:
    problem, rendered = only(GOOD + "---\n- just\n- a list\n")
    assert problem.line == 16 and problem.field == ""
    assert rendered.startswith("p.yaml:16: a resource must be a mapping")
    assert "['just', 'a list']" in rendered


def test_unknown_kind_lists_known_kinds_and_suggests() -> None:
    problem, rendered = only(GOOD.replace("kind: Pipeline", "kind: Pipline"))
    assert problem.field == "kind" and problem.line == 2 and problem.value == "Pipline"
    assert "unknown kind" in rendered
    assert "did you mean 'Pipeline'?" in rendered
    assert "known kinds:" in rendered and "Pipeline" in rendered


def test_missing_kind() -> None:
    _, rendered = only(GOOD.replace("kind: Pipeline\n", ""))
    assert rendered.startswith("p.yaml:1: missing field 'kind'; known kinds:")


def test_wrong_api_version_names_expected_and_still_checks_the_rest() -> None:
    text = GOOD.replace("flowyard.dev/v1alpha1", "flowyard.dev/v2").replace("name: p", "name: P")
    found = problems(text)
    rendered = [p.render() for p in found]
    assert ("p.yaml:1: apiVersion: unsupported apiVersion (got 'flowyard.dev/v2'); "
            "expected 'flowyard.dev/v1alpha1'") in rendered
    assert any(r.startswith("p.yaml:4: metadata.name: must be a DNS-1123 label") for r in rendered)


def test_missing_api_version() -> None:
    _, rendered = only(GOOD.replace("apiVersion: flowyard.dev/v1alpha1\n", ""))
    assert "missing field 'apiVersion'" in rendered
    assert "apiVersion: flowyard.dev/v1alpha1" in rendered


def test_unknown_field_suggests_closest_name() -> None:
    text = GOOD + "      retires: {limit: 3}\n"
    problem, rendered = only(text)
    assert problem.field == "spec.steps[0].retires"
    assert problem.line == line_no(text, "retires:")
    assert "unknown field 'retires'" in rendered
    assert "did you mean 'retry'?" in rendered
    assert "valid fields: name, component, arguments" in rendered
    assert "https://" not in rendered


def test_bad_value_names_path_value_and_allowed() -> None:
    text = GOOD + "      retry:\n        limit: lots\n"
    problem, rendered = only(text)
    assert problem.field == "spec.steps[0].retry.limit"
    assert problem.line == line_no(text, "limit: lots")
    assert problem.value == "lots"
    assert rendered == (f"p.yaml:{problem.line}: spec.steps[0].retry.limit: must be a valid "
                        "integer, unable to parse string as an integer (got 'lots')")


def test_out_of_range_value() -> None:
    problem, rendered = only(GOOD + "      retry: {limit: -1}\n")
    assert problem.field == "spec.steps[0].retry.limit"
    assert "greater than or equal to 0" in rendered and "(got -1)" in rendered


def test_enum_value_lists_choices() -> None:
    problem, rendered = only(GOOD.replace("type: int", "type: integer"))
    assert problem.field == "spec.components.c.inputs.parameters[0].type"
    assert problem.line == line_no(GOOD, "type: int")
    assert "must be 'str', 'int', 'float', 'bool', 'list' or 'dict'" in rendered
    assert "(got 'integer')" in rendered


def test_missing_required_field() -> None:
    text = GOOD.replace("      component: c\n", "")
    problem, rendered = only(text)
    assert problem.field == "spec.steps[0].component"
    assert problem.line == line_no(text, "- name: s")
    assert "missing required field 'component'" in rendered


def test_model_rule_message_is_human() -> None:
    text = GOOD.replace("arguments: {x: 1}", "arguments: {x: {step: s}}")
    problem, rendered = only(text)
    assert problem.field == "spec.steps[0].arguments.x"
    assert "{step: ...} needs `output:`" in rendered
    assert "Value error" not in rendered


def test_union_failures_merge_into_one_problem() -> None:
    problem, rendered = only(GOOD.replace("arguments: {x: 1}", "arguments: {x: {item: 3}}"))
    assert problem.field == "spec.steps[0].arguments.x.item"
    assert "valid boolean" in rendered and "valid string" in rendered and "(got 3)" in rendered


def test_nested_condition_path() -> None:
    text = GOOD + "      when: {any: [{op: '=~', left: 1, right: 2}]}\n"
    problem, rendered = only(text)
    assert problem.field == "spec.steps[0].when.any[0].op"
    assert "(got '=~')" in rendered and "'not in'" in rendered


def test_bad_duration() -> None:
    problem, rendered = only(GOOD + "      timeout: 3 weeks\n")
    assert problem.field == "spec.steps[0].timeout"
    assert "'500ms', '30s', '5m', '2h'" in rendered and "(got '3 weeks')" in rendered


def test_wrong_container_type_says_mapping() -> None:
    problem, rendered = only(GOOD + "      retry: 3\n")
    assert problem.field == "spec.steps[0].retry"
    assert "must be a mapping (key: value)" in rendered


def test_duplicate_keys_are_reported() -> None:
    text = GOOD + "      component: d\n"
    problem, rendered = only(text)
    assert problem.field == "spec.steps[0].component"
    assert problem.line == line_no(text, "component: d")
    assert f"duplicate key 'component' (first at line {line_no(text, 'component: c')})" in rendered


def test_problems_of_all_documents_are_collected() -> None:
    text = GOOD.replace("name: p", "name: P") + "---\n" + GOOD.replace("kind: Pipeline",
                                                                     "kind: Nope")
    found = problems(text)
    assert [(p.field, p.line) for p in found] == [("metadata.name", 4), ("kind", 17)]
    with pytest.raises(ResourceInvalid, match="several problems:"):
        load_string(text)


def test_folder_collects_problems_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.replace("name: p", "name: A"))
    (tmp_path / "b.yaml").write_text("x: [")
    with pytest.raises(ResourceInvalid) as info:
        load_path(tmp_path)
    found = {p.file for p in info.value.problems}
    assert found == {str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")}


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"kind: caf\xe9\n")
    with pytest.raises(ResourceInvalid, match=r"latin\.yaml: not UTF-8 text"):
        load_file(path)


def test_parse_resource_errors_have_paths_but_no_lines() -> None:
    with pytest.raises(ResourceInvalid) as info:
        parse_resource({"apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline",
                        "metadata": {"name": "p"}, "spec": {"components": {}, "steps": [
                            {"name": "s", "component": "c", "retires": 1}]}})
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.field) == (None, None, "spec.steps[0].retires")
    assert problem.render().startswith("spec.steps[0].retires: unknown field 'retires'")


def test_parse_resource_rejects_non_mapping() -> None:
    with pytest.raises(ResourceInvalid, match="a resource must be a mapping"):
        parse_resource(["not", "a", "mapping"])


def test_syntax_error_after_a_bad_document_reports_both() -> None:
    text = GOOD.replace("name: p", "name: P") + "---\nkind: [\n"
    found = problems(text)
    assert [p.field for p in found] == ["metadata.name", ""]
    assert "YAML syntax error" in found[1].message


def test_json_syntax_error_names_file_line_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"kind": "Pipeline",\n "spec": [1,,2]}\n')
    with pytest.raises(ResourceInvalid) as info:
        load_file(path)
    [problem] = info.value.problems
    assert problem.line == 2
    assert f"JSON syntax error: Expecting value (at {path}:2:13)" in problem.render()


def test_json_resource_problems_have_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline",\n'
                    ' "metadata": {"name": "Bad"},\n "spec": {"components": {}, "steps": []}}\n')
    with pytest.raises(ResourceInvalid) as info:
        load_file(path)
    [problem] = info.value.problems
    assert (problem.line, problem.field) == (2, "metadata.name")
