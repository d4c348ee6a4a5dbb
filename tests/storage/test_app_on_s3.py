"""The whole upload → search → download path with the S3 store, on SQLite and
PostgreSQL: against nanio in this process, and against Swift when it runs."""

from __future__ import annotations

import urllib.request
import uuid
from dataclasses import replace

import pytest

LESSON = "勾股定理 课件：直角三角形两直角边的平方和等于斜边的平方。Pythagoras.".encode()


@pytest.fixture(params=["nanio", "swift"])
def s3_url(request: pytest.FixtureRequest) -> str:
    bucket = f"kejian-app-{uuid.uuid4().hex[:10]}"
    if request.param == "nanio":
        return request.getfixturevalue("nanio_server").url(bucket)
    base = request.getfixturevalue("swift_url")
    head, _, query = base.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{bucket}?{query}"


@pytest.mark.parametrize("presign", [False, True])
def test_upload_search_download_on_s3(settings, s3_url: str, presign: bool) -> None:
    from repo_app import create_app
    from repo_app.extensions import db
    from tests.conftest import World

    url = s3_url.replace("&presign=true", "") + ("&presign=true" if presign else "")
    app = create_app(replace(settings, storage_url=url), TESTING=True)
    with app.app_context():
        app.extensions["kejian"].store.check()  # creates the bucket
        world = World()
        client = app.test_client()
        headers = world.headers("uploader1")

        # Create, upload, publish.
        rid = client.post("/api/v1/resources", json={"title": "勾股定理"}, headers=headers).get_json()["id"]
        resp = client.post(f"/api/v1/resources/{rid}/files", data=LESSON,
                           query_string={"name": "勾股定理.txt"},
                           headers={**headers, "Content-Type": "application/octet-stream"})
        assert resp.status_code == 201, resp.get_json()
        f = resp.get_json()["files"][0]
        client.post(f"/api/v1/resources/{rid}/publish", json={"visibility": "school"}, headers=headers)

        # Found by a word of its text.
        hits = client.get("/api/v1/search", query_string={"q": "斜边"}, headers=headers).get_json()["hits"]
        assert [h["id"] for h in hits] == [rid]

        # Downloaded byte for byte: streamed by us, or from S3 through a presigned URL.
        resp = client.get(f["content_url"], headers=headers)
        if presign:
            assert resp.status_code == 302
            with urllib.request.urlopen(resp.headers["Location"], timeout=10) as remote:
                assert remote.read() == LESSON
        else:
            assert resp.status_code == 200 and resp.data == LESSON
            part = client.get(f["content_url"], headers={**headers, "Range": "bytes=0-5"})
            assert part.status_code == 206 and part.data == LESSON[:6]
        db.session.remove()
        db.engine.dispose()
