"""Resources in and out of YAML, with every problem located at file:line and field path.

One parse per file: PyYAML composes the node tree (kept for line numbers), then the same
loader constructs plain data from those nodes, which pydantic validates. No third-party
YAML library: PyYAML's node marks are all we need for locations.

The loader reads YAML 1.2-ish scalars rather than YAML 1.1's surprises: only
true/false are booleans (`yes`, `no`, `on`, `off` stay strings), dates stay strings, and
`1e-3` is a float (PyYAML would read it as a string).
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from flowyard.errors import NotFound, Problem, ResourceInvalid
from flowyard.resources import API_VERSION, KINDS, Resource
from flowyard.resources.origins import FieldPath, Origin, PathItem, remember_origin
from flowyard.resources.origins import normal_path as _normal

__all__ = [
    "FieldPath",
    "Loaded",
    "Origin",
    "PathItem",
    "close_names",
    "dump_yaml",
    "format_path",
    "load_file",
    "load_path",
    "load_string",
    "parse_resource",
    "problem_at",
]


RESOURCE_SUFFIXES = (".yaml", ".yml", ".json")
# The kind of a project file (flowyard.kube.project), which lives beside resource files.
PROJECT_KIND = "Project"
_ENVELOPE_ORDER = ("apiVersion", "kind", "metadata", "spec", "status")
_BOOL = "tag:yaml.org,2002:bool"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_FLOAT = "tag:yaml.org,2002:float"
# YAML 1.2 floats with an exponent and no dot ("1e-3"), which YAML 1.1 reads as strings.
_EXP_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader with the scalar rules described in the module docstring."""


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    """Safe dumper: quotes anything either YAML 1.1 or our loader would read as non-string."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _loader_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    table: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [(tag, rx) for tag, rx in entries if tag not in (_BOOL, _TIMESTAMP)]
        if kept:
            table[first] = kept
    true_false = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
    for first in "tTfF":
        table.setdefault(first, []).insert(0, (_BOOL, true_false))
    return table


_Loader.yaml_implicit_resolvers = _loader_resolvers()
for _first in "-+0123456789":
    _Loader.add_implicit_resolver(_FLOAT, _EXP_FLOAT, [_first])
    _Dumper.add_implicit_resolver(_FLOAT, _EXP_FLOAT, [_first])


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Python source and other multi-line text read best as literal blocks.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


# --- locations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    resource: Resource[Any]
    origin: Origin


def format_path(path: Sequence[PathItem]) -> str:
    """("spec", "steps", 3, "retry") -> "spec.steps[3].retry"."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        elif "." in item or " " in item or not item:
            out += f"[{item!r}]"
        else:
            out += f".{item}" if out else item
    return out


def close_names(name: object, candidates: Iterable[str]) -> list[str]:
    """Candidates that look like a misspelling of `name`, best first."""
    return difflib.get_close_matches(str(name), list(candidates), n=3, cutoff=0.6)


def problem_at(
    origin: Origin | None,
    path: Sequence[PathItem],
    message: str,
    *,
    value: object = None,
    allowed: str | None = None,
) -> Problem:
    """A Problem at a field path, with file and line when the origin is known."""
    file, line = origin.where(path) if origin else (None, None)
    return Problem(
        message=message,
        field=format_path(path),
        file=file,
        line=line,
        value=value,
        allowed=allowed,
    )


def _line_map(node: yaml.Node) -> tuple[dict[FieldPath, int], list[tuple[FieldPath, int, int]]]:
    """Field path -> 1-based line, plus duplicate keys as (path, line, first line)."""
    lines: dict[FieldPath, int] = {}
    duplicates: list[tuple[FieldPath, int, int]] = []
    active: set[int] = set()

    def walk(current: yaml.Node, path: FieldPath) -> None:
        if id(current) in active:  # a recursive alias; nothing more to locate
            return
        active.add(id(current))
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in current.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                line = key_node.start_mark.line + 1
                if key in seen and key != "<<":
                    duplicates.append(((*path, key), line, seen[key]))
                seen.setdefault(key, line)
                lines.setdefault(_normal((*path, key)), line)
                walk(value_node, (*path, key))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                lines.setdefault(_normal((*path, index)), item.start_mark.line + 1)
                walk(item, (*path, index))
        active.discard(id(current))

    walk(node, ())
    return lines, duplicates


# --- loading -------------------------------------------------------------------------------


