"""Read an InferenceGraph file, with errors that name file:line and the field path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from flowyard.errors import NotFound, Problem, ResourceInvalid
from flowyard.resources.inference_graph import GraphProblems, InferenceGraph

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def load_graph(path: str | Path) -> InferenceGraph:
    """Parse and validate the InferenceGraph in `path` (YAML or JSON)."""
    file = Path(path)
    try:
        text = file.read_text()
    except FileNotFoundError as exc:
        raise NotFound(f"graph file {str(file)!r} does not exist") from exc
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ResourceInvalid([Problem(f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                       file=str(file), line=line)]) from exc
    return parse_graph(data, file=str(file), root=root)


def parse_graph(data: Any, *, file: str | None = None, root: Any = None) -> InferenceGraph:
    """Validate plain data as an InferenceGraph; every problem is listed with its place."""
    if not isinstance(data, dict):
        raise ResourceInvalid([Problem("an InferenceGraph is a mapping with apiVersion, kind, "
                                       "metadata and spec", file=file)])
    if data.get("kind") not in (None, "InferenceGraph"):
        raise ResourceInvalid([Problem("this file holds another kind", "kind", file=file,
                                       value=data.get("kind"), allowed="expected "
                                       "'InferenceGraph'")])
    try:
        return InferenceGraph.model_validate({"kind": "InferenceGraph", **data})
    except ValidationError as exc:
        problems: list[Problem] = []
        for err in exc.errors():
            base = _path(err["loc"])
            cause = (err.get("ctx") or {}).get("error")
            if isinstance(cause, GraphProblems):
                for p in cause.problems:
                    field = f"{base}.{p.field}" if base else p.field
                    problems.append(Problem(p.message, field, file=file,
                                            line=_line(root, field), value=p.value,
                                            allowed=p.allowed))
                continue
            msg = err["msg"].removeprefix("Value error, ")
            value = err.get("input") if err["type"] != "missing" else None
            if isinstance(value, dict | list):
                value = None
            problems.append(Problem(msg, base, file=file, line=_line(root, base), value=value))
        raise ResourceInvalid(problems) from exc


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line(root: Any, field: str) -> int | None:
    """Line of the deepest YAML node along `field` (a path like spec.predictors[0].name)."""
    node, line = root, None
    if node is None:
        return None
    for name, index in _STEP.findall(field):
        if index and isinstance(node, yaml.SequenceNode):
            i = int(index)
            if i >= len(node.value):
                break
            node = node.value[i]
        elif name and isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == name),
                        None)
            if pair is None:
                break
            line = pair[0].start_mark.line + 1
            node = pair[1]
            continue
        else:
            break
        line = node.start_mark.line + 1
    return line
