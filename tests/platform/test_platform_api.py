"""The API in process (httpx.ASGITransport): resources, runs, errors, OpenAPI."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from platform_helpers import DATA

from flowyard.platform.api import create_app
from flowyard.platform.runtime import Platform
from flowyard.settings import Settings

pytestmark = pytest.mark.anyio
NS = "/api/v1alpha1/namespaces"


@pytest.fixture
async def api(flowyard_home: Path) -> AsyncIterator[httpx.AsyncClient]:
    platform = Platform(Settings(), controllers=False)
    app = create_app(platform)
    await platform.startup()
    token = platform.auth.bootstrap()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://flowyard.test",
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            yield client
    finally:
        await platform.shutdown()


def pipeline(name: str = "hello", **labels: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((DATA / "pipeline.yaml").read_text())
    body["metadata"] = {"name": name, "labels": labels}
    return body


async def test_health_and_openapi(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    assert (await api.get("/readyz")).status_code == 200
    doc = (await api.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    for plural in ("pipelines", "inferencegraphs", "datapipelines"):
        item = doc["paths"][f"{NS}/{{namespace}}/{plural}/{{name}}"]
        assert {"get", "put", "delete"} <= set(item)
    assert "Pipeline" in doc["components"]["schemas"]
    assert "Error" in doc["components"]["schemas"]


async def test_apply_is_create_or_update_with_generation(api: httpx.AsyncClient) -> None:
    url = f"{NS}/default/pipelines/hello"
    created = await api.put(url, json=pipeline())
    assert created.status_code == 201
    assert created.json()["metadata"]["generation"] == 1
    stamp = created.json()["metadata"]["creationTimestamp"]
    same = await api.put(url, json=pipeline())
    assert same.status_code == 200 and same.json()["metadata"]["generation"] == 1
    changed = pipeline()
    changed["spec"]["parallelism"] = 2
    again = await api.put(url, json=changed)
    assert again.json()["metadata"]["generation"] == 2
    assert again.json()["metadata"]["creationTimestamp"] == stamp
    got = (await api.get(url)).json()
    assert got["spec"]["parallelism"] == 2
    # The uid is made at creation and kept, whatever a file says; a new resource of the same
    # name (after a delete) is another object and gets another uid.
    uid = created.json()["metadata"]["uid"]
    assert str(uuid.UUID(uid)) == uid
    forged = pipeline()
    forged["metadata"]["uid"] = "not-mine"
    assert (await api.put(url, json=forged)).json()["metadata"]["uid"] == uid
    assert got["metadata"]["uid"] == uid
    assert (await api.delete(url)).status_code in (200, 204)
    assert (await api.put(url, json=pipeline())).json()["metadata"]["uid"] != uid
    # POST to the collection applies too, the namespace coming from the URL
    posted = await api.post(f"{NS}/team-a/pipelines", json=pipeline("other"))
    assert posted.status_code == 201
    assert posted.json()["metadata"]["namespace"] == "team-a"


async def test_list_with_selectors_and_pages(api: httpx.AsyncClient) -> None:
    for i in range(5):
        await api.put(f"{NS}/default/pipelines/p{i}",
                      json=pipeline(f"p{i}", team="a" if i % 2 else "b", tier=str(i)))
    await api.put(f"{NS}/other/pipelines/p9", json=pipeline("p9", team="a"))

    async def names(url: str, **params: Any) -> list[str]:
        answer = await api.get(url, params=params)
        assert answer.status_code == 200, answer.text
        return [b["metadata"]["name"] for b in answer.json()["items"]]

    coll = f"{NS}/default/pipelines"
    assert await names(coll, labelSelector="team=a") == ["p1", "p3"]
    assert await names(coll, labelSelector="team!=a,tier") == ["p0", "p2", "p4"]
    assert await names(coll, labelSelector="!team") == []
    assert await names("/api/v1alpha1/pipelines", labelSelector="team=a") == ["p1", "p3", "p9"]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await api.get(coll, params=params)).json()
        seen += [b["metadata"]["name"] for b in page["items"]]
        assert len(page["items"]) <= 2
        if not page["metadata"]["continue"]:
            break
        params["continue"] = page["metadata"]["continue"]
    assert seen == ["p0", "p1", "p2", "p3", "p4"]


async def test_delete_then_not_found(api: httpx.AsyncClient) -> None:
    url = f"{NS}/default/pipelines/hello"
    await api.put(url, json=pipeline())
    assert (await api.delete(url)).status_code == 200
    missing = await api.get(url)
    assert missing.status_code == 404
    err = missing.json()["error"]
    assert err["code"] == "NotFound"
    assert "Pipeline 'hello'" in err["message"] and "'default'" in err["message"]
    assert (await api.delete(url)).status_code == 404


async def test_invalid_resource_is_422_with_field_problems(api: httpx.AsyncClient) -> None:
    body = pipeline()
    body["spec"]["stepz"] = []
    body["spec"]["parallelism"] = "lots"
    answer = await api.put(f"{NS}/default/pipelines/hello", json=body)
    assert answer.status_code == 422
    err = answer.json()["error"]
    assert err["code"] == "ResourceInvalid"
    fields = {p["field"]: p for p in err["problems"]}
    assert "spec.stepz" in fields and "did you mean 'steps'" in fields["spec.stepz"]["allowed"]
    assert fields["spec.parallelism"]["value"] == "lots"
    bad_name = pipeline("Not_A_Name")
    answer = await api.put(f"{NS}/default/pipelines/Not_A_Name", json=bad_name)
    assert answer.status_code == 422
    assert answer.json()["error"]["problems"][0]["field"] == "metadata.name"


async def test_unknown_kind_is_404_listing_kinds(api: httpx.AsyncClient) -> None:
    answer = await api.get(f"{NS}/default/widgets")
    assert answer.status_code == 404
    err = answer.json()["error"]
    assert "'widgets'" in err["message"]
    for kind in ("pipelines (Pipeline)", "inferencegraphs (InferenceGraph)",
                 "datapipelines (DataPipeline)"):
        assert kind in err["hint"]
    nowhere = await api.get("/api/v2/anything")
    assert nowhere.status_code == 404 and "/api/v2/anything" in nowhere.json()["error"]["message"]


async def test_bad_requests_name_the_bad_part(api: httpx.AsyncClient) -> None:
    coll = f"{NS}/default/pipelines"
    answer = await api.get(coll, params={"labelSelector": "a=b,=c"})
    assert answer.status_code == 400 and "'=c'" in answer.json()["error"]["message"]
    answer = await api.get(coll, params={"continue": "%%%"})
    assert answer.status_code == 400 and "'%%%'" in answer.json()["error"]["message"]
    answer = await api.get(coll, params={"limit": "-3"})
    assert answer.status_code == 400 and "limit='-3'" in answer.json()["error"]["message"]
    answer = await api.put(f"{coll}/hello", content=b"{not json")
    assert answer.status_code == 400 and "not JSON" in answer.json()["error"]["message"]
    answer = await api.put(f"{NS}/default/inferencegraphs/hello", json=pipeline())
    assert answer.status_code == 400
    assert "'Pipeline' does not match the URL's 'InferenceGraph'" in \
        answer.json()["error"]["message"]
    answer = await api.put(f"{coll}/other", json=pipeline())
    assert answer.status_code == 400 and "default/hello" in answer.json()["error"]["message"]


async def test_runs_api_without_a_driver(api: httpx.AsyncClient) -> None:
    from flowyard.client.files import load_pipeline

    gated = load_pipeline(f"{DATA / 'gated.py'}:gated").to_dict()
    answer = await api.post("/api/v1alpha1/runs", json={
        "pipeline": gated, "parameters": {"count": 2}, "start": False, "labels": {"x": "1"}})
    assert answer.status_code == 201, answer.text
    run = answer.json()
    assert run["state"] == "Pending" and run["options"]["driver"] == "platform"
    rid = run["id"]
    assert (await api.get(f"/api/v1alpha1/runs/{rid}")).json()["id"] == rid
    listed = (await api.get("/api/v1alpha1/runs", params={"pipeline": "gated"})).json()
    assert [r["id"] for r in listed["items"]] == [rid]
    steps = (await api.get(f"/api/v1alpha1/runs/{rid}/steps")).json()["items"]
    assert {s["id"] for s in steps} == {"first", "gate"}
    retry = await api.post(f"/api/v1alpha1/runs/{rid}/retry")
    assert retry.status_code == 409 and "Pending" in retry.json()["error"]["message"]
    cancelled = await api.post(f"/api/v1alpha1/runs/{rid}/cancel")
    assert cancelled.json()["state"] == "Cancelled"
    again = await api.post(f"/api/v1alpha1/runs/{rid}/cancel")
    assert again.status_code == 409
    unknown = await api.get("/api/v1alpha1/runs/no-such-run")
    assert unknown.status_code == 404 and "no-such-run" in unknown.json()["error"]["message"]
    log = await api.get(f"/api/v1alpha1/runs/{rid}/steps/nope/log")
    assert log.status_code == 404 and "nope" in log.json()["error"]["message"]
    bad = await api.post("/api/v1alpha1/runs", json={"pipeline": gated,
                                                     "parameters": {"cuont": 1}})
    assert bad.status_code == 400 and "cuont" in bad.json()["error"]["message"]
    action = await api.post(f"/api/v1alpha1/runs/{rid}/explode")
    assert action.status_code == 404 and "'explode'" in action.json()["error"]["message"]
    art = await api.get("/api/v1alpha1/artifacts/nope/content")
    assert art.status_code == 404
