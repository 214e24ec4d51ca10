"""Issue 5 follow-ups: 422 for invalid resources, the login line of `up --detach`, and
deleting users and setting passwords through the account API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from platform_helpers import LivePlatform, Site, admin_token, pipeline, platform_env

from flowyard.client.http import HttpTransport
from flowyard.errors import InvalidInput, ResourceInvalid
from flowyard.platform.codec import decode_error

API = "/api/v1alpha1"
NS = f"{API}/namespaces"




# -- 1: invalid resources are 422 --------------------------------------------------------------
@pytest.mark.anyio
async def test_invalid_resource_is_422_and_other_bad_input_400(site: Site) -> None:
    body = pipeline()
    body["spec"]["parallelism"] = "lots"
    async with site.client(site.admin) as api:
        answer = await api.put(f"{NS}/default/pipelines/hello", json=body)
        assert answer.status_code == 422
        err = answer.json()["error"]
        assert err["code"] == "ResourceInvalid" and err["message"]
        problem = {p["field"]: p for p in err["problems"]}["spec.parallelism"]
        assert problem["value"] == "lots"
        posted = await api.post(f"{NS}/default/pipelines", json=pipeline("Bad_Name"))
        assert posted.status_code == 422
        assert posted.json()["error"]["problems"][0]["field"] == "metadata.name"
        query = await api.get(f"{NS}/default/pipelines", params={"limit": "x"})
        assert query.status_code == 400 and "limit='x'" in query.json()["error"]["message"]
        not_json = await api.put(f"{NS}/default/pipelines/hello", content=b"{")
        assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]["message"]
        doc = (await api.get("/api/openapi.json")).json()
        put = doc["paths"][f"{NS}/{{namespace}}/pipelines/{{name}}"]["put"]
        assert "422" in put["responses"]


@pytest.mark.anyio
async def test_the_client_maps_422_back_to_resource_invalid(site: Site) -> None:
    body = pipeline()
    body["spec"]["parallelism"] = "lots"
    async with site.client(site.admin) as api:
        answer = await api.put(f"{NS}/default/pipelines/hello", json=body)
    err = decode_error(answer.status_code, answer.json(), "PUT hello")
    assert isinstance(err, ResourceInvalid)
    assert [p.field for p in err.problems] == ["spec.parallelism"]
    assert err.problems[0].value == "lots" and err.exit_code == 2
    # A 422 without a code or problems still decodes as bad input, not a crash.
    bare = decode_error(422, {"error": {"message": "spec.x: wrong"}}, "PUT x")
    assert isinstance(bare, InvalidInput) and "spec.x: wrong" in str(bare)


def test_http_client_raises_resource_invalid_on_422(live: LivePlatform) -> None:
    body = pipeline()
    body["spec"]["parallelism"] = "lots"
    http = HttpTransport(live.url, token=live.token)
    try:
        with pytest.raises(ResourceInvalid) as caught:
            http.put_resource("Pipeline", "default", "hello", body)
    finally:
        http.close()
    assert [p.field for p in caught.value.problems] == ["spec.parallelism"]
    assert caught.value.problems[0].value == "lots" and caught.value.exit_code == 2


def test_cli_apply_of_an_invalid_file_exits_2_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    body = pipeline()
    body["spec"]["parallelism"] = "lots"
    bad.write_text(yaml.safe_dump(body, sort_keys=False))
    env = platform_env(tmp_path / "home")
    env["FLOWYARD_SERVER"] = "http://127.0.0.1:9"  # never reached: validated first
    result = subprocess.run([sys.executable, "-m", "flowyard.cli.main", "apply", "-f",
                             str(bad)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1)
                if "parallelism" in text)
    assert f"{bad}:{line}" in result.stderr and "lots" in result.stderr


# -- 2: up --detach prints the first login line -------------------------------------------------
def test_up_detach_prints_the_first_login_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = platform_env(home)

    def flowyard(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "flowyard.cli.main", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    up = flowyard("up", "--detach", "--port", "0")
    assert up.returncode == 0, up.stderr
    try:
        token = admin_token(home)
        assert "First start: created the admin user 'admin'" in up.stdout
        assert f"--token {token}" in up.stdout
        assert str(home / "platform" / "initial-admin-token") in up.stdout
        # The line comes after the server is ready: the URL it names answers.
        url = up.stdout.split("running at ", 1)[1].split(" ", 1)[0]
        assert f"flowyard login {url} --token" in up.stdout
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    finally:
        assert flowyard("down").returncode == 0
    again = flowyard("up", "--detach", "--port", "0")
    try:
        assert again.returncode == 0, again.stderr
        assert "running at" in again.stdout and "First start" not in again.stdout
        assert token not in again.stdout
    finally:
        assert flowyard("down").returncode == 0


# -- 3: delete users, set passwords -------------------------------------------------------------
@pytest.mark.anyio
async def test_admin_deletes_a_user_and_its_tokens_stop_working(site: Site) -> None:
    bob = await site.user("bob", "bob-pass-1", profile="team-b")
    carol = await site.user("carol")
    async with site.client(bob) as b, site.client(carol) as c, \
            site.client(site.admin) as admin:
        assert (await b.get(f"{API}/whoami")).status_code == 200
        refused = await c.delete(f"{API}/users/bob")
        assert refused.status_code == 403
        assert refused.json()["error"]["message"] == \
            "user 'carol' may not delete user 'bob': only admins can"
        self_delete = await b.delete(f"{API}/users/bob")
        assert self_delete.status_code == 403
        gone = await admin.delete(f"{API}/users/bob")
        assert gone.status_code == 200, gone.text
        assert gone.json() == {"name": "bob", "status": "deleted",
                               "profilesTransferred": ["team-b"], "newOwner": "admin"}
        denied = await b.get(f"{API}/whoami")
        assert denied.status_code == 401 and "invalid API token" in \
            denied.json()["error"]["message"]
        login = await b.post(f"{API}/login", json={"user": "bob", "password": "bob-pass-1"})
        assert login.status_code == 401
        users = [u["name"] for u in (await admin.get(f"{API}/users")).json()["items"]]
        assert "bob" not in users
        owners = {p["name"]: p["owner"]
                  for p in (await admin.get(f"{API}/profiles")).json()["items"]}
        assert owners["team-b"] == "admin"
        again = await admin.delete(f"{API}/users/bob")
        assert again.status_code == 404 and "'bob'" in again.json()["error"]["message"]
        last = await admin.delete(f"{API}/users/admin")
        assert last.status_code == 409 and "'admin'" in last.json()["error"]["message"]


@pytest.mark.anyio
async def test_the_last_admin_cannot_be_deleted_by_another(site: Site) -> None:
    root = await site.user("root", admin=True)
    async with site.client(root) as r:
        gone = await r.delete(f"{API}/users/admin")
        assert gone.status_code == 200, gone.text
        last = await r.delete(f"{API}/users/root")
        assert last.status_code == 409
        assert "'root'" in last.json()["error"]["message"]


@pytest.mark.anyio
async def test_setting_passwords(site: Site) -> None:
    bob = await site.user("bob", "old-pass-1")
    carol = await site.user("carol", "carol-pass")
    url = f"{API}/users/bob/password"
    async with site.client(bob) as b, site.client(carol) as c, \
            site.client(site.admin) as admin, site.client() as anon:
        other = await c.put(url, json={"password": "x", "currentPassword": "carol-pass"})
        assert other.status_code == 403
        assert "'carol' may not set the password of user 'bob'" in \
            other.json()["error"]["message"]
        missing = await b.put(url, json={"password": "new-pass-2"})
        assert missing.status_code == 400
        assert "'currentPassword'" in missing.json()["error"]["message"]
        wrong = await b.put(url, json={"password": "new-pass-2", "currentPassword": "nope"})
        assert wrong.status_code == 403
        assert "currentPassword" in wrong.json()["error"]["message"]
        empty = await b.put(url, json={"password": "", "currentPassword": "old-pass-1"})
        assert empty.status_code == 400 and "'password'" in empty.json()["error"]["message"]
        own = await b.put(url, json={"password": "new-pass-2", "currentPassword": "old-pass-1"})
        assert own.status_code == 200, own.text
        old = await anon.post(f"{API}/login", json={"user": "bob", "password": "old-pass-1"})
        assert old.status_code == 401
        new = await anon.post(f"{API}/login", json={"user": "bob", "password": "new-pass-2"})
        assert new.status_code == 201, new.text
        reset = await admin.put(url, json={"password": "reset-pass-3"})
        assert reset.status_code == 200
        login = await anon.post(f"{API}/login",
                                json={"user": "bob", "password": "reset-pass-3"})
        assert login.status_code == 201
        ghost = await admin.put(f"{API}/users/ghost/password", json={"password": "x"})
        assert ghost.status_code == 404 and "'ghost'" in ghost.json()["error"]["message"]
