"""End to end: Notebook resources on a live platform, used only through its gateway.

One real platform process per module; notebooks are real Jupyter servers with real kernels,
reached over HTTP and the kernel websocket at /notebook/<profile>/<name>/ with the
platform's own login. Nothing here holds Jupyter's token.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import websocket
from notebook_helpers import execute
from platform_helpers import LivePlatform, platform_env, start_platform, wait_for

from cli_runner import run_cli

API = "/api/v1alpha1"
pytestmark = pytest.mark.slow

CUSTOM_ENVIRONMENTS = """\
- name: layered
  description: its own virtualenv over the platform's packages
  isolated: true
- name: broken
  description: a package that cannot be installed
  packages: [/nonexistent/flowyard-no-such-package]
  isolated: true
"""


class Team:
    """The live platform and two users, each owning a profile."""

    def __init__(self, live: LivePlatform) -> None:
        self.live = live
        self.url = live.url
        admin = httpx.Client(base_url=live.url, headers=live.headers, timeout=30)
        self.tokens: dict[str, str] = {}
        for user, profile in (("alice", "team-a"), ("bob", "team-b")):
            assert admin.post(f"{API}/users", json={"name": user}).status_code == 201
            made = admin.post(f"{API}/profiles", json={"name": profile, "owner": user})
            assert made.status_code == 201, made.text
            token = admin.post(f"{API}/tokens", json={"user": user}).json()["token"]
            self.tokens[user] = token
        admin.close()

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def http(self, user: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(user), timeout=60)

    def create(self, user: str, profile: str, name: str, **spec: Any) -> dict[str, Any]:
        body = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "Notebook",
                "metadata": {"name": name, "namespace": profile}, "spec": spec}
        with self.http(user) as client:
            answer = client.put(f"{API}/namespaces/{profile}/notebooks/{name}", json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def status(self, user: str, profile: str, name: str) -> dict[str, Any]:
        with self.http(user) as client:
            answer = client.get(f"{API}/namespaces/{profile}/notebooks/{name}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json().get("status") or {})

    def wait_phase(self, user: str, profile: str, name: str, phase: str,
                   timeout: float = 180.0) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reached() -> bool:
            seen.update(self.status(user, profile, name))
            return seen.get("phase") == phase

        try:
            wait_for(reached, timeout, f"{profile}/{name} {phase}")
        except TimeoutError as exc:
            raise AssertionError(f"{profile}/{name} never {phase}: {seen}") from exc
        return seen

    def base(self, profile: str, name: str) -> str:
        return f"{self.url}/notebook/{profile}/{name}/"


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    root = tmp_path_factory.mktemp("nb-platform")
    catalog = root / "environments.yaml"
    catalog.write_text(CUSTOM_ENVIRONMENTS)
    os.environ["FLOWYARD_NOTEBOOK_ENVIRONMENTS"] = str(catalog)
    # Culling and volume retries looked at every 2 s, not every 5: the idle and the
    # one-writer tests wait for those looks. Not shorter: each look at a running server
    # costs the platform ~40 ms of CPU.
    os.environ["FLOWYARD_NOTEBOOK_CHECK_INTERVAL"] = "2"
    try:
        live = start_platform(root / "home")
    finally:
        del os.environ["FLOWYARD_NOTEBOOK_ENVIRONMENTS"]
        del os.environ["FLOWYARD_NOTEBOOK_CHECK_INTERVAL"]
    try:
        yield Team(live)
    finally:
        live.stop()
        assert_no_jupyter_left(root / "home")


def assert_no_jupyter_left(home: Path) -> None:
    """Every Jupyter server the platform started is gone once it stopped."""
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        assert not ("jupyter_server" in cmd and str(home) in cmd), f"left running: {cmd}"


@pytest.fixture(scope="module")
def explore(team: Team) -> dict[str, Any]:
    team.create("alice", "team-a", "explore")
    return team.wait_phase("alice", "team-a", "explore", "Running")


def test_kernel_through_the_gateway(team: Team, explore: dict[str, Any]) -> None:
    assert explore["path"] == "/notebook/team-a/explore/"
    assert explore["url"] == team.base("team-a", "explore")
    assert explore["environment"] == "python" and explore["ready"] is True
    # Only the platform's login: no Jupyter token anywhere in the client's hands.
    result = execute(team.base("team-a", "explore"), "1+1", team.headers("alice"))
    assert result == "2"


def test_client_inside_the_notebook(team: Team, explore: dict[str, Any]) -> None:
    code = (
        "import os, flowyard\n"
        "c = flowyard.Client()\n"
        "names = sorted(n.name for n in c.list('Notebook', 'team-a'))\n"
        "try:\n"
        "    c.list('Notebook', 'team-b'); other = 'visible'\n"
        "except flowyard.errors.NotFound:\n"
        "    other = 'hidden'\n"
        "(names, other, os.environ['FLOWYARD_NAMESPACE'],"
        " c.server == os.environ['FLOWYARD_SERVER'], 'FLOWYARD_NOTEBOOK_SECRET' in os.environ)"
    )
    result = execute(team.base("team-a", "explore"), code, team.headers("alice"))
    assert result == "(['explore'], 'hidden', 'team-a', True, False)"


def test_pipeline_run_from_a_notebook(team: Team, explore: dict[str, Any]) -> None:
    pipeline = Path(__file__).parent.parent / "platform" / "data" / "pipeline.yaml"
    code = ("import flowyard\n"
            f"run = flowyard.Client().run({str(pipeline)!r})\n"
            "(run.state, run.namespace, run.outputs)")
    result = execute(team.base("team-a", "explore"), code, team.headers("alice"))
    assert result.startswith("('Succeeded', 'team-a'"), result
    with team.http("alice") as alice:
        runs = alice.get(f"{API}/runs", params={"namespace": "team-a"}).json()["items"]
    assert [r["state"] for r in runs] == ["Succeeded"]


def test_other_profile_gets_nothing(team: Team, explore: dict[str, Any]) -> None:
    base = team.base("team-a", "explore")
    for path in ("api/kernels", "api/status", "lab", ""):
        answer = requests.get(base + path, headers=team.headers("bob"), timeout=30)
        assert answer.status_code == 404, (path, answer.status_code)
    assert "explore" not in answer.text or "not found" in answer.text
    with pytest.raises(websocket.WebSocketException):
        websocket.create_connection(f"ws://{base[7:]}api/kernels/x/channels",
                                    header=[f"Authorization: Bearer {team.tokens['bob']}"],
                                    timeout=30)
    assert requests.get(base + "api/kernels", timeout=30).status_code == 401  # no login
    with team.http("bob") as bob:
        assert bob.get(f"{API}/namespaces/team-a/notebooks/explore").status_code == 404
        assert bob.post(f"{API}/namespaces/team-a/notebooks/explore/stop").status_code == 404


def test_jupyter_secret_never_reaches_the_browser(team: Team, explore: dict[str, Any]) -> None:
    environ = Path(f"/proc/{explore['pid']}/environ").read_bytes().split(b"\0")
    secret = next(v.split(b"=", 1)[1] for v in environ
                  if v.startswith(b"FLOWYARD_NOTEBOOK_SECRET="))
    page = requests.get(team.base("team-a", "explore") + "lab", headers=team.headers("alice"),
                        timeout=60)
    assert page.status_code == 200 and "jupyter-config-data" in page.text
    assert secret.decode() not in page.text
    with team.http("alice") as alice:
        routes = alice.get(f"{API}/gateway/routes").json()["items"]
    mine = [r for r in routes if r.get("prefix") == "/notebook/team-a/explore/"]
    assert mine and mine[0]["requestHeaders"] == ["Authorization"]
    assert secret.decode() not in str(routes)


def test_stop_start_keeps_workspace_then_restart(team: Team, explore: dict[str, Any]) -> None:
    base = team.base("team-a", "explore")
    alice = team.headers("alice")
    put = requests.put(base + "api/contents/kept.txt", headers=alice, timeout=30,
                       json={"type": "file", "format": "text", "content": "still here"})
    assert put.status_code in (200, 201), put.text
    with team.http("alice") as client:
        assert client.post(f"{API}/namespaces/team-a/notebooks/explore/stop").status_code == 202
        stopped = team.wait_phase("alice", "team-a", "explore", "Stopped")
        assert "stopped by alice" in stopped["message"] and stopped["pid"] is None
        assert requests.get(base + "api/status", headers=alice, timeout=30).status_code == 404
        assert client.post(f"{API}/namespaces/team-a/notebooks/explore/start").status_code == 202
        running = team.wait_phase("alice", "team-a", "explore", "Running")
        got = requests.get(base + "api/contents/kept.txt", headers=alice, timeout=30)
        assert got.status_code == 200 and got.json()["content"] == "still here"
        assert client.post(
            f"{API}/namespaces/team-a/notebooks/explore/restart").status_code == 202
        wait_for(lambda: team.status("alice", "team-a", "explore").get("pid")
                 not in (None, running["pid"]), 120, "a new Jupyter process")
        team.wait_phase("alice", "team-a", "explore", "Running")
        bad = client.post(f"{API}/namespaces/team-a/notebooks/explore/explode")
        assert bad.status_code == 404 and "start, stop, restart" in bad.text


def test_unknown_environment_lists_the_available_ones(team: Team) -> None:
    body = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "Notebook",
            "metadata": {"name": "cobol", "namespace": "team-a"},
            "spec": {"environment": "cobol"}}
    with team.http("alice") as client:
        answer = client.put(f"{API}/namespaces/team-a/notebooks/cobol", json=body)
        assert answer.status_code == 422
        message = answer.json()["error"]["message"]
        assert "spec.environment" in message and "'cobol'" in message
        for name in ("broken", "layered", "python", "pytorch", "scientific", "tensorflow"):
            assert name in message
        assert client.get(f"{API}/namespaces/team-a/notebooks/cobol").status_code == 404
        catalog = {e["name"]: e for e in client.get(f"{API}/notebook-environments")
                   .json()["items"]}
        assert catalog["python"]["local"] == "base"
        assert catalog["broken"]["packages"] == ["/nonexistent/flowyard-no-such-package"]


def test_environment_created_on_first_use(team: Team) -> None:
    team.create("alice", "team-a", "venv", environment="layered")
    seen: list[str] = []
    wait_for(lambda: seen.append(str(team.status("alice", "team-a", "venv").get("phase")))
             or seen[-1] == "Running", 240, "layered notebook Running")
    assert "Preparing" in seen  # progress shows while the virtualenv is made
    venv = team.live.home / "notebook-environments" / "layered"
    assert (venv / ".flowyard-ready").is_file()
    result = execute(team.base("team-a", "venv"), "import sys; sys.prefix",
                        team.headers("alice"))
    assert result == repr(str(venv))
    with team.http("alice") as client:  # one server fewer for the platform to look at
        assert client.delete(f"{API}/namespaces/team-a/notebooks/venv").status_code == 200


def test_environment_that_cannot_be_made_fails_clearly(team: Team) -> None:
    team.create("alice", "team-a", "nopkg", environment="broken")
    failed = team.wait_phase("alice", "team-a", "nopkg", "Failed", timeout=240)
    assert "creating notebook environment 'broken' failed" in failed["message"]
    assert "flowyard-no-such-package" in failed["message"]
    assert not (team.live.home / "notebook-environments" / "broken").exists()


def test_idle_notebook_is_culled_workspace_kept(team: Team) -> None:
    team.create("alice", "team-a", "idle", idleTimeout="2s")
    team.wait_phase("alice", "team-a", "idle", "Running")
    workspace = team.live.home / "notebooks" / "team-a" / "idle" / "workspace"
    (workspace / "notes.txt").write_text("mine")
    stopped = team.wait_phase("alice", "team-a", "idle", "Stopped", timeout=120)
    assert "culled" in stopped["message"] and "idleTimeout 2s" in stopped["message"]
    assert (workspace / "notes.txt").read_text() == "mine"
    with team.http("alice") as client:
        body = client.get(f"{API}/namespaces/team-a/notebooks/idle").json()
        assert "notebooks.flowyard.dev/stopped" in body["metadata"]["annotations"]


def test_delete_stops_revokes_and_keeps_workspace(team: Team) -> None:
    team.create("alice", "team-a", "gone")
    running = team.wait_phase("alice", "team-a", "gone", "Running")
    folder = team.live.home / "notebooks" / "team-a" / "gone"
    with team.http("alice") as client:
        assert client.delete(f"{API}/namespaces/team-a/notebooks/gone/workspace"
                             ).status_code == 409  # still exists
        assert client.delete(f"{API}/namespaces/team-a/notebooks/gone").status_code == 200
        wait_for(lambda: not Path(f"/proc/{running['pid']}").exists(), 60, "Jupyter gone")
        with httpx.Client(base_url=team.url, headers=team.live.headers) as admin:
            wait_for(lambda: "nb.team-a.gone" not in str(admin.get(f"{API}/users").json()),
                     30, "service user removed")
        assert (folder / "workspace").is_dir()
        assert client.delete(f"{API}/namespaces/team-a/notebooks/gone/workspace"
                             ).status_code == 200
        assert not folder.exists()


def test_jupyter_that_fails_to_start_shows_the_log_tail(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("nb-broken") / "home"
    os.environ["FLOWYARD_NOTEBOOK_JUPYTER_ARGS"] = "--bogus-flag"
    try:
        live = start_platform(home)
    finally:
        del os.environ["FLOWYARD_NOTEBOOK_JUPYTER_ARGS"]
    try:
        body = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "Notebook",
                "metadata": {"name": "broken", "namespace": "default"}}
        with httpx.Client(base_url=live.url, headers=live.headers, timeout=30) as admin:
            assert admin.put(f"{API}/namespaces/default/notebooks/broken",
                             json=body).status_code == 201
            seen: dict[str, Any] = {}

            def failed() -> bool:
                seen.update(admin.get(f"{API}/namespaces/default/notebooks/broken")
                             .json().get("status") or {})
                return seen.get("phase") == "Failed"

            wait_for(failed, 120, "Failed")
            assert "failed to start" in seen["message"]
            assert "bogus-flag" in seen["message"] and "server.log" in seen["message"]
    finally:
        live.stop()
        assert_no_jupyter_left(home)


def cli(team: Team, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**platform_env(team.live.home / "cli-home"), "FLOWYARD_SERVER": team.url,
           "FLOWYARD_TOKEN": team.tokens[user], "FLOWYARD_NAMESPACE": "team-a",
           "COLUMNS": "200"}
    return run_cli("notebook", *args, env=env)


def test_cli_lifecycle(team: Team) -> None:
    made = cli(team, "alice", "create", "cli-nb", "--env", "python", "--idle-timeout", "1h")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == (f"notebook/cli-nb running in team-a: "
                                   f"{team.base('team-a', 'cli-nb')}")
    listed = cli(team, "alice", "list")
    line = next(ln for ln in listed.stdout.splitlines() if "cli-nb" in ln)
    assert "team-a" in line and "python" in line and "Running" in line
    opened = cli(team, "alice", "open", "cli-nb")
    assert opened.returncode == 0 and opened.stdout.strip() == team.base("team-a", "cli-nb")
    assert cli(team, "alice", "stop", "cli-nb").stdout.strip() == \
        "notebook/cli-nb stopped (workspace kept)"
    assert "Stopped" in cli(team, "alice", "list").stdout
    started = cli(team, "alice", "start", "cli-nb")
    assert started.returncode == 0 and "running in team-a" in started.stdout
    assert cli(team, "alice", "restart", "cli-nb").returncode == 0
    gone = cli(team, "alice", "delete", "cli-nb", "--purge")
    assert gone.returncode == 0 and gone.stdout.strip() == "notebook/cli-nb deleted"
    wait_for(lambda: not (team.live.home / "notebooks" / "team-a" / "cli-nb").exists(), 30,
             "workspace purged")


def test_cli_bad_input(team: Team) -> None:
    bad_env = cli(team, "alice", "create", "x", "--env", "cobol", "--no-wait")
    assert bad_env.returncode != 0
    assert "spec.environment" in bad_env.stderr and "'cobol'" in bad_env.stderr
    assert "python, pytorch, scientific, tensorflow" in bad_env.stderr
    # The platform's catalog has entries this CLI process does not know: they still work.
    custom = cli(team, "alice", "create", "custom", "--env", "layered", "--no-wait")
    assert custom.returncode == 0, custom.stderr
    listed = cli(team, "alice", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert {"custom": "layered"}.items() <= {
        n["metadata"]["name"]: n["spec"].get("environment") for n in json.loads(listed.stdout)
    }.items()
    assert cli(team, "alice", "delete", "custom").returncode == 0
    bad_idle = cli(team, "alice", "create", "x", "--idle-timeout", "banana", "--no-wait")
    assert bad_idle.returncode != 0 and "idleTimeout" in bad_idle.stderr
    assert "banana" in bad_idle.stderr
    missing = cli(team, "bob", "open", "explore", "-n", "team-a")
    assert missing.returncode != 0 and "not found" in missing.stderr
    with team.http("alice") as client:  # nothing was stored by the failed commands
        assert client.get(f"{API}/namespaces/team-a/notebooks/x").status_code == 404


def test_platform_killed_starts_its_notebooks_again(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("nb-kill") / "home"
    live = start_platform(home)
    try:
        body = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "Notebook",
                "metadata": {"name": "survivor", "namespace": "default"}}
        path = f"{API}/namespaces/default/notebooks/survivor"

        def running(client: httpx.Client, old: int | None = None) -> dict[str, Any]:
            seen: dict[str, Any] = {}

            def check() -> bool:  # the status the killed platform left says Running too
                seen.update(client.get(path).json().get("status") or {})
                return seen.get("phase") == "Running" and seen.get("pid") != old

            wait_for(check, 180, "survivor Running")
            return seen

        with httpx.Client(base_url=live.url, headers=live.headers, timeout=30) as admin:
            assert admin.put(path, json=body).status_code == 201
            first = running(admin)
        (home / "notebooks" / "default" / "survivor" / "workspace" / "a.txt").write_text("x")
        live.kill()
        # The parent-death signal takes Jupyter down with the platform.
        wait_for(lambda: not Path(f"/proc/{first['pid']}").exists(), 30, "Jupyter gone")
        live = start_platform(home)
        with httpx.Client(base_url=live.url, headers=live.headers, timeout=30) as admin:
            again = running(admin, old=first["pid"])
        assert Path(f"/proc/{again['pid']}").exists()
        result = execute(f"{live.url}/notebook/default/survivor/",
                            "open('a.txt').read()", live.headers)
        assert result == "'x'"
    finally:
        live.stop()
        assert_no_jupyter_left(home)


def test_workspace_volume_has_one_writer(team: Team) -> None:
    from flowyard.volumes.folders import volume_path

    volume = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "Volume",
              "metadata": {"name": "team-ws", "namespace": "team-a"}, "spec": {"size": "1Gi"}}
    with team.http("alice") as client:
        path = f"{API}/namespaces/team-a/volumes/team-ws"
        assert client.put(path, json=volume).status_code == 201
        wait_for(lambda: (client.get(path).json().get("status") or {}).get("phase") == "Ready",
                 60, "volume Ready")
    team.create("alice", "team-a", "ws-one", workspace="team-ws")
    team.wait_phase("alice", "team-a", "ws-one", "Running")
    folder = volume_path(team.live.home, "team-a", "team-ws")
    cwd = execute(team.base("team-a", "ws-one"), "import os; os.getcwd()",
                     team.headers("alice"))
    assert cwd == repr(str(folder))  # Jupyter's root_dir is the volume
    team.create("alice", "team-a", "ws-two", workspace="team-ws")
    refused = team.wait_phase("alice", "team-a", "ws-two", "Failed", timeout=60)
    assert "notebook/ws-one" in refused["message"] and "team-ws" in refused["message"]
    with team.http("alice") as client:
        assert client.delete(f"{API}/namespaces/team-a/notebooks/ws-one").status_code == 200
    team.wait_phase("alice", "team-a", "ws-two", "Running")  # retried once it was released
    with team.http("alice") as client:
        assert client.delete(f"{API}/namespaces/team-a/notebooks/ws-two").status_code == 200
