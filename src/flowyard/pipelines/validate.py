"""Static checks of a Pipeline's graph, run before anything executes.

Each check is a small function decorated with `@check`; it receives a `Context` and yields
`Problem`s. `validate_pipeline` runs all of them and raises one `PipelineInvalid` listing
every problem (step name, field path, line when the origin is known, and the fix).

Typing rules, kept strict on purpose:
  parameters  exact type match, except int -> float; a literal None fits anything ("unset");
              bool is not an int.
  artifacts   an `Artifact` input accepts any artifact type, otherwise the types are equal.
  loops       a step with `forEach` runs once per item; its outputs reach a consumer as a
              list only with `collect: true` (parameter inputs must then be `list`; an
              artifact input receives the list of artifacts in iteration order), unless the
              consumer loops over the same `forEach` source, which wires iteration i to i.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from flowyard.errors import InvalidInput, PipelineInvalid, Problem
from flowyard.resources.pipeline import (
    ArtifactType,
    Component,
    Condition,
    Pipeline,
    Ref,
    Step,
)

if TYPE_CHECKING:
    from flowyard.resources.loader import FieldPath, Origin

# The loader (and PyYAML, ~10 ms to import) is only needed once a problem is reported, so a
# valid pipeline is checked without it: `flowyard run` and `Client.run` pay for it otherwise.


def _problem_at(origin: Origin | None, path: FieldPath, message: str, *, value: object = None,
                allowed: str | None = None) -> Problem:
    from flowyard.resources.loader import problem_at

    return problem_at(origin, path, message, value=value, allowed=allowed)


def close_names(name: object, candidates: Iterable[str]) -> list[str]:
    from flowyard.resources.loader import close_names as close

    return close(name, candidates)


def format_path(path: FieldPath) -> str:
    from flowyard.resources.loader import format_path as fmt

    return fmt(path)

__all__ = [
    "CHECKS",
    "Context",
    "check",
    "dependencies",
    "validate_parameters",
    "validate_pipeline",
]

Check = Callable[["Context"], Iterable[Problem]]
CHECKS: list[Check] = []


def check(function: Check) -> Check:
    """Add a check to the list `validate_pipeline` runs, in definition order."""
    CHECKS.append(function)
    return function


# --- context --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """A step and where it sits in the resource."""

    step: Step
    path: FieldPath
    is_exit: bool = False

    @property
    def name(self) -> str:
        return self.step.name


@dataclass(frozen=True)
class Use:
    """One Ref found in the pipeline: who uses it, where, and for what."""

    site: Site | None  # None: the pipeline's own `outputs`
    path: FieldPath  # absolute field path
    ref: Ref
    role: Literal["argument", "forEach", "when", "output"]
    input: str | None = None  # the argument's input name


@dataclass(frozen=True)
class Source:
    """What a Ref delivers, as far as it is known statically."""

    kind: Literal["parameter", "artifact", "literal", "items", "unknown"]
    type: str | None = None
    what: str = ""
    values: tuple[Any, ...] = ()  # the literal (one value) or the loop items


class Context:
    """The pipeline plus indexes the checks share."""

    def __init__(self, pipeline: Pipeline, origin: Origin | None = None) -> None:
        self.pipeline = pipeline
        self.spec = pipeline.spec
        self.origin = origin
        self.sites = [Site(s, ("spec", "steps", i)) for i, s in enumerate(self.spec.steps)]
        if self.spec.on_exit is not None:
            self.sites.append(Site(self.spec.on_exit, ("spec", "onExit"), is_exit=True))
        self.by_name: dict[str, Site] = {}
        for site in self.sites:
            self.by_name.setdefault(site.name, site)

    def problem(self, site: Site | None, path: FieldPath, message: str, *,
                value: object = None, allowed: str | None = None) -> Problem:
        prefix = f"step {site.name!r}: " if site is not None else ""
        return _problem_at(self.origin, path, prefix + message, value=value, allowed=allowed)

    def component(self, site: Site) -> Component | None:
        return self.spec.components.get(site.step.component)

    def step_names(self) -> list[str]:
        return [s.name for s in self.sites]

    def uses(self) -> Iterator[Use]:
        for site in self.sites:
            step = site.step
            for name, ref in step.arguments.items():
                yield Use(site, (*site.path, "arguments", name), ref, "argument", name)
            if step.for_each is not None:
                yield Use(site, (*site.path, "forEach"), step.for_each, "forEach")
            if step.when is not None:
                for path, cond in _comparisons(step.when, (*site.path, "when")):
                    for side in ("left", "right"):
                        ref = getattr(cond, side)
                        if ref is not None:
                            yield Use(site, (*path, side), ref, "when")
        for name, ref in self.spec.outputs.items():
            yield Use(None, ("spec", "outputs", name), ref, "output")

    def source(self, use: Use) -> Source:
        """What a Ref delivers; `unknown` when that cannot be known statically."""
        ref = use.ref
        if ref.kind == "value":
            return Source("literal", _literal_type(ref.value), f"the value {ref.value!r}",
                          (ref.value,))
        if ref.kind == "parameter":
            param = self.spec.parameter(ref.parameter or "")
            if param is None:
                return Source("unknown")
            return Source("parameter", param.type.value,
                          f"pipeline parameter {param.name!r} ({param.type.value})")
        if ref.kind == "run_status":
            return Source("parameter", "dict", "the run status (dict)")
        if ref.kind == "group_status":
            return Source("parameter", "dict", "the group status (dict)")
        if ref.kind == "data":  # any artifact type: a repo path holds whatever was put there
            return Source("artifact", None, f"the data {ref.data!r}")
        if ref.kind == "item":
            return self._item_source(use)
        producer = self.by_name.get(ref.step or "")
        component = self.component(producer) if producer else None
        if component is None:
            return Source("unknown")
        out = f"output {ref.output!r} of step {ref.step!r}"
        param = component.outputs.parameter(ref.output or "")
        if param is not None:
            if ref.collect:
                return Source("parameter", "list", f"the collected {out} (list)")
            return Source("parameter", param.type.value, f"{out} ({param.type.value})")
        art = component.outputs.artifact(ref.output or "")
        if art is not None:
            if ref.collect:  # a list of artifacts; the element type is what gets checked
                return Source("artifact", art.type.value,
                              f"the collected {out} (list of {art.type.value})")
            return Source("artifact", art.type.value, f"{out} ({art.type.value})")
        return Source("unknown")

    def _item_source(self, use: Use) -> Source:
        loop = use.site.step.for_each if use.site else None
        if loop is None or loop.kind != "value" or not isinstance(loop.value, list):
            return Source("unknown")
        key = use.ref.item
        items = loop.value
        if isinstance(key, str):
            items = [i[key] for i in items if isinstance(i, dict) and key in i]
        label = "the loop items" if key is True else f"the loop items' {key!r}"
        return Source("items", None, label, tuple(items))


def _comparisons(cond: Condition, path: FieldPath) -> Iterator[tuple[FieldPath, Condition]]:
    if cond.op is not None:
        yield path, cond
    for group in ("all", "any"):
        for i, sub in enumerate(getattr(cond, group) or []):
            yield from _comparisons(sub, (*path, group, i))
    if cond.not_ is not None:
        yield from _comparisons(cond.not_, (*path, "not"))


def _literal_type(value: Any) -> str | None:
    if value is None:
        return None
    for python_type, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"),
                              (list, "list"), (dict, "dict")):
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def literal_fits(type_name: str, value: Any) -> bool:
    """Whether a literal fits a parameter type; None always fits (it means 'unset')."""
    found = _literal_type(value)
    return found is None or found == type_name or (found == "int" and type_name == "float")


def param_fits(source: str, target: str) -> bool:
    return source == target or (source == "int" and target == "float")


def artifact_fits(source: str, target: str) -> bool:
    return target == ArtifactType.ARTIFACT.value or source == target


def _choices(name: object, candidates: Iterable[str], what: str) -> str:
    names = list(candidates)
    close = close_names(name, names)
    listed = f"{what}: {', '.join(names)}" if names else f"there are no {what}"
    return (f"did you mean {close[0]!r}? " if close else "") + listed


def _same_loop(a: Step, b: Step) -> bool:
    return a.for_each is not None and b.for_each is not None and a.for_each == b.for_each


# --- checks ---------------------------------------------------------------------------------


@check
def unique_names(ctx: Context) -> Iterator[Problem]:
    """Step names, pipeline parameter names and interface names are unique."""
    seen: dict[str, Site] = {}
    for site in ctx.sites:
        first = seen.setdefault(site.name, site)
        if first is not site:
            yield ctx.problem(site, (*site.path, "name"), "duplicate step name",
                              value=site.name,
                              allowed=f"already used at {format_path(first.path)}; rename one")
    names: set[str] = set()
    for i, param in enumerate(ctx.spec.parameters):
        if param.name in names:
            yield ctx.problem(None, ("spec", "parameters", i, "name"),
                              "duplicate pipeline parameter", value=param.name)
        names.add(param.name)
    for cname, comp in ctx.spec.components.items():
        for side in ("inputs", "outputs"):
            interface = getattr(comp, side)
            seen_names: set[str] = set()
            for group in ("parameters", "artifacts"):
                for i, spec in enumerate(getattr(interface, group)):
                    if spec.name in seen_names:
                        yield ctx.problem(None, ("spec", "components", cname, side, group, i),
                                          f"component {cname!r} declares {side[:-1]} "
                                          f"{spec.name!r} twice", value=spec.name)
                    seen_names.add(spec.name)


@check
def known_components(ctx: Context) -> Iterator[Problem]:
    for site in ctx.sites:
        if site.step.component not in ctx.spec.components:
            yield ctx.problem(site, (*site.path, "component"), "unknown component",
                              value=site.step.component,
                              allowed=_choices(site.step.component, ctx.spec.components,
                                               "components"))


@check
def arguments_match_inputs(ctx: Context) -> Iterator[Problem]:
    """Every argument names an input; every input without a default gets an argument."""
    for site in ctx.sites:
        comp = ctx.component(site)
        if comp is None:
            continue
        inputs = comp.inputs.names()
        for name in site.step.arguments:
            if name not in inputs:
                yield ctx.problem(site, (*site.path, "arguments", name),
                                  f"component {site.step.component!r} has no input {name!r}",
                                  allowed=_choices(name, inputs, "its inputs"))
        missing = [p.name for p in comp.inputs.parameters if not p.has_default]
        missing += [a.name for a in comp.inputs.artifacts]
        for name in missing:
            if name not in site.step.arguments:
                yield ctx.problem(site, (*site.path, "arguments"),
                                  f"input {name!r} of component {site.step.component!r} "
                                  "needs an argument (it has no default)",
                                  allowed=f"add `{name}: ...` under arguments")


@check
def refs_resolve(ctx: Context) -> Iterator[Problem]:
    """Every Ref points at something that exists and may be used where it is."""
    param_names = [p.name for p in ctx.spec.parameters]
    for use in ctx.uses():
        ref, site = use.ref, use.site
        if ref.kind == "parameter" and ctx.spec.parameter(ref.parameter or "") is None:
            yield ctx.problem(site, use.path, "unknown pipeline parameter", value=ref.parameter,
                              allowed=_choices(ref.parameter, param_names,
                                               "pipeline parameters"))
        elif ref.kind == "step":
            yield from _step_ref(ctx, use)
        elif ref.kind == "item":
            yield from _item_ref(ctx, use)
        elif ref.kind == "data":
            yield from _data_ref(ctx, use)
        elif ref.kind == "run_status" and (site is None or not site.is_exit):
            yield ctx.problem(site, use.path, "{runStatus: true} is only available to the "
                              "exit handler", allowed="move this step to spec.onExit, or drop "
                              "the argument")
        elif ref.kind == "group_status" and (site is None or site.step.trigger != "allDone"):
            yield ctx.problem(site, use.path, "{groupStatus: true} is only available to a "
                              "step with `trigger: allDone`", allowed="set `trigger: allDone` "
                              "and list the group's steps under `after`, or drop the argument")


def _data_ref(ctx: Context, use: Use) -> Iterator[Problem]:
    from flowyard.data.refs import parse_target

    if use.role != "argument":
        yield ctx.problem(use.site, use.path, "{data: ...} can only be an argument of an "
                          "artifact input", value=use.ref.data,
                          allowed="pass it to a step's input artifact and read it there")
        return
    try:
        parse_target(use.ref.data or "")
    except InvalidInput as exc:
        yield ctx.problem(use.site, (*use.path, "data"), f"bad data ref: {exc.message}",
                          value=use.ref.data, allowed="write repo@ref:/path, e.g. "
                          "raw@master:/iris.csv (ref: a branch, a commit id or master^)")


@check
def outputs_to(ctx: Context) -> Iterator[Problem]:
    """`outputsTo` names an output artifact and a writable repo branch path."""
    if not any(site.step.outputs_to for site in ctx.sites):
        return   # flowyard.data (~10 ms to import) only for pipelines that write to repos
    from flowyard.data.refs import BRANCH_RE, parse_target

    for site in ctx.sites:
        comp = ctx.component(site)
        for name, target in site.step.outputs_to.items():
            path = (*site.path, "outputsTo", name)
            if comp is not None and comp.outputs.artifact(name) is None:
                arts = [a.name for a in comp.outputs.artifacts]
                yield ctx.problem(site, path, f"outputsTo names {name!r}, which is not an "
                                  f"output artifact of component {site.step.component!r}",
                                  value=name, allowed=_choices(name, arts, "output artifacts"))
            if site.step.for_each is not None:
                yield ctx.problem(site, path, "outputsTo cannot be used on a looped step "
                                  "(every iteration would write the same path)", value=target,
                                  allowed="collect the iterations in a following step and "
                                  "write its output")
            try:
                tgt = parse_target(target)
            except InvalidInput as exc:
                yield ctx.problem(site, path, f"bad data target: {exc.message}", value=target,
                                  allowed="write repo@branch:/path, e.g. models@master:/iris")
                continue
            base = tgt.base or "master"
            if tgt.generations or not BRANCH_RE.fullmatch(base) or not tgt.path:
                yield ctx.problem(site, path, "outputsTo needs a branch and a path to write "
                                  "(commits are immutable)", value=target,
                                  allowed="write repo@branch:/path, e.g. models@master:/iris")


def _step_ref(ctx: Context, use: Use) -> Iterator[Problem]:
    ref, site = use.ref, use.site
    producer = ctx.by_name.get(ref.step or "")
    if producer is None:
        yield ctx.problem(site, (*use.path, "step"), "unknown step", value=ref.step,
                          allowed=_choices(ref.step, ctx.step_names(), "steps"))
        return
    if producer.is_exit:
        yield ctx.problem(site, (*use.path, "step"), "the exit handler cannot be referenced",
                          value=ref.step, allowed="it runs after every other step; use an "
                          "output of a regular step instead")
        return
    if site is not None and site.is_exit:
        yield ctx.problem(site, use.path, "the exit handler cannot take other steps' outputs",
                          value=ref.step, allowed="it also runs when those steps failed; pass "
                          "pipeline parameters or {runStatus: true} instead")
        return
    comp = ctx.component(producer)
    if comp is None:
        return
    outputs = comp.outputs.names()
    if ref.output not in outputs:
        yield ctx.problem(site, (*use.path, "output"), f"step {ref.step!r} has no output "
                          f"{ref.output!r}", value=ref.output,
                          allowed=_choices(ref.output, outputs, "its outputs"))
        return
    looped = producer.step.for_each is not None
    if ref.collect and not looped:
        yield ctx.problem(site, (*use.path, "collect"), f"`collect: true` needs a looped "
                          f"producer, but step {ref.step!r} has no forEach",
                          allowed="remove `collect: true` to pass its single output")
    elif looped and not ref.collect and (site is None or not _same_loop(site.step,
                                                                        producer.step)):
        yield ctx.problem(site, use.path, f"step {ref.step!r} runs once per item of its "
                          f"forEach, so output {ref.output!r} is one value per iteration",
                          allowed="add `collect: true` to receive the list of them, or loop "
                          "this step over the same forEach to wire iteration by iteration")


def _item_ref(ctx: Context, use: Use) -> Iterator[Problem]:
    site = use.site
    if use.role == "forEach":
        yield ctx.problem(site, use.path, "forEach cannot use {item}: loops do not nest",
                          allowed="loop over a list parameter or a list output instead")
        return
    if site is None or site.step.for_each is None:
        yield ctx.problem(site, use.path, "{item} is only available in a step with forEach",
                          allowed="add `forEach: [...]` to this step, or pass a value, a "
                          "parameter or a step output")
        return
    key = use.ref.item
    loop = site.step.for_each
    if isinstance(key, str) and loop.kind == "value" and isinstance(loop.value, list):
        for i, item in enumerate(loop.value):
            if not isinstance(item, dict) or key not in item:
                yield ctx.problem(site, (*site.path, "forEach", "value", i),
                                  f"{{item: {key}}} needs every loop item to be a mapping "
                                  f"with key {key!r}", value=item)


@check
def argument_types(ctx: Context) -> Iterator[Problem]:
    """Artifacts feed artifacts, parameters feed parameters, and the types fit."""
    for use in ctx.uses():
        if use.role != "argument" or use.site is None:
            continue
        comp = ctx.component(use.site)
        if comp is None or use.input is None:
            continue
        source = ctx.source(use)
        art = comp.inputs.artifact(use.input)
        param = comp.inputs.parameter(use.input)
        if art is not None:
            yield from _artifact_argument(ctx, use, source, art.type.value)
        elif param is not None:
            yield from _parameter_argument(ctx, use, source, param.type.value)


def _artifact_argument(ctx: Context, use: Use, source: Source, target: str) -> Iterator[Problem]:
    if source.kind == "unknown":
        return
    if source.kind != "artifact":
        yield ctx.problem(use.site, use.path, f"artifact input {use.input!r} ({target}) must "
                          "come from another step's artifact output",
                          value=None if source.kind == "parameter" else use.ref.value,
                          allowed=f"got {source.what}; use {{step: S, output: O}} naming an "
                          "artifact output")
    elif source.type and not artifact_fits(source.type, target):
        yield ctx.problem(use.site, use.path, f"artifact input {use.input!r} takes a {target}, "
                          f"but {source.what} is a {source.type}",
                          allowed="make the types equal, or declare the input as Artifact "
                          "to accept any artifact")


def _parameter_argument(ctx: Context, use: Use, source: Source,
                        target: str) -> Iterator[Problem]:
    if source.kind == "artifact":
        yield ctx.problem(use.site, use.path, f"parameter input {use.input!r} ({target}) "
                          f"cannot take {source.what}: it is an artifact",
                          allowed="declare the input as an artifact (Input[...]) or pass an "
                          "output parameter")
    elif source.kind == "literal":
        if not literal_fits(target, source.values[0]):
            yield ctx.problem(use.site, use.path, f"input {use.input!r} takes {target}, "
                              f"not {source.type}", value=source.values[0],
                              allowed=f"write a {target} value")
    elif source.kind == "items":
        for value in source.values:
            if not literal_fits(target, value):
                yield ctx.problem(use.site, use.path, f"input {use.input!r} takes {target}, "
                                  f"but {source.what} include a {_literal_type(value)}",
                                  value=value, allowed=f"make every loop item a {target}")
                break
    elif source.kind == "parameter" and source.type and not param_fits(source.type, target):
        yield ctx.problem(use.site, use.path, f"input {use.input!r} takes {target}, but "
                          f"{source.what} does not fit", allowed=f"only equal types (or int "
                          f"into float) connect; give both sides type {target}")


@check
def loops(ctx: Context) -> Iterator[Problem]:
    """forEach is a list: a literal, a list parameter or a list output."""
    for site in ctx.sites:
        loop = site.step.for_each
        if loop is None:
            continue
        path = (*site.path, "forEach")
        if site.is_exit:
            yield ctx.problem(site, path, "the exit handler cannot loop",
                              allowed="remove forEach from spec.onExit")
            continue
        use = Use(site, path, loop, "forEach")
        source = ctx.source(use)
        if loop.kind == "value" and not isinstance(loop.value, list):
            yield ctx.problem(site, path, "forEach must be a list", value=loop.value,
                              allowed="write a list like [a, b], or use a list parameter "
                              "or a list step output")
        elif source.kind == "artifact":
            yield ctx.problem(site, path, f"forEach cannot loop over {source.what}: it is an "
                              "artifact", allowed="loop over a list output parameter")
        elif source.kind == "parameter" and source.type != "list":
            yield ctx.problem(site, path, f"forEach needs a list, but {source.what} is not one",
                              allowed="declare it with type: list")
        elif loop.kind in ("run_status", "group_status"):
            yield ctx.problem(site, path, "forEach cannot loop over a status")


@check
def triggers(ctx: Context) -> Iterator[Problem]:
    """`trigger: allDone` waits for the steps in `after`; it has to name some."""
    for site in ctx.sites:
        step = site.step
        if step.trigger != "allDone":
            continue
        path = (*site.path, "trigger")
        if site.is_exit:
            yield ctx.problem(site, path, "the exit handler already runs whatever happened",
                              value=step.trigger, allowed="remove `trigger` from spec.onExit")
        elif not step.after:
            yield ctx.problem(site, path, "`trigger: allDone` needs the steps it waits for "
                              "under `after`", value=step.trigger,
                              allowed="list the group's steps under `after`")
        elif step.for_each is not None:
            yield ctx.problem(site, path, "a `trigger: allDone` step cannot loop",
                              value=step.trigger, allowed="remove forEach or the trigger")


@check
def after_names(ctx: Context) -> Iterator[Problem]:
    for site in ctx.sites:
        for i, name in enumerate(site.step.after):
            target = ctx.by_name.get(name)
            path = (*site.path, "after", i)
            if target is None:
                yield ctx.problem(site, path, "`after` names an unknown step", value=name,
                                  allowed=_choices(name, ctx.step_names(), "steps"))
            elif target.is_exit and not site.is_exit:
                yield ctx.problem(site, path, "no step can run after the exit handler",
                                  value=name, allowed="the exit handler always runs last; "
                                  "remove it from `after`")


@check
def no_cycles(ctx: Context) -> Iterator[Problem]:
    graph = {name: {d for d in deps if d in ctx.by_name}
             for name, deps in dependencies(ctx.pipeline).items()}
    for cycle in _cycles(graph):
        site = ctx.by_name[cycle[0]]
        # Printed in run order: each arrow points at a step that waits for the one before it.
        order = " -> ".join(reversed([*cycle, cycle[0]]))
        waits_for = cycle[1] if len(cycle) > 1 else cycle[0]
        yield ctx.problem(site, _edge_path(ctx, site, waits_for),
                          f"steps wait for each other in a cycle: {order}",
                          allowed="remove one of these data references or `after` entries")


def _edge_path(ctx: Context, site: Site, waits_for: str) -> FieldPath:
    """The field of `site` that makes it wait for step `waits_for` (a data ref or an `after`
    entry), so that the problem names the line that closes the cycle; else the step."""
    for use in ctx.uses():
        if use.site is site and use.ref.step == waits_for:
            return use.path
    if waits_for in site.step.after:
        return (*site.path, "after", site.step.after.index(waits_for))
    return site.path


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Each elementary cycle found by a depth-first search, once (rotated to its least name)."""
    found: dict[tuple[str, ...], list[str]] = {}
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):]
                pivot = cycle.index(min(cycle))
                rotated = cycle[pivot:] + cycle[:pivot]
                found.setdefault(tuple(rotated), rotated)
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return list(found.values())


