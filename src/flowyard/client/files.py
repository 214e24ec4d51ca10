"""Pipelines and resources from files, SDK objects and plain data (no runtime needed)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyard.errors import InvalidInput, Problem, ResourceInvalid

if TYPE_CHECKING:
    from flowyard.resources.base import Resource
    from flowyard.resources.loader import Origin
    from flowyard.resources.pipeline import Pipeline


def load_pipeline(obj: Any) -> Pipeline:
    """A Pipeline from a Pipeline, a target string/Path, a `@dsl.pipeline` function or a dict."""
    from flowyard.resources.pipeline import Pipeline

    if isinstance(obj, Pipeline):
        return obj
    if isinstance(obj, str | Path):
        from flowyard.pipelines.target import load_target

        return load_target(str(obj))
    if isinstance(obj, Mapping):
        resource = parse_resource(obj)
        if not isinstance(resource, Pipeline):
            raise InvalidInput(f"expected a Pipeline resource, got kind {resource.kind!r}")
        return resource
    if callable(obj):
        from flowyard import dsl

        return dsl.compile(obj)
    raise InvalidInput(
        f"cannot run {obj!r}: expected a Pipeline, a @dsl.pipeline function, "
        "'file.py:pipeline', 'file.yaml' or a Pipeline resource as a dict"
    )


def to_yaml(resources: Iterable[Resource[Any]]) -> str:
    from flowyard.resources.loader import dump_yaml

    return dump_yaml(resources)


def resource_class(kind: str) -> type[Resource[Any]]:
    from flowyard.resources import KINDS

    model = KINDS.get(kind)
    if model is None:
        raise InvalidInput(f"unknown kind {kind!r}",
                           hint=f"known kinds: {', '.join(sorted(KINDS))}")
    return model


def parse_resource(body: Mapping[str, Any]) -> Resource[Any]:
    from flowyard.resources.loader import parse_resource as parse

    return parse(body)


def as_resources(obj: Any) -> list[Resource[Any]]:
    """One resource, a dict, or an iterable of them, validated."""
    from flowyard.resources.base import Resource

    if isinstance(obj, Resource | Mapping):
        obj = [obj]
    out: list[Resource[Any]] = []
    for item in obj:
        out.append(item if isinstance(item, Resource) else parse_resource(item))
    return out


def _check_pipeline(pipeline: Pipeline, origin: Origin | None = None) -> list[Problem]:
    from flowyard.pipelines.validate import validate_pipeline

    try:
        validate_pipeline(pipeline, origin)
    except ResourceInvalid as exc:
        return list(exc.problems)
    return []


def validate_paths(paths: Iterable[Path]) -> list[Resource[Any]]:
    """Every resource in the files/folders (and pipelines in `file.py[:name]`), checked
    statically; raises one ResourceInvalid listing every problem found."""
    from flowyard.resources.loader import load_path
    from flowyard.resources.pipeline import Pipeline

    resources: list[Resource[Any]] = []
    problems: list[Problem] = []
    for path in paths:
        text = str(path)
        try:
            if text.endswith(".py") or ".py:" in text:
                pipeline = load_pipeline(text)
                resources.append(pipeline)
                problems.extend(_check_pipeline(pipeline))
                continue
            if not Path(text).exists():
                raise InvalidInput(f"no such file or folder: {text}", hint="check the path")
            for loaded in load_path(path):
                resources.append(loaded.resource)
                if isinstance(loaded.resource, Pipeline):
                    problems.extend(_check_pipeline(loaded.resource, loaded.origin))
        except ResourceInvalid as exc:
            problems.extend(exc.problems)
    if problems:
        raise ResourceInvalid(problems)
    return resources
