"""The resource page: metadata with labels, licence, school and district, versions and
files; previews of each kind of file; the stable link for staff; JSON-LD for public
resources only; and "not found" for whatever the asker may not see."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest

from tests.conftest import CORPUS, Api
from tests.web.conftest import Pages
from tests.web.shelf import BOOK_FILTERS, Shelf, chapters

NOT_FOUND = "页面不存在"


def corpus(path: str) -> bytes:
    source = CORPUS / path
    if not source.is_file():
        pytest.skip(f"no corpus file {source}")
    return source.read_bytes()


def main_of(page: str, rid: int) -> str:
    """The page's main content, with the id asked for and the request id left out."""
    main = page.split("<main", 1)[1].split("</main>", 1)[0]
    main = re.sub(r"(请求|Request) \S+", "", main)
    return main.replace(f"resource {rid}", "resource ID")


def linked_data(page: str) -> dict[str, Any] | None:
    found = re.search(
        r'<script type="application/ld\+json">(.*?)</script>', page, re.DOTALL
    )
    return json.loads(found.group(1)) if found else None


@pytest.fixture
def lesson(api: Api, client: Any, world: Any) -> int:
    """A public 初中数学 lesson of school s1 in two versions, filed under a chapter."""
    rid = Shelf(api).add(
        "正数和负数 课件",
        **BOOK_FILTERS,
        resource_type="courseware",
        licence="cc-by-4.0",
        language="zh",
        keywords=["正数", "负数"],
        description="认识正数和负数。",
        chapters=[chapters()["正数和负数"]],
        files={"first.txt": "第一版 正数".encode()},
    )
    resp = api.upload(
        "uploader1", rid, "second.txt", "第二版 负数".encode(), note="改正"
    )
    assert resp.status_code == 201
    return rid


def test_the_page_says_what_the_resource_is(pages: Pages, lesson: int) -> None:
    page = html.unescape(pages.get(f"/resources/{lesson}").get_data(as_text=True))
    assert "<h1>正数和负数 课件</h1>" in page
    for label, value in [
        ("学段", "初中"),
        ("年级", "七年级"),
        ("学科", "数学"),
        ("教材版本", "人教版"),
        ("册", "上册"),
        ("章节", "正数和负数"),
        ("资源类型", "课件"),
        ("关键词", "正数、负数"),
        ("学校", "城东一中"),
        ("区县", "城东区"),
        ("可见范围", "所有人（公开）"),
    ]:
        assert re.search(rf"<dt>{label}</dt><dd>(<a [^>]+>)?{value}", page), label
    # Labels link to the search for them.
    assert '<a href="/search?subject=math">数学</a>' in page
    assert re.search(
        r'<a rel="license" href="https://creativecommons.org/licenses/by/4.0/">'
        r"知识共享 署名 4.0</a>",
        page,
    )
    # The files are the current version's; an older version lists its own.
    files = page.split('id="files-heading"', 1)[1].split("</table>", 1)[0]
    assert "first.txt" in files and "second.txt" in files
    versions = page.split('id="versions-heading"', 1)[1]
    assert "第 2 版" in versions and "当前版本" in versions and "改正" in versions
    first = versions.split("第 1 版", 1)[1]
    assert "first.txt" in first and "second.txt" not in first


def test_in_english(pages: Pages, lesson: int) -> None:
    page = pages.get(f"/resources/{lesson}", headers={"Accept-Language": "en"})
    text = html.unescape(page.get_data(as_text=True))
    assert '<dt>Subject</dt><dd><a href="/search?subject=math">Mathematics</a>' in text
    assert "CC BY 4.0" in text and "Everyone (public)" in text
    assert "Version 2" in text


#: (visibility, who asks, whether they see it); ``None``: a draft.
WHO_SEES = [
    ("school", None, False),
    ("school", "teacher3", False),  # another district
    ("school", "teacher2", False),  # another school of the district
    ("school", "teacher1", True),
    ("district", "teacher2", True),
    (None, "teacher1", False),  # a draft is its uploader's
    (None, "uploader1", True),
]


def test_what_the_asker_may_not_see_is_not_found(pages: Pages, api: Api) -> None:
    for visibility, who, shown in WHO_SEES:
        rid = Shelf(api).add("校内 教案", visibility=visibility)
        if who:
            pages.login(who)
            pages.get("/")  # shows the "signed in" message, once
        assert_shown_or_not_found(pages, rid, shown)
        if who:
            pages.logout()


