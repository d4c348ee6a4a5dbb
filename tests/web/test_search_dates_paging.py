"""The search page's date filters (kept in the address, shown as chips, a bad date
said next to its field with what was typed kept) and its pages past the engine's
window, followed by cursor."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from sqlalchemy import update

from repo_app.extensions import db
from repo_app.models import Resource
from repo_app.services import indexing
from repo_app.services import search as search_service
from repo_app.web import search as search_page
from tests.conftest import Api
from tests.web.conftest import Pages
from tests.web.shelf import Shelf

#: Geometry resources and the day each was last changed.
CHANGED = {
    "几何初步 课件": dt.datetime(2023, 3, 1, 9, tzinfo=dt.UTC),
    "几何证明 教案": dt.datetime(2024, 5, 10, 9, tzinfo=dt.UTC),
    "几何作图 学案": dt.datetime(2025, 1, 20, 9, tzinfo=dt.UTC),
}


def restamp(changed: dict[int, dt.datetime]) -> None:
    """Set when resources were last changed, and index them again."""
    for rid, moment in changed.items():
        db.session.execute(
            update(Resource).where(Resource.id == rid).values(updated_at=moment)
        )
    indexing.mark(*changed)
    db.session.commit()
    indexing.after_commit()


@pytest.fixture
def geometry(api: Api) -> dict[str, int]:
    shelf = Shelf(api)
    ids = {title: shelf.add(title, subject="math") for title in CHANGED}
    restamp({ids[title]: moment for title, moment in CHANGED.items()})
    return ids


def hits(page: str) -> list[str]:
    titles = re.findall(r'<h3 class="hit-title"><a href="[^"]+">(.*?)</a>', page)
    return [html.unescape(re.sub(r"</?em>", "", t)) for t in titles]


def field_value(page: str, name: str) -> str:
    field = rf'<input id="date-{name}" name="{name}"[^>]*value="([^"]*)"'
    match = re.search(field, page)
    assert match, f"no {name} field"
    return html.unescape(match.group(1))


def chips(page: str) -> dict[str, str]:
    """Chip text -> the address that removes it."""
    found = re.findall(r'<a href="([^"]+)" class="chip">([^<]*)<', page)
    return {" ".join(text.split()): html.unescape(href) for href, text in found}


def link(page: str, rel: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return html.unescape(match.group(1)) if match else None


def test_dates_filter_and_stay_in_the_address(
    pages: Pages, geometry: dict[str, int]
) -> None:
    page = pages.get("/search?q=几何&from=2024-01-01").get_data(as_text=True)
    assert set(hits(page)) == {"几何证明 教案", "几何作图 学案"}
    assert field_value(page, "from") == "2024-01-01"

    # Both ends: the days in between, each end a chip that takes it away.
    page = pages.get("/search?q=几何&from=2024/5/10&to=2024年12月31日").get_data(
        as_text=True
    )
    assert hits(page) == ["几何证明 教案"]
    shown = chips(page)
    assert shown["更新日期从: 2024-05-10"] == (
        "/search?q=几何&to=2024-12-31".replace("几何", "%E5%87%A0%E4%BD%95")
    )
    assert shown["更新日期到: 2024-12-31"].endswith("&from=2024-05-10")

    # A day's end is included: what changed on the 'to' day is found.
    page = pages.get("/search?q=几何&from=2025-01-20&to=2025-01-20").get_data(
        as_text=True
    )
    assert hits(page) == ["几何作图 学案"]

    # Sorting and paging keep the dates.
    page = pages.get("/search?q=几何&to=2024-12-31&sort=newest").get_data(as_text=True)
    assert hits(page) == ["几何证明 教案", "几何初步 课件"]
    clear = re.search(r'<li><a href="([^"]+)">清除全部筛选</a>', page)
    assert clear and "to=" not in clear.group(1)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("2024-13-01", "日历上没有这一天。"),
        ("下周一", "请按“年-月-日”填写，如 2024-09-01。"),
        ("1800-01-01", "年份须在 1900 到 2999 之间。"),
    ],
)
def test_a_bad_date_is_said_next_to_its_field_and_kept(
    pages: Pages, geometry: dict[str, int], typed: str, message: str
) -> None:
    resp = pages.get("/search", query_string={"q": "几何", "from": typed})
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert field_value(page, "from") == typed
    error = re.search(r'<p class="error" id="date-from-error">([^<]*)</p>', page)
    assert error and html.unescape(error.group(1)) == message
    assert 'aria-invalid="true"' in page.split('id="date-from"', 1)[1].split(">")[0]
    # The rest of the search runs, without the date.
    assert len(hits(page)) == 3
    assert not any(text.startswith("更新日期") for text in chips(page))


def test_an_end_before_the_start_is_said_next_to_the_end(
    pages: Pages, geometry: dict[str, int]
) -> None:
    page = pages.get("/search?q=几何&from=2025-01-01&to=2024-01-01").get_data(
        as_text=True
    )
    assert field_value(page, "to") == "2024-01-01"
    assert "结束日期早于开始日期。" in page
    assert hits(page) == ["几何作图 学案"]


def test_nothing_found_in_the_dates_offers_any_date(
    pages: Pages, geometry: dict[str, int]
) -> None:
    page = pages.get("/search?q=几何&to=2020-01-01").get_data(as_text=True)
    assert hits(page) == []
    offer = re.search(r'<a href="([^"]+)">不限日期</a> <span class="count">3 个结果', page)
    assert offer and "to=" not in offer.group(1)


@pytest.fixture
def small_window(monkeypatch: pytest.MonkeyPatch) -> int:
    """An engine window of 4 results on pages of 2: two numbered pages."""
    monkeypatch.setattr(search_service, "MAX_PAGE_DEPTH", 4)
    monkeypatch.setattr(search_page, "PER_PAGE", 2)
    return 2


@pytest.fixture
def exercises(api: Api) -> list[str]:
    shelf = Shelf(api)
    titles = [f"练习题 第{n}套" for n in range(1, 8)]
    ids = [shelf.add(title, subject="math") for title in titles]
    restamp(
        {rid: dt.datetime(2024, 1, n + 1, tzinfo=dt.UTC) for n, rid in enumerate(ids)}
    )
    return titles


@pytest.mark.parametrize("sort", ["newest", "relevance"])
def test_pages_go_on_past_the_window_by_cursor_and_back(
    pages: Pages, exercises: list[str], small_window: int, sort: str
) -> None:
    # The last numbered page leads on, by cursor, to the end of the results.
    address: str | None = f"/search?q=练习题&sort={sort}&page={small_window}"
    seen: list[list[str]] = []
    addresses = []
    while address:
        page = pages.get(address).get_data(as_text=True)
        addresses.append(address)
        seen.append(hits(page))
        address = link(page, "next")
    assert [len(shown) for shown in seen] == [2, 2, 1]
    found = [title for shown in seen for title in shown]
    first = hits(pages.get(f"/search?q=练习题&sort={sort}").get_data(as_text=True))
    assert sorted(first + found) == sorted(exercises)
    if sort == "newest":
        assert first + found == exercises[::-1]
    assert "cursor=" in addresses[1] and "page=3" in addresses[1]
    assert '<span aria-current="page">4</span>' in page
    assert 'start="7"' in page

    # "Previous" walks back the same pages, to the numbered ones.
    back = []
    address = link(page, "prev")
    while address and "cursor=" in address:
        page = pages.get(address).get_data(as_text=True)
        back.append(hits(page))
        address = link(page, "prev")
    assert back == seen[1:-1][::-1]
    assert address is not None and address.endswith(f"&page={small_window}")


def test_a_cursor_that_cannot_be_followed_starts_again(
    pages: Pages, exercises: list[str], small_window: int
) -> None:
    page = pages.get("/search?q=练习题&page=3&cursor=forged").get_data(as_text=True)
    notice = html.unescape(page.split('class="notice"', 1)[1].split("</p>", 1)[0])
    assert "从第 1 页重新开始" in notice
    assert "按最新排序" in notice  # the way to page deeper than best match goes
    assert '<span aria-current="page">1</span>' in page
    assert len(hits(page)) == 2


def test_a_long_trail_keeps_the_address_short(
    pages: Pages,
    exercises: list[str],
    small_window: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search_page, "MAX_TRAIL", 1)
    page = pages.get("/search?q=练习题&sort=newest&page=2").get_data(as_text=True)
    page = pages.get(link(page, "next")).get_data(as_text=True)
    following = link(page, "next")
    assert following and following.count("cursor=") == 1
    page = pages.get(following).get_data(as_text=True)
    assert '<span aria-current="page">4</span>' in page
    assert hits(page) == ["练习题 第1套"]
    # The cursor of page 3 is no longer in the address: no way back to it, but the
    # numbered pages are still linked.
    assert link(page, "prev") is None
    assert 'aria-label="第 2 页"' in page
