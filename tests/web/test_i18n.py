"""Languages: the browser's choice, the switch, complete catalogues, error pages."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def lang_of(html: str) -> str:
    return html.split('<html lang="', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize(
    ("accept", "lang", "text"),
    [
        ("zh-CN,zh;q=0.9", "zh-CN", "跳到主要内容"),
        ("zh-TW", "zh-CN", "跳到主要内容"),
        ("en-GB,en;q=0.8", "en", "Skip to main content"),
        ("fr-FR", "zh-CN", "跳到主要内容"),
        ("", "zh-CN", "跳到主要内容"),
    ],
)
def test_language_follows_the_browser(
    client: Any, accept: str, lang: str, text: str
) -> None:
    html = client.get("/", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert lang_of(html) == lang
    assert text in html


def test_switch_sets_a_cookie_and_goes_back(client: Any) -> None:
    resp = client.get("/lang/en?next=/login")
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/login"
    assert "kejian_lang=en" in resp.headers["Set-Cookie"]
    html = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(
        as_text=True
    )
    assert lang_of(html) == "en"

    client.get("/lang/zh_CN?next=/")
    html = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert lang_of(html) == "zh-CN"


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "https://evil.example/", "/\\evil.example", "", "login"],
)
def test_switch_never_leaves_the_site(client: Any, target: str) -> None:
    resp = client.get("/lang/en", query_string={"next": target})
    assert resp.headers["Location"] == "/"


def test_unknown_language_changes_nothing(client: Any) -> None:
    resp = client.get("/lang/xx?next=/")
    assert resp.status_code == 303
    assert "Set-Cookie" not in resp.headers


def test_catalogues_are_complete() -> None:
    spec = importlib.util.spec_from_file_location(
        "catalogues", REPO / "scripts" / "catalogues.py"
    )
    assert spec and spec.loader
    catalogues = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(catalogues)
    assert catalogues.problems() == [], "run: python scripts/catalogues.py update"


@pytest.mark.parametrize(
    ("accept", "title"), [("zh-CN", "页面不存在"), ("en", "Page not found")]
)
def test_error_page_in_the_visitors_language(
    client: Any, accept: str, title: str
) -> None:
    resp = client.get("/no/such/page", headers={"Accept-Language": accept})
    assert resp.status_code == 404
    html = resp.get_data(as_text=True)
    assert f"<h1>{title}</h1>" in html
    assert "Traceback" not in html


def test_api_errors_stay_json(client: Any) -> None:
    resp = client.get("/api/v1/resources/999999")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"
