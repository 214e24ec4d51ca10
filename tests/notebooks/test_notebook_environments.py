"""Environments: the operator's catalog file, virtualenvs made on first use, clear errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flowyard.client import Client
from flowyard.errors import ConfigError, NotFound, ResourceInvalid
from flowyard.notebooks.environments import (
    CATALOG_ENV,
    READY_MARKER,
    Environment,
    available,
    catalog,
    get_environment,
    is_prepared,
    prepare,
    uses_base,
    venv_folder,
)
from flowyard.resources.loader import load_string


def write_catalog(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "envs.yaml"
    path.write_text(text)
    monkeypatch.setenv(CATALOG_ENV, str(path))
    return path


def test_operator_catalog_adds_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_catalog(tmp_path, "- name: lgbm\n  packages: [lightgbm]\n  requires: [ipykernel, "
                            "lightgbm]\n  image: example.com/lgbm:1\n", monkeypatch)
    env = get_environment("lgbm")
    assert env.packages == ("lightgbm",) and env.image == "example.com/lgbm:1"
    assert available() == ["lgbm", "python", "pytorch", "scientific", "tensorflow"]
    head = "apiVersion: flowyard.dev/v1alpha1\nkind: Notebook\nmetadata: {name: n}\n"
    (loaded,) = load_string(head + "spec: {environment: lgbm}\n")
    assert loaded.resource.spec.environment == "lgbm"  # type: ignore[attr-defined]
    with pytest.raises(ResourceInvalid) as info:
        load_string(head + "spec: {environment: cobol}\n", file="nb.yaml")
    assert "nb.yaml:4: spec.environment" in str(info.value) and "lgbm" in str(info.value)
    with pytest.raises(NotFound) as missing:
        get_environment("cobol")
    assert "available: lgbm, python, pytorch" in str(missing.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("- name: x\n  pakages: [a]\n", "unknown field(s) pakages"),
    ("- name: x\n  packages: numpy\n", "packages must be a list of strings"),
    ("- packages: [a]\n", "needs a 'name'"),
    ("name: x\n", "expected a list of environments"),
    ("- name: [unclosed\n", "cannot read notebook environments"),
])
def test_bad_catalog_file_names_the_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            text: str, expected: str) -> None:
    path = write_catalog(tmp_path, text, monkeypatch)
    with pytest.raises(ConfigError) as info:
        catalog()
    assert expected in str(info.value) and str(path) in str(info.value)


def test_missing_catalog_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError) as info:
        catalog()
    assert "nope.yaml" in str(info.value) and CATALOG_ENV in str(info.value)


def test_base_environment_needs_no_virtualenv(tmp_path: Path) -> None:
    python = get_environment("python")
    assert uses_base(python) and is_prepared(tmp_path, python)
    assert not (tmp_path / "notebook-environments").exists()


def test_virtualenv_made_on_first_use_layered_over_the_base(tmp_path: Path) -> None:
    env = Environment("layered", "own venv", ("ipykernel", "flowyard"), "img", isolated=True)
    assert not is_prepared(tmp_path, env)
    python = prepare(tmp_path, env)
    folder = venv_folder(tmp_path, env)
    assert python == str(folder / "bin" / "python") and (folder / READY_MARKER).is_file()
    assert is_prepared(tmp_path, env)
    out = subprocess.run([python, "-c", "import sys, flowyard, ipykernel; print(sys.prefix)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(folder)
    assert prepare(tmp_path, env) == python  # second use: nothing to do


def test_failed_virtualenv_leaves_nothing_half_made(tmp_path: Path) -> None:
    env = Environment("broken", "bad package", ("ipykernel",), "img",
                      packages=("/nonexistent/no-such-package",), isolated=True)
    with pytest.raises(ConfigError) as info:
        prepare(tmp_path, env)
    message = str(info.value)
    assert "creating notebook environment 'broken' failed" in message
    assert "no-such-package" in message and "broken.log" in message
    assert not venv_folder(tmp_path, env).exists()
    assert venv_folder(tmp_path, env).with_suffix(".log").is_file()


def test_missing_module_after_install_is_reported(tmp_path: Path) -> None:
    env = Environment("nomod", "promises a module", ("no_such_module_xyz",), "img",
                      isolated=True)
    with pytest.raises(ConfigError) as info:
        prepare(tmp_path, env)
    assert "no_such_module_xyz" in str(info.value)
    assert not venv_folder(tmp_path, env).exists()


def test_client_notebooks_need_a_platform(flowyard_home: Path) -> None:
    with Client() as client, pytest.raises(ConfigError) as info:
        client.notebooks.create("explore")
    assert "notebooks run on a Flowyard platform" in str(info.value)
    assert "flowyard up" in (info.value.hint or "")


def test_prepare_command_line(flowyard_home: Path) -> None:
    import sys

    run = [sys.executable, "-m", "flowyard.notebooks.environments"]
    unknown = subprocess.run([*run, "cobol"], capture_output=True, text=True)
    assert unknown.returncode == 1
    assert "unknown notebook environment 'cobol'; available: python" in unknown.stderr
    usage = subprocess.run(run, capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr
    base = subprocess.run([*run, "python"], capture_output=True, text=True)
    assert base.returncode == 0 and base.stdout.strip() == sys.executable
