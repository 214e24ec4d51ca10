"""The project's front door: the README's first two commands exist and are wired up."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_opens_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block is not None and text.index("```bash") < text.index("\n## ")
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["./scripts/quickstart", "./scripts/test"]


def test_scripts_are_executable_bash_that_parses() -> None:
    for script in ("scripts/quickstart", "scripts/test", ".ci/run"):
        path = ROOT / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        assert path.read_text().startswith("#!/usr/bin/env bash\n")
        subprocess.run(["bash", "-n", str(path)], check=True)


def test_ci_runs_the_same_script_as_developers() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pg_isready -h 127.0.0.1 ||" in ci
    assert "./scripts/test" in ci
    test = (ROOT / "scripts" / "test").read_text()
    for tool in ("ruff", "mypy", "pytest"):
        assert tool in test
    assert "|| true" not in test  # failures, including pytest's exit 5, must propagate


def test_quickstart_runs_the_whole_story() -> None:
    """tests/quickstart runs the script itself; here: the front door runs that script."""
    text = (ROOT / "scripts" / "quickstart").read_text()
    assert '"$VENV/bin/python" examples/quickstart/quickstart.py "$@"' in text
    assert "FLOWYARD_HOME:-$PWD/.flowyard" in text
    assert "ensure_venv examples,notebooks" in text


def test_license_is_the_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert text.count("\n") > 190


def test_readme_python_example_runs(tmp_path: Path, flowyard_home: Path) -> None:
    import sys

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block is not None
    script = tmp_path / "readme_example.py"
    script.write_text(block.group(1))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Succeeded")
