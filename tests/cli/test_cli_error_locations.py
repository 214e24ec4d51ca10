"""Graph problems found by the static checks name file:line on every road: `flowyard run`
(the engine's check on submit) as `flowyard validate` does, for YAML files (the line of the
offending field) and SDK pipelines (the line of the call that wired it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
YAML = DATA / "bad_graphs.yaml"
PY = DATA / "bad_graphs.py"

Cli = Callable[..., Any]


def line_of(path: Path, marker: str) -> int:
    """The 1-based line of `path` holding the comment `marker`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    [found] = [n for n, text in enumerate(lines, 1) if text.rstrip().endswith(marker)]
    return found


YAML_CASES = [
    ("unknown-step", "unknown step (got 'nope')"),
    ("cycle", "steps wait for each other in a cycle: a -> b -> a"),
    ("type-mismatch", "input 'text' takes str, but output 'Output' of step 'count' (int)"),
]
PY_CASES = [
    ("wrong_artifact", "artifact input 'model' takes a Model, but output 'data' of step 'make'"),
    ("after_cycle", "steps wait for each other in a cycle: nop -> nop-2 -> nop"),
]


def _located(err: str, path: Path, line: int, message: str) -> None:
    assert "Traceback" not in err
    [problem] = [text for text in err.splitlines() if message in text]
    # The file as the user named it, then the line of the field (or the call) that is wrong.
    assert f"{path}:{line}: " in problem, problem


CASES = [(YAML, name, message) for name, message in YAML_CASES] + [
    (PY, name, message) for name, message in PY_CASES]


@pytest.mark.parametrize(("source", "name", "message"), CASES)
def test_run_names_the_line_like_validate(cli: Cli, source: Path, name: str, message: str) -> None:
    """YAML: the line of the offending field; the SDK: the line of the call that wired it."""
    line = line_of(source, f"# {name}: here")
    run = cli("run", f"{source}:{name}")
    assert run.code == 2
    assert run.err.startswith("Invalid pipeline: ")
    _located(run.err, source, line, message)
    # Nothing was recorded: the check runs before the run exists.
    assert "no runs yet" in cli("runs", "list").out + cli("runs", "list").err
    validate = cli("validate", str(source) if source == YAML else f"{source}:{name}")
    assert validate.code == 2
    _located(validate.err, source, line, message)


def test_run_of_a_valid_yaml_pipeline_still_runs(cli: Cli, tmp_path: Path) -> None:
    # The located check must not get in the way of a good file.
    good = tmp_path / "good.yaml"
    text = YAML.read_text(encoding="utf-8").split("---")[1]
    good.write_text(text.replace("after: [b]                     # cycle: here", ""),
                    encoding="utf-8")
    result = cli("run", str(good))
    assert result.code == 0, result.err
