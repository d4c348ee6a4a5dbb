"""The LTI pages speak the language the launch asks for: the platform's
``launch_presentation`` locale, else the browser's ``Accept-Language``; Chinese when
neither names English."""

from __future__ import annotations

from typing import Any

import lxml.html
import requests

from tests.lti.conftest import Browser, Pool, deep_link, launch, register
from tests.lti.platform import CLAIM, Platform, Scenario, deep_linking


def speaking(locale: str) -> dict[str, Any]:
    """Claims of a launch whose platform shows its pages in *locale*."""
    return {CLAIM + "launch_presentation": {"locale": locale}}


def lang_of(page: requests.Response) -> str:
    return str(lxml.html.fromstring(page.text).get("lang"))


def browser_in(language: str) -> Browser:
    browser = Browser()
    browser.session.headers["Accept-Language"] = language
    return browser


def test_the_picker_follows_the_launch_s_locale_over_the_browser_s(
    app, platform: Platform, pool: Pool
) -> None:
    register(app, platform, "s1")

    # The platform's locale wins over the browser's, and stays for the whole launch.
    english = launch(
        browser_in("zh-CN"), platform, deep_linking(claims=speaking("en-US"))
    )
    assert english.status_code == 200, english.text[:300]
    assert lang_of(english) == "en"
    for text in ("Choose from Kejian", "Subject", "Apply filters", "Add to the course"):
        assert text in english.text
    assert "从课件库选择资源" not in english.text
    browser = browser_in("zh-CN")
    first = launch(browser, platform, deep_linking(claims=speaking("en")))
    again = browser.submit(first, form_id="choose", button="Apply filters")
    assert again.status_code == 200
    assert lang_of(again) == "en" and "Add to the course" in again.text

    # A refusal on one of the launch's pages speaks its language too.
    hidden = browser.get(first.url, params={"preview": str(pool.s2_school)})
    assert hidden.status_code == 404
    assert lang_of(hidden) == "en" and "Kejian cannot open this" in hidden.text
    assert "What this link points to cannot be found" in hidden.text

    chinese = launch(
        browser_in("en"), platform, deep_linking(claims=speaking("zh-Hans-CN"))
    )
    assert lang_of(chinese) == "zh-CN"
    assert "从课件库选择资源" in chinese.text and "加入课程" in chinese.text

    # No locale, or one Kejian's pages are not written in: the browser's language.
    assert lang_of(launch(browser_in("en-GB"), platform, deep_linking())) == "en"
    french = launch(browser_in("en"), platform, deep_linking(claims=speaking("fr")))
    assert lang_of(french) == "en"
    assert lang_of(launch(Browser(), platform, deep_linking())) == "zh-CN"


def test_a_launched_resource_and_a_refusal_speak_the_learner_s_language(
    app, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform, "s1")
    deep_link(browser, platform, [pool.city])

    shown = launch(
        browser_in("zh-CN"),
        platform,
        Scenario(custom={"resource_id": pool.city}, claims=speaking("en-US")),
    )
    assert shown.status_code == 200, shown.text[:300]
    assert lang_of(shown) == "en"
    assert ">Download<" in shown.text

    # A refused launch is read before its claims can be trusted: the browser's
    # language says why.
    refused = launch(
        browser_in("en"),
        platform,
        Scenario(custom={"resource_id": pool.city}, clock_skew=-900, lifetime=300),
    )
    assert refused.status_code == 403
    assert lang_of(refused) == "en"
    assert "Kejian cannot open this" in refused.text
    assert "For the administrator:" in refused.text
