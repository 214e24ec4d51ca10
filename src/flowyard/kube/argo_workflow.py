"""Pipeline -> Argo `Workflow` (or `WorkflowTemplate`): one DAG task and template per step.

Spec: https://argo-workflows.readthedocs.io/en/latest/fields/#workflow (argoproj.io/v1alpha1),
schema in shared/schemas/argo-workflows. Python components run `python -m
flowyard.pipelines.kube_step` in the environment's image; container components run their
own image and command, whose `{{inputs...}}`/`{{outputs...}}` placeholders are Argo's own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from typing import Any

from flowyard.errors import InvalidInput
from flowyard.kube.context import ARTIFACT_REPOSITORIES, Manifest, RenderContext
from flowyard.kube.names import dns_label
from flowyard.resources.pipeline import (
    Component,
    Condition,
    Pipeline,
    Ref,
    RetryPolicy,
    Step,
)

API_VERSION = "argoproj.io/v1alpha1"
ENTRYPOINT = "main"
EXIT_HANDLER = "exit-handler"
# Fixed paths inside step containers; kube_step reads and writes the same ones. Flat names
# under /tmp, because a container command writing `{{outputs...path}}` finds no folder made
# for it, while /tmp exists in every image.
INPUTS = "/tmp/flowyard-input"
OUTPUT_ARTIFACTS = "/tmp/flowyard-artifact"
OUTPUT_PARAMETERS = "/tmp/flowyard-param"
MEMO_MAX_AGE = "87600h"  # local results never expire; ten years is Argo's "never"
DATA_STEP = "flowyard.kube.data_step"
FETCH_TEMPLATE = "fetch-data"
COMMIT_TEMPLATE = "commit-data"
FETCHED = "/tmp/flowyard-data"
FETCHED_COMMIT = "/tmp/flowyard-data-commit"
TO_COMMIT = "/tmp/flowyard-data-out"


def param_text(value: Any) -> str:
    """An Argo parameter is a string: JSON for everything but plain strings."""
    return value if isinstance(value, str) else json.dumps(value)


class _Builder:
    def __init__(self, pipeline: Pipeline, params: dict[str, Any], ctx: RenderContext) -> None:
        self.p = pipeline
        self.spec = pipeline.spec
        self.params = params
        self.ctx = ctx
        self.name = pipeline.name
        self.tasks: dict[str, str] = {}
        for step in pipeline.spec.all_steps():
            task = dns_label(step.name)
            if task in self.tasks.values():
                other = next(s for s, t in self.tasks.items() if t == task)
                raise ctx.unsupported(
                    f"step names {other!r} and {step.name!r} (both become Argo task {task!r})",
                    f"Pipeline {self.name!r}", f"spec.steps[{step.name}]",
                    hint="rename one step so the names differ in lower-case letters and digits")
            self.tasks[step.name] = task
        self.uses_artifacts = False
        self.claims: dict[str, str] = {}
        """Pod volume name -> claim of the Volumes steps attach (spec.volumes)."""
        self.extra_templates: list[dict[str, Any]] = []
        self.not_memoized: list[str] = []
        self.fetches: dict[str, str] = {}
        """Data ref as written -> its fetch task: one per distinct ref, so the run reads
        each ref at one commit however many steps name it."""
        for step in pipeline.spec.all_steps():
            for ref in step.arguments.values():
                if ref.data is not None and ref.data not in self.fetches:
                    self.fetches[ref.data] = self.fetch_name(ref.data)
        self.commits: list[dict[str, Any]] = []

    # --- helpers --------------------------------------------------------------------------

    def fail(self, feature: str, where: str, hint: str | None = None) -> Exception:
        return self.ctx.unsupported(feature, f"Pipeline {self.name!r}", where, hint)

    def fetch_name(self, ref: str) -> str:
        repo = ref.split("@", 1)[0].split(":", 1)[0]
        base = dns_label(f"fetch-{repo}")[:50].rstrip("-")
        name, n = base, 1
        taken = set(self.tasks.values()) | set(self.fetches.values())
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        return name

    def where(self, step: Step) -> str:
        if self.spec.on_exit is step:
            return "spec.onExit"
        return f"spec.steps[{self.spec.steps.index(step)}] ({step.name})"

    def component(self, step: Step) -> Component:
        return self.spec.components[step.component]

    def ref_text(self, ref: Ref, step: Step, what: str) -> str:
        """An Argo expression for a parameter-valued reference."""
        kind = ref.kind
        if kind == "value":
            return param_text(ref.value)
        if kind == "parameter":
            return f"{{{{workflow.parameters.{ref.parameter}}}}}"
        if kind == "item":
            return "{{item}}" if ref.item is True else f"{{{{item.{ref.item}}}}}"
        if kind == "run_status":
            # The same dict a local exit handler gets; Argo's phases are Succeeded, Failed
            # and Error, and the error text is not available as one string.
            return ('{"state": "{{workflow.status}}", "run_id": "{{workflow.name}}", '
                    '"error": null}')
        if kind == "group_status":
            return self.group_status(step)
        assert ref.step is not None
        if step is self.spec.on_exit:
            raise self.fail(f"an exit handler reading step outputs ({what})",
                            self.where(step),
                            hint="Argo's onExit cannot see task outputs; pass pipeline "
                                 "parameters or {runStatus: true} instead")
        return f"{{{{tasks.{self.tasks[ref.step]}.outputs.parameters.{ref.output}}}}}"

    def ref_type(self, ref: Ref) -> str | None:
        if ref.kind == "parameter" and ref.parameter:
            found = self.spec.parameter(ref.parameter)
            return found.type.value if found else None
        if ref.kind == "step" and ref.step:
            producer = next(s for s in self.spec.all_steps() if s.name == ref.step)
            out = self.component(producer).outputs.parameter(ref.output or "")
            return out.type.value if out else None
        if ref.kind in ("run_status", "group_status"):
            return "dict"
        return None

    # --- conditions -------------------------------------------------------------------------

    def when(self, cond: Condition, step: Step) -> str:
        if cond.all is not None:
            return " && ".join(f"({self.when(c, step)})" for c in cond.all)
        if cond.any is not None:
            return " || ".join(f"({self.when(c, step)})" for c in cond.any)
        if cond.not_ is not None:
            return f"!({self.when(cond.not_, step)})"
        assert cond.left is not None and cond.right is not None and cond.op is not None
        left, right = cond.left, cond.right
        if cond.op in ("in", "not in"):
            if right.kind != "value" or not isinstance(right.value, list):
                raise self.fail(f"`{cond.op}` against a non-literal list", self.where(step)
                                + ".when", hint="Argo's `when` needs the list written out")
            items = ", ".join(self.operand(Ref(value=v), left, step) for v in right.value)
            expr = f"{self.operand(left, right, step)} IN ({items})"
            return expr if cond.op == "in" else f"!({expr})"
        return f"{self.operand(left, right, step)} {cond.op} {self.operand(right, left, step)}"

    def operand(self, ref: Ref, other: Ref, step: Step) -> str:
        if ref.kind == "value":
            value = ref.value
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, int | float):
                return repr(value)
            if isinstance(value, str):
                return "'" + value.replace("'", "\\'") + "'"
            raise self.fail(f"comparing with a {type(value).__name__} literal",
                            self.where(step) + ".when")
        text = self.ref_text(ref, step, "when")
        kind = self.ref_type(ref)
        other_is_str = other.kind == "value" and isinstance(other.value, str)
        quoted = kind == "str" or (kind is None and other_is_str)
        return f"'{text}'" if quoted else text

    # --- templates ------------------------------------------------------------------------------

    def task(self, step: Step) -> dict[str, Any]:
        comp = self.component(step)
        task: dict[str, Any] = {"name": self.tasks[step.name], "template": self.tasks[step.name]}
        deps: set[str] = set(step.after)
        params: list[dict[str, Any]] = []
        artifacts: list[dict[str, Any]] = []
        fetched: set[str] = set()
        for name, ref in step.arguments.items():
            where = f"{self.where(step)}.arguments.{name}"
            if ref.kind == "step" and ref.step:
                deps.add(ref.step)
            if comp.inputs.artifact(name) is not None:
                if ref.data is not None:
                    if step is self.spec.on_exit:
                        raise self.fail("an exit handler reading a data ref", where,
                                        hint="Argo's onExit cannot see task outputs")
                    fetch = self.fetches[ref.data]
                    fetched.add(fetch)
                    artifacts.append({"name": name,
                                      "from": f"{{{{tasks.{fetch}.outputs.artifacts.data}}}}"})
                    continue
                if ref.kind != "step":
                    raise self.fail(f"an artifact input given as {ref.kind}", where,
                                    hint="on Kubernetes artifacts come from step outputs")
                if ref.collect:
                    raise self.fail("collecting a looped step's artifacts (fan-in)", where,
                                    hint="have the loop write one artifact per item to a "
                                         "step that aggregates them, or collect parameters")
                if step is self.spec.on_exit:
                    raise self.fail("an exit handler reading step artifacts", where)
                artifacts.append({
                    "name": name,
                    "from": f"{{{{tasks.{self.tasks[ref.step or '']}.outputs.artifacts."
                            f"{ref.output}}}}}"})
            else:
                params.append({"name": name, "value": self.ref_text(ref, step, where)})
        if params or artifacts:
            task["arguments"] = {k: v for k, v in
                                 (("parameters", params), ("artifacts", artifacts)) if v}
        if step.for_each is not None:
            loop = step.for_each
            where = f"{self.where(step)}.forEach"
            if loop.kind == "value":
                if not isinstance(loop.value, list):
                    raise self.fail("a loop over a non-list literal", where)
                task["withItems"] = loop.value
            elif loop.kind in ("parameter", "step"):
                if loop.kind == "step" and loop.step:
                    deps.add(loop.step)
                task["withParam"] = self.ref_text(loop, step, where)
            else:
                raise self.fail(f"a loop over {loop.kind} (nested loops)", where)
        if step.when is not None:
            for ref in step.when.refs():
                if ref.kind == "step" and ref.step:
                    deps.add(ref.step)
            task["when"] = self.when(step.when, step)
        if deps and step.trigger == "allDone":
            task["depends"] = " && ".join([self.depends_all_done(step, deps), *sorted(fetched)])
        elif (deps or fetched) and step is not self.spec.on_exit:
            task["dependencies"] = sorted(self.tasks[d] for d in deps) + sorted(fetched)
        if step.outputs_to:
            self.commit_tasks(step)
        if step.for_each is not None and step.parallelism is not None:
            return self.limited_loop(step, task)
        return task

    def commit_tasks(self, step: Step) -> None:
        """One task per `outputsTo` entry, run only when the producing step succeeded
        (validate_pipeline already refused looped steps and names that are no artifact)."""
        where = f"{self.where(step)}.outputsTo"
        if step is self.spec.on_exit:
            raise self.fail("an exit handler committing outputs (outputsTo)", where,
                            hint="Argo's onExit cannot see task outputs")
        producer = self.tasks[step.name]
        # Every data commit the run reads, not only those read before this step: the fetch
        # tasks run first, so on Argo the whole set is known when any step commits.
        provenance = ",".join(f"{{{{tasks.{t}.outputs.parameters.commit}}}}"
                              for t in sorted(set(self.fetches.values())))
        for output, target in sorted(step.outputs_to.items()):
            name = dns_label(f"{producer}-commit-{output}")
            if name in self.tasks.values() or name in self.fetches.values():
                raise self.fail(f"a task named {name!r} next to the commit of "
                                f"{step.name}.{output}", where, hint="rename that step")
            self.commits.append({
                "name": name, "template": COMMIT_TEMPLATE,
                "depends": " && ".join([f"{producer}.Succeeded",
                                        *sorted(set(self.fetches.values()))]),
                "arguments": {
                    "parameters": [
                        {"name": "target", "value": target},
                        {"name": "step", "value": step.name},
                        {"name": "artifact", "value": output},
                        {"name": "provenance", "value": provenance}],
                    "artifacts": [{
                        "name": "data",
                        "from": f"{{{{tasks.{producer}.outputs.artifacts.{output}}}}}"}]}})

    def data_templates(self) -> list[dict[str, Any]]:
        """The fetch and commit templates (`python -m flowyard.kube.data_step`)."""
        from flowyard.kube.platform import store_container

        out: list[dict[str, Any]] = []
        if self.fetches:
            out.append({
                "name": FETCH_TEMPLATE,
                "inputs": {"parameters": [{"name": "ref"}]},
                "container": store_container(self.ctx, DATA_STEP, [
                    "fetch", "{{inputs.parameters.ref}}", FETCHED,
                    "--commit-out", FETCHED_COMMIT]),
                "outputs": {
                    "parameters": [{"name": "commit", "valueFrom": {"path": FETCHED_COMMIT}}],
                    "artifacts": [{"name": "data", "path": FETCHED}]}})
        if self.commits:
            out.append({
                "name": COMMIT_TEMPLATE,
                "inputs": {"parameters": [{"name": n} for n in
                                          ("target", "step", "artifact", "provenance")],
                           "artifacts": [{"name": "data", "path": TO_COMMIT}]},
                "container": store_container(self.ctx, DATA_STEP, [
                    "commit", TO_COMMIT, "{{inputs.parameters.target}}",
                    "--run", "{{workflow.uid}}", "--step", "{{inputs.parameters.step}}",
                    "--artifact", "{{inputs.parameters.artifact}}",
                    "--provenance", "{{inputs.parameters.provenance}}"])})
        if out:
            self.uses_artifacts = True
        return out

    def fetch_tasks(self) -> list[dict[str, Any]]:
        return [{"name": task, "template": FETCH_TEMPLATE,
                 "arguments": {"parameters": [{"name": "ref", "value": ref}]}}
                for ref, task in self.fetches.items()]

    def depends_all_done(self, step: Step, deps: set[str]) -> str:
        """`trigger: allDone`: the `after` steps may end in any state; the steps it reads
        must still succeed (a bare name in `depends` means Succeeded, Skipped or Daemoned)."""
        read = {r.step for r in step.arguments.values() if r.step}
        if step.when is not None:
            read |= {r.step for r in step.when.refs() if r.step}
        terms = []
        for name in sorted(deps):
            task = self.tasks[name]
            terms.append(task if name in read else "(" + " || ".join(
                f"{task}.{result}" for result in _ANY_RESULT) + ")")
        return " && ".join(terms)

    def group_status(self, step: Step) -> str:
        """{groupStatus: true} as Argo expressions over the statuses of the `after` tasks."""
        failed = " || ".join(f"tasks['{self.tasks[name]}'].status in ['Failed', 'Error']"
                             for name in sorted(step.after))
        return ('{"state": "{{=(' + failed + ") ? 'Failed' : 'Succeeded'}}\", "
                '"run_id": "{{workflow.name}}", "error": null}')

    def limited_loop(self, step: Step, task: dict[str, Any]) -> dict[str, Any]:
        """A loop with its own parallelism: Argo limits concurrency per template, so the
        looped task moves into a wrapper DAG template that carries the limit."""
        name = self.tasks[step.name]
        wrapper = f"{name}-loop"
        if wrapper in self.tasks.values():
            raise self.fail(f"a step named {wrapper!r} next to the limited loop {step.name!r}",
                            self.where(step), hint="rename that step")
        loop_items = task.pop("withItems", None)
        source = (json.dumps(loop_items) if loop_items is not None
                  else task.pop("withParam"))
        args = task.get("arguments", {})
        outer_params = [{"name": "items", "value": source}]
        inner_params: list[dict[str, Any]] = []
        for param in args.get("parameters", []):
            if "{{item" in param["value"]:
                inner_params.append(param)  # only the inner task has an item
            else:
                outer_params.append(param)
                inner_params.append({"name": param["name"],
                                     "value": f"{{{{inputs.parameters.{param['name']}}}}}"})
        artifacts = args.get("artifacts", [])
        inner: dict[str, Any] = {"name": name, "template": name,
                                 "withParam": "{{inputs.parameters.items}}"}
        inner_args: dict[str, Any] = {"parameters": inner_params} if inner_params else {}
        if artifacts:
            inner_args["artifacts"] = [{"name": a["name"],
                                        "from": f"{{{{inputs.artifacts.{a['name']}}}}}"}
                                       for a in artifacts]
        if inner_args:
            inner["arguments"] = inner_args
        inputs: dict[str, Any] = {"parameters": [{"name": p["name"]} for p in outer_params]}
        if artifacts:
            inputs["artifacts"] = [{"name": a["name"]} for a in artifacts]
        template: dict[str, Any] = {"name": wrapper, "inputs": inputs,
                                    "parallelism": step.parallelism,
                                    "dag": {"tasks": [inner]}}
        outs = self.component(step).outputs.parameters
        if outs:  # the looped task's outputs, aggregated by Argo as JSON lists
            template["outputs"] = {"parameters": [
                {"name": o.name,
                 "valueFrom": {"parameter": f"{{{{tasks.{name}.outputs.parameters.{o.name}}}}}"}}
                for o in outs]}
        self.extra_templates.append(template)
        outer = {k: v for k, v in task.items() if k not in ("arguments", "template")}
        outer["template"] = wrapper
        outer_args: dict[str, Any] = {"parameters": outer_params}
        if artifacts:
            outer_args["artifacts"] = artifacts
        outer["arguments"] = outer_args
        return outer

    def template(self, step: Step) -> dict[str, Any]:
        comp = self.component(step)
        tpl: dict[str, Any] = {"name": self.tasks[step.name]}
        inputs: dict[str, Any] = {}
        if comp.inputs.parameters:
            inputs["parameters"] = [
                {"name": p.name, **({"value": param_text(p.default)} if p.has_default else {})}
                for p in comp.inputs.parameters]
        if comp.inputs.artifacts:
            self.uses_artifacts = True
            inputs["artifacts"] = [{"name": a.name, "path": f"{INPUTS}-{a.name}"}
                                   for a in comp.inputs.artifacts]
        if inputs:
            tpl["inputs"] = inputs
        outputs: dict[str, Any] = {}
        if comp.outputs.parameters:
            outputs["parameters"] = [
                {"name": p.name, "valueFrom": {"path": f"{OUTPUT_PARAMETERS}-{p.name}"}}
                for p in comp.outputs.parameters]
        if comp.outputs.artifacts:
            self.uses_artifacts = True
            outputs["artifacts"] = [{"name": a.name, "path": f"{OUTPUT_ARTIFACTS}-{a.name}"}
                                    for a in comp.outputs.artifacts]
        if outputs:
            tpl["outputs"] = outputs
        tpl["container"] = self.container(step, comp)
        if step.retry is not None and step.retry.limit:
            tpl["retryStrategy"] = self.retry(step.retry, step)
        if step.timeout is not None:
            tpl["activeDeadlineSeconds"] = math.ceil(step.timeout)
        if self.spec.cache and step.cache:
            memo = self.memoize(step, comp)
            if memo is not None:
                tpl["memoize"] = memo
        return tpl

    def container(self, step: Step, comp: Component) -> dict[str, Any]:
        env = self.ctx.env
        box: dict[str, Any] = {}
        if comp.container is not None:
            box["image"] = comp.container.image
            if comp.container.command:
                box["command"] = list(comp.container.command)
            if comp.container.args:
                box["args"] = list(comp.container.args)
            if comp.container.env:
                box["env"] = [{"name": k, "value": v} for k, v in comp.container.env.items()]
        else:
            assert comp.python is not None
            spec = json.dumps(comp.model_dump(mode="json", by_alias=True, exclude_unset=True),
                              sort_keys=True)
            args = ["--component", base64.b64encode(spec.encode()).decode()]
            for p in comp.inputs.parameters:
                args += ["--param", f"{p.name}={{{{inputs.parameters.{p.name}}}}}"]
            box["image"] = env.image
            box["command"] = ["python", "-m", "flowyard.pipelines.kube_step"]
            box["args"] = args
        if env.image_pull_policy:
            box["imagePullPolicy"] = env.image_pull_policy
        if step.resources is not None:
            res = step.resources
            requests = {k: v for k, v in (("cpu", res.cpu), ("memory", res.memory)) if v}
            resources: dict[str, Any] = {}
            if requests:
                resources["requests"] = requests
            if res.gpu:
                resources["limits"] = {"nvidia.com/gpu": str(res.gpu)}
            if resources:
                box["resources"] = resources
        if step.volumes:
            self.mount_volumes(step, box)
        return box

    def mount_volumes(self, step: Step, box: dict[str, Any]) -> None:
        """Mount each Volume's claim; its path is in FLOWYARD_VOLUME_<NAME> as locally."""
        from flowyard.kube.volumes import claim_name, step_mount_path
        from flowyard.volumes.steps import env_name

        for i, volume in enumerate(step.volumes):
            if volume.name not in self.ctx.volumes:
                known = ", ".join(sorted(self.ctx.volumes)) or "none"
                raise InvalidInput(
                    f"Pipeline {self.name!r} {self.where(step)}.volumes[{i}] in environment "
                    f"{self.ctx.env_name!r}: Volume {volume.name!r} is not declared in the "
                    f"project (declared: {known})",
                    hint=f"declare `kind: Volume` named {volume.name!r} in a component file")
            pod_volume = f"vol-{volume.name}"
            self.claims[pod_volume] = claim_name(volume.name)
            path = volume.mount_path or step_mount_path(volume.name)
            mount: dict[str, Any] = {"name": pod_volume, "mountPath": path}
            if volume.read_only:
                mount["readOnly"] = True
            box.setdefault("volumeMounts", []).append(mount)
            box.setdefault("env", []).append({"name": env_name(volume.name), "value": path})

    def retry(self, retry: RetryPolicy, step: Step) -> dict[str, Any]:
        out: dict[str, Any] = {"limit": str(retry.limit), "retryPolicy": "Always"}
        if retry.backoff is not None:
            factor = retry.backoff.factor
            if not float(factor).is_integer():
                raise self.fail(f"a fractional backoff factor ({factor})",
                                f"{self.where(step)}.retry.backoff.factor",
                                hint="Argo's factor is an integer; use 1, 2, 3, ...")
            backoff: dict[str, Any] = {"duration": _seconds(retry.backoff.duration),
                                       "factor": int(factor)}
            if retry.backoff.max_duration is not None:
                backoff["cap"] = _seconds(retry.backoff.max_duration)
            out["backoff"] = backoff
        return out

    def memoize(self, step: Step, comp: Component) -> dict[str, Any] | None:
        if comp.inputs.artifacts:
            self.not_memoized.append(step.name)
            return None
        spec = json.dumps(comp.model_dump(mode="json", by_alias=True), sort_keys=True)
        digest = hashlib.sha256(spec.encode()).hexdigest()[:16]
        key = digest
        if comp.inputs.parameters:
            joined = " + '\\n' + ".join(f"inputs.parameters.{p.name}"
                                        for p in comp.inputs.parameters)
            key += f"-{{{{=sprig.sha256sum({joined})}}}}"
        return {"key": key, "maxAge": MEMO_MAX_AGE,
                "cache": {"configMap": {"name": f"flowyard-memo-{self.name}"[:253]}}}

    def main_dag(self) -> dict[str, Any]:
        steps = [self.task(s) for s in self.spec.steps]
        tpl: dict[str, Any] = {"name": ENTRYPOINT,
                               "dag": {"tasks": self.fetch_tasks() + steps + self.commits}}
        params: list[dict[str, Any]] = []
        artifacts: list[dict[str, Any]] = []
        for name, ref in self.spec.outputs.items():
            if ref.kind != "step" or ref.step is None:
                raise self.fail(f"a pipeline output given as {ref.kind}",
                                f"spec.outputs.{name}")
            producer = next(s for s in self.spec.steps if s.name == ref.step)
            task = self.tasks[ref.step]
            if self.component(producer).outputs.artifact(ref.output or "") is not None:
                artifacts.append({"name": name,
                                  "from": f"{{{{tasks.{task}.outputs.artifacts.{ref.output}}}}}"})
            else:
                params.append({"name": name, "valueFrom": {
                    "parameter": f"{{{{tasks.{task}.outputs.parameters.{ref.output}}}}}"}})
        outputs = {k: v for k, v in (("parameters", params), ("artifacts", artifacts)) if v}
        if outputs:
            tpl["outputs"] = outputs
        return tpl

    def build(self) -> Manifest:
        templates = [self.main_dag()]
        templates += [self.template(s) for s in self.spec.steps]
        spec: dict[str, Any] = {"entrypoint": ENTRYPOINT}
        if self.spec.parameters:
            spec["arguments"] = {"parameters": [
                {"name": p.name, **({"value": param_text(self.params[p.name])}
                                    if p.name in self.params else {})}
                for p in self.spec.parameters]}
        exit_step = self.spec.on_exit
        if exit_step is not None:
            templates.append({"name": EXIT_HANDLER, "dag": {"tasks": [self.task(exit_step)]}})
            templates.append(self.template(exit_step))
            spec["onExit"] = EXIT_HANDLER
        spec["templates"] = templates + self.extra_templates + self.data_templates()
        if self.not_memoized:
            self.ctx.warnings.append(
                f"Pipeline {self.name!r}: steps {', '.join(self.not_memoized)} take artifacts, "
                "which Argo's memoization key cannot hash; they are not cached on Kubernetes")
        if self.spec.parallelism is not None:
            spec["parallelism"] = self.spec.parallelism
        if self.spec.deadline is not None:
            spec["activeDeadlineSeconds"] = math.ceil(self.spec.deadline)
        if self.ctx.env.service_account:
            spec["serviceAccountName"] = self.ctx.env.service_account
        if self.uses_artifacts:
            if self.ctx.env.artifact_repository is None:
                raise self.fail("artifacts without an artifact repository", "spec.components",
                                hint=f"add artifactRepository.s3 (bucket, endpoint, secret) "
                                     f"to environment {self.ctx.env_name!r} in flowyard.yaml")
            spec["artifactRepositoryRef"] = {"configMap": ARTIFACT_REPOSITORIES,
                                             "key": "default"}
        if self.claims:
            spec["volumes"] = [{"name": n, "persistentVolumeClaim": {"claimName": c}}
                               for n, c in sorted(self.claims.items())]
        kind = "WorkflowTemplate" if self.ctx.template else "Workflow"
        meta = self.ctx.meta(self.name, self.name, "Pipeline")
        if self.spec.description:
            meta["annotations"] = {"flowyard.dev/description": self.spec.description}
        spec["podMetadata"] = {"labels": dict(meta["labels"])}
        return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


_ANY_RESULT = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted")


def _seconds(value: float) -> str:
    return f"{value:g}s"


def build_workflow(pipeline: Pipeline, params: dict[str, Any], ctx: RenderContext) -> Manifest:
    """The Workflow (or WorkflowTemplate with ctx.template) that runs `pipeline`."""
    return _Builder(pipeline, params, ctx).build()