def assert_shown_or_not_found(pages: Pages, rid: int, shown: bool) -> None:
    resp = pages.get(f"/resources/{rid}")
    if shown:
        assert resp.status_code == 200
        assert "校内 教案" in resp.get_data(as_text=True)
        return
    # The same page as for an id that does not exist: nothing tells it is there.
    missing = pages.get(f"/resources/{rid + 1000}")
    assert resp.status_code == missing.status_code == 404
    body = resp.get_data(as_text=True)
    assert NOT_FOUND in body and "校内 教案" not in body
    assert main_of(body, rid) == main_of(missing.get_data(as_text=True), rid + 1000)


def test_a_draft_says_its_state_to_its_uploader(pages: Pages, api: Api) -> None:
    rid = Shelf(api).add("草稿 教案", visibility=None)
    pages.login("uploader1")
    assert "状态: 草稿" in pages.get(f"/resources/{rid}").get_data(as_text=True)


def test_bad_addresses_are_not_found(pages: Pages, world: Any) -> None:
    for path in (
        "/resources/abc",
        "/resources/0",
        "/resources/-1",
        "/resources/99999999999999999999",
    ):
        resp = pages.get(path)
        assert resp.status_code == 404, path
        assert NOT_FOUND in resp.get_data(as_text=True), path


