"""An InferenceGraph served by two worker processes: its statistics count both."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from platform_helpers import API, DATA, Site

from flowyard.platform.controllers.serving import WORKERS_ANNOTATION

pytestmark = pytest.mark.anyio
ROUNDS = 40


def graph(name: str, workers: str | None) -> dict[str, Any]:
    arms = [{"name": f"arm{i}", "type": "MODEL",
             "className": f"{DATA / 'worker_pid.py'}:WorkerPid"} for i in (0, 1)]
    meta: dict[str, Any] = {"name": name}
    if workers is not None:
        meta["annotations"] = {WORKERS_ANNOTATION: workers}
    return {"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph", "metadata": meta,
            "spec": {"predictors": [{"name": "main", "graph": {
                "name": "eg", "implementation": "EPSILON_GREEDY", "children": arms,
                "parameters": [{"name": "epsilon", "value": "0.5", "type": "FLOAT"}]}}]}}


async def both_workers_ready(url: str, deadline: float) -> None:
    """Each new connection may reach either worker: ready once fresh connections keep
    finding a ready one, so the second has loaded too (as tests/serving does)."""
    while True:
        try:
            answers = []
            for _ in range(10):
                async with httpx.AsyncClient(base_url=url) as fresh:
                    answers.append((await fresh.get("/v2/health/ready")).status_code)
            if all(code == 200 for code in answers):
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the serving workers did not get ready"
        await asyncio.sleep(0.2)


async def test_stats_add_up_every_worker(site: Site, tmp_path: Path) -> None:
    platform = site.app.state.platform
    url = f"{API}/namespaces/default/inferencegraphs/duo"
    async with site.client(site.admin) as admin:
        stored = await admin.put(url, json=graph("duo", "2"))
        assert stored.status_code == 201, stored.text
        await platform.serving.reconcile()  # starts it: `python -m flowyard.serving --workers 2`
        ep = platform.serving.endpoints[("default", "duo")]
        assert ep.workers == 2
        try:
            await both_workers_ready(ep.url, time.monotonic() + 120)
            pids: set[int] = set()
            served = [0, 0]
            for _ in range(ROUNDS):
                # a fresh connection each time, so both workers get requests
                async with httpx.AsyncClient(base_url=ep.url) as fresh:
                    request = {"data": {"ndarray": [[1.0]]}}
                    answer = (await fresh.post("/api/v1.0/predictions", json=request)).json()
                    arm = answer["meta"]["routing"]["eg"]
                    pids.add(answer["meta"]["tags"]["pid"])
                    served[arm] += 1
                    sent = await fresh.post("/api/v1.0/feedback", json={
                        "request": request, "response": answer, "reward": float(arm)})
                    assert sent.status_code == 200, sent.text
            assert len(pids) == 2, f"one worker served everything: {pids}"
            # Another worker's numbers are published every 0.5 s: ask until they are in.
            deadline = time.monotonic() + 30
            while True:
                stats = await admin.get(f"{url}/stats")
                assert stats.status_code == 200, stats.text
                doc = stats.json()
                if (doc["requests"] == ROUNDS and doc["workers"] == 2) or \
                        time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert doc["workers"] == 2 and doc["requests"] == ROUNDS, doc
            assert doc["predictors"][0]["requests"] == ROUNDS
            router = doc["routers"][0]
            arms = router["arms"]
            assert [a["pulls"] for a in arms] == served
            # every feedback counted once: rewards 1 for arm 1, 0 for arm 0
            assert [a["feedback"] for a in arms] == [float(n) for n in served]
            assert [a["rewards"] for a in arms] == [0.0, float(served[1])]
            assert arms[1]["mean"] == 1.0 and (arms[0]["mean"] in (0.0, None))
            assert router["best"] == 1
        finally:
            await platform.serving.shutdown()


async def test_a_bad_workers_annotation_is_refused_in_the_status(site: Site) -> None:
    platform = site.app.state.platform
    url = f"{API}/namespaces/default/inferencegraphs/many"
    async with site.client(site.admin) as admin:
        for bad in ("0", "two", "100", "-1"):
            stored = await admin.put(url, json=graph("many", bad))
            assert stored.status_code in (200, 201), stored.text
            await platform.serving.reconcile()
            assert ("default", "many") not in platform.serving.endpoints
            status = (await admin.get(url)).json()["status"]
            assert status["ready"] is False
            reason = status["reason"]
            assert WORKERS_ANNOTATION in reason and repr(bad) in reason, reason
            assert "whole number from 1 to 32" in reason
            stats = await admin.get(f"{url}/stats")
            assert stats.status_code == 503
            assert WORKERS_ANNOTATION in stats.json()["error"]["message"]
    await platform.serving.shutdown()
