"""`flowyard --help` stays fast: the CLI imports nothing heavy until a command runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from flowyard import __version__
from flowyard.cli.main import app

HEAVY = ("pydantic", "pydantic_settings", "sqlalchemy", "alembic", "rich", "yaml",
         "fsspec", "blake3", "flowyard.client", "flowyard.pipelines", "flowyard.store",
         "flowyard.resources", "flowyard.settings")
ENTRY_POINT = Path(sys.executable).parent / "flowyard"


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for command in ("run", "runs", "compile", "validate", "version"):
        assert command in result.output


def test_runs_help_lists_subcommands() -> None:
    result = CliRunner().invoke(app, ["runs", "--help"])
    assert result.exit_code == 0, result.output
    for command in ("list", "get", "logs", "retry", "cancel", "resume", "artifacts"):
        assert command in result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert __version__ in result.output
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"flowyard {__version__}"


def test_importing_the_cli_loads_nothing_heavy() -> None:
    code = ("import json, sys, flowyard.cli.main; "
            "print(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    loaded = json.loads(proc.stdout)
    heavy = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == [], f"imported at CLI import time: {heavy}"


def test_help_through_the_installed_entry_point() -> None:
    proc = subprocess.run([str(ENTRY_POINT), "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "runs" in proc.stdout
    assert proc.stderr == ""
