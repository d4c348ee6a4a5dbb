"""The resource API as schools and teachers use it: create, upload, publish, find,
download, change, withdraw, delete — and every way of getting it wrong."""

from __future__ import annotations

import hashlib

import pytest

LESSON = "第一章 集合与函数\n本节课学习一元二次方程的解法，并练习配方法。\nQuadratic equations lesson.\n".encode()


def test_scenario_upload_publish_search_download(api, client, world) -> None:
    # An uploader of school s1 creates a draft with vocabulary labels in Chinese.
    res = api.create("uploader1", title="一元二次方程 课件", subject="数学", stage="初中",
                     keywords=["方程", "配方法"], description="初三复习")
    assert res["status"] == "draft" and res["subject"] == "math"
    rid = res["id"]

    # The file is streamed in; its type is sniffed and its text extracted.
    resp = api.upload("uploader1", rid, "方程.md", LESSON)
    assert resp.status_code == 201, resp.get_json()
    files = resp.get_json()["files"]
    assert [f["name"] for f in files] == ["方程.md"]
    assert files[0]["sha256"] == hashlib.sha256(LESSON).hexdigest()
    assert files[0]["size"] == len(LESSON)

    # Drafts are invisible to others, in search and by id.
    assert api.search("teacher3", q="方程").get_json()["total"] == 0
    assert client.get(f"/api/v1/resources/{rid}", headers=world.headers("teacher3")).status_code == 404

    # Publishing to the school needs no review.
    resp = api.publish("uploader1", rid, "school")
    assert resp.get_json()["status"] == "published"
    assert api.search("teacher1", q="方程").get_json()["total"] == 1
    assert api.search("teacher3", q="方程").get_json()["total"] == 0
    assert api.search(None, q="方程").get_json()["total"] == 0

    # City-wide needs a reviewer of the city: the uploader's request waits.
    resp = api.publish("uploader1", rid, "city")
    body = resp.get_json()
    assert body["status"] == "pending" and body["requested_visibility"] == "city"
    resp = client.post(f"/api/v1/resources/{rid}/review", json={"decision": "approve"},
                       headers=world.headers("d1reviewer"))
    assert resp.status_code == 403
    resp = client.post(f"/api/v1/resources/{rid}/review", json={"decision": "approve"},
                       headers=world.headers("cityreviewer"))
    assert resp.status_code == 200 and resp.get_json()["visibility"] == "city"

    # A rural teacher now finds it by a word from the file's text, and downloads it.
    result = api.search("teacher3", q="配方法").get_json()
    assert [h["id"] for h in result["hits"]] == [rid]
    file_id = files[0]["id"]
    resp = client.get(f"/api/v1/resources/{rid}/files/{file_id}/content", headers=world.headers("teacher3"))
    assert resp.status_code == 200 and resp.data == LESSON
    assert "filename*=UTF-8''%E6%96%B9%E7%A8%8B.md" in resp.headers["Content-Disposition"]

    # Anonymous visitors still cannot see it.
    assert api.search(None, q="配方法").get_json()["total"] == 0

    # Withdrawn resources leave search; deleted ones are gone.
    client.post(f"/api/v1/resources/{rid}/withdraw", headers=world.headers("uploader1"))
    assert api.search("teacher3", q="配方法").get_json()["total"] == 0
    assert client.delete(f"/api/v1/resources/{rid}", headers=world.headers("uploader1")).status_code == 204
    assert client.get(f"/api/v1/resources/{rid}", headers=world.headers("cityadmin")).status_code == 404


def test_same_bytes_are_stored_once(api, app) -> None:
    a = api.create("uploader1", title="A")["id"]
    b = api.create("uploader2", title="B")["id"]
    sha_a = api.upload("uploader1", a, "a.txt", LESSON).get_json()["files"][0]["sha256"]
    sha_b = api.upload("uploader2", b, "b.txt", LESSON).get_json()["files"][0]["sha256"]
    assert sha_a == sha_b
    store = app.extensions["kejian"].store
    assert list(store.iter_digests()) == [sha_a]


