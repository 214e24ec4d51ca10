"""Login, tokens, profiles and sessions, in process (httpx.ASGITransport)."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from pathlib import Path

import pytest
from platform_helpers import Site, pipeline

from flowyard.platform.auth import hash_password, verify_password
from flowyard.platform.session import Throttle

pytestmark = pytest.mark.anyio
API = "/api/v1alpha1"
NS = f"{API}/namespaces"




def test_passwords_are_salted_scrypt() -> None:
    one, two = hash_password("s3cret"), hash_password("s3cret")
    assert one.startswith("scrypt$16384$8$1$") and one != two
    assert verify_password("s3cret", one) and not verify_password("S3cret", one)
    assert not verify_password("s3cret", None) and not verify_password("x", "md5$abc")


async def test_everything_but_health_needs_a_token(site: Site) -> None:
    async with site.client() as anon:
        assert (await anon.get("/healthz")).status_code == 200
        assert (await anon.get("/readyz")).status_code == 200
        for method, path in (("GET", f"{API}/pipelines"), ("GET", f"{API}/runs"),
                             ("PUT", f"{NS}/default/pipelines/x"), ("GET", "/api/openapi.json"),
                             ("GET", f"{API}/whoami"), ("GET", "/no/such/route")):
            answer = await anon.request(method, path)
            assert answer.status_code == 401, (method, path)
            assert answer.headers["www-authenticate"].startswith("Bearer")
            error = answer.json()["error"]
            assert error["code"] == "Unauthorized"
            assert error["message"] == f"{path}: login required"
    async with site.client("fy_0123456789abcdef_forged") as forged:
        answer = await forged.get(f"{API}/pipelines")
        assert answer.status_code == 401
        assert answer.json()["error"]["message"] == f"{API}/pipelines: invalid API token"
    async with site.client(site.admin) as admin:
        assert (await admin.get(f"{API}/whoami")).json()["name"] == "admin"


async def test_identity_headers_from_clients_are_ignored(site: Site) -> None:
    async with site.client(**{"X-Flowyard-User": "admin", "X-Forwarded-User": "admin",
                              "Remote-User": "admin"}) as anon:
        assert (await anon.get(f"{API}/whoami")).status_code == 401
    bob = await site.user("bob")
    async with site.client(bob, **{"X-Flowyard-User": "admin",
                                   "X-Forwarded-User": "admin"}) as forged:
        me = (await forged.get(f"{API}/whoami")).json()
        assert me == {"name": "bob", "admin": False, "profiles": []}
        assert (await forged.get(f"{API}/users")).status_code == 403


async def test_tokens_and_passwords_are_stored_hashed_only(site: Site,
                                                           flowyard_home: Path) -> None:
    token = await site.user("alice", "correct horse battery")
    token_id, secret = token.removeprefix("fy_").split("_", 1)
    dbs = list(flowyard_home.rglob("*.db"))
    assert dbs
    with sqlite3.connect(dbs[0]) as conn:
        rows = conn.execute(
            "SELECT id, digest FROM auth_tokens WHERE user_name='alice'").fetchall()
        hashes = conn.execute("SELECT password_hash FROM auth_users WHERE name='alice'"
                              ).fetchone()
    assert rows == [(token_id, hashlib.sha256(secret.encode()).hexdigest())]
    assert hashes[0].startswith("scrypt$")
    raw = b"".join(p.read_bytes() for p in flowyard_home.rglob("*") if p.is_file()
                   and ".db" in p.name)
    assert secret.encode() not in raw and site.admin.encode().split(b"_")[-1] not in raw
    assert b"correct horse battery" not in raw


async def test_profiles_isolate_resources_and_runs(site: Site) -> None:
    alice = await site.user("alice", profile="team-a")
    bob = await site.user("bob", profile="team-b")
    carol = await site.user("carol")
    async with site.client(alice) as a, site.client(bob) as b, site.client(carol) as c:
        assert (await a.put(f"{NS}/team-a/pipelines/p", json=pipeline("p"))).status_code == 201
        assert (await b.put(f"{NS}/team-b/pipelines/q", json=pipeline("q"))).status_code == 201
        # bob cannot tell team-a's pipeline from a missing one
        hidden = await b.get(f"{NS}/team-a/pipelines/p")
        missing = await b.get(f"{NS}/team-b/pipelines/p")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["error"]["message"] == \
            "Pipeline 'p' not found in namespace 'team-a'"
        assert (await b.get(f"{NS}/team-a/pipelines")).status_code == 404
        assert (await b.put(f"{NS}/team-a/pipelines/p", json=pipeline("p"))).status_code == 404
        assert (await b.delete(f"{NS}/team-a/pipelines/p")).status_code == 404
        names = [i["metadata"]["name"] for i in (await b.get(f"{API}/pipelines")).json()["items"]]
        assert names == ["q"]
        # a namespace with no profile is nobody's but the admins'
        assert (await a.put(f"{NS}/loose/pipelines/p", json=pipeline("p"))).status_code == 404
        # contributors: view reads, edit writes
        added = await a.put(f"{API}/profiles/team-a/contributors/carol", json={"role": "view"})
        assert added.status_code == 200
        assert (await c.get(f"{NS}/team-a/pipelines/p")).status_code == 200
        denied = await c.put(f"{NS}/team-a/pipelines/p", json=pipeline("p"))
        assert denied.status_code == 403
        assert denied.json()["error"]["message"] == \
            "user 'carol' may only view profile 'team-a', not change Pipeline 'p'"
        assert (await c.delete(f"{NS}/team-a/pipelines/p")).status_code == 403
        assert (await c.put(f"{API}/profiles/team-a/contributors/bob",
                            json={"role": "edit"})).status_code == 403
        assert (await b.put(f"{API}/profiles/team-a/contributors/bob",
                            json={"role": "edit"})).status_code == 404
        await a.put(f"{API}/profiles/team-a/contributors/carol", json={"role": "edit"})
        assert (await c.put(f"{NS}/team-a/pipelines/p", json=pipeline("p"))).status_code == 200
        profiles = (await c.get(f"{API}/profiles")).json()["items"]
        assert [(p["name"], p["role"]) for p in profiles] == [("team-a", "edit")]
        assert (await a.delete(f"{API}/profiles/team-a/contributors/carol")).status_code == 200
        assert (await c.get(f"{NS}/team-a/pipelines/p")).status_code == 404
        # runs follow their namespace
        run = await a.post(f"{API}/runs", json={"pipeline": pipeline("p"), "start": False,
                                                "namespace": "team-a"})
        assert run.status_code == 201, run.text
        rid = run.json()["id"]
        assert (await b.post(f"{API}/runs", json={"pipeline": pipeline("p"), "start": False,
                                                  "namespace": "team-a"})).status_code == 404
        for path in (f"{API}/runs/{rid}", f"{API}/runs/{rid}/steps",
                     f"{API}/runs/{rid}/artifacts", f"{API}/runs/{rid}/steps/say/log"):
            answer = await b.get(path)
            assert answer.status_code == 404, path
        assert (await b.get(f"{API}/runs/{rid}")).json()["error"]["message"] == \
            f"run '{rid}' not found"
        assert (await b.post(f"{API}/runs/{rid}/cancel")).status_code == 404
        assert [r["id"] for r in (await a.get(f"{API}/runs")).json()["items"]] == [rid]
        assert (await b.get(f"{API}/runs")).json()["items"] == []
        assert (await b.get(f"{API}/runs", params={"namespace": "team-a"})).status_code == 404


async def test_only_admins_manage_users_and_profiles(site: Site) -> None:
    bob = await site.user("bob", profile="team-b")
    async with site.client(bob) as b, site.client(site.admin) as admin:
        refused = await b.post(f"{API}/profiles", json={"name": "mine"})
        assert refused.status_code == 403
        assert refused.json()["error"]["message"] == \
            "user 'bob' may not create profiles: only admins can"
        assert (await b.post(f"{API}/users", json={"name": "eve"})).status_code == 403
        assert (await b.post(f"{API}/tokens", json={"user": "admin"})).status_code == 403
        own = await b.post(f"{API}/tokens", json={"description": "ci"})
        assert own.status_code == 201 and own.json()["user"] == "bob"
        bad = await admin.post(f"{API}/users", json={"name": "Not Valid"})
        assert bad.status_code == 400
        assert "user name 'Not Valid' is not valid" in bad.json()["error"]["message"]
        role = await admin.put(f"{API}/profiles/team-b/contributors/bob",
                               json={"role": "owner"})
        assert role.status_code == 400
        assert role.json()["error"]["message"] == "role 'owner' is not valid"
        twice = await admin.post(f"{API}/profiles", json={"name": "team-b"})
        assert twice.status_code == 409
        nobody = await admin.post(f"{API}/profiles", json={"name": "x", "owner": "ghost"})
        assert nobody.status_code == 404
        assert "owner 'ghost' of profile 'x' is not a user" in nobody.json()["error"]["message"]


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


async def test_browser_login_session_cookie_and_csrf(site: Site) -> None:
    await site.user("alice", "pw-alice-1", profile="team-a")
    async with site.client() as browser:
        assert (await browser.get("/")).headers["location"] == "/login"
        form = await browser.get("/login")
        assert form.status_code == 200 and "<form" in form.text and "<script" not in form.text
        csrf = _csrf(form.text)
        forged = await browser.post("/login", data={"user": "alice", "password": "pw-alice-1",
                                                    "csrf": "wrong"})
        assert forged.status_code == 403 and "flowyard_session" not in browser.cookies
        wrong = await browser.post("/login", data={"user": "alice", "password": "nope",
                                                   "csrf": csrf})
        assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
        ok = await browser.post("/login", data={"user": "alice", "password": "pw-alice-1",
                                                "csrf": csrf})
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"].lower()
        assert "flowyard_session=" in cookie and "httponly" in cookie
        assert "samesite=lax" in cookie
        assert (await browser.get(f"{API}/whoami")).json()["name"] == "alice"
        # state changes through the cookie need the session's CSRF token
        url = f"{NS}/team-a/pipelines/p"
        refused = await browser.put(url, json=pipeline("p"))
        assert refused.status_code == 403
        assert "missing or wrong CSRF token" in refused.json()["error"]["message"]
        token = _csrf((await browser.get("/")).text)
        put = await browser.put(url, json=pipeline("p"), headers={"X-CSRF-Token": token})
        assert put.status_code == 201
        assert (await browser.post("/logout", data={"csrf": "x"})).status_code == 403
        out = await browser.post("/logout", data={"csrf": token})
        assert out.status_code == 303
        assert (await browser.get(f"{API}/whoami")).status_code == 401
    async with site.client(Cookie="flowyard_session=tampered.value") as forged_cookie:
        assert (await forged_cookie.get(f"{API}/whoami")).status_code == 401


async def test_first_start_link_logs_the_browser_in(site: Site) -> None:
    async with site.client() as browser:
        assert (await browser.get("/login", params={"token": "fy_bad_bad"})).status_code == 401
        answer = await browser.get("/login", params={"token": site.admin})
        assert answer.status_code == 303
        assert (await browser.get(f"{API}/whoami")).json()["admin"] is True


async def test_failed_logins_are_slowed_down(site: Site) -> None:
    await site.user("dave", "pw-dave-1")
    throttle = site.app.state.sessions.throttle = Throttle(base=0.3, free=2)
    async with site.client() as cli:
        body = {"user": "dave", "password": "guess"}
        for _ in range(2):
            assert throttle.delay("user:dave") == 0
            answer = await cli.post(f"{API}/login", json=body)
            assert answer.status_code == 401
            assert answer.json()["error"]["message"] == \
                "wrong user name or password for 'dave'"
        for wait in (0.3, 0.6):
            assert throttle.delay("user:dave") == wait
            started = time.monotonic()
            assert (await cli.post(f"{API}/login", json=body)).status_code == 401
            assert time.monotonic() - started >= wait
        # the client address is throttled too, whichever user it tries
        assert throttle.delay("user:someone-else", "ip:127.0.0.1") == 1.2
        good = await cli.post(f"{API}/login", json={"user": "dave", "password": "pw-dave-1"})
        assert good.status_code == 201
        token = good.json()["token"]
    async with site.client(token) as dave:
        assert (await dave.get(f"{API}/whoami")).json()["name"] == "dave"


async def test_tokens_can_be_revoked_by_their_owner(site: Site) -> None:
    bob = await site.user("bob")
    carol = await site.user("carol")
    bob_id = bob.removeprefix("fy_").split("_", 1)[0]
    async with site.client(carol) as c:
        other = await c.delete(f"{API}/tokens/{bob_id}")
        assert other.status_code == 404
        assert other.json()["error"]["message"] == f"token {bob_id!r} not found"
    async with site.client(bob) as b:
        assert (await b.delete(f"{API}/tokens/{bob_id}")).status_code == 200
        assert (await b.get(f"{API}/whoami")).status_code == 401


async def test_openapi_describes_login_and_profiles(site: Site) -> None:
    async with site.client(site.admin) as admin:
        doc = (await admin.get("/api/openapi.json")).json()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["paths"][f"{API}/login"]["post"]["security"] == []
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert {"put", "delete"} <= set(doc["paths"][
        f"{API}/profiles/{{profile}}/contributors/{{user}}"])
    assert "401" in doc["paths"][f"{API}/runs"]["get"]["responses"]


def test_client_uses_the_stored_login_for_its_own_server_only(flowyard_home: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    from flowyard.client import Client
    from flowyard.client.http import login_file, save_login

    monkeypatch.delenv("FLOWYARD_TOKEN", raising=False)
    path = save_login(flowyard_home, "http://platform.test:8470/", "fy_a_b")
    assert path == login_file(flowyard_home) and path.stat().st_mode & 0o777 == 0o600
    with Client() as stored:
        assert (stored.server, stored.token) == ("http://platform.test:8470", "fy_a_b")
    with Client(server="http://elsewhere.test") as other:
        assert other.token is None
    monkeypatch.setenv("FLOWYARD_TOKEN", "fy_env_token")
    with Client() as env:
        assert (env.server, env.token) == ("http://platform.test:8470", "fy_env_token")


def test_throttle_forgets_old_failures_and_bounds_its_memory() -> None:
    throttle = Throttle(base=1, free=1, window=60)
    throttle.MAX_KEYS = 10
    for i in range(50):
        throttle.failed(f"user:{i}")
    assert len(throttle.failures) <= 11
    assert throttle.delay("user:49") == 1
    throttle.failures["user:49"] = (5, time.monotonic() - 61)
    assert throttle.delay("user:49") == 0


def test_token_lookups_are_cached_briefly(flowyard_home: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid token is looked up once per TOKEN_CACHE_SECONDS; a token removed behind the
    platform's back (another process) stops working when that time is up, and revoking
    through the platform takes effect at once."""
    from flowyard.platform import auth as auth_module
    from flowyard.platform.auth import Auth
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore

    store = MetadataStore.from_settings(Settings(home=flowyard_home))
    platform_auth, elsewhere = Auth(store), Auth(store)
    platform_auth.create_user("erin")
    token = platform_auth.create_token("erin")
    assert platform_auth.cached_token(token) is None
    who = platform_auth.authenticate_token(token)
    assert who is not None and platform_auth.cached_token(token) == who
    token_id = token.removeprefix("fy_").split("_", 1)[0]
    elsewhere.revoke_token(who, token_id)          # another process: this cache does not know
    assert platform_auth.authenticate_token(token) == who
    assert elsewhere.authenticate_token(token) is None
    clock = time.monotonic() + auth_module.TOKEN_CACHE_SECONDS + 0.1
    monkeypatch.setattr(auth_module.time, "monotonic", lambda: clock)
    assert platform_auth.authenticate_token(token) is None     # expired: the store says no
    second = platform_auth.create_token("erin")
    assert platform_auth.authenticate_token(second) is not None
    platform_auth.revoke_token(who, second.removeprefix("fy_").split("_", 1)[0])
    assert platform_auth.authenticate_token(second) is None    # revoked here: at once


