"""Fixtures of the web tests: a live server, headless Chromium, and page helpers.

Two kinds of test live here:

* view tests through the Flask test client (``client``, ``world`` from
  ``tests/conftest.py``; they run on SQLite and PostgreSQL), with :class:`Pages`
  (fixture ``pages``) to sign in and send forms with their CSRF token;
* browser tests, marked ``browser`` (``pytest -m browser``), that drive Debian's
  Chromium through Playwright against :func:`live_server`: a real HTTP server on
  127.0.0.1 in a thread, one per test session (per xdist worker), on a fresh
  instance holding the people of ``World`` (password :data:`PASSWORD`).

Browser fixtures: ``page`` (a new context per test, Chinese by default, failing the
test on any Content-Security-Policy violation), ``login(page, "cityadmin")``,
``screenshots(page, "admin-orgs")`` (the current page in both languages, written to
``KEJIAN_SCREENSHOTS_DIR`` or ``tests/web/screenshots/``), ``page_weight(page)`` and
``critical_path(page)`` (what the page fetched before it could be used, against the
budget of a rural school's slow link).

Chromium is ``/usr/bin/chromium`` (``KEJIAN_CHROMIUM`` to change it), installed by
``.ci/run``; Playwright never downloads a browser here.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from werkzeug.serving import make_server

from config.settings import load_settings
from tests.conftest import CORPUS, World

PASSWORD = "correct horse battery"
CHROMIUM = os.environ.get("KEJIAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get("KEJIAN_SCREENSHOTS_DIR") or Path(__file__).parent / "screenshots"
)
TRANSLATIONS = Path(__file__).resolve().parents[2] / "repo_app" / "translations"
#: Cookie of the language switch (repo_app.web.i18n.COOKIE).
LANG_COOKIE = "kejian_lang"


# -- catalogues ----------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogues() -> None:
    """Compile a ``.po`` newer than its ``.mo`` (``make translations`` does the same),
    so that ``pytest tests/web`` right after editing a catalogue tests the edit."""
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh)
        tmp = mo.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        tmp.replace(mo)  # atomic: xdist workers may compile at once


# -- view tests (Flask test client) --------------------------------------------------


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in *html*."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


class Pages:
    """Action helpers over the test client for the pages: what a browser would send."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def submit(
        self, path: str, data: dict[str, Any], *, page: str | None = None
    ) -> Any:
        """Open *page* (default *path*), take its CSRF token, post *data* to *path*."""
        html = self.client.get(page or path).get_data(as_text=True)
        return self.client.post(path, data={"csrf_token": csrf_of(html), **data})

    def login(self, username: str, password: str = PASSWORD) -> Any:
        resp = self.submit("/login", {"username": username, "password": password})
        assert resp.status_code in (200, 303, 429)  # 429: sign-ins throttled
        return resp

    def logout(self) -> Any:
        return self.submit("/logout", {}, page="/")


@pytest.fixture
def pages(client: Any) -> Pages:
    return Pages(client)


# -- the live server -----------------------------------------------------------------


