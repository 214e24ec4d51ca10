"""Settings read from FLOWYARD_* variables, with explicit arguments winning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from flowyard.errors import ConfigError
from flowyard.settings import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOME", "DATABASE_URL", "OBJECT_STORE_URL", "S3_ENDPOINT_URL", "NAMESPACE"):
        monkeypatch.delenv(f"FLOWYARD_{name}", raising=False)


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = Settings()
    assert s.home == tmp_path / ".flowyard"
    assert (s.database_url, s.object_store_url, s.s3_endpoint_url) == (None, None, None)
    assert s.namespace == "default"
    assert s.resolved_database_url() == f"sqlite:///{tmp_path / '.flowyard' / 'flowyard.db'}"
    assert s.resolved_object_store_url() == str(tmp_path / ".flowyard" / "objects")


def test_every_field_reads_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWYARD_HOME", "/srv/fy")
    monkeypatch.setenv("FLOWYARD_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("FLOWYARD_OBJECT_STORE_URL", "s3://bucket/p")
    monkeypatch.setenv("FLOWYARD_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("flowyard_namespace", "team-a")  # names are case-insensitive
    monkeypatch.setenv("FLOWYARD_SOMETHING_ELSE", "ignored")
    s = Settings()
    assert s.model_dump() == {
        "home": Path("/srv/fy"),
        "database_url": "postgresql+psycopg://u@h/db",
        "object_store_url": "s3://bucket/p",
        "s3_endpoint_url": "http://127.0.0.1:9000",
        "namespace": "team-a",
    }


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWYARD_HOME", "/from/env")
    monkeypatch.setenv("FLOWYARD_NAMESPACE", "env-ns")
    s = Settings(home=Path("/from/arg"))
    assert s.home == Path("/from/arg")
    assert s.namespace == "env-ns"


def test_empty_database_url_falls_back_to_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWYARD_HOME", "/h")
    monkeypatch.setenv("FLOWYARD_DATABASE_URL", "")
    assert Settings().resolved_database_url() == "sqlite:////h/flowyard.db"


def test_a_bad_value_names_the_field_and_value() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(namespace=5)  # type: ignore[arg-type]
    (err,) = info.value.errors()
    assert err["loc"] == ("namespace",)
    assert err["input"] == 5


def test_ensure_home_creates_the_folder(tmp_path: Path) -> None:
    home = tmp_path / "a" / "b"
    assert Settings(home=home).ensure_home() == home
    assert home.is_dir()


def test_ensure_home_on_an_unwritable_place_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as info:
        Settings(home=blocker / "home").ensure_home()
    message = str(info.value)
    assert str(blocker / "home") in message
    assert "FLOWYARD_HOME" in (info.value.hint or "")


def test_importing_settings_does_not_load_pydantic_settings() -> None:
    code = "import sys, flowyard.settings; print('pydantic_settings' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
