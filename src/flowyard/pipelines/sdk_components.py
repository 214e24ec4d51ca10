"""@dsl.component and @dsl.container_component: a function becomes a reusable step.

Decoration reads the interface from the signature (and fails there, naming the function and
the parameter, if an annotation is unsupported). Calling the component inside a
@dsl.pipeline function records a task; calling it anywhere else runs the plain function,
which keeps components unit-testable.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from flowyard.errors import InvalidInput
from flowyard.pipelines.sdk_placeholders import user_site
from flowyard.pipelines.sdk_source import capture, check_self_contained, where
from flowyard.pipelines.sdk_trace import current
from flowyard.pipelines.sdk_types import (
    ALLOWED_TYPES,
    Kind,
    Port,
    a_type,
    classify,
    label,
    literal_matches,
    param_type,
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class ContainerSpec:
    """What a container component returns: the image and the command line to run."""

    image: str
    command: list[Any] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)
    env: dict[str, Any] = field(default_factory=dict)


class BaseComponent:
    """Common part of Python and container components."""

    __name__: str  # set by functools.update_wrapper, like __doc__ and __wrapped__

    def __init__(self, func: Callable[..., Any], inputs: list[Port], outputs: list[Port],
                 cache: bool) -> None:
        functools.update_wrapper(self, func)
        self.python_func = func
        self.func_name: str = func.__name__
        self.name = component_name(func)
        self.description = inspect.getdoc(func)
        self.inputs = inputs
        self.outputs = outputs
        self.cache = cache
        self.site = where(func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        trace = current()
        if trace is None:
            return self.run_outside_pipeline(*args, **kwargs)
        site = user_site()
        if args:
            raise InvalidInput(f"{site}: component {self.func_name!r} is called with "
                               f"{len(args)} positional argument(s); inside a pipeline, "
                               "components take keyword arguments only",
                               hint=f"write {self.func_name}(name=value, ...)")
        return trace.add_task(self, kwargs, site)

    def run_outside_pipeline(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<component {self.name!r} from {self.site}>"


class PythonComponent(BaseComponent):
    """A lightweight Python component: its own source runs in the step's process."""

    def __init__(self, func: Callable[..., Any], *, packages: list[str], base_image: str | None,
                 cache: bool) -> None:
        inputs, outputs = interface(func, container=False)
        super().__init__(func, inputs, outputs, cache)
        source = capture(func)
        check_self_contained(func, source)
        self.source = source.text
        self.packages = list(packages)
        self.base_image = base_image

    def run_outside_pipeline(self, *args: Any, **kwargs: Any) -> Any:
        """Outside a pipeline the component is its plain function (handy in unit tests)."""
        return self.python_func(*args, **kwargs)


class ContainerComponent(BaseComponent):
    """A container component: the function runs once, at decoration, to build the command."""

    def __init__(self, func: Callable[..., Any], *, cache: bool) -> None:
        inputs, outputs = interface(func, container=True)
        super().__init__(func, inputs, outputs, cache)
        self.spec = _container_spec(func, self.func_name)

    def run_outside_pipeline(self, *args: Any, **kwargs: Any) -> Any:
        raise InvalidInput(f"{user_site()}: container component {self.func_name!r} only runs as "
                           "a step of a pipeline", hint="call it inside a @dsl.pipeline function")


@overload
def component(func: F, /) -> PythonComponent: ...
@overload
def component(*, packages: list[str] | None = None, packages_to_install: list[str] | None = None,
              base_image: str | None = None, cache: bool = True
              ) -> Callable[[F], PythonComponent]: ...
def component(func: Callable[..., Any] | None = None, /, *, packages: list[str] | None = None,
              packages_to_install: list[str] | None = None, base_image: str | None = None,
              cache: bool = True) -> Any:
    """Make a Python function a pipeline component (`@dsl.component` or `@dsl.component(...)`).

    packages (kfp: packages_to_install): what the step needs, recorded for the image.
    cache: False makes every task of this component skip the cache.
    """
    wanted = [*(packages or []), *(packages_to_install or [])]

    def wrap(f: Callable[..., Any]) -> PythonComponent:
        return PythonComponent(f, packages=wanted, base_image=base_image, cache=cache)

    return wrap if func is None else wrap(func)


