"""The picker in Chromium at 360 px, the narrowest course-editor frame: it never
scrolls sideways, breaks no Content-Security-Policy rule, and a choice made on one
page is sent with one made on the next by clicking, as a teacher does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lti import views
from tests.lti.conftest import Browser, Pool, deep_linking_response, launch, register
from tests.lti.platform import DL, Platform, deep_linking
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

WIDTH = 360


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        found = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield found
        found.close()


def test_the_picker_fits_360_px_and_keeps_a_choice_across_pages(
    app,
    kejian: str,
    platform: Platform,
    browser: Browser,
    pool: Pool,
    chromium: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views, "PICKER_PAGE", 2)
    register(app, platform, "s1")
    # The launch runs through the platform as elsewhere; the page it ends on opens
    # in Chromium with the tool's cookie, as it would inside the LMS's frame.
    picker = launch(browser, platform, deep_linking())
    context = chromium.new_context(
        locale="zh-CN", viewport={"width": WIDTH, "height": 640}
    )
    context.add_cookies(
        [{"name": c.name, "value": c.value, "url": kejian} for c in browser.session.cookies]
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text)
        if m.type == "error" and "Content Security Policy" in m.text
        else None,
    )
    try:
        page.goto(picker.url)
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        # On a narrow screen the filters start folded, so that the results come first.
        assert not page.locator("#filters").evaluate("d => d.open")

        first = page.locator("li.hit input[name=resource]").first
        first_id = first.get_attribute("value")
        first.check()
        page.get_by_role("button", name="下一页").click()
        page.wait_for_url("**page=2**")
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        assert page.locator(f"#chosen input[value='{first_id}']").is_checked()

        second = page.locator("li.hit input[name=resource]").first
        second_id = second.get_attribute("value")
        second.check()
        page.get_by_role("button", name="加入课程").click()
        page.wait_for_url(platform.return_url + "**")
        assert '"saved": 2' in page.content() or '"saved":2' in page.content()
    finally:
        context.close()
    assert not violations, violations

    items = deep_linking_response(kejian, platform)[DL + "content_items"]
    assert [i["custom"]["resource_id"] for i in items] == [first_id, second_id]
