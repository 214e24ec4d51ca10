"""The quickstart end to end: README's first command's script on a fresh FLOWYARD_HOME, then
every step checked through the API and in the dashboard, a notebook that runs a cell, and a
second run that reuses what the first one made.

The script runs from this checkout (in CI, a clean clone), with this test environment's
Python instead of `./scripts/quickstart`'s own .venv, so that the test does not spend its
time installing; `tests/cli/test_cli_front_door.py` checks that the script is what
`./scripts/quickstart` runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "quickstart" / "quickstart.py"
API = "/api/v1alpha1"
NS = f"{API}/namespaces/default"

pytestmark = pytest.mark.slow


@dataclass
class Quickstart:
    home: Path
    url: str
    token: str
    first: str  # the first run's output
    seconds: float

    def get(self, path: str, **params: Any) -> Any:
        answer = httpx.get(f"{self.url}{API}{path}", params=params, timeout=30,
                           headers={"Authorization": f"Bearer {self.token}"})
        assert answer.status_code == 200, (path, answer.text)
        return answer.json()

    def run(self) -> tuple[str, float]:
        env = {**os.environ, "FLOWYARD_HOME": str(self.home)}
        env.pop("FLOWYARD_SERVER", None)
        env.pop("FLOWYARD_TOKEN", None)
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(SCRIPT), "--port", "0", "--requests", "200"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout, time.monotonic() - started


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Quickstart]:
    home = tmp_path_factory.mktemp("quickstart") / "home"
    qs = Quickstart(home, "", "", "", 0.0)
    try:
        qs.first, qs.seconds = qs.run()
        found = re.search(r"Log in\s+(http://127\.0\.0\.1:\d+)/login\?token=(fy_\S+)", qs.first)
        assert found, qs.first
        qs.url, qs.token = found.groups()
        yield qs
    finally:
        subprocess.run([sys.executable, "-m", "flowyard.cli.main", "down"], timeout=60,
                       env={**os.environ, "FLOWYARD_HOME": str(home)}, capture_output=True)


def test_each_step_is_there_through_the_api(quickstart: Quickstart) -> None:
    qs = quickstart
    text = qs.first
    for step in ("flowyard up --detach", "versioned data", "data pipeline 'features'",
                 "training pipeline", "inference graph 'cancer'", "predictions with feedback",
                 "Dashboard"):
        assert step in text, text
    # the data set and the incremental feature job
    log = qs.get("/namespaces/default/data/repos/cancer/commits", ref="master")["items"]
    assert len(log) == 2  # four batches, then the fifth
    job = qs.get("/namespaces/default/datapipelines/features")["status"]
    assert job["state"] == "Succeeded"
    features = qs.get("/namespaces/default/data/repos/features/files", ref="master")["items"]
    assert sorted(f["path"] for f in features) == [f"/batch-{i}.csv" for i in range(5)]
    # the training run: three steps, two models committed into `models`
    runs = qs.get("/runs", namespace="default")["items"]
    run = next(r for r in runs if r["pipeline_name"] == "train-cancer")
    assert run["state"] == "Succeeded"
    graph = qs.get(f"/runs/{run['id']}/graph")
    assert {n["name"] for n in graph["nodes"]} == {"split", "train-model", "train-model-2"}
    models = qs.get("/namespaces/default/data/repos/models/files", ref="master")["items"]
    assert {m["path"] for m in models} == {"/logreg", "/texture"}


def test_provenance_runs_from_the_served_model_back_to_the_data_set(
        quickstart: Quickstart) -> None:
    qs = quickstart
    headers = {"Authorization": f"Bearer {qs.token}"}
    model = httpx.get(f"{qs.url}/serving/default/cancer/v2/models/logreg", headers=headers,
                      timeout=30).json()
    source = model["parameters"]["sources"]["logreg"]
    assert source["repo"] == "models" and source["path"] == "/logreg"
    lineage = qs.get("/namespaces/default/data/repos/models/lineage",
                     ref=source["commit"], direction="up")
    nodes = json.dumps(lineage["nodes"])
    cancer_head = qs.get("/namespaces/default/data/repos/cancer/commits",
                         ref="master")["items"][0]["id"]
    assert cancer_head in nodes, nodes  # models <- run <- features <- cancer
    assert "features" in nodes and "train-cancer" in nodes


def test_traffic_moved_to_the_better_model(quickstart: Quickstart) -> None:
    stats = quickstart.get("/namespaces/default/inferencegraphs/cancer/stats")
    arms = {a["child"]: a for a in stats["routers"][0]["arms"]}
    assert arms["logreg"]["mean"] > arms["texture"]["mean"]
    assert arms["logreg"]["pulls"] > 3 * arms["texture"]["pulls"]
    assert "arm logreg" in quickstart.first


def test_the_dashboard_shows_it(quickstart: Quickstart, tmp_path: Path) -> None:
    from shutil import which

    binary = os.environ.get("FLOWYARD_CHROMIUM") or which("chromium") or which(
        "chromium-browser")
    if binary is None:
        pytest.skip("no Chromium found: install Debian's chromium (CI does, see .ci/run)")
    sync_api = pytest.importorskip("playwright.sync_api")
    qs = quickstart
    run = next(r for r in qs.get("/runs", namespace="default")["items"]
               if r["pipeline_name"] == "train-cancer")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=binary, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{qs.url}/login?token={qs.token}")
            page.wait_for_selector("#who")
            page.goto(f"{qs.url}/#/runs/{run['id']}")
            page.wait_for_selector('#card-graph g.node[data-state="Succeeded"]')
            shown = page.eval_on_selector_all(
                "#card-graph g.node", "els => els.map(e => [e.dataset.id, e.dataset.state])")
            steps = qs.get(f"/runs/{run['id']}/steps")["items"]
            assert dict(shown) == {s["id"]: s["state"] for s in steps}
            page.screenshot(path=str(tmp_path / "run.png"))
            page.goto(f"{qs.url}/#/serving/default/cancer")
            page.wait_for_selector("#serving-arms tr[data-arm]")
            arms = page.eval_on_selector_all(
                "#serving-arms tr[data-arm]", "els => els.map(e => e.dataset.arm)")
            assert sorted(arms) == ["logreg", "texture"]
            page.screenshot(path=str(tmp_path / "serving.png"))
        finally:
            browser.close()


def test_a_notebook_opens_and_runs_a_cell(quickstart: Quickstart) -> None:
    pytest.importorskip("jupyter_server")
    websocket = pytest.importorskip("websocket")
    qs = quickstart
    headers = {"Authorization": f"Bearer {qs.token}"}
    body = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "Notebook",
            "metadata": {"name": "explore", "namespace": "default"}, "spec": {}}
    put = httpx.put(f"{qs.url}{NS}/notebooks/explore", json=body, headers=headers, timeout=30)
    assert put.status_code in (200, 201), put.text
    deadline = time.monotonic() + 120
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = qs.get("/namespaces/default/notebooks/explore").get("status") or {}
        if status.get("phase") in ("Running", "Failed"):
            break
        time.sleep(0.5)
    assert status.get("phase") == "Running", status
    base = f"{qs.url}/notebook/default/explore/"
    kernel = httpx.post(f"{base}api/kernels", json={"name": "python3"}, headers=headers,
                        timeout=60)
    assert kernel.status_code == 201, kernel.text
    kid = kernel.json()["id"]
    ws = websocket.create_connection(f"ws://{base[len('http://'):]}api/kernels/{kid}/channels",
                                     header=[f"Authorization: Bearer {qs.token}"], timeout=60)
    try:
        msg_id = "quickstart-1"
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": "s", "date": "",
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": "from flowyard import Client\n"
                                "sorted(r.name for r in Client().data.list_repos())",
                        "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False}}))
        while True:
            msg = json.loads(ws.recv())
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "error":
                raise AssertionError(msg["content"])
            if msg["msg_type"] == "execute_result":
                assert msg["content"]["data"]["text/plain"] == \
                    "['cancer', 'features', 'models']"
                break
    finally:
        ws.close()


def test_a_second_run_reuses_everything(quickstart: Quickstart) -> None:
    second, _ = quickstart.run()
    assert "platform already running" in second
    assert "all unchanged: no new commit" in second
    assert second.count("Cached") == 3, second  # every training step from the cache
