"""The catalogue pages in headless Chromium: a community learner browses the tree and
plays a video with seeking; a teacher searches in Chinese, filters, previews a PDF,
favourites it and copies the link to use in a course; what the pages fetch (a slow
link), a 360 px phone, a projector and the keyboard alone; screenshots of each page in
both languages."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import CORPUS
from tests.web.conftest import CRITICAL_BYTES, CRITICAL_REQUESTS, LiveServer
from tests.web.shelf import BOOK, BOOK_FILTERS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is missing"),
]

#: Corpus files of the catalogue, their metadata and the chapter they are filed under.
PUBLIC = {
    "rabbit320.webm": (
        "media/rabbit320.webm",
        {
            "title": "有理数 正数和负数 微课",
            "resource_type": "micro-lecture",
            **BOOK_FILTERS,
        },
        "正数和负数",
    ),
    "tracemonkey.pdf": (
        "pdf/tracemonkey.pdf",
        {"title": "有理数的加减法 课件", "resource_type": "courseware", **BOOK_FILTERS},
        "有理数的加减法",
    ),
    "singlescobasic.zip": (
        "package/singlescobasic.zip",
        {"title": "高尔夫 课程包", "stage": "junior", "subject": "pe"},
        None,
    ),
}
#: Seen by the city's schools only (school s1's).
CITY = {
    "issue2128r.pdf": (
        "pdf/issue2128r.pdf",
        {"title": "浅谈校长的魅力", "stage": "junior", "subject": "chinese"},
        None,
    ),
}

MAX_WEIGHT = 200_000


@pytest.fixture(scope="session")
def catalogue(
    live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, int]:
    """The resources above, imported once into the live server: the public ones by
    the rural school s3, the city's by s1. Title -> resource id."""
    from repo_app.extensions import db
    from repo_app.models import Visibility
    from repo_app.security import Principal
    from repo_app.services import indexing, resources
    from repo_app.services.accounts import load_chapters, org_by_code
    from repo_app.services.importer import run_import
    from tests.web.shelf import chapters

    ids: dict[str, int] = {}
    with live_server.app.app_context():
        load_chapters()
        db.session.commit()
        lessons = chapters(BOOK)
        for org, visibility, files in (("s3", "public", PUBLIC), ("s1", "city", CITY)):
            folder = tmp_path_factory.mktemp(f"catalogue-{org}")
            for name, (source, _meta, _chapter) in files.items():
                shutil.copy(CORPUS / source, folder / name)
            summary = run_import(
                [folder],
                org_by_code(org),
                visibility=Visibility(visibility),
                metadata={name: meta for name, (_s, meta, _c) in files.items()},
            )
            for item in summary.imported:
                name = Path(item["path"]).name
                meta, chapter = files[name][1], files[name][2]
                ids[meta["title"]] = item["resource_id"]
                if chapter:
                    resources.update(
                        Principal.command_line(),
                        item["resource_id"],
                        {"chapters": [lessons[chapter]]},
                    )
        db.session.commit()
        indexing.after_commit()
    assert len(ids) == len(PUBLIC) + len(CITY), ids
    return ids


def test_a_learner_browses_the_tree_and_plays_a_video(
    page: Any, catalogue: dict[str, int], screenshots: Any
) -> None:
    # From the home page, the menu leads to the stages; each step down by its name.
    page.goto("/")
    page.get_by_role("navigation", name="主导航").get_by_role(
        "link", name="浏览"
    ).click()
    screenshots(page, "browse-stages")
    for name, shot in (
        ("初中", "browse-subjects"),
        ("数学", "browse-editions"),
        ("人教版", "browse-books"),
        ("七年级 上册", "browse-book"),
    ):
        page.get_by_role("link", name=name, exact=True).click()
        screenshots(page, shot)

    # The book's chapters say what they hold, and where nothing is yet.
    lesson = page.locator(".chapter", has_text="正数和负数").last
    assert "1 个资源" in lesson.inner_text()
    empty = page.locator(".chapter", has_text="有理数的乘方").last
    assert "暂无资源" in empty.inner_text()

    # The lesson's resources, then the video's page.
    lesson.get_by_role("link", name="查看资源").click()
    page.get_by_role("link", name="有理数 正数和负数 微课").click()
    screenshots(page, "resource-video")

    # Play, then seek: the player asks for the part it needs (206 Partial Content).
    ranges: list[tuple[int, str]] = []
    page.on(
        "response",
        lambda r: (
            ranges.append((r.status, r.request.headers.get("range", "")))
            if "/content" in r.url
            else None
        ),
    )
    video = page.locator("video")
    video.click()
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('video').currentTime > 0.2")
    duration = video.evaluate("v => v.duration")
    target = round(duration * 0.6, 1)
    landed = video.evaluate(
        """(v, t) => new Promise(resolve => {
             v.addEventListener("seeked", () => resolve(v.currentTime), {once: true});
             v.currentTime = t;
           })""",
        target,
    )
    assert abs(landed - target) < 1.0
    page.wait_for_function(
        "t => document.querySelector('video').currentTime > t", arg=target + 0.2
    )
    assert any(status == 206 for status, _range in ranges), ranges


