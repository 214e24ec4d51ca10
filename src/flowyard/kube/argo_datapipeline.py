"""DataPipeline -> Argo `Workflow`: list the datums, then one task per datum (withParam).

Spec: https://argo-workflows.readthedocs.io/en/latest/walk-through/loops/ (withParam over a
step's JSON output). The pipeline's `parallelism` becomes the Workflow's, `datumTries` the
per-datum retryStrategy and `datumTimeout` its activeDeadlineSeconds.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from flowyard.kube.argo_workflow import API_VERSION
from flowyard.kube.context import Manifest, RenderContext
from flowyard.resources.data_pipeline import DataPipeline

DATUMS_PATH = "/tmp/flowyard-datums.json"


def build_data_workflow(pipeline: DataPipeline, ctx: RenderContext) -> Manifest:
    spec = pipeline.spec
    # Say it at render time, not only when a pod exits 3 on the cluster.
    ctx.warnings.append(
        f"DataPipeline {pipeline.name!r}: the Workflow validates, but its in-image datum step "
        "is not implemented yet and exits 3; run data pipelines locally with `flowyard data`")
    body = json.dumps(pipeline.to_dict(), sort_keys=True)
    encoded = base64.b64encode(body.encode()).decode()
    env = ctx.env

    def container(*args: str) -> dict[str, Any]:
        box: dict[str, Any] = {"image": env.image,
                               "command": ["python", "-m", "flowyard.kube.datum_step"],
                               "args": [*args, "--pipeline", encoded]}
        if spec.transform.env:
            box["env"] = [{"name": k, "value": v} for k, v in spec.transform.env.items()]
        if env.image_pull_policy:
            box["imagePullPolicy"] = env.image_pull_policy
        return box

    process: dict[str, Any] = {
        "name": "process-datum",
        "inputs": {"parameters": [{"name": "datum"}]},
        "container": container("process", "--datum", "{{inputs.parameters.datum}}"),
    }
    if spec.datum_tries > 1:
        process["retryStrategy"] = {"limit": str(spec.datum_tries - 1), "retryPolicy": "Always"}
    if spec.datum_timeout is not None:
        process["activeDeadlineSeconds"] = math.ceil(spec.datum_timeout)
    templates = [
        {"name": "main", "dag": {"tasks": [
            {"name": "list-datums", "template": "list-datums"},
            {"name": "process", "template": "process-datum", "dependencies": ["list-datums"],
             "arguments": {"parameters": [{"name": "datum", "value": "{{item}}"}]},
             "withParam": "{{tasks.list-datums.outputs.parameters.datums}}"},
            {"name": "commit", "template": "commit", "dependencies": ["process"]},
        ]}},
        {"name": "list-datums",
         "container": container("list", "--out", DATUMS_PATH),
         "outputs": {"parameters": [{"name": "datums", "valueFrom": {"path": DATUMS_PATH}}]}},
        process,
        {"name": "commit", "container": container("commit")},
    ]
    wf_spec: dict[str, Any] = {"entrypoint": "main", "parallelism": spec.parallelism,
                               "templates": templates}
    if env.service_account:
        wf_spec["serviceAccountName"] = env.service_account
    meta = ctx.meta(pipeline.name, pipeline.name, "DataPipeline")
    meta["annotations"] = {"flowyard.dev/output-repo": pipeline.output_repo}
    wf_spec["podMetadata"] = {"labels": dict(meta["labels"])}
    kind = "WorkflowTemplate" if ctx.template else "Workflow"
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": wf_spec}
