"""`GET /runs` pages by keyset (`metadata.continue`): no gaps or repeats, per profile too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from platform_helpers import API, Site

from flowyard.store.records import RunRecord

pytestmark = pytest.mark.anyio


def seed(site: Site, count: int) -> list[str]:
    meta = site.app.state.platform.metadata
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    for i in range(count):
        # groups of three runs share a timestamp: the id breaks the tie
        created = start + timedelta(seconds=i // 3)
        run = RunRecord(f"run-{i:04d}", "team-a" if i % 2 else "team-b", "p",
                        {"kind": "Pipeline", "big": "x" * 100}, {}, created_at=created)
        meta.create_run(run)
        ids.append(run.id)
    return ids


async def walk(client: object, **params: object) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    token = None
    while True:
        query = {**params, **({"continue": token} if token else {})}
        page = await client.get(f"{API}/runs", params=query)  # type: ignore[attr-defined]
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        token = body["metadata"]["continue"]
        if not token:
            return items


async def test_pages_cover_every_run_once_newest_first(site: Site) -> None:
    ids = seed(site, 250)
    alice = await site.user("alice", profile="team-a")
    async with site.client(site.admin) as admin, site.client(alice) as a:
        every = await walk(admin, limit=100)
        assert [r["id"] for r in every] == sorted(ids, reverse=True)
        assert all(r["pipeline"] == {} for r in every)  # snapshots: GET /runs/{id}
        mine = await walk(a, limit=40)
        assert [r["id"] for r in mine] == sorted((i for i in ids if int(i[-4:]) % 2),
                                                 reverse=True)
        full = (await admin.get(f"{API}/runs", params={"limit": 2, "snapshot": "true"})).json()
        assert full["items"][0]["pipeline"]["big"] == "x" * 100
        one = (await admin.get(f"{API}/runs/{ids[0]}")).json()
        assert one["pipeline"]["kind"] == "Pipeline"
        # offset paging still works for old clients
        second = (await admin.get(f"{API}/runs", params={"limit": 100, "offset": 100})).json()
        assert [r["id"] for r in second["items"]] == [r["id"] for r in every[100:200]]


async def test_a_bad_page_token_is_a_clear_400(site: Site) -> None:
    async with site.client(site.admin) as admin:
        for token in ("%%%", "bm9zbGFzaA", "bm90LWEtZGF0ZS94"):
            answer = await admin.get(f"{API}/runs", params={"continue": token})
            assert answer.status_code == 400, answer.text
            assert "continue" in answer.json()["error"]["message"]