def documents(text: str, file: str) -> Iterator[tuple[Any, Origin, list[Problem]]]:
    """Each YAML document of `text` as (data, where it starts, syntax problems); also read by
    kube/project.py for project files."""
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines, duplicates = _line_map(node)
            origin = Origin(file=file, line=node.start_mark.line + 1, lines=lines)
            problems = [
                Problem(f"duplicate key {path[-1]!r} (first at line {first})",
                        field=format_path(path), file=file, line=line,
                        allowed="each key may appear once in a mapping")
                for path, line, first in duplicates
            ]
            data = loader.construct_document(node)
            if data is None:  # an empty document, e.g. a trailing `---`
                continue
            yield data, origin, problems
    except yaml.MarkedYAMLError as exc:
        raise ResourceInvalid([_syntax_problem(file, exc)]) from exc
    except yaml.YAMLError as exc:
        raise ResourceInvalid([Problem(f"not valid YAML: {exc}", file=file)]) from exc
    finally:
        loader.dispose()


_YAML_SYNTAX = "YAML syntax error"


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    what = " ".join(p for p in (exc.context, exc.problem) if p) or "syntax error"
    if mark is None:
        return Problem(f"{_YAML_SYNTAX}: {what}", file=file)
    line, column = mark.line + 1, mark.column + 1
    return Problem(
        f"{_YAML_SYNTAX}: {what} (at {file}:{line}:{column})",
        file=file,
        line=line,
        allowed="check the indentation and the quoting around that place",
    )


def is_project(data: Any) -> bool:
    """A `flowyard.yaml` project document (kube/project.py), not a resource."""
    return isinstance(data, Mapping) and data.get("kind") == PROJECT_KIND


def load_string(text: str, *, file: str = "<string>",
                skip_projects: bool = False) -> list[Loaded]:
    """Every resource in a (multi-document) YAML or JSON text; empty documents skipped, and
    project documents too with `skip_projects` (a folder scan meets the project's own file)."""
    loaded: list[Loaded] = []
    problems: list[Problem] = []
    try:
        for data, origin, found in documents(text, file):
            if skip_projects and is_project(data):
                continue
            problems.extend(found)
            try:
                loaded.append(Loaded(parse_resource(data, origin=origin), origin))
            except ResourceInvalid as exc:
                problems.extend(exc.problems)
    except ResourceInvalid as exc:  # a syntax error ends the file; keep what came before it
        problems.extend(exc.problems)
    if problems:
        raise ResourceInvalid(problems)
    return loaded