@dataclass
class LiveServer:
    """A Kejian instance served over HTTP on 127.0.0.1 for the browser tests."""

    url: str
    app: Any
    world: World

    def import_corpus(self, folder: str, org: str, visibility: str = "public") -> int:
        """Import ``../shared/corpus/<folder>`` into *org*; the number imported.

        For page groups that need resources (browse, search, previews): call it from a
        session fixture of their own, once.
        """
        from repo_app.models import Visibility
        from repo_app.services.accounts import org_by_code
        from repo_app.services.importer import run_import

        source = CORPUS / folder
        if not source.is_dir():
            pytest.skip(f"no corpus folder {source}")
        with self.app.app_context():
            summary = run_import(
                [source], org_by_code(org), visibility=Visibility(visibility)
            )
            return len(summary.imported)


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[LiveServer]:
    from repo_app import create_app
    from repo_app.extensions import db

    home = tmp_path_factory.mktemp("live-server")
    database = home / "kejian.db"
    shutil.copy(sqlite_template, database)
    base = load_settings({"KEJIAN_HOME": str(home), "KEJIAN_MAX_UPLOAD_MB": "64"})
    settings = replace(base, database_url=f"sqlite:///{database}", demo_dir=None)
    app = create_app(settings)
    with app.app_context():
        world = World()
        db.session.remove()

    # One line per request would drown the test output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, name="live-server", daemon=True
    )
    thread.start()
    try:
        yield LiveServer(
            url=f"http://127.0.0.1:{server.server_port}", app=app, world=world
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()
        app.extensions["kejian"].engine.close()


# -- Chromium ------------------------------------------------------------------------


@contextmanager
def debian_chromium() -> Iterator[Any]:
    """Debian's headless Chromium under Playwright (which never downloads its own)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install chromium (as .ci/run does)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with debian_chromium() as chromium:
        yield chromium


@pytest.fixture
def csp_violations() -> list[str]:
    """The Content-Security-Policy violations ``page`` reported; a test that causes
    one on purpose clears this list."""
    return []


@pytest.fixture
def page(
    browser: Any, live_server: LiveServer, csp_violations: list[str]
) -> Iterator[Any]:
    """A fresh page (own cookies and cache) on the live server, in Chinese, 1280x800.

    Fails the test when the page reports a Content-Security-Policy violation.
    """
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(15_000)
    page = context.new_page()

    def watch(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            csp_violations.append(message.text)

    page.on("console", watch)
    yield page
    context.close()
    assert not csp_violations, f"Content-Security-Policy violations: {csp_violations}"


@pytest.fixture
def login(live_server: LiveServer) -> Callable[..., None]:
    """``login(page, "cityadmin")`` signs in through the login form."""

    def sign_in(page: Any, username: str, password: str = PASSWORD) -> None:
        page.goto("/login")
        page.fill("#username", username)
        page.fill("#password", password)
        with page.expect_navigation():
            page.click("form.stack button[type=submit]")

    return sign_in


@pytest.fixture
def screenshots(live_server: LiveServer) -> Callable[..., list[Path]]:
    """``screenshots(page, "admin-orgs")`` saves the current page in Chinese and in
    English as ``<name>.zh_CN.png`` and ``<name>.en.png`` and returns the paths.

    The page is loaded again (GET) for each language, then left in the language it
    had; take them of pages reached by a GET.
    """

    def shoot(page: Any, name: str, *, full_page: bool = True) -> list[Path]:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        context = page.context
        before = next(
            (
                c["value"]
                for c in context.cookies(live_server.url)
                if c["name"] == LANG_COOKIE
            ),
            None,
        )
        url = page.url
        paths = []
        for locale in ("zh_CN", "en"):
            context.add_cookies(
                [{"name": LANG_COOKIE, "value": locale, "url": live_server.url}]
            )
            page.goto(url)
            path = SCREENSHOTS / f"{name}.{locale}.png"
            page.screenshot(path=str(path), full_page=full_page)
            paths.append(path)
        if before is None:
            context.clear_cookies(name=LANG_COOKIE)
        else:
            context.add_cookies(
                [{"name": LANG_COOKIE, "value": before, "url": live_server.url}]
            )
        page.goto(url)
        return paths

    return shoot


#: What a page may fetch before its search box can be used (DOMContentLoaded: the
#: document, its stylesheets and its scripts). On the 1.6 Mbps, 150 ms link of a
#: rural school that is 0.75 s of transfer and, with the requests after the document
#: made side by side, three round trips (connection, document, the rest): about 1.2 s,
#: within the 3 s the pages are made for. ``bench/slow_link.py`` measures the time
#: on a link throttled in Chromium; the tests check what decides it.
CRITICAL_BYTES = 150_000
CRITICAL_REQUESTS = 6

_CRITICAL_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const early = performance.getEntriesByType("resource")
    .filter(e => e.responseEnd <= nav.domContentLoadedEventEnd);
  return {
    requests: 1 + early.length,
    bytes: [nav, ...early].reduce(
      (sum, e) => sum + (e.transferSize || e.encodedBodySize || 0), 0),
  };
}"""


@pytest.fixture
def critical_path() -> Callable[[Any], dict[str, int]]:
    """``critical_path(page)``: the requests and bytes the loaded page fetched before
    it could be used (up to DOMContentLoaded), from the browser's Resource Timing."""

    def measure(page: Any) -> dict[str, int]:
        page.wait_for_load_state("load")
        return dict(page.evaluate(_CRITICAL_JS))

    return measure


_WEIGHT_JS = """() => {
  const entries = [...performance.getEntriesByType("navigation"),
                   ...performance.getEntriesByType("resource")];
  return entries.reduce(
    (sum, e) => sum + (e.transferSize || e.encodedBodySize || 0), 0);
}"""


@pytest.fixture
def page_weight() -> Callable[[Any], int]:
    """``page_weight(page)``: bytes the loaded page transferred (document and every
    resource it fetched so far), from the browser's Resource Timing."""

    def weigh(page: Any) -> int:
        page.wait_for_load_state("load")
        return int(page.evaluate(_WEIGHT_JS))

    return weigh
