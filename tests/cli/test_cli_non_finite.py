"""`inf`, `-inf` and `nan` floats: YAML writes .inf/-.inf/.nan and reads them back as
floats (compile, run the YAML); JSON output writes the strings "Infinity", "-Infinity",
"NaN", so strict parsers read it (docs/resources.md, "Non-finite floats")."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).parent / "data"
TARGET = f"{DATA / 'cli_inf.py'}:non_finite"

Cli = Callable[..., Any]


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"invalid JSON: bare {constant}")

    return json.loads(text, parse_constant=refuse)


def test_compile_keeps_non_finite_defaults_and_the_yaml_runs(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "p.yaml"
    assert cli("compile", TARGET, "-o", str(out)).code == 0
    text = out.read_text(encoding="utf-8")
    assert "null" not in text
    spec = yaml.safe_load(text)["spec"]
    defaults = [p["default"] for p in spec["parameters"]]
    assert defaults[0] == math.inf and defaults[1] == -math.inf and math.isnan(defaults[2])
    assert spec["components"]["clamp"]["inputs"]["parameters"][1]["default"] == math.inf

    result = cli("run", str(out), "-o", "json")
    assert result.code == 0, result.err
    run = strict_json(result.out)
    assert run["state"] == "Succeeded"
    assert run["parameters"] == {"t": "Infinity", "low": "-Infinity", "odd": "NaN"}
    assert run["outputs"] == {"Output": "Infinity"}

    got = cli("runs", "get", run["id"], "-o", "json")
    assert got.code == 0
    assert strict_json(got.out)["outputs"] == {"Output": "Infinity"}
    as_yaml = yaml.safe_load(cli("runs", "get", run["id"], "-o", "yaml").out)
    assert as_yaml["outputs"]["Output"] == math.inf      # YAML keeps the float
    assert cli("runs", "get", run["id"]).code == 0       # the table prints it too


def test_a_non_finite_parameter_from_the_command_line(cli: Cli) -> None:
    result = cli("run", TARGET, "-p", "t=-inf", "-o", "json")
    assert result.code == 0, result.err
    assert strict_json(result.out)["outputs"] == {"Output": "-Infinity"}
    bad = cli("run", TARGET, "-p", "t=infinite")
    assert bad.code == 2 and "'infinite'" in bad.err and "Traceback" not in bad.err