def test_a_teacher_searches_filters_previews_a_pdf_and_copies_a_link(
    page: Any, login: Any, catalogue: dict[str, int], screenshots: Any
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, "teacher1")
    page.goto("/search")

    # Suggestions as they type, pinyin initials too: zshfs is 正数和负数.
    box = page.get_by_role("combobox", name="搜索课件")
    box.press_sequentially("zshfs", delay=50)
    suggestion = page.get_by_role("listbox").get_by_role("option").first
    assert "正数和负数" in suggestion.inner_text()
    box.press("Escape")

    # A search in Chinese finds the lesson's video and its slides.
    box.fill("有理数")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    expect(page.get_by_role("heading", name="找到 2 个资源")).to_be_visible()
    screenshots(page, "search-results")

    # Only 课件: the filter is ticked, applied, and kept in the address.
    page.get_by_role("group", name="资源类型").get_by_label("课件").check()
    page.get_by_role("button", name="应用筛选").click()
    page.wait_for_url(re.compile(r"resource_type=courseware"))
    expect(page.get_by_role("heading", name="找到 1 个资源")).to_be_visible()
    assert "资源类型: 课件" in page.locator(".chips").inner_text()

    # The slides' pages, drawn in the browser, one after the other.
    page.get_by_role("link", name="有理数的加减法 课件").click()
    page.get_by_role("button", name="显示页面").click()
    page.wait_for_selector("canvas.pdf-page[data-page='1']")
    page.get_by_role("button", name="下一页").click()
    page.wait_for_selector("canvas.pdf-page[data-page='2']")
    assert "第 2 页，共 14 页" in page.locator(".pdf-controls").inner_text()

    # The stable link, copied to use in a course.
    page.get_by_role("button", name="复制链接").click()
    expect(page.get_by_text("链接已复制。")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    rid = catalogue["有理数的加减法 课件"]
    assert copied == f"{page.url.split('/resources/')[0]}/resources/{rid}"
    screenshots(page, "resource-pdf")

    # Favourited, it waits for them in their workspace.
    page.get_by_role("button", name="收藏", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="已加入收藏。")).to_be_visible()
    page.get_by_role("navigation", name="主导航").get_by_role(
        "link", name="我的工作台"
    ).click()
    favourites = page.get_by_role("region", name="收藏")
    expect(favourites.get_by_role("link", name="有理数的加减法 课件")).to_be_visible()

    # The city's own resources are theirs to find; a learner would not see them.
    page.goto("/search?q=校长")
    expect(page.get_by_role("link", name="浅谈校长的魅力")).to_be_visible()


def test_screenshots_of_the_other_pages(
    page: Any, catalogue: dict[str, int], screenshots: Any
) -> None:
    page.goto("/search?q=有理数&subject=english")
    expect(page.get_by_text("去掉学科：英语")).to_be_visible()
    screenshots(page, "search-nothing-found")
    page.goto(f"/resources/{catalogue['高尔夫 课程包']}")
    expect(page.get_by_text("课程包的目录")).to_be_visible()
    screenshots(page, "resource-package")


def test_light_enough_for_a_slow_link(
    page: Any, catalogue: dict[str, int], critical_path: Any, page_weight: Any
) -> None:
    # The search page can be used after a few small requests (bench/slow_link.py
    # times it on a throttled link).
    page.goto("/search?q=有理数")
    expect(page.get_by_role("heading", name="找到 2 个资源")).to_be_visible()
    early = critical_path(page)
    assert early["requests"] <= CRITICAL_REQUESTS, early
    assert early["bytes"] <= CRITICAL_BYTES, early

    # Every catalogue page weighs under 200 kB before its preview is asked for.
    weights = {"/search?q=有理数": page_weight(page)}
    for path in (
        "/browse",
        f"/browse/{BOOK}",
        f"/resources/{catalogue['有理数的加减法 课件']}",
        f"/resources/{catalogue['有理数 正数和负数 微课']}",
    ):
        page.goto(path)
        weights[path] = page_weight(page)
    assert max(weights.values()) < MAX_WEIGHT, weights


def test_a_phone_a_projector_and_a_keyboard(
    page: Any, catalogue: dict[str, int]
) -> None:
    # Nothing scrolls sideways on a 360 px phone or a 1920 px projector.
    for width, height in ((360, 740), (1920, 1080)):
        page.set_viewport_size({"width": width, "height": height})
        for path in (
            "/browse",
            f"/browse/{BOOK}",
            "/search?q=有理数",
            "/search?q=有理数&subject=english",
            f"/resources/{catalogue['有理数的加减法 课件']}",
            f"/resources/{catalogue['高尔夫 课程包']}",
        ):
            page.goto(path)
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{path} is {wide} px wide on a {width} px screen"

    # Keyboard only: skip to the page, search, tick a filter, apply it.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/search")
    page.keyboard.press("Tab")
    assert focused(page) == "跳到主要内容"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("有理数")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q="))
    tab_to(page, "document.activeElement.value === 'courseware'")
    page.keyboard.press("Space")
    tab_to(page, "document.activeElement.textContent.trim() === '应用筛选'")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"resource_type=courseware"))

    # Then to the slides, and through their pages.
    tab_to(page, "document.activeElement.textContent.includes('有理数的加减法')")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/resources/\d+"))
    tab_to(page, "document.activeElement.textContent.trim() === '显示页面'")
    page.keyboard.press("Enter")
    page.wait_for_selector("canvas.pdf-page[data-page='1']")
    assert focused(page) == "下一页"
    page.keyboard.press("Enter")
    page.wait_for_selector("canvas.pdf-page[data-page='2']")


def focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement.textContent.trim()"))


def tab_to(page: Any, condition: str, limit: int = 80) -> None:
    """Press Tab until *condition* (JavaScript) holds for the focused element."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => Boolean({condition})"):
            return
    raise AssertionError(f"Tab never reached: {condition}")
