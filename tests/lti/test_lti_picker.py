"""The Deep Linking picker is the web search inside the LMS: facets with counts,
filters and pages kept in its address, choices kept across pages, and previews of
what the registration's organisation may see, driven over HTTP by the platform."""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlsplit

import lxml.html
import pytest
import requests

from lti import views
from repo_app.extensions import db
from repo_app.models import Resource
from tests.lti.conftest import (
    PNG,
    Browser,
    Pool,
    deep_linking_response,
    error_of,
    launch,
    register,
)
from tests.lti.platform import DL, Platform, deep_linking


def facet(page: requests.Response, name: str) -> dict[str, tuple[int, bool]]:
    """Facet group *name* of the page: value -> (count, ticked)."""
    doc = lxml.html.fromstring(page.text)
    found = {}
    for box in doc.xpath(f'//input[@type="checkbox"][@name="{name}"]'):
        label = doc.xpath(f'//label[@for="{box.get("id")}"]')[0]
        count = label.xpath('.//span[@class="count"]')[0].text_content()
        found[box.get("value")] = (int(count), box.checked)
    return found


def hits(page: requests.Response) -> list[int]:
    """The resources the page lists as results, in order."""
    doc = lxml.html.fromstring(page.text)
    return [
        int(box.get("value"))
        for box in doc.xpath('//li[@class="hit"]//input[@name="resource"]')
    ]


def test_a_facet_narrows_the_results_and_their_counts(
    app, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform, "s1")
    picker = launch(browser, platform, deep_linking())
    assert picker.status_code == 200, picker.text[:300]

    # The facets of the search page, counted over what s1 may see.
    assert sorted(hits(picker)) == sorted([pool.s1_school, pool.city, pool.public])
    assert facet(picker, "school") == {
        "s1": (1, False),
        "s2": (1, False),
        "s3": (1, False),
    }
    assert facet(picker, "mime_group") == {"text": (2, False), "image": (1, False)}

    # Ticking "text" and applying the filters keeps it in the picker's address and
    # narrows both the results and the other groups' counts.
    narrowed = browser.submit(
        picker, form_id="choose", extra=[("mime_group", "text")], button="应用筛选"
    )
    assert narrowed.status_code == 200, narrowed.text[:300]
    assert urlsplit(narrowed.url).path == urlsplit(picker.url).path
    assert parse_qs(urlsplit(narrowed.url).query)["mime_group"] == ["text"]
    assert sorted(hits(narrowed)) == sorted([pool.s1_school, pool.city])
    assert facet(narrowed, "mime_group")["text"] == (2, True)
    assert facet(narrowed, "school") == {"s1": (1, False), "s2": (1, False)}
    assert "找到 2 个资源" in narrowed.text

    # The chip that removes the filter leads back to the whole list, in the picker.
    doc = lxml.html.fromstring(narrowed.text, base_url=narrowed.url)
    doc.make_links_absolute()
    chip = doc.xpath('//a[@class="chip"]')[0].get("href")
    assert urlsplit(chip).path == urlsplit(picker.url).path
    assert sorted(hits(browser.get(chip))) == sorted(
        [pool.s1_school, pool.city, pool.public]
    )