@overload
def container_component(func: F, /) -> ContainerComponent: ...
@overload
def container_component(*, cache: bool = True) -> Callable[[F], ContainerComponent]: ...
def container_component(func: Callable[..., Any] | None = None, /, *, cache: bool = True
                        ) -> Any:
    """Make a function returning dsl.ContainerSpec a container component."""

    def wrap(f: Callable[..., Any]) -> ContainerComponent:
        return ContainerComponent(f, cache=cache)

    return wrap if func is None else wrap(func)


def component_name(func: Callable[..., Any]) -> str:
    name = func.__name__.replace("_", "-").strip("-")
    if not name:
        raise InvalidInput(f"{where(func)}: {func.__name__!r} cannot name a component; "
                           "use a name with letters")
    return name


def resolve_annotations(func: Callable[..., Any], what: str) -> dict[str, Any]:
    """Annotations as objects, also when the module uses `from __future__ import annotations`."""
    raw: dict[str, Any] = dict(getattr(func, "__annotations__", {}))
    scope: dict[str, Any] = {}
    with contextlib.suppress(TypeError, ValueError):
        scope = dict(inspect.getclosurevars(func).nonlocals)
    resolved: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            try:
                value = eval(value, func.__globals__, scope)
            except Exception as exc:
                label = "its return annotation" if name == "return" else f"parameter {name!r}"
                raise InvalidInput(
                    f"{where(func)}: {what} {func.__name__!r}, {label}: cannot evaluate the "
                    f"annotation {value!r} ({type(exc).__name__}: {exc})",
                    hint="annotations are evaluated in the module's globals; import the types "
                         "used in annotations at module level",
                ) from exc
        resolved[name] = value
    return resolved


def interface(func: Callable[..., Any], *, container: bool) -> tuple[list[Port], list[Port]]:
    """Inputs and outputs of a component from its signature."""
    what = "container component" if container else "component"
    at = f"{where(func)}: {what} {func.__name__!r}"
    hints = resolve_annotations(func, what)
    inputs: list[Port] = []
    outputs: list[Port] = []
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise InvalidInput(f"{at}, parameter {param.name!r}: *args and **kwargs are not "
                               "supported; declare each input by name")
        annotation = hints.get(param.name, inspect.Parameter.empty)
        kind = Kind("param", "str") if annotation is inspect.Parameter.empty \
            else classify(annotation)
        if kind is None:
            raise InvalidInput(f"{at}, parameter {param.name!r}: unsupported annotation "
                               f"{label(annotation)}; allowed: {ALLOWED_TYPES}"
                               + (", InputPath(...), OutputPath(...)" if container else ""))
        if not container and kind.role in ("input_path", "output_path", "output_param_path"):
            raise InvalidInput(f"{at}, parameter {param.name!r}: {label(annotation)} is for "
                               "container components",
                               hint="in a Python component use Input[Dataset] / Output[Dataset] "
                                    "and the artifact's .path")
        if kind.role in ("output", "output_path"):
            outputs.append(Port(param.name, "artifact", kind.type))
        elif kind.role == "output_param_path":
            outputs.append(Port(param.name, "param", kind.type))
        elif kind.role in ("input", "input_path"):
            inputs.append(Port(param.name, "artifact", kind.type))
        elif kind.role == "status":
            inputs.append(Port(param.name, "status", "dict"))
        else:
            has_default = param.default is not inspect.Parameter.empty
            default = param.default if has_default else None
            if has_default and not literal_matches(kind.type, default):
                raise InvalidInput(f"{at}, parameter {param.name!r}: default {default!r} is not "
                                   f"{a_type(kind.type)}")
            inputs.append(Port(param.name, "param", kind.type, has_default, default))
    if not container:
        outputs.extend(_returns(func, hints.get("return", inspect.Parameter.empty), at))
    seen: set[str] = set()
    for port in [*inputs, *outputs]:
        if port.name in seen:
            raise InvalidInput(f"{at}: the name {port.name!r} is used by an input and an output; "
                               "rename the parameter (a single return value is called 'Output')")
        seen.add(port.name)
    return inputs, outputs