async def test_notebook_paths_take_a_same_origin_check_instead_of_our_csrf_token(
        site: Site) -> None:
    """JupyterLab sends its own XSRF header, not ours: cookie requests that change state
    under /notebook/ pass when Origin or Referer is this site, and are refused otherwise."""
    await site.user("nina", "pw-nina-1", profile="team-n")
    async with site.client() as browser:
        csrf = _csrf((await browser.get("/login")).text)
        await browser.post("/login", data={"user": "nina", "password": "pw-nina-1",
                                           "csrf": csrf})
        url = "/notebook/team-n/lab/api/kernels"
        for headers in ({}, {"Origin": "http://evil.test"},
                        {"Referer": "http://evil.test/x"}, {"Origin": "null"}):
            refused = await browser.post(url, headers=headers)
            assert refused.status_code == 403, headers
            assert "CSRF" in refused.json()["error"]["message"]
        for headers in ({"Origin": "http://flowyard.test"},
                        {"Referer": "http://flowyard.test/notebook/team-n/lab/lab"}):
            passed = await browser.post(url, headers=headers)
            assert passed.status_code == 404, (headers, passed.text)  # no such notebook
        # elsewhere the session's token stays the only way
        api = await browser.put(f"{NS}/team-n/pipelines/p", json=pipeline("p"),
                                headers={"Origin": "http://flowyard.test"})
        assert api.status_code == 403