def test_choices_made_on_two_pages_are_both_sent(
    app,
    kejian: str,
    platform: Platform,
    browser: Browser,
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two results a page, so that s1's three resources take two pages.
    monkeypatch.setattr(views, "PICKER_PAGE", 2)
    register(app, platform, "s1")
    first_page = launch(browser, platform, deep_linking())
    on_first = hits(first_page)
    assert len(on_first) == 2

    # A resource ticked on page 1 goes along to page 2, shown there as chosen.
    second_page = browser.submit(
        first_page,
        form_id="choose",
        extra=[("resource", str(on_first[0]))],
        button=("page", "2"),
    )
    assert second_page.status_code == 200, second_page.text[:300]
    on_second = hits(second_page)
    assert len(on_second) == 1 and on_second[0] not in on_first
    assert browser.ticked(second_page, "choose") == [("resource", str(on_first[0]))]

    # Back on page 1 the choice is still ticked in its place.
    again = browser.submit(second_page, form_id="choose", button=("page", "1"))
    assert hits(again) == on_first
    assert browser.ticked(again, "choose") == [("resource", str(on_first[0]))]

    # One more ticked on page 2, and both are added to the course.
    returned = browser.submit(
        second_page, form_id="choose", extra=[("resource", str(on_second[0]))]
    )
    assert returned.status_code == 200, returned.text[:300]
    assert browser.submit(returned).json() == {"saved": 2}
    items = deep_linking_response(kejian, platform)[DL + "content_items"]
    assert [i["custom"]["resource_id"] for i in items] == [
        str(on_first[0]),
        str(on_second[0]),
    ]


def test_a_resource_is_previewed_in_the_picker_through_its_launch(
    app, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform, "s1")
    picker = launch(browser, platform, deep_linking())

    # The preview button shows the resource above the same results.
    shown = browser.submit(
        picker, form_id="choose", button=("preview", str(pool.public))
    )
    assert shown.status_code == 200, shown.text[:300]
    doc = lxml.html.fromstring(shown.text, base_url=shown.url)
    doc.make_links_absolute()
    heading = doc.get_element_by_id("preview-heading")
    assert int(heading.get("data-resource-id")) == pool.public
    assert sorted(hits(shown)) == sorted(hits(picker))
    # Its image comes through the launch's token, not the site's download address.
    src = doc.xpath('//section[@id="preview"]//img[@class="image-preview"]')[0].get(
        "src"
    )
    assert urlsplit(src).path.startswith(urlsplit(picker.url).path + "/files/")
    image = browser.get(src)
    assert image.status_code == 200
    assert image.content == PNG

    # A text resource shows the beginning of its text.
    text = browser.submit(picker, form_id="choose", button=("preview", str(pool.city)))
    assert "全市共享的课件内容" in text.text


def test_a_preview_of_another_schools_private_resource_is_refused(
    app, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform, "s1")
    picker = launch(browser, platform, deep_linking())
    hidden = pool.s2_school

    # Asked for by editing the address: refused, and nothing of it is shown.
    page = browser.get(picker.url, params={"preview": str(hidden)})
    assert page.status_code == 404
    assert f"Resource {hidden} does not exist" in error_of(page)
    assert pool.title(hidden) not in page.text

    # Its file, asked for through the launch's token, is refused too.
    file_id = db.session.get(Resource, hidden).files[0].id
    url = f"{picker.url}/files/{hidden}/{file_id}"
    answer = browser.get(url)
    assert answer.status_code == 404
    assert "二中期中试卷" not in answer.text

    # A file id of another resource, under a resource s1 may see, is refused.
    answer = browser.get(f"{picker.url}/files/{pool.public}/{file_id}")
    assert answer.status_code == 404
    assert "二中期中试卷" not in answer.text


def test_suggestions_in_the_picker_are_what_the_organisation_may_see(
    app, kejian: str, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform, "s1")
    picker = launch(browser, platform, deep_linking())
    doc = lxml.html.fromstring(picker.text, base_url=picker.url)
    doc.make_links_absolute()
    box = doc.get_element_by_id("q")
    suggest = urljoin(picker.url, box.get("data-suggest"))
    assert urlsplit(suggest).path.startswith("/lti/picker/")

    def titles(q: str, **extra: str) -> requests.Response:
        return browser.get(suggest, params={"q": q, **extra})

    # 校本 is in both schools' own titles: s1's registration is offered only s1's.
    found = titles("校本")
    assert found.status_code == 200
    assert found.json() == {"suggestions": [pool.title(pool.s1_school)]}
    # Pinyin initials, as on the search page: 全市共享课件 is qsgxkj.
    assert titles("qsgx").json() == {"suggestions": [pool.title(pool.city)]}

    refused = titles("校本", limit="many")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"]
    assert titles("").status_code == 400
    # Without the tool's cookie, the token alone opens nothing.
    assert Browser().get(suggest, params={"q": "校本"}).status_code in (401, 403)


def test_each_file_of_a_resource_can_be_previewed_in_the_picker(
    app, api, platform: Platform, browser: Browser, pool: Pool
) -> None:
    register(app, platform, "s1")
    rid = api.create("cityadmin", title="两个文件的课件", owner_org="s1", subject="math")[
        "id"
    ]
    for name, data in (("cover.png", PNG), ("notes.txt", "第二个文件里的讲解".encode())):
        assert api.upload("cityadmin", rid, name, data).status_code == 201
    assert api.publish("cityadmin", rid, "city").status_code == 200
    files = {vf.name: vf.id for vf in db.session.get(Resource, rid).files}
    picker = launch(browser, platform, deep_linking())

    # The first showable file is shown, with a button for each other file.
    shown = browser.submit(picker, form_id="choose", button=("preview", str(rid)))
    assert shown.status_code == 200, shown.text[:300]
    doc = lxml.html.fromstring(shown.text)
    listed = doc.get_element_by_id("preview-files")
    assert [b.get("value") for b in listed.xpath(".//button")] == [
        f"{rid}/{files['notes.txt']}"
    ]
    assert listed.xpath(".//strong")[0].text_content() == "cover.png"
    assert "第二个文件里的讲解" not in shown.text

    other = browser.submit(
        shown, form_id="choose", button=("preview", f"{rid}/{files['notes.txt']}")
    )
    assert other.status_code == 200, other.text[:300]
    assert "第二个文件里的讲解" in other.text
    # The choice is the file's and the resource's: a file of another resource named
    # beside this one is not shown, this resource's first file is.
    hidden_file = db.session.get(Resource, pool.s2_school).files[0].id
    mixed = browser.get(picker.url, params={"preview": f"{rid}/{hidden_file}"})
    assert mixed.status_code == 200
    assert "二中期中试卷" not in mixed.text
    assert "第二个文件里的讲解" not in mixed.text
