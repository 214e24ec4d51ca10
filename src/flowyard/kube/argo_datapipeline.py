"""DataPipeline -> Argo `Workflow`: list the datums, one task per datum (withParam), commit.

Spec: https://argo-workflows.readthedocs.io/en/latest/walk-through/loops/ (withParam over a
step's JSON output, and the loop's outputs aggregated as a JSON list for the next task) and
https://argo-workflows.readthedocs.io/en/latest/walk-through/exit-handlers/ (`onExit`, with
`{{workflow.status}}` and `{{workflow.failures}}`). The pipeline's `parallelism` becomes the
Workflow's, `datumTries` the per-datum retryStrategy and `datumTimeout` its
activeDeadlineSeconds.

Every step runs `python -m flowyard.kube.datum_step` in the environment's image with the
platform's data store settings: blobs in the environment's S3 bucket, the database URL from
the Secret `flowyard-database` (see kube/platform.py). The job is named after the Workflow's
uid, so retried pods find it.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from flowyard.kube.argo_workflow import API_VERSION
from flowyard.kube.context import Manifest, RenderContext
from flowyard.kube.platform import store_container
from flowyard.resources.data_pipeline import DataPipeline

DATUMS_PATH = "/tmp/flowyard-datums.json"
RESULT_PATH = "/tmp/flowyard-datum-result.json"
JOB = "{{workflow.uid}}"


def build_data_workflow(pipeline: DataPipeline, ctx: RenderContext, where: str = "") -> Manifest:
    spec = pipeline.spec
    env = ctx.env
    if env.artifact_repository is None:
        raise ctx.unsupported(
            "a DataPipeline without an artifactRepository", f"DataPipeline {pipeline.name!r}",
            where, hint="datum steps keep the data store's blobs in the environment's S3 "
                        "bucket: add artifactRepository.s3 to the environment")
    body = json.dumps(pipeline.to_dict(), sort_keys=True)
    encoded = base64.b64encode(body.encode()).decode()

    def container(action: str, *args: str) -> dict[str, Any]:
        return store_container(ctx, "flowyard.kube.datum_step",
                               [action, "--pipeline", encoded, "--job", JOB, *args])

    process: dict[str, Any] = {
        "name": "process-datum",
        "inputs": {"parameters": [{"name": "datum"}]},
        "container": container("process", "--datum", "{{inputs.parameters.datum}}",
                               "--out", RESULT_PATH),
        "outputs": {"parameters": [{"name": "result", "valueFrom": {"path": RESULT_PATH}}]},
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
            {"name": "commit", "template": "commit", "dependencies": ["process"],
             "arguments": {"parameters": [
                 {"name": "results", "value": "{{tasks.process.outputs.parameters.result}}"}]}},
        ]}},
        {"name": "list-datums",
         "container": container("list", "--out", DATUMS_PATH),
         "outputs": {"parameters": [{"name": "datums", "valueFrom": {"path": DATUMS_PATH}}]}},
        process,
        {"name": "commit", "inputs": {"parameters": [{"name": "results"}]},
         "container": container("commit", "--results", "{{inputs.parameters.results}}")},
        {"name": "finish",
         "container": container("finish", "--status", "{{workflow.status}}",
                                "--failures", "{{workflow.failures}}")},
    ]
    wf_spec: dict[str, Any] = {"entrypoint": "main", "onExit": "finish",
                               "parallelism": spec.parallelism, "templates": templates}
    if env.service_account:
        wf_spec["serviceAccountName"] = env.service_account
    meta = ctx.meta(pipeline.name, pipeline.name, "DataPipeline")
    meta["annotations"] = {"flowyard.dev/output-repo": pipeline.output_repo}
    wf_spec["podMetadata"] = {"labels": dict(meta["labels"])}
    kind = "WorkflowTemplate" if ctx.template else "Workflow"
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": wf_spec}
