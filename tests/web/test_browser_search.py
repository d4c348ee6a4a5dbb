"""The search page in headless Chromium: each order a visitor picks puts the results
in the order it promises."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from tests.conftest import Api
from tests.web.conftest import LiveServer
from tests.web.shelf import Shelf

pytestmark = pytest.mark.browser

#: Resources about bubble sort: title -> (description, last changed, downloads).
#: Only the first has the words in its title, so it is the best match; the newest
#: and the most downloaded are others.
SORTED = {
    "冒泡排序 算法课件": ("", dt.datetime(2021, 3, 1, tzinfo=dt.UTC), 7),
    "算法入门 讲义": ("本讲介绍冒泡排序。", dt.datetime(2025, 9, 1, tzinfo=dt.UTC), 2),
    "程序设计 学案": ("冒泡排序的练习。", dt.datetime(2023, 6, 1, tzinfo=dt.UTC), 40),
}


@pytest.fixture(scope="session")
def sorted_shelf(live_server: LiveServer) -> dict[str, int]:
    """The resources of :data:`SORTED`, public, with their dates and downloads set
    and indexed. Title -> id."""
    from repo_app.extensions import db
    from repo_app.models import Resource
    from repo_app.services import indexing

    shelf = Shelf(Api(live_server.app.test_client(), live_server.world))
    ids = {
        title: shelf.add(title, description=description, subject="it")
        for title, (description, _changed, _downloads) in SORTED.items()
    }
    with live_server.app.app_context():
        for title, (_description, changed, downloads) in SORTED.items():
            db.session.execute(
                update(Resource)
                .where(Resource.id == ids[title])
                .values(updated_at=changed, downloads=downloads)
            )
        indexing.mark(*ids.values())
        db.session.commit()
        indexing.after_commit()
        db.session.remove()
    return ids


def shown(page: Any) -> list[str]:
    return [t.strip() for t in page.locator(".hit-title").all_inner_texts()]


def test_each_order_sorts_as_it_promises(
    page: Any, sorted_shelf: dict[str, int]
) -> None:
    page.goto("/search?q=冒泡排序")
    expect(page.get_by_role("heading", name="找到 3 个资源")).to_be_visible()
    assert page.get_by_label("排序").input_value() == "relevance"
    assert shown(page)[0] == "冒泡排序 算法课件"

    # Newest first: by the day each was last changed.
    by_date = sorted(SORTED, key=lambda title: SORTED[title][1], reverse=True)
    # Most downloaded first.
    by_use = sorted(SORTED, key=lambda title: SORTED[title][2], reverse=True)
    assert by_date != by_use and by_date[0] != shown(page)[0] != by_use[0]

    for sort, label, expected in (
        ("newest", "最新", by_date),
        ("popular", "下载最多", by_use),
    ):
        page.get_by_label("排序").select_option(label=label)
        page.get_by_role("button", name="排序").click()
        page.wait_for_url(re.compile(rf"sort={sort}"))
        assert shown(page) == expected, sort
        assert page.get_by_label("排序").input_value() == sort

    # Back to the best match: the title that holds the words leads again.
    page.get_by_label("排序").select_option(label="最相关")
    page.get_by_role("button", name="排序").click()
    page.wait_for_url(re.compile(r"sort=relevance"))
    assert shown(page)[0] == "冒泡排序 算法课件"


def test_dates_filter_from_the_form_and_come_off_as_chips(
    page: Any, sorted_shelf: dict[str, int]
) -> None:
    page.goto("/search?q=冒泡排序")
    expect(page.get_by_role("heading", name="找到 3 个资源")).to_be_visible()

    # A day that does not exist: said next to the field, with what was typed.
    dates = page.get_by_role("group", name="更新日期")
    dates.get_by_label("从").fill("2023-02-30")
    page.get_by_role("button", name="应用筛选").click()
    page.wait_for_url(re.compile(r"from=2023-02-30"))
    field = page.get_by_role("group", name="更新日期").get_by_label("从")
    expect(field).to_have_value("2023-02-30")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile("日历上没有这一天"))
    expect(page.get_by_role("heading", name="找到 3 个资源")).to_be_visible()

    # Corrected, it filters and shows as a chip; the chip takes it away again.
    field.fill("2023-01-01")
    page.get_by_role("button", name="应用筛选").click()
    page.wait_for_url(re.compile(r"from=2023-01-01"))
    expect(page.get_by_role("heading", name="找到 2 个资源")).to_be_visible()
    assert "冒泡排序 算法课件" not in shown(page)
    chip = page.get_by_role("link", name=re.compile("更新日期从: 2023-01-01"))
    chip.click()
    page.wait_for_url(re.compile(r"^(?!.*from=).*q="))
    expect(page.get_by_role("heading", name="找到 3 个资源")).to_be_visible()
    expect(page.get_by_role("group", name="更新日期").get_by_label("从")).to_have_value("")


def test_on_a_phone_a_bad_date_keeps_the_filters_open(
    page: Any, sorted_shelf: dict[str, int]
) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    # The filters start folded, so that the results come first...
    page.goto("/search?q=冒泡排序&from=2023-01-01")
    expect(page.locator("#filters")).not_to_have_attribute("open", "")
    # ...but not when one of them says what is wrong with it.
    page.goto("/search?q=冒泡排序&from=2023-02-30")
    expect(page.get_by_text("日历上没有这一天。")).to_be_visible()
    expect(page.get_by_label("从", exact=True)).to_have_value("2023-02-30")
