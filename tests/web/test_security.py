"""Security of the pages: headers, no inline code, and one principal for sessions and
tokens (the API takes session writes only with the CSRF token)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import Pages, csrf_of

PAGES = ["/", "/login", "/no/such/page"]
ADMIN_PAGES = [
    "/admin/",
    "/admin/orgs",
    "/admin/orgs/new",
    "/admin/users",
    "/admin/users/new",
    "/admin/vocabularies",
    "/account/password",
]


def assert_no_inline_code(html: str) -> None:
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/ld+json"' in tag, tag
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert "javascript:" not in html


def assert_page_headers(resp: Any) -> None:
    csp = resp.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in csp and "http" not in csp
    assert resp.headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", PAGES)
def test_public_pages(client: Any, path: str) -> None:
    resp = client.get(path)
    assert resp.mimetype == "text/html"
    assert_page_headers(resp)
    assert_no_inline_code(resp.get_data(as_text=True))


def test_signed_in_pages(pages: Pages, world: Any) -> None:
    pages.login("cityadmin")
    for path in ADMIN_PAGES:
        resp = pages.get(path)
        assert resp.status_code == 200, path
        assert_page_headers(resp)
        assert_no_inline_code(resp.get_data(as_text=True))


def test_session_cookie_is_not_for_scripts(pages: Pages, world: Any) -> None:
    resp = pages.login("teacher1")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_no_secret_in_addresses(pages: Pages, world: Any) -> None:
    # Sign-in posts its form; nothing of the session or token shows in a URL.
    resp = pages.login("teacher1")
    assert "?" not in resp.headers["Location"]
    html = pages.get("/").get_data(as_text=True)
    for url in re.findall(r'(?:href|action|src)="([^"]+)"', html):
        assert "token" not in url and "csrf" not in url and "session" not in url, url


def test_static_files_are_cached_by_version(client: Any) -> None:
    html = client.get("/").get_data(as_text=True)
    css = re.search(r'href="(/static/css/kejian\.css\?v=[0-9a-f]+)"', html)
    assert css
    resp = client.get(css.group(1))
    assert resp.status_code == 200
    assert "max-age=31536000" in resp.headers["Cache-Control"]


def test_api_keeps_its_own_headers(client: Any) -> None:
    resp = client.get("/api/v1/health")
    assert "Content-Security-Policy" not in resp.headers
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


# -- one principal for the session and for tokens --------------------------------------


def test_session_reads_the_api_as_its_user(pages: Pages, api: Any, world: Any) -> None:
    created = api.create("uploader1", title="本校课件")
    # Anonymous visitors do not see a draft; its uploader's browser session does.
    assert pages.get(f"/api/v1/resources/{created['id']}").status_code in (403, 404)
    pages.login("uploader1")
    resp = pages.get(f"/api/v1/resources/{created['id']}")
    assert resp.status_code == 200
    assert resp.get_json()["title"] == "本校课件"


def test_session_writes_to_the_api_only_with_csrf(pages: Pages, world: Any) -> None:
    pages.login("uploader1")
    body = {"title": "网页上建的课件"}
    resp = pages.client.post("/api/v1/resources", json=body)
    assert resp.status_code == 403
    assert "X-CSRFToken" in resp.get_json()["error"]["message"]

    token = csrf_of(pages.get("/").get_data(as_text=True))
    resp = pages.client.post(
        "/api/v1/resources", json=body, headers={"X-CSRFToken": token}
    )
    assert resp.status_code == 201


def test_tokens_need_no_csrf(client: Any, world: Any) -> None:
    resp = client.post(
        "/api/v1/resources",
        json={"title": "令牌建的课件"},
        headers=world.headers("uploader1"),
    )
    assert resp.status_code == 201


def test_anonymous_api_write_is_unauthorised(client: Any, world: Any) -> None:
    resp = client.post("/api/v1/resources", json={"title": "x"})
    assert resp.status_code == 401


def test_framing_can_be_allowed_per_view(app: Any) -> None:
    from repo_app.web.headers import allow_framing

    @app.get("/framed-test")
    @allow_framing("https://lms.example")
    def framed() -> str:
        return "<p>framed</p>"

    resp = app.test_client().get("/framed-test")
    assert (
        "frame-ancestors https://lms.example" in resp.headers["Content-Security-Policy"]
    )
    assert resp.headers.get("X-Frame-Options") != "DENY"


# -- no stack trace, whatever happens --------------------------------------------------


def test_unexpected_error_is_a_readable_page(app: Any, monkeypatch: Any) -> None:
    from repo_app.web import pages

    def broken() -> str:
        raise RuntimeError("secret internals")

    monkeypatch.setitem(app.view_functions, "pages.home", broken)
    resp = app.test_client().get("/", headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 500
    html = resp.get_data(as_text=True)
    assert "<h1>服务器出了问题</h1>" in html
    assert "secret internals" not in html and "Traceback" not in html
    assert pages.bp.name == "pages"


def test_pages_render_while_the_database_is_down(client: Any, monkeypatch: Any) -> None:
    from sqlalchemy.exc import OperationalError

    from repo_app.web import access

    def down() -> Any:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(access, "current_principal", down)
    client.set_cookie("session", "x")
    resp = client.get("/login")
    assert resp.status_code == 200
    assert "Traceback" not in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/users/%00",
        "/lang/%E2%80%AE",
        "/login?next=%00",
        "/admin/orgs/new?parent=%FF",
        "/admin/users/99999999999999999999",
        "/upload/batches/99999999999999999999",
        "/workspace/collections/99999999999999999999",
        "/upload/?from=99999999999999999999",
        "/upload/?from=%C2%B2",
    ],
)
def test_odd_addresses_are_no_server_error(pages: Pages, world: Any, path: str) -> None:
    pages.login("cityadmin")
    assert pages.get(path).status_code < 500


def test_odd_form_values_are_no_server_error(pages: Pages, world: Any) -> None:
    pages.login("cityadmin")
    for value in ["\x00", "名" * 5000, "' OR 1=1 --", "<script>x</script>"]:
        resp = pages.submit(
            "/admin/orgs/new",
            {
                "name": value,
                "code": value,
                "kind": value,
                "parent": value,
                "locality": value,
            },
        )
        assert resp.status_code == 200
        assert "<script>x</script>" not in resp.get_data(as_text=True)
