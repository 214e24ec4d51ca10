"""Step dependencies, as the scheduler needs them.

`flowyard.pipelines.validate` owns the public `dependencies()`; this private copy keeps the
engine independent of its exact signature and adds what only the scheduler cares about:
which upstream steps are *consumed* (their outputs feed arguments, the loop or the condition)
versus only ordered (`after`), and which are wired iteration by iteration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flowyard.resources.pipeline import PipelineSpec, Ref, Step


def step_refs(step: Step) -> list[Ref]:
    """Every Ref a step reads: arguments, the loop source and the condition."""
    refs = list(step.arguments.values())
    if step.for_each is not None:
        refs.append(step.for_each)
    if step.when is not None:
        refs.extend(step.when.refs())
    return refs


@dataclass(slots=True)
class StepDeps:
    consumed: set[str] = field(default_factory=set)
    """Steps whose outputs this step reads (Skipped upstream -> Skipped)."""
    after: set[str] = field(default_factory=set)
    """Steps this step only runs after (Skipped upstream -> still runs)."""
    iterationwise: set[str] = field(default_factory=set)
    """Looped steps read iteration by iteration (this step loops over the same source)."""
    source: set[str] = field(default_factory=set)
    """Steps the loop source (for_each) reads."""

    @property
    def all(self) -> set[str]:
        return self.consumed | self.after


def same_source(a: Step, b: Step) -> bool:
    if a.for_each is None or b.for_each is None:
        return False
    return a.for_each.model_dump() == b.for_each.model_dump()


def dependencies(spec: PipelineSpec) -> dict[str, StepDeps]:
    """Step name -> its dependencies (the exit handler included, under its own name)."""
    by_name = {s.name: s for s in spec.all_steps()}
    out: dict[str, StepDeps] = {}
    for step in spec.all_steps():
        deps = StepDeps()
        for ref in step_refs(step):
            if ref.step is not None and ref.step in by_name:
                deps.consumed.add(ref.step)
        if step.for_each is not None and step.for_each.step is not None:
            deps.source.add(step.for_each.step)
        deps.after.update(a for a in step.after if a in by_name)
        deps.after -= deps.consumed
        for ref in step.arguments.values():
            if (ref.step is not None and not ref.collect and ref.step in by_name
                    and same_source(step, by_name[ref.step])):
                deps.iterationwise.add(ref.step)
        if step.when is not None:
            for ref in step.when.refs():
                if (ref.step is not None and not ref.collect and ref.step in by_name
                        and same_source(step, by_name[ref.step])):
                    deps.iterationwise.add(ref.step)
        for name in step.after:
            if name in by_name and same_source(step, by_name[name]):
                deps.iterationwise.add(name)
        out[step.name] = deps
    return out


def topological_order(spec: PipelineSpec, deps: dict[str, StepDeps]) -> list[str]:
    """Main steps in an order where every step comes after its dependencies."""
    names = [s.name for s in spec.steps]
    done: set[str] = set()
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name not in deps:
            return
        if name in visiting:
            return   # a cycle: validation reports it; don't recurse forever
        visiting.add(name)
        for dep in sorted(deps[name].all):
            visit(dep)
        visiting.discard(name)
        done.add(name)
        order.append(name)

    for name in names:
        visit(name)
    return order
