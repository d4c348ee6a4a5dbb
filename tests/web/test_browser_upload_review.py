"""The uploader and the reviewer in a real browser: several corpus files dropped at once
(a broken one refused with its reason on the page), a large file interrupted and
resumed where it stopped after a page reload, a reviewer approving one request and
rejecting another, and the uploader reading both in the workspace."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from repo_app.extensions import db
from repo_app.models import Resource, UploadSession, UploadState
from repo_app.services.accounts import load_chapters
from tests.conftest import CORPUS
from tests.web.conftest import LiveServer

pytestmark = pytest.mark.browser

CHUNK = 512 * 1024


def describe(page: Any, visibility: str) -> None:
    """Fill the metadata form and go on to the files page."""
    page.goto("/upload/")
    page.select_option("#visibility", visibility)
    page.select_option("#stage", "junior")
    page.select_option("#subject", "math")
    page.fill("#keywords", "函数；图像")
    with page.expect_navigation():
        page.click("#batch-form button[type=submit]")
    assert "/upload/batches/" in page.url


def test_uploader_sends_several_files_and_resumes_a_large_one(
    page: Any,
    login: Any,
    screenshots: Any,
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    live_server.app.config["KEJIAN_UPLOAD_CHUNK_BYTES"] = CHUNK
    with live_server.app.app_context():
        load_chapters()  # idempotent: other tests may have loaded them
        db.session.commit()
        db.session.remove()
    login(page, "uploader1")
    page.goto("/upload/")
    # The chapter trees follow the textbook chosen.
    page.select_option("#stage", "junior")
    page.select_option("#subject", "chinese")
    assert page.locator("details.textbook:visible").count() == 1
    screenshots(page, "upload-form")
    describe(page, "school")
    screenshots(page, "upload-files")

    # Three files at once; the broken PDF is refused with its reason, in Chinese.
    page.set_input_files(
        "#files",
        [
            str(CORPUS / "pdf" / "c02-22.pdf"),
            str(CORPUS / "zh" / "ap.md"),
            str(CORPUS / "broken" / "invalid.pdf"),
        ],
    )
    page.wait_for_selector(".upload-list li.ok[data-name='c02-22.pdf']")
    page.wait_for_selector(".upload-list li.ok[data-name='ap.md']")
    refused = page.wait_for_selector(".upload-list li.error[data-name='invalid.pdf']")
    assert "被拒收" in refused.inner_text()

    # A 4 MB file whose connection breaks after four pieces of eight.
    big = tmp_path / "第三章-函数.txt"
    big.write_bytes(
        "".join(
            f"第{i:06d}行：一次函数的图像是一条直线。\n" for i in range(90_000)
        ).encode()[: 4 * 1024 * 1024]
    )
    sent = {"patches": 0}

    def break_after_four(route: Any) -> None:
        if route.request.method == "PATCH":
            if sent["patches"] >= 4:
                route.abort("connectionreset")
                return
            sent["patches"] += 1
        route.continue_()

    page.route("**/api/v1/uploads/*", break_after_four)
    page.set_input_files("#files", str(big))
    page.wait_for_selector(
        f".upload-list li.error[data-name='{big.name}']", timeout=30_000
    )

    # After a reload the page says where it stopped; the same file goes on from there.
    page.reload()
    stopped = page.locator(f".sent-list li[data-upload-name='{big.name}']")
    assert "50%" in stopped.inner_text()
    page.unroute("**/api/v1/uploads/*")
    page.set_input_files("#files", str(big))
    row = page.wait_for_selector(
        f".upload-list li.ok[data-name='{big.name}']", timeout=30_000
    )
    assert "从 50% 处继续" in row.inner_text()

    with live_server.app.app_context():
        upload = db.session.scalars(
            select(UploadSession).where(UploadSession.filename == big.name)
        ).one()
        assert upload.state is UploadState.STORED
        resource = db.session.get(Resource, upload.resource_id)
        assert resource is not None
        (vf,) = resource.files
        assert vf.sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
        assert (resource.subject, resource.keywords) == ("math", ["函数", "图像"])
        db.session.remove()

    page.goto("/upload/csv")
    screenshots(page, "upload-csv")


def test_reviewer_approves_one_rejects_one_and_the_uploader_reads_it(
    page: Any, login: Any, screenshots: Any, live_server: LiveServer
) -> None:
    # uploader2 (城东二中, district d1) asks for two resources to reach the district.
    api = page.request
    auth = {"Authorization": f"Bearer {live_server.world.token('uploader2')}"}
    titles = ["勾股定理 教案", "二次函数 课件"]
    for title in titles:
        rid = api.post("/api/v1/resources", data={"title": title}, headers=auth).json()[
            "id"
        ]
        upload = api.post(
            f"/api/v1/resources/{rid}/files?name=lesson.txt",
            data=f"{title}\n教学目标：理解并应用。\n".encode() * 30,
            headers={**auth, "Content-Type": "application/octet-stream"},
        )
        assert upload.status == 201
        asked = api.post(
            f"/api/v1/resources/{rid}/publish",
            data={"visibility": "district"},
            headers=auth,
        )
        assert asked.json()["status"] == "pending"

    login(page, "d1reviewer")
    page.goto("/review/")
    screenshots(page, "review-queue")
    first = page.locator("li.queue-item", has_text=titles[0])
    with page.expect_navigation():
        first.get_by_role("button", name="批准").click()
    assert f"“{titles[0]}”已发布。" in page.inner_text(".flashes")

    # Rejecting without a reason: said next to the field; then with one.
    second = page.locator("li.queue-item", has_text=titles[1])
    with page.expect_navigation():
        second.get_by_role("button", name="退回").click()
    second = page.locator("li.queue-item", has_text=titles[1])
    assert "请说明退回理由" in second.locator(".error").inner_text()
    second.locator("textarea").fill("缺少版权说明，请补充后再申请。")
    with page.expect_navigation():
        second.get_by_role("button", name="退回").click()
    assert "已退回给上传者" in page.inner_text(".flashes")

    # The uploader reads both decisions in the workspace.
    page.locator("header .account").get_by_role("button").click()
    login(page, "uploader2")
    page.goto("/workspace")
    notes = page.inner_text(".notifications")
    assert titles[0] in notes and "缺少版权说明" in notes
    screenshots(page, "workspace")

    # A collection shared with the district, opened by its link.
    page.click("summary:has-text('新建资源集')")
    page.fill("#title", "八年级数学备课")
    page.select_option("#audience", "district")
    page.locator("details", has_text="新建资源集").locator(
        "button[type=submit]"
    ).click()
    page.wait_for_url("**/workspace/collections/*")
    screenshots(page, "workspace-collection")
    page.goto(page.input_value("#share-link"))
    assert "八年级数学备课" in page.inner_text("h1")
    screenshots(page, "collection-shared")
