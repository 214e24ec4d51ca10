"""DataPipelines run when a commit lands on one of their input branches.

The controller polls the input branches' heads (cheap catalog reads) and starts a job when
they move; `DataPipelines.run` itself skips work whose inputs and datums are unchanged, so a
restarted platform re-checking every pipeline does no duplicate work.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from flowyard.errors import FlowyardError, NotFound

if TYPE_CHECKING:
    from flowyard.data.repo import DataStore
    from flowyard.platform.runtime import Platform

log = logging.getLogger("flowyard.platform.data")
KIND = "DataPipeline"


class DataController:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.seen: dict[tuple[str, str], tuple[str, ...]] = {}
        self.jobs: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._store: DataStore | None = None

    @property
    def store(self) -> DataStore:
        if self._store is None:
            from flowyard.data.repo import DataStore

            self._store = DataStore(self.platform.metadata, self.platform.objects,
                                    self.platform.settings)
        return self._store

    async def reconcile(self) -> None:
        bodies = self.platform.metadata.list_resources(KIND)
        live = {(b["metadata"]["namespace"], b["metadata"]["name"]) for b in bodies}
        for key in list(self.seen):
            if key not in live:
                del self.seen[key]
        for key, task in list(self.jobs.items()):
            if task.done():
                del self.jobs[key]
        for body in bodies:
            key = (body["metadata"]["namespace"], body["metadata"]["name"])
            if key in self.jobs:
                continue  # one job per pipeline at a time; newer heads are seen after it
            heads = self._heads(body)
            if heads is None or self.seen.get(key) == heads:
                continue
            self.seen[key] = heads
            # A task, so that a long job does not hold up the other controllers.
            self.jobs[key] = asyncio.create_task(anyio.to_thread.run_sync(self._run, key))

    async def shutdown(self) -> None:
        # Jobs run in threads and cannot be interrupted; an unfinished one is redone by
        # the next start (its heads are new to that process).
        for task in self.jobs.values():
            task.cancel()
        self.jobs.clear()

    def _heads(self, body: dict[str, Any]) -> tuple[str, ...] | None:
        from flowyard.resources.data_pipeline import DataPipeline

        try:
            pipeline = DataPipeline.model_validate(body)
        except ValueError:
            return None
        heads: list[str] = []
        for leaf in pipeline.spec.input.leaves():
            try:
                heads.append(self.store.resolve(f"{leaf.repo}@{leaf.branch}").id)
            except NotFound:
                heads.append("")
        return tuple(heads) if any(heads) else None

    def _run(self, key: tuple[str, str]) -> None:
        from flowyard.data.pipelines import DataPipelines

        namespace, name = key
        try:
            job = DataPipelines(self.store, namespace).run(name)
            status = {"lastJob": job.id, "state": job.state, "inputs": job.inputs,
                      "outputCommit": job.output_commit, "error": job.error}
        except FlowyardError as exc:
            status = {"state": "Failed", "error": exc.message}
        log.info("DataPipeline %s/%s: job %s", namespace, name, status.get("state"))
        meta = self.platform.metadata
        try:
            body = meta.get_resource(KIND, namespace, name)
        except NotFound:
            return
        meta.put_resource(KIND, namespace, name, {**body, "status": status})
