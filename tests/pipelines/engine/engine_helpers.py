"""Builders for Pipeline resources in engine tests (plain dicts, no DSL needed)."""

from __future__ import annotations

import re
import textwrap
from typing import Any

from flowyard.resources.pipeline import Pipeline
from flowyard.store.metadata import MetadataStore


def py(source: str, *, params: dict[str, str] | None = None, outputs: dict[str, str] | None = None,
       inputs_art: dict[str, str] | None = None, outputs_art: dict[str, str] | None = None,
       defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """A python component dict; the function name comes from the source."""
    source = textwrap.dedent(source).strip() + "\n"
    match = re.search(r"^def (\w+)\(", source, re.M)
    assert match, source
    in_params = []
    for name, type_ in (params or {}).items():
        spec: dict[str, Any] = {"name": name, "type": type_}
        if defaults and name in defaults:
            spec["default"] = defaults[name]
        in_params.append(spec)
    return {
        "inputs": {"parameters": in_params,
                   "artifacts": [{"name": n, "type": t} for n, t in (inputs_art or {}).items()]},
        "outputs": {"parameters": [{"name": n, "type": t} for n, t in (outputs or {}).items()],
                    "artifacts": [{"name": n, "type": t}
                                  for n, t in (outputs_art or {}).items()]},
        "python": {"function": match.group(1), "source": source},
    }


def pipeline(name: str, components: dict[str, Any], steps: list[dict[str, Any]],
             **spec: Any) -> Pipeline:
    body = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline",
            "metadata": {"name": name},
            "spec": {"components": components, "steps": steps, **spec}}
    return Pipeline.model_validate(body)


def step_map(metadata: MetadataStore, run_id: str) -> dict[str, Any]:
    return {s.id: s for s in metadata.get_steps(run_id)}
