"""Accounts in a real browser: sign in and out, a wrong password, a password change,
and a form whose session expired on the way."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_sign_in_and_out(page: Any, login: Any, screenshots: Any) -> None:
    page.goto("/login")
    screenshots(page, "login")
    login(page, "teacher1")
    header = page.locator("header .account")
    assert "teacher1" in header.inner_text()
    header.get_by_role("button").click()
    page.wait_for_url("**/")
    assert page.locator("header a.account").inner_text() == "登录"


def test_wrong_password_is_said_next_to_the_field(page: Any, login: Any) -> None:
    login(page, "teacher1", "not the password")
    error = page.locator("#password-error")
    assert error.inner_text() == "用户名或密码错误。"
    assert page.locator("#password").get_attribute("aria-invalid") == "true"
    # The username typed is kept; the password never is.
    assert page.input_value("#username") == "teacher1"
    assert page.input_value("#password") == ""
