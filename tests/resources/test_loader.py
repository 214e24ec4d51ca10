"""Loading resources: documents, files, folders, the line map and YAML scalar rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowyard.errors import NotFound, ResourceInvalid
from flowyard.resources import Pipeline
from flowyard.resources.loader import (
    Origin,
    format_path,
    load_file,
    load_path,
    load_string,
    parse_resource,
)


def line_no(text: str, needle: str, start: int = 1) -> int:
    """1-based number of the first line at or after `start` containing `needle`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if n >= start and needle in line)


TINY = """\
apiVersion: flowyard.dev/v1alpha1
kind: Pipeline
metadata: {{name: {name}}}
spec:
  components:
    c: {{python: {{function: f, source: "def f(): pass"}}}}
  steps: [{{name: s, component: c}}]
"""


def test_example_file_loads_with_origin(example_path: Path, example_text: str) -> None:
    [loaded] = load_file(example_path)
    pipeline = loaded.resource
    assert isinstance(pipeline, Pipeline)
    assert pipeline.name == "train-iris"
    assert [s.name for s in pipeline.spec.steps] == ["load", "train", "pick", "publish"]
    assert pipeline.spec.on_exit is not None and pipeline.spec.on_exit.name == "notify"
    assert pipeline.spec.steps[1].timeout == 300.0
    origin = loaded.origin
    assert origin.file == str(example_path)
    assert origin.line == line_no(example_text, "apiVersion:")


def test_line_map_points_at_fields(example_text: str) -> None:
    [loaded] = load_string(example_text, file="iris.yaml")
    origin = loaded.origin
    train = line_no(example_text, "- name: train")
    assert origin.line_of(("spec", "steps", 1)) == train
    assert origin.line_of(("spec", "steps", 1, "retry")) == line_no(example_text, "retry:", train)
    assert origin.line_of(("spec", "steps", 1, "arguments", "kind")) == line_no(
        example_text, "kind: {item: true}")
    # a path the file does not spell out falls back to its nearest written parent
    assert origin.line_of(("spec", "steps", 1, "retry", "limit", "deep")) == line_no(
        example_text, "retry:", train)
    assert origin.line_of(("spec", "steps", 99)) == line_no(example_text, "steps:")
    assert origin.line_of(()) == origin.line
    assert origin.line_of(("spec", "onExit")) == line_no(example_text, "onExit:")


def test_snake_case_keys_are_located_under_both_spellings() -> None:
    text = TINY.format(name="snake") + "  on_exit: {name: e, component: c}\n"
    [loaded] = load_string(text)
    assert loaded.resource.spec.on_exit.name == "e"
    assert loaded.origin.line_of(("spec", "onExit", "name")) == 8
    assert loaded.origin.line_of(("spec", "on_exit")) == 8


def test_multi_document_skips_empty_documents() -> None:
    text = "---\n" + TINY.format(name="one") + "---\n# only a comment\n---\n" + TINY.format(
        name="two") + "---\n"
    loaded = load_string(text, file="multi.yaml")
    assert [item.resource.name for item in loaded] == ["one", "two"]
    assert [item.origin.line for item in loaded] == [2, 12]
    assert all(item.origin.file == "multi.yaml" for item in loaded)


def test_empty_text_loads_nothing() -> None:
    assert load_string("") == []
    assert load_string("# nothing\n---\n") == []


