"""load_target: 'file.py[:name]' and 'file.yaml[:name]' on real files."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from flowyard.errors import InvalidInput, NotFound
from flowyard.pipelines.target import load_target
from flowyard.resources.loader import dump_yaml

PIPELINES = '''
from __future__ import annotations

from typing import NamedTuple

from flowyard import dsl
from flowyard.dsl import Dataset, Output

import helper_values


class Pair(NamedTuple):
    low: int
    high: int


@dsl.component
def bounds(n: int) -> Pair:
    from collections import namedtuple
    return namedtuple("Pair", "low high")(0, n)


@dsl.component
def write(n: int, data: Output[Dataset]) -> None:
    with open(data.path, "w") as handle:
        handle.write(str(n))


@dsl.pipeline(name="first")
def first_pipeline(n: int = helper_values.DEFAULT):
    b = bounds(n=n)
    write(n=b.outputs["high"])


@dsl.pipeline
def second_pipeline():
    write(n=1)


def not_a_pipeline():
    pass
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "helper_values.py").write_text("DEFAULT = 7\n")
    (tmp_path / "pipes.py").write_text(PIPELINES)
    (tmp_path / "single.py").write_text(textwrap.dedent('''
        from flowyard import dsl

        @dsl.component
        def hello(name: str) -> str:
            return "hello " + name

        @dsl.pipeline
        def only(name: str = "you"):
            return hello(name=name).output
        '''))
    return tmp_path


def test_python_file_with_a_name(project: Path) -> None:
    path_before = list(sys.path)
    pipeline = load_target(f"{project / 'pipes.py'}:first_pipeline")
    assert sys.path == path_before  # the folder is on sys.path only while importing
    assert pipeline.name == "first"
    assert pipeline.spec.parameters[0].default == 7
    assert [s.name for s in pipeline.spec.steps] == ["bounds", "write"]
    outputs = pipeline.spec.components["bounds"].outputs
    assert [(p.name, p.type.value) for p in outputs.parameters] == [("low", "int"),
                                                                    ("high", "int")]
    assert load_target(f"{project / 'pipes.py'}:second_pipeline").name == "second-pipeline"


def test_python_file_with_its_only_pipeline(project: Path) -> None:
    pipeline = load_target(str(project / "single.py"))
    assert pipeline.name == "only"
    assert pipeline.spec.outputs["Output"].step == "hello"


def test_python_file_errors(project: Path) -> None:
    pipes = project / "pipes.py"
    with pytest.raises(InvalidInput) as info:
        load_target(str(pipes))
    assert str(info.value).startswith(f"{pipes}: holds 2 @dsl.pipeline functions "
                                      "(first_pipeline, second_pipeline); say which one")
    with pytest.raises(NotFound) as missing:
        load_target(f"{pipes}:third")
    assert str(missing.value) == (f"{pipes}: no 'third' in this file; its pipelines: "
                                  "first_pipeline, second_pipeline")
    with pytest.raises(InvalidInput, match=r"'not_a_pipeline' is a function, not a "
                                           r"@dsl.pipeline"):
        load_target(f"{pipes}:not_a_pipeline")
    with pytest.raises(InvalidInput, match=r"'write' is a PythonComponent, not a @dsl.pipeline"):
        load_target(f"{pipes}:write")
    (project / "empty.py").write_text("x = 1\n")
    with pytest.raises(NotFound, match=r"empty\.py: no @dsl.pipeline function found"):
        load_target(str(project / "empty.py"))
    with pytest.raises(NotFound, match=r"pipeline file '.*nope\.py' does not exist"):
        load_target(str(project / "nope.py"))
    (project / "notes.txt").write_text("hi")
    with pytest.raises(InvalidInput, match=r"unknown kind of pipeline file \(.txt suffix\)"):
        load_target(str(project / "notes.txt"))


def test_python_file_that_does_not_import(project: Path) -> None:
    broken = project / "broken.py"
    broken.write_text("x = 1\ndef f(:\n")
    with pytest.raises(InvalidInput, match=rf"{broken}:2: syntax error"):
        load_target(str(broken))
    failing = project / "failing.py"
    failing.write_text("import no_such_module_here\n")
    with pytest.raises(InvalidInput) as info:
        load_target(str(failing))
    assert "failing.py: importing it failed: ModuleNotFoundError: No module named " \
        "'no_such_module_here'" in str(info.value)
    assert "failing" not in sys.modules


def test_sdk_errors_in_the_file_come_through_unchanged(project: Path) -> None:
    bad = project / "bad_component.py"
    bad.write_text(textwrap.dedent('''
        import json
        from flowyard import dsl

        @dsl.component
        def dump(x: int) -> str:
            return json.dumps(x)
        '''))
    with pytest.raises(InvalidInput) as info:
        load_target(str(bad))
    assert str(info.value).startswith(f"{bad}:7: component 'dump' uses the global name 'json'")
    assert info.value.hint is not None and "write `import json`" in info.value.hint


def test_yaml_files(project: Path) -> None:
    first = load_target(f"{project / 'pipes.py'}:first_pipeline")
    second = load_target(f"{project / 'pipes.py'}:second_pipeline")
    one = project / "one.yaml"
    one.write_text(dump_yaml([first]))
    assert load_target(str(one)).to_dict() == first.to_dict()
    both = project / "both.yml"
    both.write_text(dump_yaml([first, second]))
    assert load_target(f"{both}:second-pipeline").to_dict() == second.to_dict()
    with pytest.raises(InvalidInput, match=r"holds 2 Pipelines \(first, second-pipeline\); "
                                           "say which one"):
        load_target(str(both))
    with pytest.raises(NotFound, match="no Pipeline named 'third'; its pipelines: first, "
                                       "second-pipeline"):
        load_target(f"{both}:third")
