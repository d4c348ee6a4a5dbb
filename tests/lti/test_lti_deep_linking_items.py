"""Deep Linking ``file`` and ``link`` items, for platforms whose course does not accept
LTI resource links: the response JWT checked claim by claim, each item fetched."""

from __future__ import annotations

import requests

from tests.lti.conftest import (
    PNG,
    Browser,
    Pool,
    deep_linking_response,
    error_of,
    launch,
    register,
)
from tests.lti.platform import DL, Platform, Scenario, deep_linking


def pick(
    browser: Browser, platform: Platform, scenario: Scenario, *rids: int
) -> requests.Response:
    """Open the picker with *scenario*, choose *rids*: the tool's answer."""
    picker = launch(browser, platform, scenario)
    assert picker.status_code == 200, picker.text[:400]
    return browser.submit(
        picker, form_id="choose", extra=[("resource", str(r)) for r in rids]
    )


def test_a_course_that_accepts_files_gets_the_public_file(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform)
    answer = pick(browser, platform, deep_linking(accept_types={"file"}), pool.public)
    assert answer.status_code == 200
    assert browser.submit(answer).json() == {"saved": 1}

    (item,) = deep_linking_response(kejian, platform)[DL + "content_items"]
    assert set(item) == {"type", "title", "url", "text", "thumbnail"}
    assert item["type"] == "file"
    assert item["title"] == pool.title(pool.public)
    assert item["text"] == f"{pool.title(pool.public)}：说明"
    assert item["url"].startswith(kejian + f"/api/v1/resources/{pool.public}/files/")
    assert item["thumbnail"] == {"url": item["url"]}
    # The platform fetches the file without a launch or a Kejian account.
    assert requests.get(item["url"], timeout=10).content == PNG


def test_a_course_that_accepts_links_gets_the_public_page_in_a_new_window(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform)
    answer = pick(browser, platform, deep_linking(accept_types={"link"}), pool.public)
    browser.submit(answer)

    (item,) = deep_linking_response(kejian, platform)[DL + "content_items"]
    assert item["type"] == "link"
    assert item["url"] == kejian + f"/resources/{pool.public}"
    assert item["window"] == {"targetName": "_blank"}
    assert "custom" not in item
    page = requests.get(item["url"], timeout=10)
    assert page.status_code == 200
    assert pool.title(pool.public) in page.text


def test_files_follow_accept_media_types(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform)
    pdf_only = deep_linking(accept_types={"file"}, accept_media_types="application/pdf")
    answer = pick(browser, platform, pdf_only, pool.public)
    assert answer.status_code == 400
    assert "application/pdf" in error_of(answer)
    assert platform.returned == []

    images = deep_linking(accept_types={"file"}, accept_media_types="text/html,image/*")
    browser.submit(pick(Browser(), platform, images, pool.public))
    (item,) = deep_linking_response(kejian, platform)[DL + "content_items"]
    assert item["type"] == "file"


def test_files_and_links_are_offered_for_public_resources_only(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform)
    both = deep_linking(accept_types={"file", "link"})
    picker = launch(browser, platform, both)
    assert 'id="public-only"' in picker.text
    # The box of a resource the city shares, but not the public, cannot be ticked...
    assert f'value="{pool.city}" disabled' in picker.text
    assert f'value="{pool.public}">' in picker.text

    # ...and a form edited to send it anyway is refused, naming the resource.
    answer = browser.submit(
        picker,
        form_id="choose",
        extra=[("resource", str(pool.public)), ("resource", str(pool.city))],
    )
    assert answer.status_code == 400
    assert pool.title(pool.city) in error_of(answer)
    assert platform.returned == []


def test_resource_links_win_when_the_course_accepts_them_with_files(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform)
    every = deep_linking(accept_types={"ltiResourceLink", "file", "link"})
    browser.submit(pick(browser, platform, every, pool.public, pool.city))
    items = deep_linking_response(kejian, platform)[DL + "content_items"]
    assert [i["type"] for i in items] == ["ltiResourceLink", "ltiResourceLink"]
    assert [i["custom"]["resource_id"] for i in items] == [
        str(pool.public),
        str(pool.city),
    ]
