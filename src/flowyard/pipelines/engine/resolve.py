"""Turning a step's argument references into values, for one node of a running pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowyard.pipelines.engine._graph import StepDeps
from flowyard.pipelines.engine.executor import check_type
from flowyard.pipelines.engine.nodes import DONE_OK, Node
from flowyard.resources.pipeline import Component, Ref
from flowyard.store.records import StepRecord


class ResolveError(ValueError):
    """An argument cannot be resolved; the message names the step and the input."""


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """An artifact output, by artifact id (parameters resolve to plain values)."""

    id: str


class Resolver:
    """Resolves Refs against the run's parameters and the records of finished nodes."""

    def __init__(self, parameters: dict[str, Any], nodes: dict[str, Node],
                 deps: dict[str, StepDeps]) -> None:
        self.parameters = parameters
        self.nodes = nodes
        self.deps = deps
        self.run_status: dict[str, Any] = {}
        """What {runStatus: true} gives the exit handler (set just before it runs)."""
        self.group_status: Callable[[Node], dict[str, Any]] | None = None
        """node -> what {groupStatus: true} gives a `trigger: allDone` step."""
        self.data: Callable[[str, Node, str], str] | None = None
        """(ref, node, input name) -> artifact id of a {data: ...} ref (engine/datarefs.py)."""

    def value(self, ref: Ref, node: Node | None) -> Any:
        kind = ref.kind
        where = f"step {node.id!r}" if node is not None else "pipeline outputs"
        if kind == "value":
            return ref.value
        if kind == "parameter":
            assert ref.parameter is not None
            if ref.parameter not in self.parameters:
                raise ResolveError(f"{where}: unknown pipeline parameter {ref.parameter!r}; "
                                   f"known: {sorted(self.parameters)}")
            return self.parameters[ref.parameter]
        if kind == "item":
            if node is None or node.iteration is None:
                raise ResolveError(f"{where}: {{item}} is only available inside a loop")
            if ref.item is True:
                return node.item
            if not isinstance(node.item, dict) or ref.item not in node.item:
                raise ResolveError(f"{where}: loop item {node.item!r} has no key {ref.item!r}")
            return node.item[ref.item]
        if kind == "data":
            raise ResolveError(f"{where}: {{data: {ref.data!r}}} can only feed an input "
                               f"artifact")
        if kind == "run_status":
            if node is None or not node.is_exit:
                raise ResolveError(f"{where}: {{runStatus: true}} is only available to the "
                                   f"exit handler")
            return dict(self.run_status)
        if kind == "group_status":
            if node is None or node.step.trigger != "allDone" or self.group_status is None:
                raise ResolveError(f"{where}: {{groupStatus: true}} is only available to a "
                                   f"step with `trigger: allDone`")
            return self.group_status(node)
        return self._resolve_output(ref, node, where)

    def _output_of(self, rec: StepRecord, comp: Component, output: str, where: str) -> Any:
        if comp.outputs.artifact(output) is not None:
            if output not in rec.output_artifacts:
                raise ResolveError(f"{where}: step {rec.id!r} ({rec.state}) has no artifact "
                                   f"{output!r}")
            return ArtifactRef(rec.output_artifacts[output])
        if output not in rec.outputs:
            raise ResolveError(f"{where}: step {rec.id!r} ({rec.state}) has no output "
                               f"{output!r}; it has {sorted(rec.outputs)}")
        return rec.outputs[output]

    def _resolve_output(self, ref: Ref, node: Node | None, where: str) -> Any:
        assert ref.step is not None and ref.output is not None
        up = self.nodes.get(ref.step)
        if up is None:
            raise ResolveError(f"{where}: unknown step {ref.step!r}")
        if ref.collect:
            recs = ([self.nodes[c].record for c in up.children] if up.is_loop
                    else [up.record])
            return [self._output_of(r, up.component, ref.output, where)
                    for r in recs if r.state in DONE_OK]
        if (node is not None and node.iteration is not None
                and ref.step in self.deps[node.step.name].iterationwise):
            up = self.nodes[f"{ref.step}[{node.iteration}]"]
        elif up.is_loop:
            raise ResolveError(f"{where}: step {ref.step!r} runs in a loop; read its output "
                               f"{ref.output!r} with collect: true")
        return self._output_of(up.record, up.component, ref.output, where)

    def arguments(self, node: Node) -> tuple[dict[str, Any], dict[str, Any]]:
        comp = node.component
        params: dict[str, Any] = {}
        arts: dict[str, Any] = {}
        for name, ref in node.step.arguments.items():
            if ref.data is not None and self.data is not None and comp.inputs.artifact(name):
                arts[name] = self.data(ref.data, node, name)
                continue
            value = self.value(ref, node)
            if comp.inputs.artifact(name) is not None:
                if isinstance(value, ArtifactRef):
                    arts[name] = value.id
                elif isinstance(value, list) and all(isinstance(v, ArtifactRef) for v in value):
                    arts[name] = [v.id for v in value]
                else:
                    raise ResolveError(f"step {node.id!r}: input artifact {name!r} needs an "
                                       f"artifact output of another step, got {value!r}")
                continue
            spec = comp.inputs.parameter(name)
            if spec is None:
                raise ResolveError(f"step {node.id!r}: component {node.step.component!r} has "
                                   f"no input {name!r}; inputs: {comp.inputs.names()}")
            if isinstance(value, ArtifactRef) or (
                    isinstance(value, list) and value and isinstance(value[0], ArtifactRef)):
                raise ResolveError(f"step {node.id!r}: input parameter {name!r} cannot take "
                                   f"an artifact")
            try:
                params[name] = check_type(value, spec.type.value)
            except TypeError as exc:
                raise ResolveError(f"step {node.id!r}: input {name!r}: {exc}") from None
        for p in comp.inputs.parameters:
            if p.name not in params:
                if not p.has_default:
                    raise ResolveError(f"step {node.id!r}: required input {p.name!r} has no "
                                       f"argument and no default")
                params[p.name] = p.default
        for a in comp.inputs.artifacts:
            if a.name not in arts:
                raise ResolveError(f"step {node.id!r}: input artifact {a.name!r} has no "
                                   f"argument")
        return params, arts