def test_linked_data_for_public_resources_only(
    pages: Pages, lesson: int, api: Api
) -> None:
    data = linked_data(pages.get(f"/resources/{lesson}").get_data(as_text=True))
    assert data is not None
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "LearningResource"
    assert data["name"] == "正数和负数 课件"
    assert data["url"] == f"http://localhost/resources/{lesson}"
    assert data["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert data["about"]["name"] == "数学" and data["educationalLevel"] == "七年级"
    assert data["learningResourceType"] == "课件" and data["inLanguage"] == "zh"
    assert data["sourceOrganization"]["name"] == "城东一中"
    assert [e["name"] for e in data["encoding"]] == ["first.txt", "second.txt"]

    school = Shelf(api).add("校内 教案", visibility="school")
    pages.login("teacher1")
    page = pages.get(f"/resources/{school}").get_data(as_text=True)
    assert "校内 教案" in page and linked_data(page) is None


def test_linked_data_cannot_close_its_script(pages: Pages, api: Api) -> None:
    rid = Shelf(api).add("</script><script>alert(1)</script>")
    page = pages.get(f"/resources/{rid}").get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert linked_data(page)["name"] == "</script><script>alert(1)</script>"  # type: ignore[index]


@pytest.mark.parametrize("who", [None, "teacher1"])
def test_a_stable_link_to_use_in_a_course_for_staff(
    pages: Pages, lesson: int, who: str | None
) -> None:
    if who:
        pages.login(who)
    page = pages.get(f"/resources/{lesson}").get_data(as_text=True)
    if who is None:
        assert "在我的课程中使用" not in page
        return
    assert "在我的课程中使用" in page
    field = re.search(
        r'<input id="stable-link" type="text" readonly value="([^"]+)"', page
    )
    assert field and field.group(1) == f"http://localhost/resources/{lesson}"
    # The copy button is the script's: hidden until it runs.
    assert re.search(
        r'<button type="button" class="primary" data-copy="stable-link"[^>]* hidden>',
        page,
    )


def test_favourite_and_collect_from_the_page(pages: Pages, lesson: int) -> None:
    # A learner without an account has nothing to keep it in.
    page = pages.get(f"/resources/{lesson}").get_data(as_text=True)
    assert "收藏" not in main_of(page, lesson)

    pages.login("teacher1")
    pages.submit("/workspace", {"title": "七年级备课", "audience": "owner"})
    path = f"/resources/{lesson}"
    resp = pages.submit(
        f"/workspace/favourites/{lesson}", {"on": "1", "next": path}, page=path
    )
    assert resp.status_code == 303 and resp.headers["Location"].endswith(path)
    page = pages.get(path).get_data(as_text=True)
    assert "已加入收藏。" in page and ">取消收藏</button>" in page

    collection = re.search(r'<option value="(\d+)">七年级备课</option>', page)
    assert collection, "no collection to choose on the page"
    resp = pages.submit(
        "/workspace/collect",
        {
            "collection_id": collection.group(1),
            "resource_id": str(lesson),
            "next": path,
        },
        page=path,
    )
    assert resp.status_code == 303 and resp.headers["Location"].endswith(path)

    # The workspace lists it as a favourite, in the collection, and recently viewed.
    workspace = pages.get("/workspace").get_data(as_text=True)
    favourites = workspace.split('id="fav-title"')[1].split('id="coll-title"')[0]
    recent = workspace.split('id="recent-title"')[1]
    assert "正数和负数 课件" in favourites and "正数和负数 课件" in recent
    shown = pages.get(f"/workspace/collections/{collection.group(1)}")
    assert "正数和负数 课件" in shown.get_data(as_text=True)


def test_previews_of_each_kind(pages: Pages, api: Api, client: Any) -> None:
    shelf = Shelf(api)
    made = {
        "pdf": shelf.add("校长 PDF", files={"a.pdf": corpus("pdf/issue2128r.pdf")}),
        "video": shelf.add(
            "视频",
            files={
                "clip.webm": corpus("media/testWEBM.webm"),
                "clip.vtt": corpus("media/subtitles_en.vtt"),
            },
        ),
        "audio": shelf.add("音频", files={"song.mp3": corpus("media/testMP3i18n.mp3")}),
        "image": shelf.add("图片", files={"hopper.png": corpus("media/hopper.png")}),
        "text": shelf.add("文本", files={"notes.md": "# 三角函数\n正弦 余弦".encode()}),
        "package": shelf.add(
            "课程包", files={"golf.zip": corpus("package/singlescobasic.zip")}
        ),
        "locked": shelf.add(
            "加密", files={"locked.pdf": corpus("pdf/libreoffice-writer-password.pdf")}
        ),
    }
    shown = {
        kind: pages.get(f"/resources/{rid}")
        .get_data(as_text=True)
        .split('id="preview"', 1)[1]
        .split("</section>", 1)[0]
        for kind, rid in made.items()
    }

    # PDF pages are drawn by pdf.js from static/vendor, with its worker, on request.
    assert re.search(
        r'data-pdf="/api/v1/resources/\d+/files/\d+/content\?inline=1"', shown["pdf"]
    )
    assert re.search(
        r'data-lib="/static/vendor/pdfjs/pdf\.min\.mjs\?v=\w+"', shown["pdf"]
    )
    assert re.search(
        r'data-worker="/static/vendor/pdfjs/pdf\.worker\.min\.mjs\?v=\w+"', shown["pdf"]
    )
    # Media load nothing until played, from the download address that answers Range.
    video = re.search(
        r'<video class="media" controls preload="none" src="([^"]+)"', shown["video"]
    )
    assert video and video.group(1).endswith("?inline=1")
    assert re.search(
        r'<track kind="subtitles" src="[^"]+inline=1" label="clip.vtt" srclang="\w+"',
        shown["video"],
    )
    assert '<audio class="media" controls preload="none"' in shown["audio"]
    assert re.search(
        r'<img class="image-preview" src="[^"]+inline=1" alt="图片"', shown["image"]
    )
    assert "<pre" in shown["text"] and "三角函数" in shown["text"]
    assert "课程包的目录" in shown["package"] and "<li>" in shown["package"]
    assert "受密码保护" in shown["locked"] and "data-pdf" not in shown["locked"]

    # Seeking: the video's address answers a Range request with its part.
    resp = client.get(video.group(1), headers={"Range": "bytes=100-199"})
    assert resp.status_code == 206 and len(resp.data) == 100


def test_html_and_svg_are_never_shown_from_our_origin(pages: Pages, api: Api) -> None:
    shelf = Shelf(api)
    svg = shelf.add(
        "矢量图",
        files={
            "x.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
        },
    )
    page = shelf.add(
        "网页",
        files={
            "x.html": "<html><body><script>alert(1)</script>网页 正文</body></html>".encode()
        },
    )
    for rid in (svg, page):
        body = pages.get(f"/resources/{rid}").get_data(as_text=True)
        preview = body.split('id="preview"', 1)[1].split("</section>", 1)[0]
        assert "inline=1" not in preview and "<iframe" not in preview
        assert "<script>alert(1)" not in body
    # Only the extracted text of a web page is shown, as text.
    shown = pages.get(f"/resources/{page}").get_data(as_text=True)
    assert "网页 正文" in shown or "为了安全" in shown


def test_another_file_can_be_previewed(pages: Pages, api: Api) -> None:
    rid = Shelf(api).add(
        "两个文件", files={"a.txt": "甲 文件".encode(), "b.txt": "乙 文件".encode()}
    )
    page = pages.get(f"/resources/{rid}").get_data(as_text=True)
    link = html.unescape(
        re.search(r'href="(/resources/\d+\?file=\d+)#preview"', page).group(1)
    )
    assert "乙 文件" in pages.get(link).get_data(as_text=True)
    # A file that is not one of the resource's is ignored.
    assert pages.get(f"/resources/{rid}?file=abc").status_code == 200
