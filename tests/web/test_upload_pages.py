"""Upload pages: the metadata form (errors next to fields, values kept, the chapter
tree), a batch of files sent plainly or resumably, and metadata by CSV."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import pytest
from sqlalchemy import select

from repo_app.extensions import db
from repo_app.models import ChapterNode, Resource, Status, Visibility
from repo_app.services.accounts import load_chapters
from tests.conftest import CORPUS, Api
from tests.web.conftest import Pages, csrf_of

TEXT = "第一课 春\n盼望着，盼望着，东风来了，春天的脚步近了。\n".encode() * 50


def make_batch(pages: Pages, **fields: Any) -> str:
    """Send the metadata form; the address of the batch's files page."""
    data = {"owner_org": "s1", "visibility": "school", **fields}
    resp = pages.submit("/upload/", data)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    return str(resp.headers["Location"])


def resource_titled(title: str) -> Resource:
    resource = db.session.scalar(select(Resource).where(Resource.title == title))
    assert resource is not None, title
    return resource


@pytest.mark.parametrize("who", [None, "teacher1", "d1reviewer"])
def test_only_uploaders_upload(pages: Pages, world: Any, who: str | None) -> None:
    if who:
        pages.login(who)
    resp = pages.get("/upload/")
    assert resp.status_code == (303 if who is None else 403)


def test_the_form_offers_the_vocabularies_in_the_page_language(
    pages: Pages, world: Any
) -> None:
    pages.login("uploader1")
    html = pages.get("/upload/").get_data(as_text=True)
    assert '<option value="math">数学</option>' in html
    assert '<option value="s1">城东一中</option>' in html
    english = pages.get("/upload/", headers={"Accept-Language": "en"})
    assert '<option value="math">Mathematics</option>' in english.get_data(as_text=True)


def test_wrong_values_are_said_next_to_their_field_and_kept(
    pages: Pages, world: Any
) -> None:
    pages.login("uploader1")
    resp = pages.submit(
        "/upload/",
        {
            "owner_org": "s1",
            "visibility": "school",
            "title": "春 · 第一课时",
            "keywords": "朱自清；散文",
            "stage": "primary",
            "grade": "g8",  # a junior grade under the primary stage
            "subject": "math",
        },
    )
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="grade-error"' in html and 'aria-invalid="true"' in html
    assert 'value="春 · 第一课时"' in html and "朱自清；散文" in html
    assert re.search(r'<option selected value="primary">', html)


def test_chapters_come_as_a_tree_and_must_fit_the_textbook(
    pages: Pages, world: Any
) -> None:
    load_chapters()
    db.session.commit()
    pages.login("uploader1")
    html = pages.get("/upload/").get_data(as_text=True)
    # The tree: textbooks, then units, then lessons below them.
    assert "济南的冬天" in html and 'name="chapters"' in html
    assert re.search(r"第一单元.*?<ul>.*?春", html, re.S)

    lesson = db.session.scalar(
        select(ChapterNode).where(
            ChapterNode.textbook == "junior/chinese/moe-unified/g7/vol1",
            ChapterNode.title == "春",
        )
    )
    assert lesson is not None
    resp = pages.submit(
        "/upload/",
        {
            "owner_org": "s1",
            "visibility": "school",
            "stage": "primary",
            "chapters": str(lesson.id),
        },
    )
    html = resp.get_data(as_text=True)
    assert 'id="chapters-error"' in html
    assert f'value="{lesson.id}" checked' in html  # the choice is kept

    # Fitting metadata: the batch keeps the chapter, and so does its resource.
    files_page = make_batch(
        pages, stage="junior", subject="chinese", grade="g7", chapters=str(lesson.id)
    )
    pages.submit(files_page, {"files": (io.BytesIO(TEXT), "chun.txt")})
    assert [c.title for c in resource_titled("chun").chapters] == ["春"]


def test_plain_files_become_resources_and_a_broken_one_says_why(
    pages: Pages, world: Any
) -> None:
    pages.login("uploader1")
    files_page = make_batch(
        pages, title="春", subject="chinese", stage="junior", resource_type="courseware"
    )
    broken = (CORPUS / "broken" / "invalid.pdf").read_bytes()
    resp = pages.submit(
        files_page,
        {
            "files": [
                (io.BytesIO(TEXT), "lesson-1.txt"),
                (io.BytesIO(broken), "invalid.pdf"),
            ]
        },
    )
    assert resp.status_code == 303
    html = pages.get(files_page).get_data(as_text=True)
    assert "invalid.pdf" in html and "flash-error" in html
    # One title for two files: each is told apart by its file's name.
    resource = resource_titled("春 · lesson-1")
    assert (resource.subject, resource.stage, resource.resource_type) == (
        "chinese",
        "junior",
        "courseware",
    )
    assert (resource.status, resource.visibility) == (
        Status.PUBLISHED,
        Visibility.SCHOOL,
    )
    assert (
        db.session.scalar(select(Resource).where(Resource.title.like("%invalid%")))
        is None
    )


