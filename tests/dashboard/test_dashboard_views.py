"""The dashboard without a browser: the shell behind the login, its static files (package
data), and the read views it uses (run and pipeline graphs, metrics across runs, artifact
previews), in process. These run everywhere, Chromium or not."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_helpers import DATA

from flowyard.platform.api import create_app
from flowyard.platform.dashboard import STATIC
from flowyard.platform.runtime import Platform
from flowyard.settings import Settings

pytestmark = pytest.mark.anyio
API = "/api/v1alpha1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class App:
    def __init__(self, app: Any, platform: Platform, admin: str) -> None:
        self.app, self.platform, self.admin = app, platform, admin

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                 base_url="http://flowyard.test", headers=headers)


@pytest.fixture
async def app(flowyard_home: Path) -> AsyncIterator[App]:
    platform = Platform(Settings(), controllers=False)
    asgi = create_app(platform)
    await platform.startup()
    admin = platform.auth.bootstrap()
    assert admin is not None
    try:
        yield App(asgi, platform, admin)
    finally:
        await platform.shutdown()


async def test_the_shell_needs_a_login_and_loads_its_modules(app: App) -> None:
    async with app.client() as browser:
        assert (await browser.get("/")).headers["location"] == "/login"
        assert (await browser.get("/ui/app.js")).status_code == 401
        async with app.client(app.admin) as admin:
            made = await admin.post(f"{API}/users", json={"name": "dora", "password": "pw-d-1"})
            assert made.status_code == 201
        form = await browser.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        done = await browser.post("/login", data={"user": "dora", "password": "pw-d-1",
                                                  "csrf": csrf.group(1)})
        assert done.status_code == 303
        shell = await browser.get("/")
        assert shell.status_code == 200
        assert '<script type="module" src="/ui/app.js"></script>' in shell.text
        assert 'data-user="dora"' in shell.text
        assert "script-src 'self'" in shell.headers["content-security-policy"]
        assert shell.headers["cache-control"] == "no-store"
        script = await browser.get("/ui/app.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert script.headers["cache-control"] == "no-cache"
        style = await browser.get("/ui/app.css")
        assert style.status_code == 200 and "text/css" in style.headers["content-type"]
    # every page the router knows ships as a module (package data, no build step)
    router = (STATIC / "app.js").read_text()
    table = re.search(r"const PAGES = \{(.*?)\};", router, re.S)
    assert table is not None
    pages = set(re.findall(r':\s*"([a-z]+)"', table.group(1))) | {"run"}
    assert pages == {p.stem for p in (STATIC / "pages").glob("*.js")}
    for module in STATIC.rglob("*.js"):
        for imported in re.findall(r'from "(\.\.?/[^"]+)"', module.read_text()):
            assert (module.parent / imported).resolve().is_file(), (module, imported)


def _run_demo() -> tuple[str, list[Any]]:
    from flowyard import Client
    from flowyard.client.files import load_pipeline

    with Client() as client:
        run = client.run(load_pipeline(f"{DATA / 'demo.py'}:demo"), {"rows": 12})
        assert run.state == "Succeeded"
        return run.id, client.transport.list_artifacts(run.id)


async def test_views_give_graphs_metrics_and_safe_previews(app: App) -> None:
    run_id, artifacts = _run_demo()
    async with app.client(app.admin) as admin:
        graph = (await admin.get(f"{API}/runs/{run_id}/graph")).json()
        assert [n["name"] for n in graph["nodes"]] == ["load", "train", "evaluate", "announce"]
        assert {n["name"]: (n["loop"], n["condition"]) for n in graph["nodes"]} == {
            "load": (False, False), "train": (True, False), "evaluate": (False, False),
            "announce": (False, True)}
        assert sorted((e["source"], e["target"], e["kind"]) for e in graph["edges"]) == [
            ("evaluate", "announce", "data"), ("load", "train", "data"),
            ("train", "evaluate", "data")]
        assert [p["name"] for p in graph["parameters"]] == ["rows", "kinds", "marker"]
        metrics = (await admin.get(f"{API}/metrics", params={"pipeline": "demo"})).json()
        [row] = metrics["items"]
        values = {(m["step"], m["name"]): m["value"] for m in row["metrics"]}
        assert values[("train[0]", "rows")] == 12 and values[("evaluate", "f1")] == 0.88
        assert (await admin.get(f"{API}/metrics")).status_code == 400
        by_name = {a.name: a for a in artifacts}
        report = await admin.get(f"{API}/artifacts/{by_name['report'].id}/preview")
        assert report.headers["content-type"].startswith("text/html")
        assert report.headers["content-security-policy"].startswith("sandbox;")
        assert "The best model is" in report.text
        data = await admin.get(f"{API}/artifacts/{by_name['data'].id}/preview")
        assert data.headers["content-type"].startswith("text/plain")
        assert data.text.startswith("x,y,label\n")
        missing = await admin.get(f"{API}/runs/no-such-run/graph")
        assert missing.status_code == 404
        made = await admin.post(f"{API}/users", json={"name": "eve"})
        assert made.status_code == 201
        eve = (await admin.post(f"{API}/tokens", json={"user": "eve"})).json()["token"]
    async with app.client(eve) as other:
        # another user's view of the run: as if it did not exist
        assert (await other.get(f"{API}/runs/{run_id}/graph")).status_code == 404
        hidden = await other.get(f"{API}/artifacts/{by_name['data'].id}/preview")
        assert hidden.status_code == 404
        assert (await other.get(f"{API}/metrics", params={"pipeline": "demo"})).json() == {
            "items": []}
