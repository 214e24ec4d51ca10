"""A real `flowyard up`: the first-start login link, `flowyard login`, profiles from the CLI."""

from __future__ import annotations

import json
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
from platform_helpers import platform_env, wait_for

from cli_runner import run_cli
from flowyard.client import Client
from flowyard.errors import FlowyardError

API = "/api/v1alpha1"


def test_first_up_prints_a_token_that_logs_in(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "laptop"
    env = platform_env(home)
    out = tmp_path / "up.out"
    with open(out, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "flowyard.cli.main", "up", "--port",
                                 "0", "--log-level", "warning"], env=env, stdout=sink,
                                stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "--token" in out.read_text(), 30, "first-start token printed")
        text = out.read_text()
        found = re.search(r"flowyard login (http://127\.0\.0\.1:\d+) --token (fy_\S+)", text)
        assert found, text
        url, token = found.groups()
        assert f"{url}/login?token={token}" in text
        assert (home / "platform" / "initial-admin-token").stat().st_mode & 0o777 == 0o600

        assert httpx.get(f"{url}{API}/pipelines").status_code == 401
        assert httpx.get(f"{url}/healthz").status_code == 200

        def flowyard(*args: str, home_dir: Path = elsewhere) -> subprocess.CompletedProcess[str]:
            return run_cli(*args, env=platform_env(home_dir))

        bad = flowyard("login", url, "--token", "fy_0000000000000000_nope")
        assert bad.returncode != 0 and "invalid API token" in bad.stderr
        assert not (elsewhere / "login.json").exists()
        login = flowyard("login", url, "--token", token)
        assert login.returncode == 0, login.stderr
        assert f"Logged in to {url} as admin (admin)" in login.stdout
        stored = elsewhere / "login.json"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert json.loads(stored.read_text()) == {"server": url, "token": token}

        # no --server: the stored login is used, by the CLI and by Client()
        made = flowyard("profile", "create", "team-a")
        assert made.returncode == 0, made.stderr
        assert "profile/team-a created (owner admin)" in made.stdout
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
            http.post(f"{API}/users", json={"name": "bob", "password": "pw-bob-1"}
                      ).raise_for_status()
        added = flowyard("profile", "add-contributor", "team-a", "bob", "--role", "view")
        assert added.returncode == 0, added.stderr
        listed = flowyard("profile", "list")
        assert re.search(r"team-a\s+admin\s+owner\s+bob\(view\)", listed.stdout), listed.stdout
        assert flowyard("profile", "remove-contributor", "team-a", "bob").returncode == 0
        gone = flowyard("profile", "remove-contributor", "team-a", "bob")
        assert gone.returncode == 2
        assert "'bob' is not a contributor of profile 'team-a'" in gone.stderr

        # a password login from another machine's home gets its own token
        bobs = tmp_path / "bob"
        as_bob = flowyard("login", url, "-u", "bob", "--password", "pw-bob-1", home_dir=bobs)
        assert as_bob.returncode == 0 and "as bob" in as_bob.stdout, as_bob.stderr
        wrong = flowyard("login", url, "-u", "bob", "--password", "nope", home_dir=bobs)
        assert wrong.returncode != 0 and "wrong user name or password" in wrong.stderr
        denied = flowyard("profile", "create", "bobs", home_dir=bobs)
        assert denied.returncode != 0 and "only admins can" in denied.stderr
        bob_token = json.loads((bobs / "login.json").read_text())["token"]
        with Client(server=url, token=bob_token) as client:
            try:
                client.get("Pipeline", "x", namespace="team-a")
            except FlowyardError as exc:
                assert "Pipeline 'x' not found in namespace 'team-a'" in str(exc)
            else:
                raise AssertionError("bob read team-a")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)

    # the second start creates nothing and prints no token
    out.write_bytes(b"")
    with open(out, "wb") as sink:
        again = subprocess.Popen([sys.executable, "-m", "flowyard.cli.main", "up", "--port",
                                  "0", "--log-level", "warning"], env=env, stdout=sink,
                                 stderr=subprocess.STDOUT)
    try:
        wait_for((home / "platform" / "server.json").exists, 30, "second start")
    finally:
        again.send_signal(signal.SIGINT)
        again.wait(15)
    assert "--token" not in out.read_text()