def _returns(func: Callable[..., Any], annotation: Any, at: str) -> list[Port]:
    if annotation in (inspect.Parameter.empty, None, type(None)):
        return []
    if isinstance(annotation, type) and issubclass(annotation, tuple) \
            and hasattr(annotation, "_fields"):
        try:
            fields = typing.get_type_hints(annotation)
        except Exception:
            fields = dict(getattr(annotation, "__annotations__", {}))
        ports = []
        for name in annotation._fields:
            ptype = param_type(fields.get(name, str))
            if ptype is None:
                raise InvalidInput(f"{at}: return field {name!r} of {annotation.__name__}: "
                                   f"unsupported type {label(fields.get(name))}; allowed: "
                                   "str, int, float, bool, list, dict (artifacts are Output[...] "
                                   "parameters)")
            ports.append(Port(name, "param", ptype))
        return ports
    ptype = param_type(annotation)
    if ptype is None:
        raise InvalidInput(f"{at}: unsupported return annotation {label(annotation)}; allowed: "
                           "str, int, float, bool, list, dict, a NamedTuple of those, or None",
                           hint="write artifacts through Output[...] parameters")
    return [Port("Output", "param", ptype)]


class _ArtifactPlaceholder:
    """`data.path` in a container component's body, for Input[...]/Output[...] parameters."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __str__(self) -> str:
        return self.path


def _container_spec(func: Callable[..., Any], name: str) -> ContainerSpec:
    hints = resolve_annotations(func, "container component")
    values: dict[str, Any] = {}
    for param in inspect.signature(func).parameters.values():
        annotation = hints.get(param.name, inspect.Parameter.empty)
        kind = Kind("param", "str") if annotation is inspect.Parameter.empty \
            else classify(annotation)
        assert kind is not None  # interface() rejected the rest
        values[param.name] = {
            "param": f"{{{{inputs.parameters.{param.name}}}}}",
            "status": f"{{{{inputs.parameters.{param.name}}}}}",
            "input_path": f"{{{{inputs.artifacts.{param.name}.path}}}}",
            "input": _ArtifactPlaceholder(f"{{{{inputs.artifacts.{param.name}.path}}}}"),
            "output_path": f"{{{{outputs.artifacts.{param.name}.path}}}}",
            "output": _ArtifactPlaceholder(f"{{{{outputs.artifacts.{param.name}.path}}}}"),
            "output_param_path": f"{{{{outputs.parameters.{param.name}.path}}}}",
        }[kind.role]
    at = f"{where(func)}: container component {name!r}"
    try:
        spec = func(**values)
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(f"{at}: building its ContainerSpec failed: {type(exc).__name__}: "
                           f"{exc}", hint="the function runs once at decoration with "
                                          "placeholder strings for its parameters") from exc
    if not isinstance(spec, ContainerSpec):
        raise InvalidInput(f"{at} must return dsl.ContainerSpec(image=..., command=[...], "
                           f"args=[...]), got {spec!r}")
    if not isinstance(spec.image, str) or not spec.image:
        raise InvalidInput(f"{at}: ContainerSpec.image must be a non-empty string, "
                           f"got {spec.image!r}")
    return ContainerSpec(image=spec.image,
                         command=[_arg(v, at, "command") for v in spec.command or []],
                         args=[_arg(v, at, "args") for v in spec.args or []],
                         env={str(k): _arg(v, at, "env") for k, v in (spec.env or {}).items()})


def _arg(value: Any, at: str, field_name: str) -> str:
    if isinstance(value, str | _ArtifactPlaceholder):
        return str(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InvalidInput(f"{at}: ContainerSpec.{field_name} holds {value!r}; use strings "
                       "(parameters are substituted as text)")



