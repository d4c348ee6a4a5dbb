"""How an upload reaches the object store: spooled and hashed once, then linked.

The request body is written once, to ``KEJIAN_HOME/tmp/upload-*``; the local store
takes that file over by a hard link instead of reading, hashing and writing it again.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from indexer.extract import extract as real_extract
from storage import DigestMismatch

LESSON = "一元二次方程 教案：配方法、公式法与因式分解法。".encode() * 50


def _object_path(home: Path, sha256: str) -> Path:
    return home / "objects" / "objects" / sha256[:2] / sha256[2:4] / sha256


def test_upload_links_the_spool_into_the_store(
    api: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = app.extensions["kejian"]
    home = rt.settings.home
    links: list[tuple[Path, Path]] = []
    real_link = os.link

    def link(source: Path, target: Path) -> None:
        links.append((Path(source), Path(target)))
        real_link(source, target)

    def no_second_write(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the upload was streamed into the store a second time")

    monkeypatch.setattr("storage.local.os.link", link)
    monkeypatch.setattr(rt.store, "put_stream", no_second_write)
    rid = api.create("uploader1", title="一元二次方程")["id"]

    resp = api.upload("uploader1", rid, "教案.txt", LESSON)

    assert resp.status_code == 201, resp.get_json()
    sha256 = hashlib.sha256(LESSON).hexdigest()
    final = _object_path(home, sha256)
    [(source, target)] = links
    assert source.parent == home / "tmp" and source.name.startswith("upload-")
    assert target == final
    # The spool's name is gone; the object is the same inode under its own name.
    assert final.read_bytes() == LESSON
    assert final.stat().st_nlink == 1
    assert list((home / "tmp").iterdir()) == []
    assert not any((home / "objects" / "tmp").glob("*"))


def test_same_bytes_again_are_not_stored_again(
    api: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = app.extensions["kejian"]
    first = api.create("uploader1", title="第一份")["id"]
    assert api.upload("uploader1", first, "a.txt", LESSON).status_code == 201
    calls: list[str] = []
    monkeypatch.setattr(rt.store, "put_file", lambda *a, **k: calls.append("put"))
    second = api.create("uploader2", title="第二份")["id"]

    resp = api.upload("uploader2", second, "b.txt", LESSON)

    assert resp.status_code == 201
    assert calls == []
    assert list(rt.store.iter_digests()) == [hashlib.sha256(LESSON).hexdigest()]


def test_a_spool_that_changed_is_refused(
    api: Any, app: Any, client: Any, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = app.extensions["kejian"]

    def changed(path: Path, sha256: str, size: int, **kwargs: Any) -> None:
        raise DigestMismatch(sha256, "holds bytes with another digest")

    monkeypatch.setattr(rt.store, "put_file", changed)
    rid = api.create("uploader1", title="x")["id"]

    resp = api.upload("uploader1", rid, "教案.txt", LESSON)

    assert resp.status_code == 422
    assert "changed" in resp.get_json()["error"]["message"]
    state = client.get(f"/api/v1/resources/{rid}", headers=world.headers("uploader1"))
    assert state.get_json()["files"] == []
    assert list((rt.settings.home / "tmp").iterdir()) == []


def test_large_upload_is_extracted_where_it_is_stored(
    api: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = app.extensions["kejian"]
    # Anything past 100 bytes is extracted by the job after the commit.
    monkeypatch.setattr(rt, "settings", replace(rt.settings, sync_extract_bytes=100))
    read: list[Path] = []
    monkeypatch.setattr(
        "repo_app.services.files.extract_isolated",
        lambda path, name: read.append(Path(path)) or real_extract(path, name),
    )
    rid = api.create("uploader1", title="一元二次方程")["id"]

    resp = api.upload("uploader1", rid, "教案.txt", LESSON)

    assert resp.status_code == 201, resp.get_json()
    sha256 = hashlib.sha256(LESSON).hexdigest()
    assert read == [_object_path(rt.settings.home, sha256)]
    final = api.client.get(
        f"/api/v1/resources/{rid}", headers=api.world.headers("uploader1")
    ).get_json()
    assert final["files"][0]["extraction"] == "ok"
