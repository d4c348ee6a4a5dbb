"""The LTI pages in Chromium at 360 px, the narrowest LMS frame: they never scroll
sideways and break no Content-Security-Policy rule. In the picker a choice made on
one page is sent with one made on the next by clicking, as a teacher does; a
launched PDF's pages are drawn by pdf.js from the file served through the launch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lti import views
from tests.lti.conftest import (
    Browser,
    Pool,
    deep_linking_response,
    launch,
    launched,
    register,
)
from tests.lti.platform import DL, Platform, deep_linking
from tests.web.conftest import debian_chromium

pytestmark = pytest.mark.browser

WIDTH = 360


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    # Named so: this package's ``browser`` fixture is the requests-based one.
    with debian_chromium() as found:
        yield found


@pytest.fixture
def frame(chromium: Any) -> Iterator[tuple[Any, list[str]]]:
    """A 360 px wide Chromium context and the CSP violations its pages report."""
    context = chromium.new_context(
        locale="zh-CN", viewport={"width": WIDTH, "height": 640}
    )
    context.set_default_timeout(15_000)
    violations: list[str] = []

    def watch(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            violations.append(message.text)

    context.on("console", watch)
    yield context, violations
    context.close()
    assert not violations, violations


def cookies_of(browser: Browser, kejian: str) -> list[dict[str, str]]:
    """The requests browser's cookies for Chromium, which goes on from its page."""
    return [
        {"name": c.name, "value": c.value, "url": kejian}
        for c in browser.session.cookies
    ]


def open_picker(
    app: Any, kejian: str, platform: Platform, browser: Browser, context: Any
) -> Any:
    """s1's teacher's picker in Chromium. The launch runs through the platform as
    elsewhere; the page it ends on opens in Chromium with the tool's cookie, as it
    would inside the LMS's frame."""
    register(app, platform, "s1")
    picker = launch(browser, platform, deep_linking())
    context.add_cookies(cookies_of(browser, kejian))
    page = context.new_page()
    page.goto(picker.url)
    return page


def test_the_picker_fits_360_px_and_keeps_a_choice_across_pages(
    app,
    kejian: str,
    platform: Platform,
    browser: Browser,
    pool: Pool,
    frame: tuple[Any, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views, "PICKER_PAGE", 2)
    page = open_picker(app, kejian, platform, browser, frame[0])
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    # On a narrow screen the filters start folded, so that the results come first.
    assert not page.locator("#filters").evaluate("d => d.open")

    first = page.locator("li.hit input[name=resource]").first
    first_id = first.get_attribute("value")
    first.check()
    # A title opens its preview above the same results; the tick goes along.
    page.locator("li.hit h3 a").nth(1).click()
    page.locator("#preview-heading").wait_for()
    assert page.locator(f"li.hit input[value='{first_id}']").is_checked()

    page.get_by_role("button", name="下一页").click()
    page.wait_for_url("**page=2**")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    assert page.locator(f"#chosen input[value='{first_id}']").is_checked()

    second = page.locator("li.hit input[name=resource]").first
    second_id = second.get_attribute("value")
    second.check()
    page.get_by_role("button", name="加入课程").click()
    page.wait_for_url(platform.return_url + "**")
    assert "saved" in page.content()

    items = deep_linking_response(kejian, platform)[DL + "content_items"]
    assert [i["custom"]["resource_id"] for i in items] == [first_id, second_id]


def test_a_suggestion_chosen_in_the_picker_searches_and_adds_nothing(
    app,
    kejian: str,
    platform: Platform,
    browser: Browser,
    pool: Pool,
    frame: tuple[Any, list[str]],
) -> None:
    page = open_picker(app, kejian, platform, browser, frame[0])
    page.locator("#q").press_sequentially("qsgx")
    option = page.get_by_role("option", name=pool.title(pool.city))
    option.wait_for()
    option.dispatch_event("mousedown")
    page.wait_for_url("**q=**")
    # Still the picker, searching for the title; nothing went to the course.
    assert "/lti/picker/" in page.url
    assert page.locator("#q").input_value() == pool.title(pool.city)
    assert page.locator("li.hit input[name=resource]").count() == 1
    assert not platform.returned


def test_a_launched_pdf_is_drawn_by_pdfjs_in_the_frame(
    app, api, kejian: str, platform: Platform, browser: Browser, frame: Any
) -> None:
    shown = launched(app, api, kejian, platform, browser, "pdf/issue2128r.pdf")
    context, _ = frame
    context.add_cookies(cookies_of(shown.browser, kejian))
    page = context.new_page()
    page.goto(shown.page.url)
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH

    page.get_by_role("button", name="显示页面").click()
    canvas = page.locator("canvas.pdf-page")
    canvas.wait_for(state="visible")
    assert canvas.evaluate("c => c.width") > 0
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
