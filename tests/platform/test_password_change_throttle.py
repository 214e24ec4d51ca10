"""A user changing its own password proves the current one: a wrong guess there is slowed
down like a failed login, by the same limiter (keyed by user and by client address)."""

from __future__ import annotations

import time

import pytest
from platform_helpers import API, Site

from flowyard.platform.session import Throttle

pytestmark = pytest.mark.anyio


async def test_wrong_current_passwords_slow_down_like_failed_logins(site: Site) -> None:
    token = await site.user("erin", "erin-pass-1")
    throttle = site.app.state.sessions.throttle = Throttle(base=0.2, free=2)
    url = f"{API}/users/erin/password"
    async with site.client(token) as erin, site.client() as anon:
        waits = []
        for _ in range(4):
            t0 = time.monotonic()
            wrong = await erin.put(url, json={"password": "new-pass",
                                              "currentPassword": "guess"})
            waits.append(time.monotonic() - t0)
            assert wrong.status_code == 403, wrong.text
            assert "currentPassword" in wrong.json()["error"]["message"]
        # the first two are free, then 0.2 s, 0.4 s: no unthrottled guessing oracle
        assert waits[0] < 0.2 and waits[2] >= 0.2 and waits[3] >= 0.4, waits
        # one limiter: the guesses count against logins as this user and from this client
        assert throttle.delay("user:erin") >= 0.8
        assert throttle.delay("user:someone-else", "ip:127.0.0.1") >= 0.8
        t0 = time.monotonic()
        login = await anon.post(f"{API}/login", json={"user": "erin", "password": "nope"})
        assert login.status_code == 401 and time.monotonic() - t0 >= 0.8
        # the right current password still works (after the wait) and clears the record
        right = await erin.put(url, json={"password": "erin-pass-2",
                                          "currentPassword": "erin-pass-1"})
        assert right.status_code == 200, right.text
        assert throttle.delay("user:erin") == 0
        again = await anon.post(f"{API}/login", json={"user": "erin",
                                                      "password": "erin-pass-2"})
        assert again.status_code == 201


async def test_an_admin_setting_a_password_is_not_a_guess(site: Site) -> None:
    """Admins need no currentPassword, so nothing is checked and nothing is counted."""
    await site.user("fay", "fay-pass-1")
    throttle = site.app.state.sessions.throttle = Throttle(base=0.2, free=2)
    async with site.client(site.admin) as admin:
        for i in range(4):
            done = await admin.put(f"{API}/users/fay/password",
                                   json={"password": f"fay-pass-{i + 2}"})
            assert done.status_code == 200, done.text
    assert throttle.failures == {}
