"""Browsing 学段 → 学科 → 教材版本 → 年级·册 → 章节: counts of what the asker may see
at each entry, entries with none marked, links to the search filtered to each."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from tests.conftest import Api
from tests.web.conftest import Pages
from tests.web.shelf import BOOK_FILTERS, BOOK_PATH, Shelf, chapters

NONE = "暂无资源"


@pytest.fixture
def shelf(api: Api) -> dict[str, int]:
    """Two lessons of 正数和负数 (one public, one for school s1) and a public 语文
    resource of 七年级 下册."""
    books = chapters()
    lesson = str(books["正数和负数"])
    shelf = Shelf(api)
    return {
        "public": shelf.add("正数和负数 课件", **BOOK_FILTERS, chapters=[int(lesson)]),
        "school": shelf.add(
            "正数和负数 学案",
            visibility="school",
            **BOOK_FILTERS,
            chapters=[int(lesson)],
        ),
        "other": shelf.add(
            "春 朗读", stage="junior", subject="chinese", grade="g7", volume="vol2"
        ),
        "lesson": int(lesson),
    }


def entries(page: str) -> dict[str, str]:
    """Each entry's name -> its count, as the page says it."""
    found = re.findall(
        r'class="node-name"[^>]*>([^<]+)</(?:a|span)>\s*<span class="count[^"]*">([^<]+)',
        page,
    )
    return {html.unescape(name).strip(): count.strip() for name, count in found}


def test_every_step_counts_what_the_asker_may_see(
    pages: Pages, shelf: dict[str, int]
) -> None:
    # An anonymous learner sees the public lesson, teacher1 their school's too, and
    # teacher3 (another district) the public one only.
    for who, seen in ((None, 1), ("teacher1", 2), ("teacher3", 1)):
        if who:
            pages.login(who)
        assert_counts(pages, seen)
        if who:
            pages.logout()


def assert_counts(pages: Pages, seen: int) -> None:
    """Every step from the top to the book's chapters counts *seen* lessons."""
    counted = f"{seen} 个资源"

    # 学段: every stage is listed; those with nothing say so.
    top = entries(pages.get("/browse").get_data(as_text=True))
    assert top["初中"] == f"{seen + 1} 个资源"
    assert top["高中"] == NONE and top["小学（五•四学制）"] == NONE

    # 学科 of 初中, 教材版本 of 数学, 年级·册 of 人教版.
    assert (
        entries(pages.get("/browse/junior").get_data(as_text=True))["数学"] == counted
    )
    editions = entries(pages.get("/browse/junior/math").get_data(as_text=True))
    assert editions["人教版"] == counted and editions["北师大版"] == NONE
    books = entries(pages.get("/browse/junior/math/pep").get_data(as_text=True))
    assert books["七年级 上册"] == counted
    assert books["七年级 下册"] == NONE and books["九年级 下册"] == NONE

    # 章节 of the book: the unit counts its lessons; empty chapters are marked.
    page = pages.get(f"/browse/{BOOK_PATH}").get_data(as_text=True)
    chapter_counts = entries(page)
    assert chapter_counts["正数和负数"] == counted
    assert chapter_counts["有理数的乘方"] == NONE
    assert chapter_counts["一元一次方程"] == NONE
    assert "15 个章节中有 14 个还没有资源" in page


def test_the_unit_counts_its_lessons_and_links_to_them(
    pages: Pages, shelf: dict[str, int]
) -> None:
    page = pages.get(f"/browse/{BOOK_PATH}").get_data(as_text=True)
    # The first unit, 有理数, holds the lesson 正数和负数.
    unit = page.split('class="node-name">有理数</span>', 1)[1].split("<ol>", 1)[0]
    assert "1 个资源" in unit
    link = html.unescape(re.search(r'class="see" href="([^"]+)"', unit).group(1))
    assert f"chapter={shelf['lesson']}" in link and "subject=math" in link

    # The search it links to finds the same resource.
    found = pages.get(link).get_data(as_text=True)
    assert "找到 1 个资源" in found and "正数和负数 课件" in found


def test_each_entry_links_to_the_search_filtered_to_it(
    pages: Pages, shelf: dict[str, int]
) -> None:
    page = pages.get("/browse/junior/math/pep").get_data(as_text=True)
    links = [html.unescape(u) for u in re.findall(r'class="see" href="([^"]+)"', page)]
    assert links == [
        "/search?stage=junior&subject=math&edition=pep&grade=g7&volume=vol1"
    ]
    # Entries lead one step down, with the place in the breadcrumbs.
    assert f'href="/browse/{BOOK_PATH}"' in page
    book = pages.get(f"/browse/{BOOK_PATH}").get_data(as_text=True)
    assert '<span aria-current="page">七年级 上册</span>' in book
    assert "初中 · 数学 · 人教版 · 七年级 上册" in book


def test_books_without_a_grade_and_books_without_chapters(
    pages: Pages, shelf: dict[str, int]
) -> None:
    # 高中 books are named by their volume alone; the path has "-" for the grade.
    page = pages.get("/browse/senior/math/pep-a").get_data(as_text=True)
    assert 'href="/browse/senior/math/pep-a/-/required1"' in page
    assert "必修第一册" in entries(page)
    assert "有理数" not in pages.get("/browse/senior/math/pep-a/-/required1").get_data(
        as_text=True
    )
    # A book the catalogue has no chapter list for says so.
    page = pages.get("/browse/junior/math/bnup/g7/vol1").get_data(as_text=True)
    assert "目录中还没有这本教材的章节" in page


def test_in_english(pages: Pages, shelf: dict[str, int]) -> None:
    english = {"Accept-Language": "en"}
    page = pages.get("/browse", headers=english).get_data(as_text=True)
    assert entries(page)["Junior secondary"] == "2 resources"
    assert entries(page)["Senior secondary"] == "No resources yet"
    book = pages.get(f"/browse/{BOOK_PATH}", headers=english).get_data(as_text=True)
    assert "Grade 7 Volume 1" in book and "See resources" in book


def test_unknown_places_are_a_readable_not_found_page(
    pages: Pages, world: Any
) -> None:
    for path in (
        "/browse/nowhere",
        "/browse/junior/alchemy",
        "/browse/junior/math/pep/g7",  # a grade without its volume
        "/browse/junior/math/pep/g7/vol1/more",
        "/browse/junior/math/pep/g1/vol1",  # no such book in the catalogue
        "/browse/junior/math/pep/%00/vol1",
    ):
        resp = pages.get(path)
        assert resp.status_code == 404, path
        assert "页面不存在" in resp.get_data(as_text=True), path