def test_folder_loads_recursively_sorted(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b.yml").write_text(TINY.format(name="b-one") + "---\n" + TINY.format(name="b-two"))
    (tmp_path / "a.json").write_text(
        '{"apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline", "metadata": {"name": "a"},'
        ' "spec": {"components": {"c": {"python": {"function": "f", "source": "def f(): pass"}}},'
        ' "steps": [{"name": "s", "component": "c"}]}}')
    (tmp_path / "nested" / "c.yaml").write_text(TINY.format(name="c-nested"))
    (tmp_path / ".hidden" / "broken.yaml").write_text("not: [valid")
    (tmp_path / "README.md").write_text("not a resource")
    loaded = load_path(tmp_path)
    assert [item.resource.name for item in loaded] == ["a", "b-one", "b-two", "c-nested"]
    assert loaded[3].origin.file == str(tmp_path / "nested" / "c.yaml")
    assert [item.resource.name for item in load_path(tmp_path / "b.yml")] == ["b-one", "b-two"]


def test_folder_scan_skips_project_files_but_a_named_one_is_an_error(tmp_path: Path) -> None:
    project = "apiVersion: flowyard.dev/v1alpha1\nkind: Project\nmetadata: {name: p}\n"
    (tmp_path / "flowyard.yaml").write_text(project)
    # A project file may have any name (render --project FILE), even JSON YAML cannot read.
    (tmp_path / "other.json").write_text(
        '{"apiVersion": "flowyard.dev/v1alpha1", "kind": "Project",'
        ' "metadata": {"name": "q", "annotations": {"note": "\\ud83d\\ude00"}}}')
    (tmp_path / "p.yaml").write_text(TINY.format(name="p"))
    assert [item.resource.name for item in load_path(tmp_path)] == ["p"]
    for named in ("flowyard.yaml", "other.json"):
        with pytest.raises(ResourceInvalid) as info:
            load_path(tmp_path / named)
        [problem] = info.value.problems
        assert problem.field == "kind" and problem.file == str(tmp_path / named)
        assert "project file (kind Project)" in problem.message
        assert f"render --project {tmp_path / named} --env E" in str(problem.allowed)
    with pytest.raises(ResourceInvalid, match=r"render --project FILE"):
        parse_resource({"apiVersion": "flowyard.dev/v1alpha1", "kind": "Project"})


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"no such file: .*nope\.yaml"):
        load_file(tmp_path / "nope.yaml")
    with pytest.raises(NotFound, match="nope"):
        load_path(tmp_path / "nope")


def test_yaml_12_scalars() -> None:
    text = TINY.format(name="scalars") + """\
  parameters:
    - {name: answer, type: str, default: yes}
    - {name: switch, type: str, default: off}
    - {name: lr, type: float, default: 1e-3}
    - {name: day, type: str, default: 2024-01-31}
    - {name: flag, type: bool, default: true}
"""
    [loaded] = load_string(text)
    defaults = [p.default for p in loaded.resource.spec.parameters]
    assert defaults == ["yes", "off", 0.001, "2024-01-31", True]


def test_parse_resource_from_plain_data() -> None:
    data = {
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline", "metadata": {"name": "p"},
        "spec": {"components": {"c": {"python": {"function": "f", "source": "def f(): pass"}}},
                 "steps": [{"name": "s", "component": "c", "arguments": {"x": 3}}],
                 "on_exit": {"name": "e", "component": "c"}},
    }
    pipeline = parse_resource(data)
    assert isinstance(pipeline, Pipeline)
    assert pipeline.spec.steps[0].arguments["x"].value == 3
    assert pipeline.spec.on_exit is not None


def test_shorthand_literals() -> None:
    text = TINY.format(name="shorthand").replace("[{name: s, component: c}]", """
    - name: s
      component: c
      arguments:
        n: 3
        f: 0.5
        text: hello
        flag: false
        items: [1, 2]
        none: null
        mapping: {value: {a: 1}}
""")
    [loaded] = load_string(text)
    args = loaded.resource.spec.steps[0].arguments
    assert {k: (r.kind, r.value) for k, r in args.items()} == {
        "n": ("value", 3), "f": ("value", 0.5), "text": ("value", "hello"),
        "flag": ("value", False), "items": ("value", [1, 2]), "none": ("value", None),
        "mapping": ("value", {"a": 1}),
    }


def test_format_path() -> None:
    assert format_path(("spec", "steps", 3, "retry", "limit")) == "spec.steps[3].retry.limit"
    assert format_path(("spec", "components", "add-one")) == "spec.components.add-one"
    assert format_path(("metadata", "labels", "a.b/c")) == "metadata.labels['a.b/c']"
    assert format_path(()) == ""


def test_origin_is_hashable_and_compares_by_place() -> None:
    a = Origin("f.yaml", 3, {("spec",): 4})
    b = Origin("f.yaml", 3)
    assert a == b and hash(a) == hash(b)
    assert b.line_of(("spec",)) == 3


def test_json_that_yaml_cannot_read_still_loads(tmp_path: Path) -> None:
    # YAML rejects JSON's surrogate-pair escapes (an emoji written as two \\u escapes).
    path = tmp_path / "emoji.json"
    path.write_text(
        '{"apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline", "metadata": {"name": "e"},'
        ' "spec": {"description": "\\ud83d\\ude00", "components": {"c": {"python":'
        ' {"function": "f", "source": "def f(): pass"}}},'
        ' "steps": [{"name": "s", "component": "c"}]}}')
    [loaded] = load_file(path)
    assert loaded.resource.spec.description == "\U0001F600"
    assert loaded.origin.line_of(("spec", "steps")) == 1
