"""A kfp v2 PipelineSpec (the IR YAML `kfp.compiler.Compiler` writes) -> Flowyard `Pipeline`.

kfp nests control flow as sub-DAG components (`for-loop-N`, `condition-N`,
`condition-branches-N`, `exit-handler-N`); Flowyard's Pipeline is flat. The translator walks
the DAGs once, carrying what a group adds to the leaf tasks inside it (loop source and
parallelism, accumulated conditions, upstream dependencies, the values bound to the group's
input channels), and emits one Step per leaf task. A group's outputs are followed back to the
leaf that produces them; through a loop they become `collect: true`.

An exit task (`triggerPolicy: ALL_UPSTREAM_TASKS_COMPLETED`, after its `exit-handler-N`
group) becomes a step with `trigger: allDone` after the group's leaves, its
`taskFinalStatus` input the group's status (`groupStatus`). When the pipeline has one exit
handler and its group holds every other task, it is the run's exit handler (`spec.onExit`,
`runStatus`) instead, which also runs after a cancel or the deadline.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from flowyard.errors import InvalidInput
from flowyard.pipelines.kfp.components import (
    artifact_type,
    normalize,
    param_type,
    translate_component,
)
from flowyard.pipelines.kfp.conditions import parse_condition
from flowyard.resources.base import ObjectMeta
from flowyard.resources.pipeline import (
    Backoff,
    Component,
    Condition,
    ParameterSpec,
    ParamType,
    Pipeline,
    PipelineSpec,
    Ref,
    RetryPolicy,
    Step,
)

_SELECTOR = re.compile(r"""^parseJson\(string_value\)\[\s*(['"])(?P<key>[^'"]+)\1\s*\]$""")
_EXIT_STRATEGY = "ALL_UPSTREAM_TASKS_COMPLETED"


def is_kfp_ir(document: Any) -> bool:
    """True for a kfp v2 PipelineSpec document (a dict)."""
    if not isinstance(document, dict):
        return False
    if str(document.get("sdkVersion", "")).startswith("kfp-"):
        return True
    return all(key in document for key in ("pipelineInfo", "root", "deploymentSpec"))


@dataclass
class _Loop:
    task: str
    items: Ref
    parallelism: int | None


@dataclass
class _Exit:
    step: Step
    group: list[str]
    """The leaf steps of the groups it runs after (its dependentTasks)."""
    top_level: bool


@dataclass
class _Scope:
    """What the enclosing groups give a DAG's tasks."""

    dag: dict[str, Any]
    params: dict[str, Ref]
    artifacts: dict[str, Ref]
    path: str
    loop: _Loop | None = None
    when: list[Condition] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


class _Translator:
    def __init__(self, ir: dict[str, Any], origin: str) -> None:
        self.ir = ir
        self.origin = origin
        self.components: dict[str, Any] = ir.get("components") or {}
        self.executors: dict[str, Any] = (ir.get("deploymentSpec") or {}).get("executors") or {}
        self.steps: list[Step] = []
        self.exits: list[_Exit] = []
        self.used: dict[str, Component] = {}
        self.names: dict[tuple[int, str], str] = {}

    # errors ---------------------------------------------------------------------------------
    def error(self, task: str | None, message: str, hint: str | None = None) -> InvalidInput:
        if task is None:
            where = self.origin
        elif task.startswith("<"):
            where = f"{self.origin}: {task[1:-1]}"
        else:
            where = f"{self.origin}: kfp task {task!r}"
        return InvalidInput(f"{where}: {message}", hint=hint)

    # structure ------------------------------------------------------------------------------
    def component(self, task: str, spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        name = str((spec.get("componentRef") or {}).get("name", ""))
        if name not in self.components:
            raise self.error(task, f"refers to component {name!r}, which the file does not "
                             "define under `components`")
        return name, self.components[name]

    def is_group(self, task: str, spec: dict[str, Any]) -> bool:
        return "dag" in self.component(task, spec)[1]

    def leaves(self, dag: dict[str, Any], task: str) -> list[str]:
        """The leaf step names a task of `dag` stands for (itself, or all inside a group)."""
        spec = (dag.get("tasks") or {}).get(task)
        if spec is None:
            raise self.error(task, "is named as a dependency but no such task exists")
        _, comp = self.component(task, spec)
        if "dag" not in comp:
            return [self.step_name(dag, task)]
        found: list[str] = []
        for inner in (comp["dag"].get("tasks") or {}):
            found.extend(self.leaves(comp["dag"], inner))
        return found

    def step_name(self, dag: dict[str, Any], task: str) -> str:
        """The step name of a leaf task; a task of a sub-pipeline whose name is taken gets
        the next free `name-N` (kfp names tasks uniquely per DAG, Flowyard per pipeline)."""
        key = (id(dag), task)
        if key not in self.names:
            taken = set(self.names.values())
            name, n = task, 2
            while name in taken:
                name, n = f"{task}-{n}", n + 1
            self.names[key] = name
        return self.names[key]

    # references -----------------------------------------------------------------------------
    def task_output(self, dag: dict[str, Any], producer: str, key: str, artifact: bool,
                    consumer: str) -> Ref:
        spec = (dag.get("tasks") or {}).get(producer)
        if spec is None:
            raise self.error(consumer, f"reads an output of {producer!r}, which is not a task "
                             "of the same DAG")
        _, comp = self.component(producer, spec)
        if "dag" not in comp:
            return Ref(step=self.step_name(dag, producer), output=key)
        outputs = comp["dag"].get("outputs") or {}
        looped = "parameterIterator" in spec or "artifactIterator" in spec
        if artifact:
            selectors = ((outputs.get("artifacts") or {}).get(key) or {}).get(
                "artifactSelectors") or []
            if len(selectors) != 1:
                raise self.error(consumer, f"reads output {key!r} of group {producer!r} "
                                 f"through {len(selectors)} artifact selectors (dsl.OneOf), "
                                 "which Flowyard does not support",
                                 hint="give each branch its own consumer")
            inner_task, inner_key = (selectors[0]["producerSubtask"],
                                     selectors[0]["outputArtifactKey"])
        else:
            selector = (outputs.get("parameters") or {}).get(key) or {}
            if "valueFromOneof" in selector:
                raise self.error(consumer, f"reads output {key!r} of group {producer!r}, a "
                                 "dsl.OneOf, which Flowyard does not support",
                                 hint="give each branch its own consumer")
            source = selector.get("valueFromParameter")
            if not source:
                raise self.error(consumer, f"reads output {key!r} of group {producer!r}, "
                                 "which that group does not declare")
            inner_task, inner_key = source["producerSubtask"], source["outputParameterKey"]
        ref = self.task_output(comp["dag"], inner_task, inner_key, artifact, consumer)
        if looped:
            if ref.collect:
                raise self.error(consumer, f"collects outputs of nested loops through "
                                 f"{producer!r}; nested ParallelFor is not supported")
            ref = ref.model_copy(update={"collect": True})
        return ref

    def parameter_input(self, spec: dict[str, Any], scope: _Scope, task: str, name: str,
                        kind: ParamType | None) -> Ref:
        if "runtimeValue" in spec:
            return Ref(value=normalize((spec["runtimeValue"] or {}).get("constant"), kind))
        if "componentInputParameter" in spec:
            channel = spec["componentInputParameter"]
            if channel not in scope.params:
                raise self.error(task, f"input {name!r} reads {channel!r}, which "
                                 f"{scope.path} does not provide")
            ref = scope.params[channel]
        elif "taskOutputParameter" in spec:
            source = spec["taskOutputParameter"]
            ref = self.task_output(scope.dag, source["producerTask"],
                                   source["outputParameterKey"], False, task)
        elif "taskFinalStatus" in spec:
            return Ref(run_status=True)
        else:
            raise self.error(task, f"input {name!r} has an unsupported source "
                             f"{sorted(spec)}")
        selector = spec.get("parameterExpressionSelector")
        if selector:
            match = _SELECTOR.match(str(selector))
            if match is None or ref.item is not True:
                raise self.error(task, f"input {name!r}: the selector {selector!r} is only "
                                 "supported on a loop item (item.key)")
            ref = Ref(item=match.group("key"))
        return ref

    def artifact_input(self, spec: dict[str, Any], scope: _Scope, task: str,
                       name: str) -> Ref:
        if "componentInputArtifact" in spec:
            channel = spec["componentInputArtifact"]
            if channel not in scope.artifacts:
                raise self.error(task, f"artifact {name!r} reads {channel!r}, which "
                                 f"{scope.path} does not provide",
                                 hint="pipeline-level input artifacts are not supported")
            return scope.artifacts[channel]
        if "taskOutputArtifact" in spec:
            source = spec["taskOutputArtifact"]
            return self.task_output(scope.dag, source["producerTask"],
                                    source["outputArtifactKey"], True, task)
        raise self.error(task, f"artifact {name!r} has an unsupported source {sorted(spec)}")

    def bind(self, task: str, spec: dict[str, Any], scope: _Scope,
             kinds: dict[str, ParamType]) -> tuple[dict[str, Ref], dict[str, Ref]]:
        inputs = spec.get("inputs") or {}
        params = {name: self.parameter_input(s, scope, task, name, kinds.get(name))
                  for name, s in (inputs.get("parameters") or {}).items()}
        arts = {name: self.artifact_input(s, scope, task, name)
                for name, s in (inputs.get("artifacts") or {}).items()}
        return params, arts

    # walking --------------------------------------------------------------------------------
    def walk(self, scope: _Scope) -> None:
        for task, spec in (scope.dag.get("tasks") or {}).items():
            self.task(task, spec, scope)

    def task(self, task: str, spec: dict[str, Any], scope: _Scope) -> None:
        cname, comp = self.component(task, spec)
        policy = spec.get("triggerPolicy") or {}
        strategy = policy.get("strategy")
        if strategy and strategy != _EXIT_STRATEGY:
            raise self.error(task, f"trigger strategy {strategy!r} is not supported")
        if strategy == _EXIT_STRATEGY:
            self.exit_task(task, spec, scope, cname, comp)
            return
        after = list(scope.after)
        for dep in spec.get("dependentTasks") or []:
            after.extend(s for s in self.leaves(scope.dag, dep) if s not in after)
        when = list(scope.when)
        if policy.get("condition"):
            when.append(self.condition(task, spec, scope, str(policy["condition"])))
        if "dag" in comp:
            self.group(task, spec, comp, replace(scope, when=when, after=after))
            return
        for feature in ("parameterIterator", "artifactIterator"):
            if feature in spec:
                raise self.error(task, f"{feature} on a non-DAG task is not supported")
        self.leaf(task, spec, scope, cname, comp, when, after)

    def condition(self, task: str, spec: dict[str, Any], scope: _Scope,
                  text: str) -> Condition:
        channels = ((spec.get("inputs") or {}).get("parameters")) or {}

        def resolve(channel: str) -> Ref:
            if channel not in channels:
                raise self.error(task, f"condition {text!r} reads {channel!r}, which is not "
                                 "one of the task's inputs")
            return self.parameter_input(channels[channel], scope, task, channel, None)

        return parse_condition(text, resolve, f"{self.origin}: kfp task {task!r}")

    def group(self, task: str, spec: dict[str, Any], comp: dict[str, Any],
              scope: _Scope) -> None:
        kinds = {n: param_type(s, task, n) for n, s in
                 ((comp.get("inputDefinitions") or {}).get("parameters") or {}).items()}
        params, arts = self.bind(task, spec, scope, kinds)
        loop = scope.loop
        if "artifactIterator" in spec:
            raise self.error(task, "ParallelFor over a list of artifacts (artifactIterator) "
                             "is not supported: Flowyard loops iterate over parameter lists",
                             hint="loop over a list parameter and pass the artifact to each "
                                  "iteration instead")
        if "parameterIterator" in spec:
            if loop is not None:
                raise self.error(task, f"nested ParallelFor (inside {loop.task!r}) is not "
                                 "supported: Flowyard loops do not nest",
                                 hint="flatten the loops into one list of combinations")
            iterator = spec["parameterIterator"]
            items_spec = iterator.get("items") or {}
            if "raw" in items_spec:
                try:
                    raw = json.loads(items_spec["raw"])
                except (TypeError, ValueError) as exc:
                    raise self.error(task, f"loop items {items_spec['raw']!r} are not JSON"
                                     ) from exc
                items = Ref(value=normalize(raw, None))
            elif items_spec.get("inputParameter") in params:
                items = params[items_spec["inputParameter"]]
            else:
                raise self.error(task, f"loop items {items_spec} are not supported")
            if items.item not in (None, False):
                raise self.error(task, "ParallelFor over a loop item is a nested loop, which "
                                 "is not supported")
            limit = (spec.get("iteratorPolicy") or {}).get("parallelismLimit")
            loop = _Loop(task, items, int(limit) if limit else None)
            params[str(iterator["itemInput"])] = Ref(item=True)
        inner = _Scope(dag=comp["dag"], params=params, artifacts=arts,
                       path=f"group {task!r}", loop=loop, when=scope.when, after=scope.after)
        self.walk(inner)

    def leaf(self, task: str, spec: dict[str, Any], scope: _Scope, cname: str,
             comp: dict[str, Any], when: list[Condition], after: list[str]) -> None:
        flow_name = self.flow_component(task, cname, comp)
        kinds = {p.name: p.type for p in self.used[flow_name].inputs.parameters}
        params, arts = self.bind(task, spec, scope, kinds)
        name = self.step_name(scope.dag, task)
        fields: dict[str, Any] = {
            "name": name,
            "component": flow_name,
            "arguments": {**params, **arts},
            "after": [a for a in after if a != name],
            "cache": self.caching(spec),
            "retry": self.retry(task, spec),
            "display_name": (spec.get("taskInfo") or {}).get("name"),
        }
        if scope.loop is not None:
            fields["for_each"] = scope.loop.items
            fields["parallelism"] = scope.loop.parallelism
        if when:
            fields["when"] = when[0] if len(when) == 1 else Condition(all=when)
        self.steps.append(Step(**fields))

    def exit_task(self, task: str, spec: dict[str, Any], scope: _Scope, cname: str,
                  comp: dict[str, Any]) -> None:
        if "dag" in comp or scope.loop is not None or scope.when:
            raise self.error(task, "an exit task must be a single component outside loops "
                             "and conditions")
        group: list[str] = []
        for dep in spec.get("dependentTasks") or []:
            group.extend(s for s in self.leaves(scope.dag, dep) if s not in group)
        if not group:
            raise self.error(task, "an exit task (ALL_UPSTREAM_TASKS_COMPLETED) that waits for "
                             "no task")
        flow_name = self.flow_component(task, cname, comp)
        kinds = {p.name: p.type for p in self.used[flow_name].inputs.parameters}
        params, arts = self.bind(task, spec, scope, kinds)
        step = Step(name=self.step_name(scope.dag, task), component=flow_name,
                    arguments={**params, **arts}, cache=False, retry=self.retry(task, spec),
                    display_name=(spec.get("taskInfo") or {}).get("name"))
        self.exits.append(_Exit(step, group, top_level=scope.path == "the pipeline"))

    def place_exits(self) -> Step | None:
        """Add the exit tasks to the steps; returns the run's exit handler, if one is."""
        if len(self.exits) == 1 and self.exits[0].top_level:
            only = self.exits[0]
            if set(only.group) == {s.name for s in self.steps}:
                return only.step
        for found in self.exits:
            step = found.step
            arguments = {name: Ref(group_status=True) if ref.run_status else ref
                         for name, ref in step.arguments.items()}
            self.steps.append(step.model_copy(update={
                "arguments": arguments, "after": found.group, "trigger": "allDone"}))
        return None

    def flow_component(self, task: str, cname: str, comp: dict[str, Any]) -> str:
        flow_name = cname.removeprefix("comp-")
        if flow_name not in self.used:
            label = comp.get("executorLabel")
            if label not in self.executors:
                raise self.error(task, f"component {cname!r} names executor {label!r}, which "
                                 "deploymentSpec.executors does not define")
            try:
                self.used[flow_name] = translate_component(comp, self.executors[label], task)
            except InvalidInput as exc:
                raise InvalidInput(f"{self.origin}: {exc.message}", hint=exc.hint) from exc
        return flow_name

    @staticmethod
    def caching(spec: dict[str, Any]) -> bool:
        options = spec.get("cachingOptions")
        # Protobuf JSON leaves false out: `cachingOptions: {}` means caching is off.
        return True if options is None else bool(options.get("enableCache", False))

    def retry(self, task: str, spec: dict[str, Any]) -> RetryPolicy | None:
        policy = spec.get("retryPolicy")
        if not policy:
            return None
        try:
            limit = int(policy.get("maxRetryCount", 0))
            duration = _seconds(policy.get("backoffDuration", "0s"))
            backoff = None
            if duration > 0:
                maximum = _seconds(policy.get("backoffMaxDuration", "0s"))
                backoff = Backoff(duration=duration,
                                  factor=float(policy.get("backoffFactor", 2.0)),
                                  max_duration=maximum if maximum > 0 else None)
            return RetryPolicy(limit=limit, backoff=backoff)
        except ValueError as exc:
            raise self.error(task, f"retryPolicy {policy} is not valid: {exc}") from exc

    # the whole pipeline -------------------------------------------------------------------
    def pipeline(self, name_override: str | None) -> Pipeline:
        root = self.ir.get("root") or {}
        if "dag" not in root:
            raise self.error(None, "has no root.dag: not a compiled kfp pipeline")
        inputs = root.get("inputDefinitions") or {}
        if inputs.get("artifacts"):
            names = ", ".join(sorted(inputs["artifacts"]))
            raise self.error(None, f"the pipeline takes input artifacts ({names}), which "
                             "Flowyard does not support", hint="pass a path or URI parameter")
        parameters: list[ParameterSpec] = []
        refs: dict[str, Ref] = {}
        for pname, spec in (inputs.get("parameters") or {}).items():
            kind = param_type(spec, "<pipeline>", pname)
            fields: dict[str, Any] = {"name": pname, "type": kind}
            if spec.get("description"):
                fields["description"] = spec["description"]
            if "defaultValue" in spec:
                fields["default"] = normalize(spec["defaultValue"], kind)
            elif spec.get("isOptional"):
                fields["default"] = None
            parameters.append(ParameterSpec(**fields))
            refs[pname] = Ref(parameter=pname)
        self.walk(_Scope(dag=root["dag"], params=refs, artifacts={}, path="the pipeline"))
        on_exit = self.place_exits()
        outputs: dict[str, Ref] = {}
        dag_outputs = root["dag"].get("outputs") or {}
        for oname, sel in (dag_outputs.get("parameters") or {}).items():
            source = sel.get("valueFromParameter")
            if not source:
                raise self.error(None, f"pipeline output {oname!r} has no valueFromParameter")
            outputs[oname] = self.task_output(root["dag"], source["producerSubtask"],
                                              source["outputParameterKey"], False,
                                              "<pipeline outputs>")
        for oname, sel in (dag_outputs.get("artifacts") or {}).items():
            selectors = sel.get("artifactSelectors") or []
            if len(selectors) != 1:
                raise self.error(None, f"pipeline output {oname!r} uses {len(selectors)} "
                                 "artifact selectors; only one is supported")
            outputs[oname] = self.task_output(root["dag"], selectors[0]["producerSubtask"],
                                              selectors[0]["outputArtifactKey"], True,
                                              "<pipeline outputs>")
        for oname, spec in ((root.get("outputDefinitions") or {}).get("artifacts") or
                            {}).items():
            artifact_type(spec, "<pipeline outputs>", oname)
        info = self.ir.get("pipelineInfo") or {}
        name = _dns_label(name_override or str(info.get("name") or "kfp-pipeline"))
        spec = PipelineSpec(parameters=parameters, components=self.used, steps=self.steps,
                            on_exit=on_exit, outputs=outputs)
        if info.get("description"):
            spec.description = str(info["description"])
        return Pipeline(metadata=ObjectMeta(name=name,
                                          annotations={"flowyard.dev/source": "kfp-ir",
                                                       "flowyard.dev/kfp-sdk": str(
                                                           self.ir.get("sdkVersion", ""))}),
                        spec=spec)


def _seconds(text: Any) -> float:
    value = str(text).strip()
    if value.endswith("s"):
        value = value[:-1]
    return float(value)


def _dns_label(name: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return label or "kfp-pipeline"


def translate(ir: dict[str, Any], origin: str = "<kfp pipeline>",
              name: str | None = None) -> Pipeline:
    """The Flowyard Pipeline for a kfp v2 PipelineSpec dict; `origin` names it in errors."""
    if not is_kfp_ir(ir):
        raise InvalidInput(f"{origin}: not a kfp v2 pipeline (no pipelineInfo/root/"
                           "deploymentSpec and no sdkVersion: kfp-...)")
    return _Translator(ir, origin).pipeline(name)
