"""`GET .../inferencegraphs/{name}/stats` through the platform, from a real serving process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from platform_helpers import API, Site

pytestmark = pytest.mark.anyio
COMPONENTS = str(Path(__file__).parents[1] / "serving" / "components.py")


def graph(name: str) -> dict[str, Any]:
    arms = [{"name": f"arm{i}", "type": "MODEL", "className": f"{COMPONENTS}:Constant",
             "parameters": [{"name": "value", "value": str(i), "type": "FLOAT"}]}
            for i in (0, 1)]
    return {"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
            "metadata": {"name": name},
            "spec": {"predictors": [{"name": "main", "graph": {
                "name": "eg", "implementation": "EPSILON_GREEDY", "children": arms,
                "parameters": [{"name": "seed", "value": "2", "type": "INT"}]}}]}}


async def test_stats_come_from_the_running_graph_and_stay_in_the_profile(site: Site) -> None:
    alice = await site.user("alice", profile="team-a")
    bob = await site.user("bob", profile="team-b")
    platform = site.app.state.platform
    url = f"{API}/namespaces/team-a/inferencegraphs/bandit"
    async with site.client(alice) as a, site.client(bob) as b:
        stored = await a.put(url, json=graph("bandit"))
        assert stored.status_code == 201, stored.text
        idle = await a.get(f"{url}/stats")
        assert idle.status_code == 503
        assert "is not serving" in idle.json()["error"]["message"]
        body = (await a.get(url)).json()
        ep = platform.serving._start(("team-a", "bandit"), body, 1, restarts=0)
        platform.serving.endpoints[("team-a", "bandit")] = ep
        try:
            deadline = time.monotonic() + 60
            async with httpx.AsyncClient(base_url=ep.url) as graph_http:
                while True:
                    try:
                        if (await graph_http.get("/v2/health/ready")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, "serving process did not start"
                    await asyncio.sleep(0.2)
                for _ in range(20):
                    request = {"data": {"ndarray": [[1.0]]}}
                    answer = (await graph_http.post("/api/v1.0/predictions",
                                                    json=request)).json()
                    arm = answer["meta"]["routing"]["eg"]
                    sent = await graph_http.post("/api/v1.0/feedback", json={
                        "request": request, "response": answer, "reward": float(arm)})
                    assert sent.status_code == 200
            stats = await a.get(f"{url}/stats")
            assert stats.status_code == 200, stats.text
            doc = stats.json()
            assert doc["namespace"] == "team-a" and doc["name"] == "bandit"
            assert doc["requests"] == 20
            assert doc["latency"]["p50"] is not None
            assert doc["predictors"][0]["share"] == 1.0
            router = doc["routers"][0]
            assert router["node"] == "eg"
            assert sum(arm["pulls"] for arm in router["arms"]) == 20
            assert sum(arm["feedback"] for arm in router["arms"]) == 20
            # bob's profile cannot see the graph, nor its stats
            hidden = await b.get(f"{url}/stats")
            assert hidden.status_code == 404
            missing = await a.get(f"{API}/namespaces/team-a/inferencegraphs/nope/stats")
            assert missing.status_code == 404
        finally:
            await platform.serving.shutdown()
