"""``KEJIAN_HTTPS``: Secure cookies, HSTS, and https:// in the links made for use
elsewhere, also when the TLS proxy in front forwards plain HTTP (as here)."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from config.settings import SettingsError, load_settings
from tests.conftest import Api
from tests.web.conftest import Pages
from tests.web.shelf import Shelf


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only: cookies and headers do not depend on the database."""
    path = tmp_path / "kejian.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=[True, False], ids=["https", "http"])
def settings(settings: Any, request: pytest.FixtureRequest) -> Any:
    return replace(settings, https=request.param)


def test_the_setting_is_read(tmp_path: Path) -> None:
    home = {"KEJIAN_HOME": str(tmp_path)}
    assert load_settings(home).https is False
    assert load_settings({**home, "KEJIAN_HTTPS": "1"}).https is True
    assert load_settings({**home, "KEJIAN_HTTPS": "off"}).https is False
    with pytest.raises(SettingsError, match="^KEJIAN_HTTPS must be 1"):
        load_settings({**home, "KEJIAN_HTTPS": "maybe"})


def test_cookies_and_hsts(pages: Pages, world: Any, settings: Any) -> None:
    for path in ("/login", "/api/v1/health"):
        hsts = pages.get(path).headers.get("Strict-Transport-Security")
        assert hsts == ("max-age=31536000" if settings.https else None), path

    session = pages.login("teacher1").headers["Set-Cookie"]
    language = pages.get("/lang/en?next=/").headers["Set-Cookie"]
    for cookie in (session, language):
        assert ("; Secure" in cookie) is settings.https, cookie


def test_links_for_use_elsewhere(api: Api, pages: Pages, settings: Any) -> None:
    rid = Shelf(api).add("正数和负数 课件")
    page = pages.get(f"/resources/{rid}").get_data(as_text=True)
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', page)
    assert found
    linked = json.loads(found.group(1))
    scheme = "https" if settings.https else "http"
    assert linked["url"] == f"{scheme}://localhost/resources/{rid}"
    assert linked["encoding"][0]["contentUrl"].startswith(f"{scheme}://localhost/")
