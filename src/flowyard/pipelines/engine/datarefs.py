"""Versioned data in pipeline runs: `{data: repo@ref:/path}` inputs and `outputsTo` writes.

A data ref is resolved to a commit once per run and materialized into the object store as an
artifact blob; its ArtifactRecord (uri `data://repo@COMMIT:/path`) is the run's memory of
that choice, so retries and `resume` read the same commit, and lineage queries find the runs
that read a commit by its uri. The step's cache key sees the blob's content digest, so new data
at the same path misses the cache while an unchanged re-commit still hits it.

When a step with `outputsTo` succeeds, each named output artifact is committed into its repo
path (origin `pipeline`), with provenance to every data commit the run read.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyard.errors import FlowyardError
from flowyard.pipelines.engine.nodes import Node
from flowyard.pipelines.engine.resolve import ResolveError
from flowyard.resources.pipeline import PipelineSpec
from flowyard.store.records import ArtifactRecord

if TYPE_CHECKING:
    from flowyard.data.repo import DataStore
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore
    from flowyard.store.objects import ObjectStore

DATA_URI = "data://"


def uses_data(spec: PipelineSpec) -> bool:
    """Whether a pipeline reads or writes data repos (the engine skips all of this if not)."""
    return any(
        step.outputs_to or any(ref.data is not None for ref in step.arguments.values())
        for step in spec.all_steps()
    )


def data_uri(repo: str, commit: str, path: str) -> str:
    return f"{DATA_URI}{repo}@{commit}:/{path}"


class DataRefs:
    """The data refs one run read, and the writes of its `outputsTo` steps."""

    def __init__(self, metadata: MetadataStore, objects: ObjectStore, settings: Settings,
                 run_id: str, artifacts: dict[str, ArtifactRecord], work: Path) -> None:
        self.md = metadata
        self.objects = objects
        self.settings = settings
        self.run_id = run_id
        self.artifacts = artifacts
        self.work = work
        self._ds: DataStore | None = None
        self.read: dict[str, ArtifactRecord] = {}
        """Ref text as written in the pipeline -> the artifact recorded for it in this run."""
        for art in metadata.list_artifacts(run_id=run_id):
            ref = art.metadata.get("data", {}).get("ref") if art.uri.startswith(DATA_URI) else None
            if isinstance(ref, str):
                self.read.setdefault(ref, art)

    @property
    def store(self) -> DataStore:
        if self._ds is None:
            from flowyard.data.repo import DataStore

            self._ds = DataStore(self.md, self.objects, self.settings)
        return self._ds

    def close(self) -> None:
        if self._ds is not None:
            self._ds.close()

    # -- reading ----------------------------------------------------------------------------

    def artifact(self, ref: str, node: Node, input_name: str) -> str:
        """The id of the artifact holding `ref` for this run (resolved and stored once)."""
        art = self.read.get(ref)
        if art is None:
            art = self._materialize(ref, node, input_name)
            self.read[ref] = art
        self.artifacts[art.id] = art
        return art.id

    def _materialize(self, ref: str, node: Node, input_name: str) -> ArtifactRecord:
        from flowyard.data.refs import parse_target

        try:
            tgt = parse_target(ref)
            commit = self.store.resolve(tgt)
            self.work.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix="data-", dir=self.work))
            try:
                name = tgt.path.rsplit("/", 1)[-1] or tgt.repo
                got = self.store.get(f"{tgt.repo}@{commit.id}:/{tgt.path}", tmp / name)
                is_tree = (tmp / name).is_dir()
                blob = self.objects.put_path(tmp / name, move=True)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        except FlowyardError as exc:
            raise DataRefError(f"step {node.id!r}: input {input_name!r} reads data {ref!r}: "
                               f"{exc}") from exc
        spec = node.component.inputs.artifact(input_name)
        art = ArtifactRecord(
            id=uuid.uuid4().hex, run_id=self.run_id, step_id=node.id, name=input_name,
            type=spec.type.value if spec is not None else "Artifact", digest=blob.digest,
            size=got.bytes, is_tree=is_tree, uri=data_uri(tgt.repo, commit.id, tgt.path),
            metadata={"data": {"ref": ref, "repo": tgt.repo, "commit": commit.id,
                               "path": "/" + tgt.path, "files": got.files}})
        # Recorded before the step runs: this record is what pins the commit for the run.
        self.md.finish_step(node.record, [art])
        return art

    def commits_read(self) -> list[str]:
        """`repo@commit` of every data commit this run has read so far."""
        found = {f"{a.metadata['data']['repo']}@{a.metadata['data']['commit']}"
                 for a in self.read.values()}
        return sorted(found)

    # -- writing ----------------------------------------------------------------------------

    def write_outputs(self, node: Node, artifacts: list[ArtifactRecord]) -> str | None:
        """Commit the step's `outputsTo` artifacts; an error message, or None when done."""
        by_name = {a.name: a for a in artifacts}
        for name, target in node.step.outputs_to.items():
            art = by_name.get(name)
            if art is None:
                return f"outputsTo: step {node.id!r} produced no artifact {name!r}"
            try:
                commit = self._write(node, art, target)
            except FlowyardError as exc:
                return f"outputsTo: step {node.id!r} could not write {name!r} to {target!r}: {exc}"
            art.metadata = {**art.metadata, "data_commit": commit}
        return None

    def _write(self, node: Node, art: ArtifactRecord, target: str) -> str:
        from flowyard.data.refs import parse_target

        tgt = parse_target(target)
        self.work.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="out-", dir=self.work))
        try:
            local = self.objects.materialize(art.digest, tmp / (tgt.path.rsplit("/", 1)[-1]))
            provenance = [ref.split("@", 1)[1] for ref in self.commits_read()]
            info: dict[str, Any] = {"run": self.run_id, "step": node.id, "artifact": art.name}
            result = self.store.put(
                target, [local], origin="pipeline", provenance=provenance, sync=True,
                message=f"run {self.run_id} step {node.id}: {art.name}", info=info)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        # An unchanged artifact makes no new commit: the branch head already holds it.
        commit_id = result.commit.id if result.commit else self.store.resolve(target).id
        return data_uri(tgt.repo, commit_id, tgt.path)


class DataRefError(ResolveError):
    """A data ref cannot be read; the message names the step, the input and the ref."""
