"""`flowyard serve` and `flowyard predict`: a real server process on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from net_helpers import free_port

ENTRY_POINT = Path(sys.executable).parent / "flowyard"
ROW = [5.1, 3.5, 1.4, 0.2]
Cli = Callable[..., Any]




@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def stderr(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with an iris LogisticRegression and a graph serving it."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("serve")
    X, y = load_iris(return_X_y=True)
    joblib.dump(LogisticRegression(max_iter=500, random_state=0).fit(X, y),
                folder / "lr.joblib")
    (folder / "graph.yaml").write_text(yaml.safe_dump({
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
        "metadata": {"name": "iris"},
        "spec": {"predictors": [
            {"name": "main", "traffic": 100, "graph": {
                "name": "classifier", "implementation": "SKLEARN_SERVER",
                "modelUri": "lr.joblib"}},
            {"name": "bandit", "traffic": 0, "graph": {
                "name": "pick", "implementation": "EPSILON_GREEDY",
                "parameters": [{"name": "epsilon", "value": "0.0", "type": "FLOAT"}],
                "children": [
                    {"name": "a", "implementation": "SKLEARN_SERVER", "modelUri": "lr.joblib"},
                    {"name": "b", "implementation": "SKLEARN_SERVER",
                     "modelUri": "lr.joblib"}]}}]}}))
    return folder


def start(graph: Path, home: Path, *extra: str) -> Server:
    port = free_port()
    log = graph.parent / f"serve-{port}.log"
    env = {**os.environ, "FLOWYARD_HOME": str(home)}
    proc = subprocess.Popen([str(ENTRY_POINT), "serve", str(graph), "--port", str(port),
                             *extra], stdout=subprocess.DEVNULL, stderr=log.open("w"),
                            env=env)
    server = Server(f"http://127.0.0.1:{port}", port, proc, log)
    deadline = time.monotonic() + 30
    while "ready in" not in server.stderr():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(server)
            raise RuntimeError(f"flowyard serve did not get ready: {server.stderr()}")
        time.sleep(0.05)
    return server


def stop(server: Server, sig: signal.Signals = signal.SIGINT) -> int:
    if server.proc.poll() is None:
        server.proc.send_signal(sig)
    try:
        return server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
        raise


def assert_stops_cleanly(server: Server, sig: signal.Signals) -> None:
    import httpx

    code = stop(server, sig)
    assert code == 0, server.stderr()  # a clean stop after a graceful shutdown
    assert server.stderr().rstrip().endswith("stopped")
    assert "Traceback" not in server.stderr()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/v2/health/live")


@pytest.fixture(scope="module")
def server(graph_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start(graph_dir / "graph.yaml", tmp_path_factory.mktemp("home"))
    yield running
    # Ctrl-C of a one-worker server, checked on this one rather than on a server started
    # only for it; two workers and SIGTERM: test_ctrl_c_and_sigterm_stop_the_server_cleanly.
    assert_stops_cleanly(running, signal.SIGINT)


def test_serve_prints_the_urls_and_readiness(server: Server) -> None:
    text = server.stderr()
    assert f"{server.url}/v2/models/iris/infer" in text
    assert f"{server.url}/api/v1.0/predictions" in text
    assert "predictors: main 100%, bandit" in text and "Ctrl-C" in text
    assert "ready in" in text


def test_predict_v2_readable_and_json(cli: Cli, server: Server) -> None:
    result = cli("predict", server.url, "iris", "--data", json.dumps([ROW]))
    assert result.code == 0, result.err
    assert "model iris" in result.out and "predict  INT64 [1]  [0]" in result.out
    assert "predictor" in result.out and "main" in result.out
    result = cli("predict", server.url, "classifier", "--data", json.dumps([ROW, ROW]),
                 "-o", "json")
    answer = json.loads(result.out)
    assert answer["model_name"] == "classifier" and answer["outputs"][0]["data"] == [0, 0]


def test_predict_seldon_from_a_file_to_a_predictor_with_feedback(
        cli: Cli, server: Server, tmp_path: Path) -> None:
    body = tmp_path / "req.json"
    body.write_text(json.dumps({"data": {"ndarray": [ROW]}}))
    result = cli("predict", server.url, "--protocol", "seldon", "--data", f"@{body}",
                 "--predictor", "bandit", "--feedback", "1", "-o", "yaml")
    assert result.code == 0, result.err
    answer = yaml.safe_load(result.out)
    assert answer["data"]["ndarray"] == [0] and answer["meta"]["predictor"] == "bandit"
    assert answer["meta"]["routing"]["pick"] in (0, 1)
    assert "feedback sent: reward 1.0" in result.err
    import httpx

    metrics = httpx.get(f"{server.url}/metrics").text
    assert "flowyard_feedback_total" in metrics


def test_predict_errors_from_the_server_name_the_input(cli: Cli, server: Server) -> None:
    result = cli("predict", server.url, "iris", "--data", "[[1, 2, 3]]")
    assert result.code == 2
    assert "400" in result.err and "input-0" in result.err and "[-1, 4]" in result.err
    result = cli("predict", server.url, "nope", "--data", json.dumps([ROW]))
    assert result.code == 2 and "nope" in result.err and "404" in result.err


def test_predict_an_unreachable_server_names_the_url(cli: Cli) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = cli("predict", url, "iris", "--data", json.dumps([ROW]))
    assert result.code == 1
    assert "Cannot reach the server" in result.err
    assert f"{url}/v2/models/iris/infer" in result.err and "flowyard serve" in result.err


def test_predict_in_process_with_graph(cli: Cli, graph_dir: Path) -> None:
    result = cli("predict", "--graph", str(graph_dir / "graph.yaml"), "--data",
                 json.dumps([ROW]), "-o", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["outputs"][0]["data"] == [0]
    result = cli("predict", "--graph", str(graph_dir / "graph.yaml"), "pick", "--data",
                 json.dumps([ROW]), "--feedback", "0.5")
    assert result.code == 0, result.err and "routing" in result.out


@pytest.mark.parametrize(("args", "needle"), [
    (["--data", "[[1, 2"], "--data: not valid JSON at line 1, column 7"),
    (["--data", "@/no/such/file.json"], "'/no/such/file.json' does not exist"),
    (["--data", "[[1]]", "--protocol", "grpc"], "--protocol 'grpc'"),
    ([], "--data is required"),
])
def test_predict_bad_input(cli: Cli, args: list[str], needle: str) -> None:
    result = cli("predict", "http://127.0.0.1:9", "iris", *args)
    assert result.code == 2
    assert needle in result.err


def test_predict_needs_a_url_with_a_scheme(cli: Cli) -> None:
    result = cli("predict", "127.0.0.1:8080", "iris", "--data", "[[1]]")
    assert result.code == 2 and "'127.0.0.1:8080' has no scheme" in result.err
    result = cli("predict", "--data", "[[1]]")
    assert result.code == 2 and "no server URL" in result.err


def test_serve_a_missing_graph_file(cli: Cli, tmp_path: Path) -> None:
    result = cli("serve", str(tmp_path / "nope.yaml"))
    assert result.code == 2
    assert "nope.yaml" in result.err and "does not exist" in result.err


def test_serve_an_invalid_graph_names_file_and_line(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: flowyard.dev/v1alpha1\nkind: InferenceGraph\n"
                   "metadata: {name: g}\nspec:\n  predictors:\n    - name: main\n"
                   "      graph: {name: m, implementation: NO_SUCH_SERVER}\n")
    result = cli("serve", str(bad))
    assert result.code == 2
    assert f"{bad}:7" in result.err and "NO_SUCH_SERVER" in result.err


def test_serve_on_a_port_in_use_names_the_port(cli: Cli, graph_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("serve", str(graph_dir / "graph.yaml"), "--port", str(port))
        assert result.code == 2
        assert f"port {port}" in result.err and "already in use" in result.err
        result = cli("serve", str(graph_dir / "graph.yaml"), "--port", str(free_port()),
                     "--grpc-port", str(port))
        assert result.code == 2 and f"--grpc-port {port}" in result.err


@pytest.mark.parametrize(("sig", "workers"), [(signal.SIGINT, 2), (signal.SIGTERM, 1)])
def test_ctrl_c_and_sigterm_stop_the_server_cleanly(graph_dir: Path, tmp_path: Path,
                                                    sig: signal.Signals, workers: int) -> None:
    import httpx

    server = start(graph_dir / "graph.yaml", tmp_path / "home", "--workers", str(workers))
    # "ready in" is the first worker's; with two, the kernel may hand this request to the
    # other one while it still loads (503), so ask until one says ready.
    deadline = time.monotonic() + 30
    while (ready := httpx.get(f"{server.url}/v2/health/ready").status_code) != 200:
        assert ready == 503 and time.monotonic() < deadline, ready
        time.sleep(0.1)
    assert_stops_cleanly(server, sig)


def test_serve_says_which_model_failed_to_load(tmp_path: Path) -> None:
    graph = tmp_path / "graph.yaml"
    graph.write_text(yaml.safe_dump({
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "InferenceGraph",
        "metadata": {"name": "g"},
        "spec": {"predictors": [{"name": "main", "graph": {
            "name": "clf", "implementation": "SKLEARN_SERVER",
            "modelUri": "run:no-such-run/model"}}]}}))
    port = free_port()
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([str(ENTRY_POINT), "serve", str(graph), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=log.open("w"),
                            env={**os.environ, "FLOWYARD_HOME": str(tmp_path / "home")})
    server = Server(f"http://127.0.0.1:{port}", port, proc, log)
    try:
        deadline = time.monotonic() + 30
        while "NOT READY" not in server.stderr() and time.monotonic() < deadline:
            assert proc.poll() is None, server.stderr()
            time.sleep(0.05)
        text = server.stderr()
        assert "NOT READY: predictor 'main': node 'clf' is failed" in text
        assert "no run 'no-such-run'" in text and "recent runs: none" in text
    finally:
        assert stop(server) == 0
