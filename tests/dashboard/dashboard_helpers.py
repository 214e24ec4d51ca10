"""Helpers of the dashboard tests: finding Chromium, seeding a live platform."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).parent
DATA = HERE / "data"
API = "/api/v1alpha1"
PASSWORDS = {"alice": "pw-alice-1", "bob": "pw-bob-1", "carol": "pw-carol-1"}
TERMINAL = {"Succeeded", "Failed", "Cancelled"}


def chromium_binary() -> str | None:
    """FLOWYARD_CHROMIUM, else `chromium` (Debian) or `chromium-browser` on PATH."""
    chosen = os.environ.get("FLOWYARD_CHROMIUM")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@dataclass
class Seeded:
    """The live platform and what the fixture put in it."""

    url: str
    admin: httpx.Client
    runs: dict[str, str] = field(default_factory=dict)
    marker: Path | None = None

    def api(self, user: str | None = None) -> httpx.Client:
        if user is None:
            return self.admin
        token = self.admin.post(f"{API}/tokens", json={"user": user}).json()["token"]
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {token}"})

    def get(self, path: str, **params: Any) -> Any:
        answer = self.admin.get(f"{API}{path}", params=params)
        answer.raise_for_status()
        return answer.json()

    def wait_run(self, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run: dict[str, Any] = self.get(f"/runs/{run_id}")
            if run["state"] in TERMINAL:
                return run
            time.sleep(0.1)
        raise TimeoutError(f"run {run_id} did not finish")


def pipeline(target: str) -> dict[str, Any]:
    from flowyard.client.files import load_pipeline

    body: dict[str, Any] = load_pipeline(f"{DATA / 'demo.py'}:{target}").to_dict()
    return body


def inference_graph() -> dict[str, Any]:
    models = DATA / "models.py"

    def arm(name: str, value: int) -> dict[str, Any]:
        return {"name": name, "type": "MODEL", "className": f"{models}:Constant",
                "parameters": [{"name": "value", "value": str(value), "type": "FLOAT"}]}

    return {"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
            "metadata": {"name": "iris", "namespace": "team-a"},
            "spec": {"description": "an echo, and a bandit canary", "predictors": [
                {"name": "main", "traffic": 80,
                 "graph": {"name": "echo", "className": f"{models}:Echo"}},
                {"name": "canary", "traffic": 20, "graph": {
                    "name": "bandit", "implementation": "EPSILON_GREEDY",
                    "parameters": [{"name": "epsilon", "value": "0.2"},
                                   {"name": "seed", "value": 3, "type": "INT"}],
                    "children": [arm("arm0", 0), arm("arm1", 1)]}}]}}


def ok(answer: httpx.Response) -> Any:
    assert answer.status_code < 300, f"{answer.request.url}: {answer.status_code} {answer.text}"
    return answer.json()


def seed(s: Seeded) -> None:
    a = s.admin
    for user, profile in (("alice", "team-a"), ("bob", "team-b"), ("carol", "team-c")):
        ok(a.post(f"{API}/users", json={"name": user, "password": PASSWORDS[user]}))
        ok(a.post(f"{API}/profiles", json={"name": profile, "owner": user}))
    ok(a.put(f"{API}/profiles/team-a/contributors/bob", json={"role": "view"}))
    ok(a.put(f"{API}/namespaces/team-a/inferencegraphs/iris", json=inference_graph()))
    demo = pipeline("demo")
    demo["metadata"]["namespace"] = "team-a"
    ok(a.put(f"{API}/namespaces/team-a/pipelines/demo", json=demo))
    # submitted together (the platform drives them in parallel), waited for at the end
    for key, rows in (("first", 10), ("second", 30)):
        run = ok(a.post(f"{API}/runs", json={"pipeline": demo, "namespace": "team-a",
                                             "parameters": {"rows": rows}}))
        s.runs[key] = run["id"]
    assert s.marker is not None
    live = ok(a.post(f"{API}/runs", json={"pipeline": demo, "namespace": "team-a",
                                          "parameters": {"rows": 50,
                                                         "marker": str(s.marker)}}))
    s.runs["live"] = live["id"]
    bob_demo = pipeline("demo")
    bob_demo["metadata"]["name"] = "bobs-demo"  # bob's own run, which alice must never see
    s.runs["bob"] = ok(a.post(f"{API}/runs", json={"pipeline": bob_demo,
                                                   "namespace": "team-b"}))["id"]
    data = f"{API}/namespaces/team-a/data/repos"
    ok(a.post(data, json={"name": "images", "description": "Training images and labels"}))
    ok(a.post(data, json={"name": "models", "description": "Trained models"}))
    ok(a.put(f"{data}/images/content", params={"path": "/labels/train.csv",
                                                 "message": "first labels"},
              content=b"file,label\na.png,cat\nb.png,dog\n"))
    ok(a.put(f"{data}/images/content", params={"path": "/README.md", "message": "readme"},
              content=b"# Images\n"))
    lineage = ok(a.post(f"{API}/runs", json={"pipeline": pipeline("lineage"),
                                             "namespace": "team-a"}))
    s.runs["lineage"] = lineage["id"]
    for key in ("first", "second", "lineage"):  # bob's run need only exist
        assert s.wait_run(s.runs[key])["state"] == "Succeeded", key
    deadline = time.monotonic() + 60
    while not s.get("/namespaces/team-a/inferencegraphs/iris").get("status", {}).get("ready"):
        assert time.monotonic() < deadline, "the InferenceGraph did not become ready"
        time.sleep(0.1)
