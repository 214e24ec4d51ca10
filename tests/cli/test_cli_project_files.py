"""A folder that holds its project's flowyard.yaml validates and applies; the project file
named on its own is an error that says what it is and which command reads it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cli_runner import Result

PROJECT = """\
apiVersion: flowyard.dev/v1alpha1
kind: Project
metadata: {name: demo}
components: [pipeline.yaml]
environments:
  local: {type: local}
"""

PIPELINE = """\
apiVersion: flowyard.dev/v1alpha1
kind: Pipeline
metadata: {name: tiny}
spec:
  components:
    c: {python: {function: f, source: "def f(): pass"}}
  steps: [{name: s, component: c}]
"""


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "flowyard.yaml").write_text(PROJECT, encoding="utf-8")
    (folder / "pipeline.yaml").write_text(PIPELINE, encoding="utf-8")
    return folder


def test_a_folder_scan_skips_the_project_file(cli: Callable[..., Result],
                                               tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    checked = cli("validate", folder)
    assert checked.code == 0, checked.err
    assert checked.out.splitlines() == ["ok  Pipeline/tiny"]
    applied = cli("apply", "-f", folder)
    assert applied.code == 0, applied.err
    assert applied.out.splitlines() == ["pipeline/tiny applied (namespace default, generation 1)"]


def test_the_project_file_named_directly_says_what_it_is(cli: Callable[..., Result],
                                                         tmp_path: Path) -> None:
    project = _folder(tmp_path) / "flowyard.yaml"
    for args in (("validate", project), ("apply", "-f", project)):
        failed = cli(*args)
        assert failed.code == 2, failed.err
        assert f"{project}:2" in failed.err
        assert "project file (kind Project)" in failed.err
        assert f"flowyard render --project {project} --env E" in failed.err
        assert "flowyard deploy" in failed.err
        assert "unknown kind" not in failed.err
    assert cli("get", "pipelines").out.count("tiny") == 0  # nothing was applied
