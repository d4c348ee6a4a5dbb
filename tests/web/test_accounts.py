"""Sign in, sign out, password change, CSRF and expired sessions, through the Flask
test client on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import PASSWORD, Pages, csrf_of

NEW_PASSWORD = "a new and long password"


def signed_in_as(pages: Pages) -> str:
    html = pages.get("/").get_data(as_text=True)
    if 'class="who"' not in html:
        return ""
    return html.split('class="who">', 1)[1].split("<", 1)[0]


def test_login_logout(pages: Pages, world: Any) -> None:
    resp = pages.login("s1admin")
    assert resp.status_code == 303
    assert signed_in_as(pages) == "s1admin"

    resp = pages.logout()
    assert resp.status_code == 303
    assert signed_in_as(pages) == ""


def test_login_goes_back_to_the_page_asked_for(pages: Pages, world: Any) -> None:
    resp = pages.get("/account/password")
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith("/login")

    resp = pages.login("teacher1")
    assert resp.headers["Location"].endswith("/account/password")


def test_wrong_password_keeps_username(pages: Pages, world: Any) -> None:
    resp = pages.login("teacher1", "not the password")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'value="teacher1"' in html
    assert 'aria-invalid="true"' in html
    assert "用户名或密码错误。" in html
    assert signed_in_as(pages) == ""


def test_unknown_user_gets_the_same_message(pages: Pages, world: Any) -> None:
    html = pages.login("nobody-here").get_data(as_text=True)
    assert "用户名或密码错误。" in html


def test_empty_fields_are_marked(pages: Pages, world: Any) -> None:
    html = pages.submit("/login", {"username": "", "password": ""}).get_data(
        as_text=True
    )
    assert html.count("此项必填。") == 2


def test_post_without_csrf_token_is_refused(pages: Pages, world: Any) -> None:
    resp = pages.client.post(
        "/login", data={"username": "teacher1", "password": PASSWORD}
    )
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith("/login")
    assert signed_in_as(pages) == ""


def test_forged_post_by_a_signed_in_user_changes_nothing(
    pages: Pages, world: Any
) -> None:
    pages.login("teacher1")
    resp = pages.client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": "forged",
        },
    )
    assert resp.status_code == 303
    # The password is unchanged: a new session signs in with the old one.
    pages.logout()
    assert pages.login("teacher1").status_code == 303


def test_password_change_ends_other_sessions(
    app: Any, pages: Pages, world: Any
) -> None:
    other = Pages(app.test_client())
    other.login("teacher1")
    pages.login("teacher1")

    resp = pages.submit(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert resp.status_code == 303
    # This session goes on; the other one has ended.
    assert signed_in_as(pages) == "teacher1"
    assert signed_in_as(other) == ""
    pages.logout()
    assert pages.login("teacher1", PASSWORD).status_code == 200
    assert pages.login("teacher1", NEW_PASSWORD).status_code == 303


def test_password_change_errors_are_next_to_their_fields(
    pages: Pages, world: Any
) -> None:
    pages.login("teacher1")
    html = pages.submit(
        "/account/password",
        {
            "current_password": "wrong",
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    ).get_data(as_text=True)
    assert 'id="current_password-error">当前密码不正确。' in html

    html = pages.submit(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "short", "confirm": "other"},
    ).get_data(as_text=True)
    assert 'id="new_password-error">请输入 8 到 200 个字符。' in html
    assert 'id="confirm-error">两次输入的新密码不一致。' in html


def test_expired_session_keeps_the_form(pages: Pages, world: Any) -> None:
    # An administrator opens the form, the session expires while they type.
    pages.login("cityadmin")
    html = pages.get("/admin/orgs/new").get_data(as_text=True)
    token = csrf_of(html)
    pages.client.delete_cookie("session")
    typed = {
        "csrf_token": token,
        "form_name": "OrgForm",
        "name": "石门第二小学",
        "code": "d2-s9",
        "kind": "school",
        "parent": "d2",
        "locality": "rural",
    }
    resp = pages.client.post("/admin/orgs/new", data=typed)

    # They are asked to sign in, then brought back to the form, filled in again.
    assert resp.headers["Location"].endswith("/login")
    resp = pages.login("cityadmin")
    assert resp.headers["Location"].endswith("/admin/orgs/new")
    html = pages.get("/admin/orgs/new").get_data(as_text=True)
    assert 'value="石门第二小学"' in html
    assert 'value="d2-s9"' in html
    assert '<option selected value="rural">' in html
    assert "登录过期前填写的内容已恢复" in html

    # The draft is used once: the next visit shows an empty form.
    html = pages.get("/admin/orgs/new").get_data(as_text=True)
    assert "石门第二小学" not in html


def test_form_with_a_stale_token_comes_back_filled(pages: Pages, world: Any) -> None:
    pages.login("cityadmin")
    resp = pages.client.post(
        "/admin/orgs/new",
        data={
            "csrf_token": "stale",
            "form_name": "OrgForm",
            "name": "新学校",
            "code": "n1",
        },
    )
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith("/admin/orgs/new")
    html = pages.get("/admin/orgs/new").get_data(as_text=True)
    assert 'value="新学校"' in html
    assert "表单已过期" in html


def test_passwords_are_never_kept_in_drafts(app: Any, pages: Pages, world: Any) -> None:
    resp = pages.client.post(
        "/account/password",
        data={
            "form_name": "PasswordChangeForm",
            "current_password": "secret-1",
            "new_password": "x",
        },
    )
    assert resp.status_code == 303
    drafts = list((app.extensions["kejian"].settings.home / "drafts").glob("*.json"))
    assert all("secret-1" not in d.read_text() for d in drafts)


def test_password_guessing_is_slowed_down(pages: Pages, world: Any) -> None:
    for _ in range(10):
        assert pages.login("teacher1", "guess").status_code == 200
    # The eleventh try is refused even with the right password ...
    refused = pages.login("teacher1")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert "尝试失败次数过多" in refused.get_data(as_text=True)
    assert signed_in_as(pages) == ""
    # ... while other people sign in as usual.
    assert pages.login("teacher2").status_code == 303


def test_failure_counts_slide_and_reset() -> None:
    from repo_app.web.throttle import FailedLogins

    counts = FailedLogins(limit=2, window_s=60)
    counts.failed("a|1")
    assert counts.blocked_for("a|1") == 0
    counts.failed("a|1")
    assert 0 < counts.blocked_for("a|1") <= 60
    counts.succeeded("a|1")
    assert counts.blocked_for("a|1") == 0
