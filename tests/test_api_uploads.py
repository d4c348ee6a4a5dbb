"""Uploads that must be refused with a clear reason, leaving everything as it was."""

from __future__ import annotations

import io

import pytest

from tests.conftest import CORPUS

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is missing")


def _state(client, world, rid):  # type: ignore[no-untyped-def]
    return client.get(f"/api/v1/resources/{rid}", headers=world.headers("uploader1")).get_json()


def test_empty_file_is_refused(api, client, world) -> None:
    rid = api.create("uploader1", title="x")["id"]
    resp = api.upload("uploader1", rid, "empty.pdf", b"")
    assert resp.status_code == 422
    assert "empty" in resp.get_json()["error"]["message"]
    assert _state(client, world, rid)["files"] == []


def test_oversized_file_is_413_and_nothing_is_stored(api, app, client, world) -> None:
    rid = api.create("uploader1", title="x")["id"]
    api.upload("uploader1", rid, "keep.txt", b"the file that must stay")
    big = b"a" * (64 * 1024 * 1024 + 10)
    resp = api.upload("uploader1", rid, "big.txt", big)
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "file_too_large"
    state = _state(client, world, rid)
    assert [f["name"] for f in state["files"]] == ["keep.txt"]
    assert len(list(app.extensions["kejian"].store.iter_digests())) == 1
    assert not any((app.extensions["kejian"].settings.home / "tmp").iterdir())


@pytest.mark.parametrize("name", ["../../etc/passwd", "..\\..\\boot.ini", "/abs/path/课件.txt"])
def test_path_traversal_names_keep_only_the_base_name(api, name) -> None:
    rid = api.create("uploader1", title="x")["id"]
    resp = api.upload("uploader1", rid, name, b"harmless text content")
    assert resp.status_code == 201
    stored = resp.get_json()["files"][0]["name"]
    assert "/" not in stored and "\\" not in stored and ".." not in stored


@pytest.mark.parametrize("name", ["", "..", "\x00\x01", "   "])
def test_names_with_nothing_left_are_422(api, name) -> None:
    rid = api.create("uploader1", title="x")["id"]
    resp = api.upload("uploader1", rid, name, b"harmless text content")
    assert resp.status_code == 422


def test_executable_is_refused_whatever_its_name(api) -> None:
    rid = api.create("uploader1", title="x")["id"]
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x02\x00\x3e\x00" + b"\x00" * 200
    resp = api.upload("uploader1", rid, "lesson.pdf", elf)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "file_refused"


def test_multipart_upload_of_several_files(api, client, world) -> None:
    rid = api.create("uploader1", title="x")["id"]
    resp = client.post(
        f"/api/v1/resources/{rid}/files",
        data={"file": [(io.BytesIO(b"first sheet"), "一.txt"), (io.BytesIO(b"second sheet"), "二.txt")]},
        headers=world.headers("uploader1"),
        content_type="multipart/form-data",
    )
    assert resp.status_code == 201, resp.get_json()
    assert sorted(f["name"] for f in resp.get_json()["files"]) == ["一.txt", "二.txt"]


def test_multipart_without_file_field(api, client, world) -> None:
    rid = api.create("uploader1", title="x")["id"]
    resp = client.post(f"/api/v1/resources/{rid}/files", data={"other": "x"},
                       headers=world.headers("uploader1"), content_type="multipart/form-data")
    assert resp.status_code == 422


def test_upload_to_someone_elses_resource(api) -> None:
    rid = api.create("uploader1", title="x")["id"]
    assert api.upload("uploader2", rid, "a.txt", b"intruder text").status_code in (403, 404)
    assert api.upload(None, rid, "a.txt", b"anonymous text").status_code == 401


@needs_corpus
@pytest.mark.parametrize("rel", ["broken/truncated62886.docx", "broken/invalid.pdf", "broken/emptyfile.mp3"])
def test_broken_corpus_files_are_refused_with_a_reason(api, rel) -> None:
    rid = api.create("uploader1", title="x")["id"]
    resp = api.upload("uploader1", rid, rel.split("/")[-1], (CORPUS / rel).read_bytes())
    assert resp.status_code == 422
    message = resp.get_json()["error"]["message"]
    assert message.startswith("The file") and len(message) > 15
