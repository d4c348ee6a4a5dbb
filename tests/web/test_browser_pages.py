"""The foundation of the pages in headless Chromium: the admin's scenario, the
language switch, keyboard use, small screens, page weight, a slow link and the
Content-Security-Policy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import CRITICAL_BYTES, CRITICAL_REQUESTS

pytestmark = pytest.mark.browser

#: Pages a signed-in administrator can open, and their screenshot names.
ADMIN_PAGES = {
    "/admin/": "admin",
    "/admin/orgs": "admin-orgs",
    "/admin/orgs/new": "admin-org-new",
    "/admin/users": "admin-users",
    "/admin/users/new": "admin-user-new",
    "/admin/vocabularies": "admin-vocabularies",
    "/account/password": "account-password",
}
PUBLIC_PAGES = {"/": "home", "/login": "login", "/no/such/page": "not-found"}


def test_admin_adds_a_school(page: Any, login: Any, screenshots: Any) -> None:
    # The city's administrator signs in and opens the organisations from the menu.
    login(page, "cityadmin")
    page.get_by_role("navigation", name="主导航").get_by_role(
        "link", name="管理"
    ).click()
    page.get_by_role("link", name="单位").first.click()
    screenshots(page, "admin-orgs-before")

    # They add a rural school below 山南县 from the form.
    page.get_by_role("link", name="添加区县或学校").click()
    page.get_by_label("名称").fill("山南县石门第二小学")
    page.get_by_label("代码").fill("d2-s2")
    page.get_by_label("类型").select_option("school")
    page.get_by_label("上级单位").select_option("d2")
    page.get_by_label("城乡类别").select_option("rural")
    page.get_by_role("button", name="添加").click()

    # The tree shows it below its district, marked rural.
    page.wait_for_url("**/admin/orgs")
    assert (
        page.get_by_role("status").inner_text().strip() == "已添加 山南县石门第二小学。"
    )
    item = page.locator(".tree li", has_text="山南县石门第二小学").last
    assert "乡村" in item.inner_text()
    district = page.locator(".tree li", has=page.locator("code", has_text="d2")).first
    assert "山南县石门第二小学" in district.inner_text()
    screenshots(page, "admin-orgs-after")


def test_screenshots_of_every_page(page: Any, login: Any, screenshots: Any) -> None:
    for path, name in PUBLIC_PAGES.items():
        page.goto(path)
        screenshots(page, name)
    login(page, "cityadmin")
    for path, name in ADMIN_PAGES.items():
        page.goto(path)
        screenshots(page, name)


def test_language_switch(page: Any) -> None:
    page.goto("/login")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.get_by_role("link", name="English").click()
    page.wait_for_url("**/login")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in"
    # The choice outlives the page: the next one is in English too.
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="中文").click()
    assert page.get_by_role("heading", level=1).inner_text() == "全市学校共享的课件资源"


def test_skip_link_and_keyboard_sign_in(page: Any) -> None:
    page.goto("/login")
    # The first Tab shows the skip link; Enter moves the focus into the page.
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip-link"
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["y"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # From there the form is filled and sent with the keyboard alone.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "username"
    page.keyboard.type("teacher1")
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "teacher1" in page.locator("header .account").inner_text()


def test_focus_is_visible(page: Any) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


@pytest.mark.parametrize("width", [360, 1920])
def test_no_horizontal_scroll(page: Any, login: Any, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 780})
    paths = list(PUBLIC_PAGES)
    for path in paths:
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
    login(page, "cityadmin")
    for path in ADMIN_PAGES:
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path


def test_pages_weigh_under_200_kB(page: Any, login: Any, page_weight: Any) -> None:
    for path in PUBLIC_PAGES:
        page.goto(path)
        assert page_weight(page) < 200_000, path
    login(page, "cityadmin")
    for path in ADMIN_PAGES:
        page.goto(path)
        assert page_weight(page) < 200_000, path


def test_home_is_light_enough_for_a_slow_link(page: Any, critical_path: Any) -> None:
    page.goto("/")
    early = critical_path(page)
    assert early["requests"] <= CRITICAL_REQUESTS, early
    assert early["bytes"] <= CRITICAL_BYTES, early
    assert page.get_by_label("您想找什么？").is_editable()


def test_csp_header_and_no_inline_script(
    page: Any, login: Any, csp_violations: list[str]
) -> None:
    login(page, "cityadmin")
    for path in [*PUBLIC_PAGES, *ADMIN_PAGES]:
        response = page.goto(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        inline = page.evaluate(
            "[...document.scripts].filter(s => !s.src"
            " && s.type !== 'application/ld+json').length"
        )
        assert inline == 0, path
    assert csp_violations == []

    # A script injected into the page does not run: the policy blocks it.
    ran = page.evaluate(
        """() => new Promise(resolve => {
            const s = document.createElement('script');
            s.textContent = 'window.__ran = true';
            document.body.append(s);
            setTimeout(() => resolve(Boolean(window.__ran)), 300);
        })"""
    )
    assert ran is False
    assert any("inline script" in v for v in csp_violations)
    csp_violations.clear()  # caused on purpose


def test_expired_session_keeps_the_form(page: Any, login: Any) -> None:
    # An administrator fills the form; their session ends before they send it.
    login(page, "cityadmin")
    page.goto("/admin/orgs/new")
    page.get_by_label("名称").fill("城东第三中学")
    page.get_by_label("代码").fill("d1-s3")
    page.get_by_label("上级单位").select_option("d1")
    page.context.clear_cookies()
    page.get_by_role("button", name="添加").click()

    # They sign in again and find the form as they left it.
    page.wait_for_url("**/login")
    assert "您填写的内容已保留" in page.get_by_role("status").inner_text()
    page.fill("#username", "cityadmin")
    page.fill("#password", "correct horse battery")
    page.get_by_role("button", name="登录").last.click()
    page.wait_for_url("**/admin/orgs/new")
    assert page.input_value("#name") == "城东第三中学"
    assert page.input_value("#code") == "d1-s3"
    assert page.input_value("#parent") == "d1"
    page.get_by_role("button", name="添加").click()
    page.wait_for_url("**/admin/orgs")
    assert "城东第三中学" in page.locator(".tree").inner_text()


def test_password_change(page: Any, login: Any) -> None:
    login(page, "teacher2")
    page.get_by_role("link", name="teacher2").click()
    page.get_by_label("当前密码").fill("wrong password")
    page.get_by_label("新密码", exact=True).fill("another long password")
    page.get_by_label("再次输入新密码").fill("another long password")
    page.get_by_role("button", name="修改密码").click()
    assert page.locator("#current_password-error").inner_text() == "当前密码不正确。"

    page.get_by_label("当前密码").fill("correct horse battery")
    page.get_by_label("新密码", exact=True).fill("another long password")
    page.get_by_label("再次输入新密码").fill("another long password")
    page.get_by_role("button", name="修改密码").click()
    assert page.get_by_role("status").inner_text().strip() == "密码已修改。"