def load_file(path: str | Path, *, skip_projects: bool = False) -> list[Loaded]:
    """Every resource in one file (`skip_projects`: see `load_string`)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFound(f"no such file: {file}", hint="check the path") from exc
    except IsADirectoryError as exc:
        raise NotFound(f"{file} is a folder, not a file", hint="use load_path for folders") from exc
    except UnicodeDecodeError as exc:
        problem = Problem(f"not UTF-8 text: {exc.reason} at byte {exc.start}", file=str(file))
        raise ResourceInvalid([problem]) from exc
    except OSError as exc:
        raise NotFound(f"cannot read {file}: {exc.strerror}") from exc
    if file.suffix.lower() == ".json":
        return _load_json(text, str(file), skip_projects)
    return load_string(text, file=str(file), skip_projects=skip_projects)


def _load_json(text: str, file: str, skip_projects: bool) -> list[Loaded]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = Problem(f"JSON syntax error: {exc.msg} (at {file}:{exc.lineno}:{exc.colno})",
                          file=file, line=exc.lineno)
        raise ResourceInvalid([problem]) from exc
    try:
        # YAML reads most JSON, with line numbers
        return load_string(text, file=file, skip_projects=skip_projects)
    except ResourceInvalid as exc:
        if not all(p.message.startswith(_YAML_SYNTAX) for p in exc.problems):
            raise
    # Valid JSON that YAML 1.1 rejects (tab indentation, "\/" escapes): no line numbers.
    if skip_projects and is_project(data):
        return []
    origin = Origin(file=file, line=1)
    return [Loaded(parse_resource(data, origin=origin), origin)]


def load_path(path: str | Path) -> list[Loaded]:
    """A file, or every *.yaml/*.yml/*.json under a folder (recursively, sorted by path).

    A folder often holds its project's `flowyard.yaml`: project documents found by the
    scan are skipped, while a project file named directly is an error saying what it is.
    """
    root = Path(path)
    if not root.is_dir():
        return load_file(root)
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in RESOURCE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    loaded: list[Loaded] = []
    problems: list[Problem] = []
    for file in files:
        try:
            loaded.extend(load_file(file, skip_projects=True))
        except ResourceInvalid as exc:
            problems.extend(exc.problems)
    if problems:
        raise ResourceInvalid(problems)
    return loaded


def parse_resource(data: Any, *, origin: Origin | None = None) -> Resource[Any]:
    """Validate one resource given as plain data (a YAML document, an API body, SDK output)."""
    if not isinstance(data, Mapping):
        raise ResourceInvalid([problem_at(
            origin, (), "a resource must be a mapping with apiVersion, kind, metadata and spec",
            value=_shown(data),
        )])
    known = ", ".join(sorted(KINDS))
    problems: list[Problem] = []
    kind = data.get("kind")
    model: type[Resource[Any]] | None = None
    if kind is None:
        problems.append(problem_at(origin, (), "missing field 'kind'",
                                   allowed=f"known kinds: {known}"))
    elif kind == PROJECT_KIND:
        # `flowyard apply -f flowyard.yaml`: say what the file is and what reads it.
        project = origin.file if origin and origin.file != "<string>" else "FILE"
        problems.append(problem_at(
            origin, ("kind",), "this is a Flowyard project file (kind Project), not a "
            "resource to validate or apply",
            allowed=f"render its components with `flowyard render --project {project} "
                    f"--env E`, or apply them to a cluster with `flowyard deploy --project "
                    f"{project} --env E`"))
    elif not isinstance(kind, str) or kind not in KINDS:
        suggestion = _did_you_mean(kind, KINDS)
        problems.append(problem_at(origin, ("kind",), "unknown kind", value=kind,
                                   allowed=f"{suggestion}known kinds: {known}"))
    else:
        model = KINDS[kind]

    body = dict(data)
    api_key = "apiVersion" if "apiVersion" in body or "api_version" not in body else "api_version"
    api = body.get(api_key)
    if api is None:
        problems.append(problem_at(origin, (), "missing field 'apiVersion'",
                                   allowed=f"add `apiVersion: {API_VERSION}`"))
    elif api != API_VERSION:
        problems.append(problem_at(origin, (api_key,), "unsupported apiVersion", value=api,
                                   allowed=f"expected {API_VERSION!r}"))
    body[api_key] = API_VERSION  # so the rest is still checked and reported in one go

    if model is None:
        raise ResourceInvalid(problems)
    try:
        resource = model.model_validate(body)
    except ValidationError as exc:
        problems.extend(problems_from(exc, model, origin))
    if problems:
        raise ResourceInvalid(problems)
    remember_origin(resource, origin)  # later checks (the engine's) name file:line too
    return resource


# --- pydantic errors -> problems -----------------------------------------------------------


def _did_you_mean(name: object, candidates: Iterable[str]) -> str:
    close = close_names(name, candidates)
    return f"did you mean {close[0]!r}? " if close else ""


def _shown(value: object) -> object:
    # Big mappings make a message unreadable; the field path already says where they are.
    if isinstance(value, dict | list) and len(repr(value)) > 120:
        return None
    return value


def _unwrap(tp: Any) -> list[Any]:
    """The concrete candidates behind Annotated/Optional/Union."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(tp):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [tp]


def _is_container(tp: Any) -> bool:
    return tp is Any or (isinstance(tp, type) and issubclass(tp, BaseModel)) or \
        typing.get_origin(tp) in (list, dict)


def _descend(tp: Any, item: PathItem) -> Any | None:
    """The type found at `item` inside `tp`, or None when `item` is not a position in it."""
    for candidate in _unwrap(tp):
        if candidate is Any:
            return Any
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            for name, info in candidate.model_fields.items():
                if item in (name, info.alias):
                    return info.annotation
        origin = typing.get_origin(candidate)
        args = typing.get_args(candidate)
        if origin is list and isinstance(item, int):
            return args[0] if args else Any
        if origin is dict and isinstance(item, str):
            return args[1] if args else Any
    return None


def _clean_loc(root: type[BaseModel], loc: Sequence[PathItem]) -> tuple[FieldPath, Any]:
    """Drop pydantic's union-member tags ('bool', 'str') so the path reads as written."""
    tp: Any = root
    out: list[PathItem] = []
    for item in loc:
        if tp is None:  # past a position we could not follow: keep the rest as given
            out.append(item)
            continue
        inner = _descend(tp, item)
        if inner is None and not any(_is_container(c) for c in _unwrap(tp)):
            continue
        out.append(item)
        tp = inner
    return tuple(out), tp


def _field_names(root: type[BaseModel], parent: Sequence[PathItem]) -> list[str]:
    tp: Any = root
    for item in parent:
        tp = _descend(tp, item)
        if tp is None:
            return []
    for candidate in _unwrap(tp):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return [info.alias or name for name, info in candidate.model_fields.items()]
    return []


_REWORDS = (
    ("Value error, ", ""),
    ("Assertion failed, ", ""),
    ("Input should be a valid dictionary or instance of ", "must be a mapping (key: value) for "),
    ("Input should be a valid dictionary", "must be a mapping (key: value)"),
    ("Input should be ", "must be "),
)


def _message(msg: str) -> str:
    for old, new in _REWORDS:
        if msg.startswith(old):
            return new + msg[len(old):]
    return msg


def problems_from(
    exc: ValidationError, model: type[BaseModel], origin: Origin | None
) -> list[Problem]:
    """A pydantic error as Problems with file:line, field path, value and what is allowed."""
    merged: dict[tuple[FieldPath, str], Problem] = {}
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        path, _tp = _clean_loc(model, loc)
        kind = error["type"]
        if kind == "missing":
            problem = problem_at(origin, path, f"missing required field {path[-1]!r}")
        elif kind == "extra_forbidden":
            valid = _field_names(model, loc[:-1])
            listed = f"valid fields: {', '.join(valid)}" if valid else ""
            hint = _did_you_mean(path[-1], valid) + listed
            problem = problem_at(origin, path, f"unknown field {path[-1]!r}", allowed=hint or None)
        else:
            problem = problem_at(origin, path, _message(error["msg"]), value=_shown(error["input"]))
        key = (path, kind if kind in ("missing", "extra_forbidden") else "value")
        if key in merged:  # several union members failed at one place: one problem, all reasons
            old = merged[key]
            problem = Problem(f"{old.message}, or {problem.message.removeprefix('must be ')}",
                              old.field, old.file, old.line, old.value, old.allowed)
        merged[key] = problem
    return sorted(merged.values(), key=lambda p: p.line or 0)


# --- dumping -------------------------------------------------------------------------------


def _compact_ref(ref: Any) -> Any:
    # {value: 3} -> 3 : the shorthand reads better; a mapping literal must keep its wrapper.
    if isinstance(ref, dict) and set(ref) == {"value"} and not isinstance(ref["value"], dict):
        return ref["value"]
    return ref


def _compact_condition(cond: dict[str, Any]) -> None:
    for side in ("left", "right"):
        if side in cond:
            cond[side] = _compact_ref(cond[side])
    for group in ("all", "any"):
        for sub in cond.get(group) or []:
            _compact_condition(sub)
    if isinstance(cond.get("not"), dict):
        _compact_condition(cond["not"])


def _compact_step(step: dict[str, Any]) -> None:
    if isinstance(step.get("arguments"), dict):
        step["arguments"] = {k: _compact_ref(v) for k, v in step["arguments"].items()}
    if "forEach" in step:
        step["forEach"] = _compact_ref(step["forEach"])
    if isinstance(step.get("when"), dict):
        _compact_condition(step["when"])


def _plain(resource: Resource[Any]) -> dict[str, Any]:
    body = resource.to_dict()
    spec = body.get("spec")
    if resource.kind == "Pipeline" and isinstance(spec, dict):
        for step in spec.get("steps") or []:
            _compact_step(step)
        if isinstance(spec.get("onExit"), dict):
            _compact_step(spec["onExit"])
        if isinstance(spec.get("outputs"), dict):
            spec["outputs"] = {k: _compact_ref(v) for k, v in spec["outputs"].items()}
    ordered = {key: body.pop(key) for key in _ENVELOPE_ORDER if key in body}
    ordered.update(body)
    return ordered


def dump_yaml(resources: Iterable[Resource[Any]]) -> str:
    """Block-style multi-document YAML that load_string reads back to equal resources."""
    text: str = yaml.dump_all(
        [_plain(r) for r in resources],
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    return text
