"""A real platform process: the HTTP client, the CLI with --server, watch, InferenceGraphs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from platform_helpers import DATA, LivePlatform, wait_for

from cli_runner import run_cli
from flowyard.client import Client
from flowyard.errors import Conflict, InvalidInput, NotFound, ResourceInvalid
from flowyard.pipelines.engine import RunEvent


def cli(live: LivePlatform, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--server", live.url, *args, env=live.env)


def test_client_resources_round_trip(live: LivePlatform) -> None:
    body = yaml.safe_load((DATA / "pipeline.yaml").read_text())
    with Client(server=live.url, token=live.token) as client:
        [applied] = client.apply(body)
        assert applied.metadata.generation == 1
        assert client.get("Pipeline", "hello").metadata.labels == {"team": "vision"}
        assert [p.name for p in client.list("Pipeline", labels={"team": "vision"})] == ["hello"]
        assert client.list("Pipeline", labels={"team": "nobody"}) == []
        client.delete("Pipeline", "hello")
        with pytest.raises(NotFound, match=r"Pipeline 'hello' not found in namespace 'default'"):
            client.get("Pipeline", "hello")
        with pytest.raises(InvalidInput, match="unknown kind 'Widget'"):
            client.get("Widget", "x")


def test_server_errors_come_back_as_the_same_classes(live: LivePlatform) -> None:
    with Client(server=live.url, token=live.token) as client:
        transport = client.transport
        bad = yaml.safe_load((DATA / "pipeline.yaml").read_text())
        bad["spec"]["stepz"] = []
        with pytest.raises(ResourceInvalid) as info:
            transport.put_resource("Pipeline", "default", "hello", bad)
        assert [p.field for p in info.value.problems] == ["spec.stepz"]
        with pytest.raises(NotFound, match="run 'nope' not found"):
            client.get_run("nope")
    with Client(server="http://127.0.0.1:9") as offline, \
            pytest.raises(Exception, match=r"cannot reach the Flowyard platform at "
                                           r"http://127\.0\.0\.1:9"):
        offline.runs()


def test_watch_streams_added_modified_deleted(live: LivePlatform) -> None:
    body = yaml.safe_load((DATA / "pipeline.yaml").read_text())
    body["metadata"]["name"] = "watched"
    url = f"{live.url}/api/v1alpha1/namespaces/default/pipelines"
    events: list[tuple[str, str]] = []
    with httpx.Client(timeout=10, headers=live.headers) as http, \
            http.stream("GET", url, params={"watch": "true", "labelSelector": "team"}) as stream:
        lines = stream.iter_lines()

        def next_event() -> tuple[str, dict[str, Any]]:
            kind = ""
            for line in lines:
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    return kind, json.loads(line[6:])
            raise AssertionError("stream ended")

        assert next_event()[0] == "SYNCED"
        http.put(f"{url}/watched", json=body).raise_for_status()
        kind, data = next_event()
        events.append((kind, data["object"]["metadata"]["name"]))
        body["spec"]["parallelism"] = 3
        http.put(f"{url}/watched", json=body).raise_for_status()
        kind, data = next_event()
        events.append((kind, str(data["object"]["metadata"]["generation"])))
        http.delete(f"{url}/watched").raise_for_status()
        kind, data = next_event()
        events.append((kind, data["object"]["metadata"]["name"]))
    assert events == [("ADDED", "watched"), ("MODIFIED", "2"), ("DELETED", "watched")]


def test_pipeline_run_through_the_http_client(live: LivePlatform, tmp_path: Path) -> None:
    seen: list[RunEvent] = []
    with Client(server=live.url, token=live.token) as client:
        run = client.run(f"{DATA / 'gated.py'}:gated",
                         {"count": "4", "marker": str(DATA / "gated.py")},
                         on_event=seen.append, labels={"via": "http"})
        assert run.state == "Succeeded", run.error
        assert run.outputs["result"] == 9
        assert [s.id for s in run.steps] == ["first", "gate"]
        assert any(e.kind == "step" and e.step_id == "gate" and e.state == "Succeeded"
                   for e in seen)
        assert seen[-1].kind == "run" and seen[-1].state == "Succeeded"
        lines = list(client.logs(run.id))
        assert "[first] first 4" in lines and "[gate] waiting at the gate" in lines
        assert run.id in [r.id for r in client.runs(pipeline="gated")]
        with pytest.raises(Conflict, match="only Failed or Cancelled"):
            client.retry(run.id)
        # a run started without waiting, then followed
        pending = client.run(f"{DATA / 'gated.py'}:gated",
                             {"marker": str(DATA / "gated.py")}, wait=False)
        assert pending.wait(timeout=30).state == "Succeeded"


def test_non_finite_floats_travel_through_the_http_client(live: LivePlatform) -> None:
    """httpx refuses `inf` in a JSON body: the client sends the store's marker objects and
    the server reads floats back, so a pipeline with `inf` defaults runs the same remotely."""
    import math

    source = Path(__file__).parents[1] / "cli" / "data" / "cli_inf.py"
    with Client(server=live.url, token=live.token) as client:
        run = client.run(f"{source}:non_finite", {"low": "-inf"})
        assert run.state == "Succeeded", run.error
        # The server ran with the floats (min(inf, inf) is inf); its JSON answers write
        # them as the strings docs/resources.md gives.
        assert run.parameters == {"t": "Infinity", "low": "-Infinity", "odd": "NaN"}
        assert run.outputs["Output"] == "Infinity"
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore

    store = MetadataStore.from_settings(Settings(home=live.home))   # what the server recorded
    try:
        stored = store.get_run(run.id)
        assert stored.parameters["t"] == math.inf and stored.parameters["low"] == -math.inf
        assert math.isnan(stored.parameters["odd"])
    finally:
        store.close()


def test_artifacts_download_over_http(live: LivePlatform, tmp_path: Path) -> None:
    with Client(server=live.url, token=live.token) as client:
        run = client.run(f"{Path(__file__).parents[1] / 'cli' / 'data' / 'cli_basic.py'}:basic",
                         {"count": 3})
        [art] = client.artifacts(run.id)
        assert client.read_artifact(art.id) == b"0\n1\n2"
        dest = client.download_artifact(art.id, tmp_path)
        assert dest == tmp_path / "numbers" and dest.read_bytes() == b"0\n1\n2"
        with pytest.raises(Conflict, match="already exists"):
            client.download_artifact(art.id, tmp_path)


def test_cli_apply_get_describe_delete(live: LivePlatform) -> None:
    applied = cli(live, "apply", "-f", str(DATA / "pipeline.yaml"))
    assert applied.returncode == 0, applied.stderr
    assert "pipeline/hello applied (namespace default, generation 1)" in applied.stdout
    got = cli(live, "get", "pipelines", "-o", "json")
    assert [p["metadata"]["name"] for p in json.loads(got.stdout)] == ["hello"]
    table = cli(live, "get", "Pipeline", "-l", "team=vision")
    assert "hello" in table.stdout and "team=vision" in table.stdout
    described = cli(live, "describe", "pipeline", "hello")
    assert "Name:        hello" in described.stdout and "components:" in described.stdout
    deleted = cli(live, "delete", "-f", str(DATA / "pipeline.yaml"))
    assert "pipeline/hello deleted" in deleted.stdout
    missing = cli(live, "get", "pipeline", "hello")
    assert missing.returncode == 2 and "Pipeline 'hello' not found" in missing.stderr
    bad = cli(live, "apply", "-f", str(DATA / "bad.yaml"))
    assert bad.returncode == 2
    assert "bad.yaml:7: spec.stepz: unknown field 'stepz'" in bad.stderr
    unknown = cli(live, "get", "widgets")
    assert unknown.returncode == 2 and "unknown kind 'widgets'" in unknown.stderr
    runs = cli(live, "runs", "list", "-o", "json")
    assert runs.returncode == 0, runs.stderr


def graph(name: str) -> dict[str, Any]:
    return {"apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
            "metadata": {"name": name},
            "spec": {"predictors": [{"name": "main", "graph": {
                "name": "echo", "className": f"{DATA / 'echo.py'}:Echo"}}]}}


def test_inference_graph_is_served_and_restarted(live: LivePlatform) -> None:
    with Client(server=live.url, token=live.token) as client:
        client.apply(graph("echo"))

        def status() -> dict[str, Any]:
            return dict(client.get("InferenceGraph", "echo").status)

        wait_for(lambda: status().get("ready") is True, 60, "graph ready")
        first = status()
        request = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32",
                               "data": [1.5, 2.5]}]}
        answer = httpx.post(f"{first['url']}/v2/models/echo/infer", json=request, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [1.5, 2.5]
        os.kill(first["pid"], signal.SIGKILL)  # a crash: the controller restarts it
        def restarted() -> bool:
            # One read per poll: two reads could straddle the controller's status writes.
            now = status()
            return now.get("ready") is True and now.get("pid") not in (None, first["pid"])

        wait_for(restarted, 60, "graph restarted")
        second = status()
        assert second["restarts"] == 1
        client.delete("InferenceGraph", "echo")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{second['url']}/v2/health/live", timeout=1)
            except httpx.HTTPError:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the endpoint of a deleted graph still answers")



def test_data_pipeline_runs_on_new_commits(live: LivePlatform) -> None:
    from flowyard.data.repo import DataStore
    from flowyard.settings import Settings

    store = DataStore.from_settings(Settings(home=live.home))
    try:
        store.create_repo("raw")
        pipeline = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "DataPipeline",
                    "metadata": {"name": "copy"},
                    "spec": {"input": {"pfs": {"repo": "raw", "glob": "/*"}},
                             "transform": {"cmd": ["sh", "-c",
                                                   'cp -r "$FLOWYARD_INPUT"/raw/* '
                                                   '"$FLOWYARD_OUTPUT"/']}}}
        with Client(server=live.url, token=live.token) as client:
            with pytest.raises(NotFound, match="input repo 'nope' not found"):
                broken = json.loads(json.dumps(pipeline))
                broken["metadata"]["name"] = "broken"
                broken["spec"]["input"]["pfs"]["repo"] = "nope"
                client.apply(broken)
            client.apply(pipeline)
            store.put_bytes("raw@master:/a.txt", b"A")

            def state() -> dict[str, Any]:
                return dict(client.get("DataPipeline", "copy").status)

            wait_for(lambda: state().get("state") == "Succeeded", 30, "first job")
            first_job = state()["lastJob"]
            assert store.read_bytes("copy@master:/a.txt") == b"A"
            store.put_bytes("raw@master:/b.txt", b"B")
            wait_for(lambda: state().get("lastJob") != first_job, 30, "second job")
            wait_for(lambda: state().get("state") == "Succeeded", 30, "second job done")
            assert store.read_bytes("copy@master:/b.txt") == b"B"
            client.delete("DataPipeline", "copy")
    finally:
        store.close()


def test_log_follow_streams_until_the_run_ends(live: LivePlatform, tmp_path: Path) -> None:
    marker = tmp_path / "gate"
    with Client(server=live.url, token=live.token) as client:
        run = client.run(f"{DATA / 'gated.py'}:gated", {"marker": str(marker)}, wait=False)
        wait_for(lambda: any(s.id == "gate" and s.state == "Running"
                             for s in client.steps(run.id)), 30, "gate running")
        with pytest.raises(Conflict, match="still driven by process"):
            client.resume(run.id, wait=False)
    url = f"{live.url}/api/v1alpha1/runs/{run.id}/steps/gate/log"
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.Client(timeout=30, headers=live.headers) as http, \
            http.stream("GET", url, params={"follow": "true"}) as stream:
        kind = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if kind == "log" and not marker.exists():
                    marker.write_text("open")
    text = "".join(e[1]["text"] for e in events if e[0] == "log")
    assert "waiting at the gate" in text
    assert events[-1] == ("end", {"state": "Succeeded"})


def test_server_option_in_process_leaves_the_environment(
    live: LivePlatform, flowyard_home: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flowyard.cli.main import main

    monkeypatch.setenv("FLOWYARD_TOKEN", live.token)

    with pytest.raises(SystemExit) as info:
        main(["--server", live.url, "get", "inferencegraphs", "-o", "json"])
    assert info.value.code in (0, None)
    assert json.loads(capsys.readouterr().out) == []
    assert "FLOWYARD_SERVER" not in os.environ


def test_a_graph_that_cannot_load_says_why(live: LivePlatform) -> None:
    broken = graph("broken")
    broken["spec"]["predictors"][0]["graph"]["className"] = f"{DATA / 'echo.py'}:Nope"
    with Client(server=live.url, token=live.token) as client:
        client.apply(broken)

        def reason() -> str:
            return str(client.get("InferenceGraph", "broken").status.get("reason", ""))

        wait_for(lambda: "has no class 'Nope'" in reason(), 30, "the reason reported")
        assert client.get("InferenceGraph", "broken").status["ready"] is False
        client.delete("InferenceGraph", "broken")
