"""Abuse paths of the platform API: traversal in log and artifact downloads, oversized JSON
bodies, and the login slowdown keyed by user and by client address."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from platform_helpers import API, Site

from flowyard.store.records import RunRecord, StepRecord

pytestmark = pytest.mark.anyio
SECRET = b"top secret outside the store"
TRAVERSALS = ["..%2F..%2F..%2Fsecret.txt", "%2E%2E%2Fsecret.txt", "..", "...%2F..%2Fsecret.txt",
              "%2Fetc%2Fpasswd", "train%00..%2Fsecret.txt"]


async def test_traversal_in_log_and_artifact_downloads_is_refused(site: Site,
                                                                  tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_bytes(SECRET)
    meta = site.app.state.platform.metadata
    meta.create_run(RunRecord("r1", "default", "p", {}, {}),
                    [StepRecord("r1", "train", "train", None, "c")])
    async with site.client(site.admin) as admin:
        ok = await admin.get(f"{API}/runs/r1/steps/train/log")
        assert ok.status_code == 200 and ok.content == b""
        for bad in TRAVERSALS:
            for url in (f"{API}/runs/r1/steps/{bad}/log", f"{API}/artifacts/{bad}/content",
                        f"{API}/runs/{bad}/steps/train/log", f"{API}/artifacts/{bad}"):
                answer = await admin.get(url)
                assert answer.status_code in (400, 404), (url, answer.status_code)
                assert SECRET not in answer.content and b"root:" not in answer.content


async def test_an_oversized_json_body_is_refused_without_reading_it_all(site: Site) -> None:
    from flowyard.platform import api

    limit = api.MAX_JSON_BODY
    async with site.client(site.admin) as admin:
        declared = await admin.post(f"{API}/namespaces/default/pipelines",
                                    content=b"{" + b" " * (limit + 10) + b"}",
                                    headers={"Content-Type": "application/json"})
        assert declared.status_code == 413
        assert "larger than 16 MiB" in declared.json()["error"]["message"]
        sent = 0

        async def chunks():  # type: ignore[no-untyped-def]
            nonlocal sent
            for _ in range(64):
                sent += 1 << 20
                yield b" " * (1 << 20)

        streamed = await admin.post(f"{API}/runs", content=chunks(),
                                    headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413


async def test_failed_logins_slow_down_per_user_and_per_client(site: Site) -> None:
    from flowyard.platform.session import Throttle

    await site.user("dora", "right-password")
    throttle = site.app.state.sessions.throttle = Throttle(base=0.2, free=2)
    async with site.client() as anon:
        waits = []
        for _ in range(4):
            t0 = time.monotonic()
            answer = await anon.post(f"{API}/login", json={"user": "dora", "password": "no"})
            waits.append(time.monotonic() - t0)
            assert answer.status_code == 401
        # the first two are free, then 0.2 s, 0.4 s ...
        assert waits[2] >= 0.2 and waits[3] >= 0.4, waits
        assert throttle.delay("user:dora") >= 0.8
        # the right password still works (after the wait), and clears the user's record
        good = await anon.post(f"{API}/login", json={"user": "dora",
                                                     "password": "right-password"})
        assert good.status_code == 201
        assert throttle.delay("user:dora") == 0
