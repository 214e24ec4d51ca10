"""@dsl.pipeline: a function whose body, run once with placeholders, is the pipeline graph."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, overload

from flowyard.errors import InvalidInput
from flowyard.pipelines.sdk_components import resolve_annotations
from flowyard.pipelines.sdk_placeholders import ParameterRef, user_site
from flowyard.pipelines.sdk_source import where
from flowyard.pipelines.sdk_trace import Trace, activate, current, deactivate
from flowyard.pipelines.sdk_types import (
    PARAM_TYPES,
    Port,
    a_type,
    classify,
    label,
    literal_matches,
    type_of_value,
)

_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class PipelineDef:
    """What @dsl.pipeline returns; dsl.compile() turns it into a Pipeline resource."""

    def __init__(self, func: Callable[..., Any], *, name: str | None, description: str | None,
                 parallelism: int | None, deadline: float | str | None) -> None:
        self.func = func
        self.func_name = func.__name__
        self.site = where(func)
        self.name = name or func.__name__.lower().replace("_", "-").strip("-")
        if len(self.name) > 63 or not _DNS.match(self.name):
            raise InvalidInput(f"{self.site}: pipeline {func.__name__!r}: name {self.name!r} is "
                               "not a DNS-1123 label (at most 63 lower-case letters, digits "
                               "or '-', starting and ending with a letter or digit)",
                               hint="pass @dsl.pipeline(name='my-pipeline')")
        self.description = description if description is not None else inspect.getdoc(func)
        self.parallelism = parallelism
        self.deadline = deadline
        self.parameters = _parameters(func, self.site)
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__wrapped__ = func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if current() is not None:
            raise InvalidInput(f"{user_site()}: pipeline {self.func_name!r} is called inside "
                               "another pipeline; nested pipelines are not supported",
                               hint="call its components directly in the outer pipeline")
        raise InvalidInput(f"{user_site()}: pipeline {self.func_name!r} is not called directly",
                           hint="compile it with dsl.compile(...) and run it with "
                                "`flowyard run` or flowyard.Client().run(...)")

    def __repr__(self) -> str:
        return f"<pipeline {self.name!r} from {self.site}>"


@dataclass
class Traced:
    pipeline: PipelineDef
    parameters: list[Port]
    trace: Trace
    returned: Any


@overload
def pipeline(func: Callable[..., Any], /) -> PipelineDef: ...
@overload
def pipeline(*, name: str | None = None, description: str | None = None,
             parallelism: int | None = None, deadline: float | str | None = None,
             pipeline_root: str | None = None, display_name: str | None = None
             ) -> Callable[[Callable[..., Any]], PipelineDef]: ...
def pipeline(func: Callable[..., Any] | None = None, /, *, name: str | None = None,
             description: str | None = None, parallelism: int | None = None,
             deadline: float | str | None = None, pipeline_root: str | None = None,
             display_name: str | None = None) -> Any:
    """Declare a pipeline (`@dsl.pipeline` or `@dsl.pipeline(name=..., description=...)`).

    parallelism: max steps running at once; deadline: the whole run's time limit.
    pipeline_root and display_name are accepted for kfp compatibility and ignored.
    """

    def wrap(f: Callable[..., Any]) -> PipelineDef:
        return PipelineDef(f, name=name, description=description, parallelism=parallelism,
                           deadline=deadline)

    return wrap if func is None else wrap(func)


def _parameters(func: Callable[..., Any], site: str) -> list[Port]:
    hints = resolve_annotations(func, "pipeline")
    ports: list[Port] = []
    for param in inspect.signature(func).parameters.values():
        at = f"{site}: pipeline {func.__name__!r}, parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise InvalidInput(f"{at}: *args and **kwargs are not supported; declare each "
                               "parameter by name")
        has_default = param.default is not inspect.Parameter.empty
        default = param.default if has_default else None
        annotation = hints.get(param.name, inspect.Parameter.empty)
        if annotation is inspect.Parameter.empty:
            ptype = (type_of_value(default) if has_default else None) or "str"
        else:
            kind = classify(annotation)
            if kind is None or kind.role != "param":
                allowed = ", ".join(PARAM_TYPES.values())
                raise InvalidInput(f"{at}: unsupported annotation {label(annotation)}; pipeline "
                                   f"parameters are {allowed} (artifacts come from tasks)")
            ptype = kind.type
        if has_default and not literal_matches(ptype, default):
            raise InvalidInput(f"{at}: default {default!r} is not {a_type(ptype)}")
        ports.append(Port(param.name, "param", ptype, has_default,
                          list(default) if isinstance(default, tuple) else default))
    return ports


def trace_pipeline(definition: PipelineDef, overrides: Mapping[str, Any] | None = None
                   ) -> Traced:
    """Run the pipeline function once with placeholders and return what it recorded."""
    params = list(definition.parameters)
    if overrides:
        known = {p.name: i for i, p in enumerate(params)}
        for key, value in overrides.items():
            if key not in known:
                valid = ", ".join(known) or "none"
                raise InvalidInput(f"pipeline {definition.name!r} has no parameter {key!r}; "
                                   f"its parameters: {valid}")
            port = params[known[key]]
            if not literal_matches(port.type, value):
                raise InvalidInput(f"pipeline {definition.name!r}, parameter {key!r}: expected "
                                   f"{a_type(port.type)}, got {value!r}")
            params[known[key]] = Port(port.name, "param", port.type, True, value)
    if current() is not None:
        raise InvalidInput(f"{user_site()}: a pipeline is compiled inside another pipeline "
                           "function; compile it outside")
    trace = Trace(definition.name)
    token = activate(trace)
    try:
        returned = definition.func(**{p.name: ParameterRef(p.name, p.type) for p in params})
    finally:
        deactivate(token)
    return Traced(definition, params, trace, returned)
