"""Run one Python component inside an Argo step container.

    python -m flowyard.pipelines.kube_step --component BASE64_JSON --param NAME=VALUE ...

Argo has already placed input artifacts at /tmp/flowyard-input-NAME and substituted the
parameter values; this writes output parameters to /tmp/flowyard-param-NAME and output
artifacts to /tmp/flowyard-artifact-NAME, where the Workflow's template collects them.
The component runs through the same helpers as a local step (compile, type checks, return
value -> outputs), so a component behaves the same in both places.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from flowyard.pipelines.artifacts import ARTIFACT_CLASSES, Artifact, Metrics
from flowyard.pipelines.engine.executor import (
    StepError,
    compile_source,
    outputs_from_return,
    parse_text,
)

INPUTS = "/tmp/flowyard-input"
OUTPUT_ARTIFACTS = "/tmp/flowyard-artifact"
OUTPUT_PARAMETERS = "/tmp/flowyard-param"


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m flowyard.pipelines.kube_step")
    parser.add_argument("--component", required=True, help="base64 of the component's JSON")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    return parser.parse_args(list(argv))


def run_component(component: dict[str, Any], raw: dict[str, str], *, inputs: str = INPUTS,
                  out_artifacts: str = OUTPUT_ARTIFACTS,
                  out_parameters: str = OUTPUT_PARAMETERS) -> dict[str, Any]:
    """Call the component's function; write its outputs; return the output parameters."""
    python = component.get("python")
    if not python:
        raise StepError("kube_step runs Python components; container components run their "
                        "own image")
    ins = component.get("inputs", {})
    outs = component.get("outputs", {})
    kwargs: dict[str, Any] = {}
    for spec in ins.get("parameters", []):
        name, type_name = spec["name"], spec.get("type", "str")
        if name not in raw:
            continue  # the function's own default applies
        try:
            kwargs[name] = parse_text(raw[name], type_name)
        except (ValueError, TypeError) as exc:
            raise StepError(f"parameter {name!r}: {raw[name]!r} is not a {type_name}: "
                            f"{exc}") from None
    for spec in ins.get("artifacts", []):
        cls = ARTIFACT_CLASSES.get(spec.get("type", "Artifact"), Artifact)
        kwargs[spec["name"]] = cls(name=spec["name"], path=f"{inputs}-{spec['name']}")
    produced: dict[str, Artifact] = {}
    for spec in outs.get("artifacts", []):
        cls = ARTIFACT_CLASSES.get(spec.get("type", "Artifact"), Artifact)
        produced[spec["name"]] = cls(name=spec["name"], path=f"{out_artifacts}-{spec['name']}")
    kwargs.update(produced)
    code = compile_source(python["function"], python["source"])
    namespace: dict[str, Any] = {"__name__": "__flowyard_component__"}
    exec(code, namespace)
    function = namespace.get(python["function"])
    if not callable(function):
        raise StepError(f"the component source defines no function {python['function']!r}")
    types = {p["name"]: p.get("type", "str") for p in outs.get("parameters", [])}
    values = outputs_from_return(function(**kwargs), types)
    for name, art in produced.items():  # as a local step: logged metrics become the file
        if isinstance(art, Metrics) and not os.path.exists(art.path):
            art.write()
        if not os.path.exists(art.path):
            raise StepError(f"output artifact {name!r} was not written to {art.path}")
    for name, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value)
        with open(f"{out_parameters}-{name}", "w", encoding="utf-8") as handle:
            handle.write(text)
    return values


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    component = json.loads(base64.b64decode(args.component))
    raw: dict[str, str] = {}
    for pair in args.param:
        name, sep, value = pair.partition("=")
        if not sep:
            print(f"flowyard: --param {pair!r} is not NAME=VALUE", file=sys.stderr)
            return 2
        raw[name] = value
    try:
        run_component(component, raw)
    except StepError as exc:
        print(f"flowyard: step failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
