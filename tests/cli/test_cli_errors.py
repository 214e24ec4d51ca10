"""The error contract: known errors are one clear message and an exit code, no traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
BASIC = f"{DATA / 'cli_basic.py'}:basic"
ENTRY_POINT = Path(sys.executable).parent / "flowyard"

Cli = Callable[..., Any]


def test_missing_file_is_exit_2_naming_it(cli: Cli) -> None:
    result = cli("run", "nowhere/missing.py:train")
    assert result.code == 2
    assert result.err.startswith("Not found: ")
    assert "missing.py" in result.err
    assert "Traceback" not in result.err


def test_missing_pipeline_name_lists_the_ones_found(cli: Cli) -> None:
    result = cli("run", f"{DATA / 'cli_basic.py'}:nope")
    assert result.code == 2
    assert "'nope'" in result.err and "basic" in result.err


def test_unknown_parameter_is_exit_2_naming_it(cli: Cli) -> None:
    result = cli("run", BASIC, "-p", "nope=1")
    assert result.code == 2
    assert result.err.startswith("Invalid input: ")
    assert "'nope'" in result.err
    assert "count" in result.err and "scale" in result.err  # the valid ones are listed
    assert "Traceback" not in result.err


def test_bad_parameter_syntax_is_exit_2(cli: Cli) -> None:
    result = cli("run", BASIC, "-p", "count")
    assert result.code == 2
    assert "-p 'count': expected KEY=VALUE" in result.err


def test_parameter_of_the_wrong_type_names_value_and_type(cli: Cli) -> None:
    result = cli("run", BASIC, "-p", "count=many")
    assert result.code == 2
    assert "'count'" in result.err and "'many'" in result.err and "int" in result.err


def test_unwritable_home_is_a_config_error(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FLOWYARD_HOME", str(blocker / "home"))
    result = cli("run", BASIC)
    assert result.code == 2
    assert result.err.startswith("Configuration error: ")
    assert str(blocker / "home") in result.err and "not writable" in result.err
    assert "FLOWYARD_HOME" in result.err  # the hint says how to fix it
    assert "Traceback" not in result.err


def test_unreachable_server_setting_names_the_url(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWYARD_SERVER", "http://127.0.0.1:9")
    result = cli("runs", "list")
    assert result.code == 2
    assert "http://127.0.0.1:9" in result.err and "cannot reach" in result.err


def test_unknown_run_is_not_found(cli: Cli) -> None:
    result = cli("runs", "get", "no-such-run")
    assert result.code == 2
    assert "no-such-run" in result.err


def test_bad_state_filter_lists_the_states(cli: Cli) -> None:
    result = cli("runs", "list", "--state", "Done")
    assert result.code == 2
    assert "'Done'" in result.err and "Succeeded" in result.err


def test_usage_error_is_exit_2(cli: Cli) -> None:
    result = cli("run", BASIC, "--no-such-option")
    assert result.code == 2
    assert "--no-such-option" in result.err


def test_debug_shows_the_traceback_of_known_errors(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWYARD_DEBUG", "1")
    result = cli("run", "nowhere/missing.py:train")
    assert result.code == 2
    assert "Traceback" in result.err and "Not found: " in result.err


def test_unexpected_exceptions_are_internal_errors(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowyard.client import Client

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the bug")

    monkeypatch.setattr(Client, "runs", broken)
    result = cli("runs", "list")
    assert result.code == 1
    assert "Internal error: RuntimeError: the bug" in result.err
    assert "Traceback" in result.err


def test_real_process_prints_no_traceback_for_known_errors(flowyard_home: Path) -> None:
    proc = subprocess.run([str(ENTRY_POINT), "run", BASIC, "-p", "nope=1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("Invalid input: ")
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_unreachable_database_is_a_storage_error_exit_1(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, free_port: Any
) -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/flowyard"
    monkeypatch.setenv("FLOWYARD_DATABASE_URL", url)
    result = cli("runs", "list")
    assert result.code == 1
    assert result.err.startswith("Storage error: ")
    assert "127.0.0.1" in result.err and "FLOWYARD_DATABASE_URL" in result.err
    assert "Traceback" not in result.err


def test_bad_database_url_is_a_config_error(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWYARD_DATABASE_URL", "not-a-url")
    result = cli("runs", "list")
    assert result.code == 2
    assert result.err.startswith("Configuration error: ") and "'not-a-url'" in result.err