def test_new_upload_makes_a_new_version(api, client, world) -> None:
    rid = api.create("uploader1", title="版本")["id"]
    api.upload("uploader1", rid, "notes.txt", b"version one of the notes")
    api.upload("uploader1", rid, "notes.txt", b"version two of the notes")
    body = api.upload("uploader1", rid, "extra.txt", b"an extra sheet").get_json()
    assert [v["number"] for v in body["versions"]] == [1, 2, 3]
    assert sorted(f["name"] for f in body["files"]) == ["extra.txt", "notes.txt"]
    notes = next(f for f in body["files"] if f["name"] == "notes.txt")
    resp = client.get(notes["content_url"], headers=world.headers("uploader1"))
    assert resp.data == b"version two of the notes"


def test_ranges_and_etags(api, client, world) -> None:
    rid = api.create("uploader1", title="range")["id"]
    data = bytes(range(256)) * 40
    f = api.upload("uploader1", rid, "data.txt", b"text " + data[:0] + b"x" * 9000).get_json()["files"][0]
    url, headers = f["content_url"], world.headers("uploader1")
    whole = client.get(url, headers=headers)
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    etag = whole.headers["ETag"].strip('"')
    assert etag == f["sha256"]

    part = client.get(url, headers={**headers, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == whole.data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(whole.data)}"
    tail = client.get(url, headers={**headers, "Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.data == whole.data[-5:]
    assert client.get(url, headers={**headers, "Range": "bytes=999999-"}).status_code == 416
    assert client.get(url, headers={**headers, "If-None-Match": f'"{etag}"'}).status_code == 304
    # Text files are never rendered as HTML from our origin.
    assert whole.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in whole.headers["Content-Security-Policy"]


def test_html_and_svg_are_never_served_inline(api, client, world) -> None:
    rid = api.create("uploader1", title="markup")["id"]
    body = api.upload("uploader1", rid, "page.html", b"<html><body><script>alert(1)</script>hi</body></html>").get_json()
    f = body["files"][0]
    resp = client.get(f["content_url"] + "?inline=1", headers=world.headers("uploader1"))
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert resp.headers["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": 5}, "title"),
        ({"title": "x", "subject": "alchemy"}, "subject"),
        ({"title": "x", "keywords": "not a list"}, "keywords"),
        ({"title": "x", "chapters": ["a"]}, "chapters"),
        ({"title": "x", "visibility": "public"}, "visibility"),
        ({"title": "x" * 301}, "title"),
    ],
)
def test_bad_metadata_is_422_naming_the_field(api, client, world, payload, field) -> None:
    resp = client.post("/api/v1/resources", json=payload, headers=world.headers("uploader1"))
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"]


def test_unknown_chapter_and_foreign_org(api, client, world) -> None:
    resp = client.post("/api/v1/resources", json={"title": "x", "chapters": [99999]},
                       headers=world.headers("uploader1"))
    assert resp.status_code == 422 and "99999" in resp.get_json()["error"]["message"]
    resp = client.post("/api/v1/resources", json={"title": "x", "owner_org": "s3"},
                       headers=world.headers("uploader1"))
    assert resp.status_code == 403
    resp = client.post("/api/v1/resources", json={"title": "x", "owner_org": "nowhere"},
                       headers=world.headers("uploader1"))
    assert resp.status_code == 422


def test_body_that_is_not_json(client, world) -> None:
    resp = client.post("/api/v1/resources", data=b"\xff\xfe{", headers={**world.headers("uploader1"), "Content-Type": "application/json"})
    assert resp.status_code in (400, 422)
    assert "error" in resp.get_json()


@pytest.mark.parametrize(("body", "says"), [("{bad", "Invalid JSON body"), ("a=1", "Invalid JSON body"),
                                            ("[]", "Invalid input type")])