_COMPARABLE = {"int": "number", "float": "number", "str": "str", "bool": "bool",
               "list": "list", "dict": "dict"}


@check
def condition_types(ctx: Context) -> Iterator[Problem]:
    """Comparisons in `when` compare values of compatible types."""
    for site in ctx.sites:
        if site.step.when is None:
            continue
        for path, cond in _comparisons(site.step.when, (*site.path, "when")):
            assert cond.left is not None and cond.right is not None  # the model ensures it
            left = ctx.source(Use(site, (*path, "left"), cond.left, "when"))
            right = ctx.source(Use(site, (*path, "right"), cond.right, "when"))
            for side, source in (("left", left), ("right", right)):
                if source.kind == "artifact":
                    yield ctx.problem(site, (*path, side), f"a condition cannot compare "
                                      f"{source.what}: it is an artifact",
                                      allowed="compare an output parameter instead")
            message = _comparison_problem(cond.op or "", left, right)
            if message:
                yield ctx.problem(site, path, message, allowed="compare values of one type "
                                  "(int and float mix)")


def _comparison_problem(op: str, left: Source, right: Source) -> str | None:
    lt = left.type if left.kind in ("literal", "parameter") else None
    rt = right.type if right.kind in ("literal", "parameter") else None
    if op in ("in", "not in"):
        if rt is not None and rt not in ("list", "dict", "str"):
            return f"{op!r} needs a list, dict or str on the right, not {right.what}"
        if lt is None:
            return None
        if rt == "str" and lt != "str":
            return f"{op!r} on a str needs a str on the left, not {left.what}"
        if right.kind == "literal" and isinstance(right.values[0], list):
            kinds = {_COMPARABLE.get(_literal_type(v) or "", "") for v in right.values[0]
                     if v is not None}
            if kinds and _COMPARABLE.get(lt) not in kinds:
                return f"{left.what} can never be {op} {right.values[0]!r}: the types differ"
        return None
    if lt is None or rt is None:
        return None
    if _COMPARABLE.get(lt) != _COMPARABLE.get(rt):
        return f"{left.what} and {right.what} have different types ({lt} {op} {rt})"
    if op in ("<", "<=", ">", ">=") and _COMPARABLE.get(lt) not in ("number", "str"):
        return f"{op!r} orders numbers or strings, not {lt}"
    return None