def tus_headers(csrf: str, **extra: str) -> dict[str, str]:
    return {"Tus-Resumable": "1.0.0", "X-CSRFToken": csrf, **extra}


def test_a_resumable_upload_of_the_page_asks_for_review(
    pages: Pages, world: Any
) -> None:
    pages.login("uploader1")
    files_page = make_batch(pages, visibility="city", title="全市共享")
    batch_id = files_page.rsplit("/", 1)[1]
    html = pages.get(files_page).get_data(as_text=True)
    assert 'id="uploader"' in html and "vendor/tus/tus.min.js" in html
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)  # type: ignore[union-attr]

    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in {"filename": "city.txt", "batch": batch_id}.items()
    )
    # A browser session writes only with the page's token.
    refused = pages.client.post(
        "/api/v1/uploads",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(TEXT)),
            "Upload-Metadata": meta,
        },
    )
    assert refused.status_code == 403
    created = pages.client.post(
        "/api/v1/uploads",
        headers=tus_headers(
            csrf, **{"Upload-Length": str(len(TEXT)), "Upload-Metadata": meta}
        ),
    )
    assert created.status_code == 201
    url = created.headers["Location"]
    resp = pages.client.patch(
        url,
        data=TEXT,
        headers=tus_headers(
            csrf,
            **{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        ),
    )
    assert resp.status_code == 204
    status = pages.client.get(url).get_json()
    assert status["state"] == "stored"
    resource = db.session.get(Resource, status["resource_id"])
    assert resource is not None and resource.title == "全市共享"
    assert (resource.status, resource.requested_visibility) == (
        Status.PENDING,
        Visibility.CITY,
    )
    # The files page lists it after a reload.
    assert "city.txt" in pages.get(files_page).get_data(as_text=True)


def test_another_uploaders_batch_does_not_exist_for_them(
    pages: Pages, world: Any
) -> None:
    pages.login("uploader1")
    files_page = make_batch(pages)
    pages.logout()
    pages.login("uploader2")
    assert pages.get(files_page).status_code == 404


def test_csv_sets_metadata_of_many_resources_or_none(pages: Pages, api: Api) -> None:
    first = api.create("uploader1", title="一")["id"]
    second = api.create("uploader1", title="二")["id"]
    theirs = api.create("uploader2", title="别人的")["id"]
    pages.login("uploader1")

    def send(text: str) -> Any:
        html = pages.get("/upload/csv").get_data(as_text=True)
        return pages.client.post(
            "/upload/csv",
            data={
                "csrf_token": csrf_of(html),
                "file": (io.BytesIO(text.encode("gb18030")), "meta.csv"),
            },
        )

    bad = send(
        "id,subject,grade,title\n"
        f"{first},数学,g7,一（改）\n"
        f"{second},astrology,,\n"
        f"{theirs},math,,\n"
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "csv-problems" in html
    assert "astrology" in html and f">{theirs}<" not in html.split("csv-problems")[0]
    assert html.count("<tr><td>") == 2  # rows 3 and 4
    db.session.expire_all()
    assert db.session.get(Resource, first).subject is None  # nothing half-applied

    good = send(
        f"id,subject,grade,keywords\n{first},数学,g7,函数;图像\n{second},english,,\n"
    )
    assert good.status_code == 303
    db.session.expire_all()
    one = db.session.get(Resource, first)
    assert (one.subject, one.grade, one.keywords) == ("math", "g7", ["函数", "图像"])
    assert db.session.get(Resource, second).subject == "english"

    mine = pages.get("/upload/csv/mine.csv").get_data(as_text=True)
    assert mine.startswith("\ufeffid,title")
    assert f"{first},一," in mine and "别人的" not in mine

    no_id = send("title\nx\n").get_data(as_text=True)
    assert 'id="file-error"' in no_id
    # A NUL in a cell (Python's csv reads it): the row is a problem, nothing changes.
    nul = send(f"id,title\n{first},\x00\n")
    html = nul.get_data(as_text=True)
    assert nul.status_code == 200 and "csv-problems" in html
    assert html.count("<tr><td>") == 1
    db.session.expire_all()
    assert db.session.get(Resource, first).title == "一"
    # Ids no row can have: problems named by their row, nothing changes.
    odd = send(f"id,title\n99999999999999999999,x\n²,y\n{first},z\n")
    html = odd.get_data(as_text=True)
    assert odd.status_code == 200 and html.count("<tr><td>") == 2
    db.session.expire_all()
    assert db.session.get(Resource, first).title == "一"
    # A cell longer than csv reads: not a CSV it can take.
    huge = send(f"id,description\n{first},{'长' * 140_000}\n")
    assert huge.status_code == 200 and 'id="file-error"' in huge.get_data(as_text=True)
    # Rows longer than the header: the cells past it are ignored.
    assert send(f"id,title\n{first},一,extra,cells\n").status_code == 303
