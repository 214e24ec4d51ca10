"""Dashboard tests: a real platform, real pipeline runs, and headless Chromium driven by
Playwright's sync API (Debian's `chromium`, never a browser Playwright downloads).

Without a Chromium binary or the playwright package the tests skip, saying which is missing.
One browser and one platform, seeded once, for the browser tests' module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_helpers import HERE, PASSWORDS, Seeded, chromium_binary, seed


@pytest.fixture(scope="session")
def chromium() -> str:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no Chromium found (FLOWYARD_CHROMIUM, or `chromium` / `chromium-browser` "
                    "on PATH): install Debian's chromium (`apt-get install chromium`; CI does, "
                    "see .ci/run) to run the dashboard's browser tests")
    pytest.importorskip("playwright.sync_api",
                        reason="the playwright package is missing: pip install -e '.[test]'")
    return binary


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """One Chromium for the browser tests (they live in one module). Module scope, not
    session: Playwright's sync API keeps an event loop on this thread while it runs, and
    the async tests of other modules need the thread free."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield chrome
        finally:
            chrome.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FLOWYARD_SCREENSHOTS, or a folder under pytest's tmp dir."""
    chosen = os.environ.get("FLOWYARD_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[Seeded]:
    """alice owns team-a (bob may view it), carol owns team-c; team-a has the `demo`
    pipeline with two finished runs and one waiting at a marker file, data repos with a
    lineage run, and a served InferenceGraph."""
    sys.path.insert(0, str(HERE.parent / "platform"))
    try:
        from platform_helpers import start_platform
    finally:
        sys.path.remove(str(HERE.parent / "platform"))
    root = tmp_path_factory.mktemp("dashboard")
    live = start_platform(root / "home")
    admin = httpx.Client(base_url=live.url, headers=live.headers, timeout=30)
    seeded = Seeded(live.url, admin, marker=root / "marker")
    try:
        seed(seeded)
        yield seeded
    finally:
        admin.close()
        live.stop()


@pytest.fixture(scope="module")
def login(browser: Any, seeded: Seeded,
          screenshots: Path) -> Iterator[Callable[[str], Any]]:
    """login(user) -> a page of a fresh browser context, logged in through the form."""
    contexts: list[Any] = []

    def open_as(user: str) -> Any:
        context = browser.new_context(viewport={"width": 1440, "height": 900},
                                      accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        page.goto(f"{seeded.url}/login")
        if not contexts[1:]:
            page.screenshot(path=str(screenshots / "00-login.png"))
        page.fill("input[name=user]", user)
        page.fill("input[name=password]", PASSWORDS[user])
        page.click("form button")
        page.wait_for_url(f"{seeded.url}/")
        page.wait_for_selector(".page[data-ready=true]")
        return page

    yield open_as
    for context in contexts:
        context.close()