@check
def parameter_defaults(ctx: Context) -> Iterator[Problem]:
    """Defaults fit their declared types."""
    for i, param in enumerate(ctx.spec.parameters):
        if param.has_default and not literal_fits(param.type.value, param.default):
            yield ctx.problem(None, ("spec", "parameters", i, "default"),
                              f"the default of parameter {param.name!r} is not a "
                              f"{param.type.value}", value=param.default,
                              allowed=f"write a {param.type.value} or change the type")
    for cname, comp in ctx.spec.components.items():
        for i, param in enumerate(comp.inputs.parameters):
            if param.has_default and not literal_fits(param.type.value, param.default):
                yield ctx.problem(None, ("spec", "components", cname, "inputs", "parameters",
                                         i, "default"),
                                  f"the default of input {param.name!r} of component "
                                  f"{cname!r} is not a {param.type.value}",
                                  value=param.default)


@check
def python_sources(ctx: Context) -> Iterator[Problem]:
    """A python component's source parses and defines its function at the top level."""
    for cname, comp in ctx.spec.components.items():
        if comp.python is None:
            continue
        path = ("spec", "components", cname, "python", "source")
        try:
            tree = ast.parse(comp.python.source)
        except SyntaxError as exc:
            line = ctx.origin.line_of(path) if ctx.origin else None
            yield Problem(
                f"component {cname!r}: the python source does not parse: {exc.msg} "
                f"(source line {exc.lineno})",
                field=format_path(path),
                file=ctx.origin.file if ctx.origin else None,
                # a literal block starts on the line after `source: |`
                line=line + (exc.lineno or 0) if line is not None else None,
            )
            continue
        functions = [n.name for n in tree.body
                     if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        if comp.python.function not in functions:
            yield ctx.problem(None, ("spec", "components", cname, "python", "function"),
                              f"component {cname!r}: the source defines no top-level "
                              f"function {comp.python.function!r}",
                              value=comp.python.function,
                              allowed=_choices(comp.python.function, functions,
                                               "functions in the source"))


_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PLACEHOLDER_FORM = re.compile(
    r"^(inputs|outputs)\.(parameters|artifacts)\.([A-Za-z_][A-Za-z0-9_]*)(\.path)?$")


@check
def container_placeholders(ctx: Context) -> Iterator[Problem]:
    """{{inputs.parameters.x}} and friends name declared inputs and outputs."""
    for cname, comp in ctx.spec.components.items():
        if comp.container is None:
            continue
        fields: list[tuple[FieldPath, str]] = []
        for group in ("command", "args"):
            for i, text in enumerate(getattr(comp.container, group)):
                fields.append(((group, i), text))
        for key, text in comp.container.env.items():
            fields.append((("env", key), text))
        for rel, text in fields:
            for match in _PLACEHOLDER.finditer(text):
                message = _placeholder_problem(comp, match.group(1))
                if message:
                    yield ctx.problem(None, ("spec", "components", cname, "container", *rel),
                                      f"component {cname!r}: {message}", value=match.group(0),
                                      allowed="placeholders are {{inputs.parameters.NAME}}, "
                                      "{{inputs.artifacts.NAME.path}}, "
                                      "{{outputs.parameters.NAME.path}} or "
                                      "{{outputs.artifacts.NAME.path}}")


def _placeholder_problem(comp: Component, body: str) -> str | None:
    form = _PLACEHOLDER_FORM.match(body)
    if form is None:
        return "unknown placeholder"
    side, group, name, dot_path = form.groups()
    interface = comp.inputs if side == "inputs" else comp.outputs
    names = [s.name for s in getattr(interface, group)]
    if name not in names:
        return f"no {side[:-1]} {group[:-1]} {name!r} (declared: {', '.join(names) or 'none'})"
    wants_path = not (side == "inputs" and group == "parameters")
    if wants_path != bool(dot_path):
        return "add `.path`" if wants_path else "input parameters take no `.path`"
    return None


# --- entry points ---------------------------------------------------------------------------


def validate_pipeline(pipeline: Pipeline, origin: Origin | None = None) -> None:
    """Run every check; raise PipelineInvalid listing all problems found.

    Without `origin`, the one the pipeline was loaded or compiled from (`origin_of`) is
    used, so a pipeline read from a file names file:line wherever it is checked."""
    if origin is None:
        from flowyard.resources.origins import origin_of

        origin = origin_of(pipeline)
    ctx = Context(pipeline, origin)
    problems: list[Problem] = []
    for run in CHECKS:
        problems.extend(run(ctx))
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise PipelineInvalid(problems)


def dependencies(pipeline: Pipeline) -> dict[str, set[str]]:
    """Step name -> the steps it waits for (data refs, condition refs, forEach refs, after).

    The exit handler's entry lists only what it names itself; it runs after everything.
    """
    ctx = Context(pipeline)
    deps: dict[str, set[str]] = {site.name: set() for site in ctx.sites}
    for use in ctx.uses():
        if use.site is not None and use.ref.step is not None:
            deps[use.site.name].add(use.ref.step)
    for site in ctx.sites:
        deps[site.name].update(site.step.after)
    return deps


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _coerce(type_name: str, value: Any) -> Any:
    """A value of `type_name`, converting CLI strings; ValueError when it cannot."""
    if value is None:
        return None
    if type_name == "str":
        if isinstance(value, str):
            return value
    elif type_name == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
    elif type_name == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            return int(value.strip())
    elif type_name == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
    elif type_name in ("list", "dict"):
        wanted = list if type_name == "list" else dict
        if isinstance(value, tuple) and wanted is list:
            return list(value)
        if isinstance(value, wanted):
            return value
        if isinstance(value, str):
            decoded = json.loads(value)
            if isinstance(decoded, wanted):
                return decoded
    raise ValueError(type_name)


_EXAMPLES = {"str": "any text", "int": "e.g. 3", "float": "e.g. 0.25", "bool": "true or false",
             "list": 'JSON like ["a", "b"]', "dict": 'JSON like {"k": 1}'}


def validate_parameters(pipeline: Pipeline, given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's parameter values: given ones checked and coerced, defaults filled in."""
    declared = {p.name: p for p in pipeline.spec.parameters}
    valid = ", ".join(declared) or "none"
    problems: list[str] = []
    for name in given:
        if name not in declared:
            close = close_names(name, declared)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown parameter {name!r}{suggestion}; "
                            f"pipeline {pipeline.name!r} takes: {valid}")
    resolved: dict[str, Any] = {}
    for name, param in declared.items():
        type_name = param.type.value
        if name in given:
            try:
                resolved[name] = _coerce(type_name, given[name])
            except ValueError:
                problems.append(f"parameter {name!r}: {given[name]!r} is not a {type_name} "
                                f"({_EXAMPLES[type_name]})")
        elif param.has_default:
            resolved[name] = copy.deepcopy(param.default)
        else:
            problems.append(f"parameter {name!r} ({type_name}) is required: it has no default")
    if problems:
        raise InvalidInput(
            problems[0] if len(problems) == 1 else "\n".join(["bad parameters:", *problems]),
            hint="pass parameters as NAME=VALUE; lists and dicts as JSON",
        )
    return resolved
