"""Browser tests: a real server in a thread and headless Chromium through Playwright."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def server(tmp_path, _databases) -> Iterator[tuple[str, object]]:
    """The app on 127.0.0.1 (a free port) with a fresh SQLite database of its own (a copy of
    the session's migrated one, tests/conftest.py); yields (url, app)."""
    from web import create_app

    app = create_app({"WF_OVERRIDES": {"database.url": _databases.sqlite(tmp_path, migrated=True),
                                       "paths.uploads": str(tmp_path / "uploads")}})
    with serving(app) as base:
        yield base, app


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(5)
        srv.server_close()
        app.extensions["services"].database.engine.dispose()


@pytest.fixture(scope="session")
def playwright():
    """Playwright's driver, started once per test process: its sync API runs one at a time
    in a thread, so every browser of the session is launched from this one."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: install it with 'apt-get install chromium' (scripts/test does as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[test]')")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def chromium(playwright):
    """One headless Chromium per test process (launching one takes a second or two)."""
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def browser(chromium):
    """The process's Chromium, with no browser context open: a test's pages live in contexts
    of their own (cookies, storage, cache), and whatever contexts it opened are closed after
    it, so the next test starts as on a freshly launched browser."""
    assert not chromium.contexts, "a previous test left a browser context open"
    try:
        yield chromium
    finally:
        for ctx in chromium.contexts:
            ctx.close()

def login(browser, base: str, user: str, password: str, *, width: int = 1280, height: int = 900, **context):
    """A page of a fresh browser context signed in as ``user`` (zh-CN), on the inbox;
    ``context`` adds options of the context (a phone's user agent, touch, time zone)."""
    ctx = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height}, **context)
    page = ctx.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    page.wait_for_url(base + "/")
    return page
