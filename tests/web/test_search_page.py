"""The search page: Chinese queries, multi-select facets kept in the address, sort,
pages, safe highlights, what to relax when nothing is found, and bad input."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from markupsafe import Markup

from repo_app.web import search as search_page
from repo_app.web.display import safe_highlight
from tests.conftest import Api
from tests.web.conftest import Pages
from tests.web.shelf import Shelf, chapters


@pytest.fixture
def shelf(api: Api) -> dict[str, int]:
    """Resources about 分数 in two subjects, one visible to school s1 only."""
    shelf = Shelf(api)
    return {
        "math": shelf.add(
            "分数的加法 课件",
            stage="primary",
            subject="math",
            resource_type="courseware",
            description="同分母分数的加法与减法",
        ),
        "math_plan": shelf.add(
            "分数的意义 教案",
            stage="primary",
            subject="math",
            resource_type="lesson-plan",
        ),
        "chinese": shelf.add(
            "分数线 作文指导", stage="junior", subject="chinese", who="uploader3"
        ),
        "school": shelf.add(
            "分数的乘法 学案", stage="primary", subject="math", visibility="school"
        ),
    }


def facet(page: str, name: str) -> dict[str, tuple[int, bool]]:
    """The values of facet *name*: code -> (count, ticked)."""
    found = re.findall(
        rf'<input type="checkbox" id="f-{name}-\d+" name="{name}" value="([^"]+)"'
        r'( checked)?>\s*<label[^>]*>[^<]*<span class="count">(\d+)</span>',
        page,
    )
    return {value: (int(count), bool(ticked)) for value, ticked, count in found}


def hits(page: str) -> list[str]:
    titles = re.findall(r'<h3 class="hit-title"><a href="[^"]+">(.*?)</a>', page)
    return [html.unescape(re.sub(r"</?em>", "", t)) for t in titles]


def test_a_chinese_search_with_highlights_and_facet_counts(
    pages: Pages, shelf: dict[str, int]
) -> None:
    page = pages.get("/search?q=分数").get_data(as_text=True)
    assert "找到 3 个资源" in page
    assert set(hits(page)) == {"分数的加法 课件", "分数的意义 教案", "分数线 作文指导"}
    assert "<em>分数</em>" in page
    assert facet(page, "subject") == {"math": (2, False), "chinese": (1, False)}
    assert facet(page, "resource_type")["lesson-plan"] == (1, False)
    # Facet labels are the vocabulary's, in the page's language.
    assert re.search(r'value="math">\s*<label[^>]*>数学 ', page)
    english = pages.get("/search?q=分数", headers={"Accept-Language": "en"})
    assert re.search(
        r'value="math">\s*<label[^>]*>Mathematics ', english.get_data(as_text=True)
    )


def test_results_and_counts_are_those_the_asker_may_see(
    pages: Pages, shelf: dict[str, int]
) -> None:
    pages.login("teacher1")
    page = pages.get("/search?q=分数").get_data(as_text=True)
    assert "找到 4 个资源" in page and "分数的乘法 学案" in hits(page)
    assert facet(page, "subject")["math"] == (3, False)


def test_filters_are_multi_select_and_stay_in_the_address(
    pages: Pages, shelf: dict[str, int]
) -> None:
    page = pages.get("/search?q=分数&subject=数学&sort=newest").get_data(as_text=True)
    assert set(hits(page)) == {"分数的加法 课件", "分数的意义 教案"}
    # The ticked value is a code now; the other subject is still on offer, counted
    # as if it were ticked too.
    assert facet(page, "subject") == {"math": (2, True), "chinese": (1, False)}
    assert '<option value="newest" selected>' in page
    # The chosen filter can be removed, keeping the words and the order.
    chip = html.unescape(re.search(r'href="([^"]+)" class="chip"', page).group(1))
    assert chip == "/search?q=%E5%88%86%E6%95%B0&sort=newest"

    both = pages.get("/search?q=分数&subject=math&subject=chinese").get_data(
        as_text=True
    )
    assert "找到 3 个资源" in both
    assert facet(both, "subject") == {"math": (2, True), "chinese": (1, True)}
    # Across fields filters are all applied.
    narrowed = pages.get("/search?q=分数&subject=math&subject=chinese&stage=junior")
    assert hits(narrowed.get_data(as_text=True)) == ["分数线 作文指导"]


def test_pages_keep_the_search(
    pages: Pages, shelf: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_page, "PER_PAGE", 2)
    page = pages.get("/search?q=分数&sort=newest").get_data(as_text=True)
    assert len(hits(page)) == 2
    pager = page.split('class="pager"', 1)[1]
    assert 'aria-current="page">1<' in pager
    following = html.unescape(re.search(r'href="([^"]+)" rel="next"', pager).group(1))
    assert following == "/search?q=%E5%88%86%E6%95%B0&sort=newest&page=2"
    second = pages.get(following).get_data(as_text=True)
    assert len(hits(second)) == 1 and not set(hits(second)) & set(hits(page))
    # A page past the end shows the last one.
    beyond = pages.get("/search?q=分数&sort=newest&page=999999").get_data(as_text=True)
    assert hits(beyond) == hits(second)


def test_a_chapter_filter_is_named_by_its_title(pages: Pages, api: Api) -> None:
    lesson = chapters()["正数和负数"]
    Shelf(api).add("正负数 练习", chapters=[lesson])
    page = pages.get(f"/search?chapter={lesson}").get_data(as_text=True)
    assert "找到 1 个资源" in page
    assert "章节: 正数和负数" in html.unescape(page)


def test_nothing_found_suggests_what_to_leave_out(
    pages: Pages, shelf: dict[str, int]
) -> None:
    page = pages.get("/search?q=分数&subject=english&stage=primary").get_data(
        as_text=True
    )
    assert "没有找到资源" in page
    relax = page.split('class="relax"', 1)[1].split("</ul>", 1)[0]
    options = [
        (html.unescape(label), count)
        for label, count in re.findall(
            r'<a href="[^"]+">([^<]+)</a> <span class="count">([^<]+)</span>', relax
        )
    ]
    # Leaving out the subject finds the two public 小学 resources; leaving out the
    # stage finds nothing (no 英语 resource), so it is not offered.
    assert options == [("去掉学科：英语", "2 个结果")]
    assert "按学段、学科和教材浏览" in page


def test_a_title_cannot_inject_markup(pages: Pages, api: Api) -> None:
    Shelf(api).add("<img src=x onerror=alert(1)> 分数 <em>强调</em>")
    page = pages.get("/search?q=分数").get_data(as_text=True)
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;em&gt;强调&lt;/em&gt;" in page or "&lt;em&gt;" in page


@pytest.mark.parametrize(
    ("snippet", "shown"),
    [
        ("a <em>分数</em> b", "a <em>分数</em> b"),
        ("x &lt;script&gt; <em>y</em>", "x &lt;script&gt; <em>y</em>"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("<em>open", "<em>open</em>"),
        ("</em>close", "close"),
        ('<em onclick="x">a</em>', "&lt;em onclick=&#34;x&#34;&gt;a"),
        ("&amp;amp; &", "&amp;amp; &amp;"),
        ("", ""),
    ],
)
def test_highlights_are_made_safe(snippet: str, shown: str) -> None:
    assert safe_highlight(snippet) == Markup(shown)


#: Addresses no search page may fail on (one test: the city and its resources are
#: built once for all of them).
BAD_QUERIES: list[dict[str, Any]] = [
    {"q": "\x00\x01\x1f 分数"},
    {"q": "<script>alert(1)</script>"},
    {"q": 'title:foo AND ("unbalanced'},
    {"q": "分" * 5000},
    {"q": "😀🎓"},
    {"colour": "red"},
    {"subject": "alchemy"},
    {"subject": "x" * 500},
    {"chapter": "abc"},
    {"chapter": "99999999999999999999"},
    {"school": "../../etc/passwd"},
    {"locality": "moon"},
    {"page": "-1"},
    {"page": "abc"},
    {"page": "99999999999999999999999"},
    {"sort": "random"},
    {"q": "分数", "subject": ["math"] * 80},
]


def test_bad_input_is_a_readable_page(pages: Pages, shelf: dict[str, int]) -> None:
    for query in BAD_QUERIES:
        resp = pages.get("/search", query_string=query)
        assert resp.status_code == 200, query
        page = resp.get_data(as_text=True)
        assert "<script>alert" not in page, query
        assert 'id="q"' in page, query


def test_what_cannot_be_searched_is_named(pages: Pages, shelf: dict[str, int]) -> None:
    page = pages.get("/search?q=分数&colour=red&subject=alchemy&page=x").get_data(
        as_text=True
    )
    notice = html.unescape(page.split('class="notice"', 1)[1].split("</p>", 1)[0])
    assert "colour" in notice and "subject=alchemy" in notice and "page=x" in notice
    # The rest of the search still runs.
    assert "找到 3 个资源" in page


def test_an_unknown_organisation_is_named_and_left_out(
    pages: Pages, api: Api, shelf: dict[str, int]
) -> None:
    # s99 is no school, and s1 is a school, not a district: both are left out.
    resp = pages.get("/search?q=分数&school=s99&school=s1&district=s1&subject=数学")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    notice = html.unescape(page.split('class="notice"', 1)[1].split("</p>", 1)[0])
    assert "school=s99" in notice and "district=s1" in notice
    assert "school=s1," not in notice + ","
    # The rest of the search runs: s1's mathematics.
    assert set(hits(page)) == {"分数的加法 课件", "分数的意义 教案"}
    assert "学校: 城东一中" in page

    # The API still refuses it, saying which value names nothing.
    refused = api.search(None, q="分数", school="s99")
    assert refused.status_code == 400
    assert refused.get_json()["error"]["details"] == {"field": "school", "value": "s99"}


def test_the_page_works_without_javascript(pages: Pages, world: Any) -> None:
    page = pages.get("/search").get_data(as_text=True)
    # One GET form holds the box, the filters and the sort, with its own buttons.
    form = page.split('<form id="search"', 1)[1]
    assert 'action="/search" method="get"' in form.split(">", 1)[0]
    assert 'name="q"' in form and '<button type="submit" class="primary">' in form
    # Suggestions are offered by the script, from the API.
    assert 'data-suggest="/api/v1/suggest"' in form
    assert re.search(r'<script src="/static/js/search\.js\?v=\w+" defer>', page)
