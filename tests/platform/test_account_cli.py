"""`flowyard user ...` and `flowyard token ...` against a live platform."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from platform_helpers import API, LivePlatform
from typer.testing import CliRunner

from flowyard.cli.main import app


def fy(live: LivePlatform, token: str, home: Path, *args: str, input: str | None = None
       ) -> tuple[int, str, str]:
    env = {"FLOWYARD_SERVER": live.url, "FLOWYARD_TOKEN": token, "FLOWYARD_HOME": str(home)}
    result = CliRunner().invoke(app, list(args), env=env, input=input)
    # main() prints a FlowyardError for the user; invoked bare, the app raises it
    error = result.stderr + (f"{result.exception} {getattr(result.exception, 'hint', '')}"
                             if result.exception else "")
    return result.exit_code, result.stdout, error


def test_users_and_tokens_through_the_cli(live: LivePlatform, tmp_path: Path) -> None:
    admin = live.token
    code, out, err = fy(live, admin, tmp_path, "user", "create", "frank",
                        "--password", "first-secret")
    assert code == 0, err
    assert "user/frank created" in out
    code, out, _ = fy(live, admin, tmp_path, "user", "list", "-o", "json")
    assert code == 0 and '"frank"' in out
    # a token for frank, made by the admin; frank uses it
    code, out, err = fy(live, admin, tmp_path, "token", "create", "--user", "frank",
                        "--description", "ci")
    assert code == 0, err
    frank = out.strip()
    assert frank.startswith("fy_") and "shown once" in err
    who = httpx.get(f"{live.url}{API}/whoami", headers={"Authorization": f"Bearer {frank}"})
    assert who.status_code == 200 and who.json()["name"] == "frank"
    # frank is no admin: listing users is refused with the server's message
    code, _, err = fy(live, frank, tmp_path, "user", "list")
    assert code != 0 and "admin" in err
    # frank changes his own password (prompted, hidden, confirmed) proving the current one
    code, _, err = fy(live, frank, tmp_path, "user", "set-password", "frank",
                      "--current-password", "wrong", input="new-secret\nnew-secret\n")
    assert code != 0 and "currentPassword" in err
    code, out, err = fy(live, frank, tmp_path, "user", "set-password", "frank",
                        "--current-password", "first-secret",
                        input="new-secret\nnew-secret\n")
    assert code == 0, err
    login = httpx.post(f"{live.url}{API}/login", json={"user": "frank",
                                                       "password": "new-secret"})
    assert login.status_code == 201
    # revoking by the whole token (or its id) stops it at once
    code, out, err = fy(live, frank, tmp_path, "token", "revoke", frank)
    assert code == 0, err
    gone = httpx.get(f"{live.url}{API}/whoami", headers={"Authorization": f"Bearer {frank}"})
    assert gone.status_code == 401
    code, _, err = fy(live, admin, tmp_path, "token", "revoke", "0000000000000000")
    assert code != 0 and "not found" in err
    code, out, err = fy(live, admin, tmp_path, "user", "delete", "frank")
    assert code == 0 and "user/frank deleted" in out, err
    code, _, err = fy(live, admin, tmp_path, "user", "delete", "frank")
    assert code != 0 and "not found" in err


def test_account_commands_need_a_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    for name in ("FLOWYARD_SERVER", "FLOWYARD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["user", "list"], env={"FLOWYARD_HOME": str(tmp_path)})
    assert result.exit_code != 0
    assert "no server is set" in str(result.exception)