def test_a_body_that_is_no_json_object_is_named_as_such(client, world, body, says) -> None:
    headers = {**world.headers("uploader1"), "Content-Type": "application/json"}
    error = client.post("/api/v1/resources", data=body, headers=headers).get_json()["error"]
    assert error["message"].startswith("The request body cannot be read:")
    assert says in error["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_json_body_sent_as_another_type_is_415_naming_the_type(client, world, content_type) -> None:
    mine = world.headers("uploader1")
    headers = {**mine, "Content-Type": content_type} if content_type else mine
    resp = client.post("/api/v1/resources", data='{"title": "x"}', headers=headers)
    assert resp.status_code == 415
    assert "application/json" in resp.get_json()["error"]["message"]
    rid = client.post("/api/v1/resources", json={"title": "原题"}, headers=mine).get_json()["id"]
    assert client.patch(f"/api/v1/resources/{rid}", data='{"title": "x"}', headers=headers).status_code == 415
    assert client.get(f"/api/v1/resources/{rid}", headers=mine).get_json()["title"] == "原题"
    # A request without a body still reaches its own checks.
    assert client.post(f"/api/v1/resources/{rid}/withdraw", headers=mine).status_code != 415


def test_text_that_utf8_cannot_hold_is_400_and_nothing_changes(api, client, world) -> None:
    rid = api.create("uploader1", title="原题")["id"]
    headers = {**world.headers("uploader1"), "Content-Type": "application/json"}
    for body in ('{"title": "\\ud800"}', '{"title": "ok", "keywords": ["a\\udfff"]}'):
        resp = client.post("/api/v1/resources", data=body, headers=headers)
        assert resp.status_code == 400 and resp.get_json()["error"]["code"]
        resp = client.patch(f"/api/v1/resources/{rid}", data=body, headers=headers)
        assert resp.status_code == 400 and resp.get_json()["error"]["code"]
    shown = client.get(f"/api/v1/resources/{rid}", headers=world.headers("uploader1"))
    assert shown.get_json()["title"] == "原题"


def test_teachers_cannot_create_and_strangers_cannot_change(api, client, world) -> None:
    resp = client.post("/api/v1/resources", json={"title": "x"}, headers=world.headers("teacher1"))
    assert resp.status_code == 403
    rid = api.create("uploader1", title="mine")["id"]
    for who in ("uploader2", "teacher1"):
        resp = client.patch(f"/api/v1/resources/{rid}", json={"title": "stolen"}, headers=world.headers(who))
        assert resp.status_code in (403, 404)
    # The school's admin may change it.
    resp = client.patch(f"/api/v1/resources/{rid}", json={"title": "校管理员改"}, headers=world.headers("s1admin"))
    assert resp.status_code == 200 and resp.get_json()["title"] == "校管理员改"


@pytest.mark.parametrize(
    "header",
    ["Bearer kj_forged", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 500, "kj_only"],
)
def test_forged_tokens_are_401(client, world, header) -> None:
    resp = client.get("/api/v1/resources", headers={"Authorization": header})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"


def test_expired_token_is_401(app, client, world) -> None:
    from datetime import UTC, datetime, timedelta

    from repo_app.extensions import db
    from repo_app.models import ApiToken

    for token in db.session.query(ApiToken):
        token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    resp = client.get("/api/v1/resources", headers=world.headers("uploader1"))
    assert resp.status_code == 401


def test_publish_without_files_is_refused(api) -> None:
    rid = api.create("uploader1", title="empty")["id"]
    resp = api.publish("uploader1", rid, "school")
    assert resp.status_code == 409


def test_reject_needs_a_reason_and_returns_to_draft(api, client, world) -> None:
    rid = api.create("uploader1", title="待审")["id"]
    api.upload("uploader1", rid, "a.txt", b"some lesson text")
    assert api.publish("uploader1", rid, "district").get_json()["status"] == "pending"
    resp = client.post(f"/api/v1/resources/{rid}/review", json={"decision": "reject"},
                       headers=world.headers("d1reviewer"))
    assert resp.status_code == 422
    resp = client.post(f"/api/v1/resources/{rid}/review", json={"decision": "reject", "note": "版权不明"},
                       headers=world.headers("d1reviewer"))
    body = resp.get_json()
    assert body["status"] == "draft" and body["review_note"] == "版权不明"


def test_list_is_scoped(api, client, world) -> None:
    a = api.create("uploader1", title="one")["id"]
    api.create("uploader2", title="two")
    api.upload("uploader1", a, "a.txt", b"public lesson text")
    client.post(f"/api/v1/resources/{a}/publish", json={"visibility": "public"}, headers=world.headers("cityadmin"))
    titles = lambda who: sorted(i["title"] for i in client.get("/api/v1/resources", headers=world.headers(who)).get_json()["items"])  # noqa: E731
    assert titles(None) == ["one"]
    assert titles("uploader2") == ["one", "two"]
    assert titles("cityadmin") == ["one", "two"]
    assert titles("teacher3") == ["one"]


def test_openapi_document(client) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/search" in doc["paths"]
    assert "/api/v1/resources/{resource_id}/files/{file_id}/content" in doc["paths"]


def test_unknown_route_and_method(client) -> None:
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    resp = client.put("/api/v1/search")
    assert resp.status_code == 405 and "error" in resp.get_json()
    page = client.get("/nothing-here", headers={"Accept": "text/html"})
    assert page.status_code == 404 and b"<html" in page.data and b"Traceback" not in page.data


@pytest.mark.parametrize("big", ["2147483648", "99999999999999999999"])
def test_ids_past_the_integer_columns_are_404_not_500(api, client, world, big) -> None:
    rid = api.create("uploader1", title="大编号")["id"]
    for path in (f"/api/v1/resources/{big}", f"/api/v1/resources/{big}/files/1/content",
                 f"/api/v1/resources/{rid}/files/{big}/content"):
        resp = client.get(path, headers=world.headers("cityadmin"))
        assert resp.status_code == 404, path
        assert resp.get_json()["error"]["code"] == "not_found"


def test_health_names_a_schema_behind_the_migrations(app, client) -> None:
    from sqlalchemy import text

    from repo_app.extensions import db

    assert client.get("/api/v1/health").get_json()["checks"]["database"] == "ok"
    (head,) = db.session.scalars(text("SELECT version_num FROM alembic_version"))
    db.session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    db.session.commit()
    try:
        resp = client.get("/api/v1/health")
        assert resp.status_code == 503
        assert resp.get_json()["checks"]["database"] == "error: PendingMigrations"
    finally:
        db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        db.session.commit()


def test_changing_the_owner_school_is_refused_not_ignored(api, client, world) -> None:
    rid = api.create("uploader1", title="本校")["id"]
    before = client.get(f"/api/v1/resources/{rid}", headers=world.headers("uploader1")).get_json()
    for who in ("uploader1", "cityadmin"):
        resp = client.patch(f"/api/v1/resources/{rid}", json={"owner_org": "s2", "title": "改"},
                            headers=world.headers(who))
        assert resp.status_code == 422
        assert "owner_org" in resp.get_json()["error"]["details"]["fields"]
    after = client.get(f"/api/v1/resources/{rid}", headers=world.headers("uploader1")).get_json()
    assert after["owner_org"] == before["owner_org"] and after["title"] == "本校"


def test_the_list_refuses_filters_it_does_not_take(api, client, world) -> None:
    api.create("uploader1", title="列表")
    resp = client.get("/api/v1/resources?subject=math", headers=world.headers("uploader1"))
    assert resp.status_code == 422
    assert "subject" in resp.get_json()["error"]["details"]["fields"]
    resp = client.get("/api/v1/resources?mine=true&page=1", headers=world.headers("uploader1"))
    assert resp.status_code == 200 and resp.get_json()["total"] == 1
    resp = client.get("/api/v1/resources?owner_org=s9", headers=world.headers("uploader1"))
    assert resp.status_code == 422 and "s9" in resp.get_json()["error"]["message"]
    resp = client.get("/api/v1/resources?owner_org=s1", headers=world.headers("uploader1"))
    assert resp.status_code == 200 and resp.get_json()["total"] == 1
