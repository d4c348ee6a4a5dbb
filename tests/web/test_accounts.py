"""Sign in, sign out, password change and CSRF through the Flask test client."""

from __future__ import annotations

import re
from typing import Any

import pytest

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: Any, username: str, password: str = PASSWORD) -> Any:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password},
    )


def test_login_logout(client, world) -> None:  # type: ignore[no-untyped-def]
    resp = sign_in(client, "s1admin")
    assert resp.status_code == 303
    home = client.get("/").get_data(as_text=True)
    assert "s1admin" in home
    token = csrf_of(home)
    resp = client.post("/logout", data={"csrf_token": token})
    assert resp.status_code == 303
    assert "s1admin" not in client.get("/").get_data(as_text=True)


def test_wrong_password_keeps_username(client, world) -> None:  # type: ignore[no-untyped-def]
    resp = sign_in(client, "teacher1", "not the password")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'value="teacher1"' in html
    assert 'aria-invalid="true"' in html


def test_post_without_csrf_token_is_refused(client, world) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/login", data={"username": "teacher1", "password": PASSWORD})
    assert resp.status_code == 303
    assert "/login" in resp.headers["Location"]
    # Not signed in: the forged post did nothing.
    assert "teacher1" not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/", "/login"])
def test_page_headers(client, path: str) -> None:  # type: ignore[no-untyped-def]
    resp = client.get(path)
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
