"""Garbage collection: what deleted resources and interrupted work leave behind.

Everything the collector may remove must be older than ``min_age``; the tests age
rows and files by moving their timestamps back rather than by waiting.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text, update

from repo_app.extensions import db
from repo_app.models import FileObject, ResourceVersion, VersionFile
from repo_app.services import files
from repo_app.services.maintenance import collect_garbage

LESSON = "《背影》教学设计：朴素的语言里深沉的父爱。".encode()
SHARED = "初中语文 通用评价量表：朗读、理解、表达。".encode()
HOURS_AGO = datetime.now(UTC) - timedelta(hours=2)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store(app: Any) -> Any:
    return app.extensions["kejian"].store


def age_rows() -> None:
    """Move every file row two hours into the past."""
    db.session.execute(update(FileObject).values(created_at=HOURS_AGO))
    db.session.commit()


def age_file(path: Path) -> None:
    stamp = HOURS_AGO.timestamp()
    os.utime(path, (stamp, stamp))


def object_path(app: Any, sha256: str) -> Path:
    root: Path = store(app).root
    return root / "objects" / sha256[:2] / sha256[2:4] / sha256


def deleted_and_shared(api: Any, client: Any, world: Any) -> int:
    """Two resources share one file; the first, which also has its own, is deleted.

    :returns: the id of the resource that is left.
    """
    gone = api.create("uploader1", title="背影 旧稿")["id"]
    assert api.upload("uploader1", gone, "背影.txt", LESSON).status_code == 201
    assert api.upload("uploader1", gone, "量表.txt", SHARED).status_code == 201
    kept = api.create("uploader2", title="背影 定稿")["id"]
    assert api.upload("uploader2", kept, "量表.txt", SHARED).status_code == 201
    owner = world.headers("uploader1")
    assert client.delete(f"/api/v1/resources/{gone}", headers=owner).status_code == 204
    return int(kept)


def test_deleted_resource_loses_its_own_file_and_keeps_the_shared_one(
    app: Any, api: Any, client: Any, world: Any
) -> None:
    kept = deleted_and_shared(api, client, world)
    age_rows()

    report = collect_garbage(dry_run=False)

    # The unshared file is gone, row and bytes; the shared one is untouched.
    assert (report.files, report.file_bytes) == (1, len(LESSON))
    assert db.session.get(FileObject, sha(LESSON)) is None
    assert not store(app).exists(sha(LESSON))
    assert sorted(store(app).iter_digests()) == [sha(SHARED)]

    # The resource that is left still downloads its file.
    resource = client.get(
        f"/api/v1/resources/{kept}", headers=world.headers("uploader2")
    ).get_json()
    [shared] = resource["files"]
    download = client.get(shared["content_url"], headers=world.headers("uploader2"))
    assert download.data == SHARED

    # A second run finds nothing more.
    again = collect_garbage(dry_run=False)
    assert (again.files, again.orphans, again.leftovers) == (0, 0, 0)


def test_dry_run_counts_and_removes_nothing(
    app: Any, api: Any, client: Any, world: Any
) -> None:
    deleted_and_shared(api, client, world)
    age_rows()

    report = collect_garbage(dry_run=True)

    assert (report.dry_run, report.files, report.file_bytes) == (True, 1, len(LESSON))
    assert db.session.get(FileObject, sha(LESSON)) is not None
    assert sorted(store(app).iter_digests()) == sorted([sha(LESSON), sha(SHARED)])


def test_young_garbage_is_kept(app: Any, api: Any, client: Any, world: Any) -> None:
    deleted_and_shared(api, client, world)

    report = collect_garbage(dry_run=False)

    assert (report.files, report.young) == (0, 1)
    assert store(app).exists(sha(LESSON))
    # The same garbage goes once it is old enough for a shorter min_age.
    assert collect_garbage(dry_run=False, min_age=timedelta(0)).files == 1


def test_orphan_objects_and_leftovers_go_when_old(app: Any) -> None:
    home: Path = app.extensions["kejian"].settings.home
    old_orphan = store(app).put_stream(io.BytesIO(b"stored, never committed")).sha256
    young_orphan = store(app).put_stream(io.BytesIO(b"an upload in flight")).sha256
    age_file(object_path(app, old_orphan))
    (home / "tmp").mkdir(exist_ok=True)
    for name in ("upload-dead", "extract-dead", "upload-live", "notes.txt"):
        (home / "tmp" / name).write_bytes(b"spooled")
    age_file(home / "tmp" / "upload-dead")
    age_file(home / "tmp" / "extract-dead")
    age_file(home / "tmp" / "notes.txt")
    store_tmp = store(app).root / "tmp"
    store_tmp.mkdir(exist_ok=True)
    (store_tmp / "upload-killed").write_bytes(b"half")
    age_file(store_tmp / "upload-killed")

    report = collect_garbage(dry_run=False)

    assert (report.orphans, report.orphan_bytes) == (1, 23)
    assert (report.leftovers, report.leftover_bytes) == (3, 7 + 7 + 4)
    assert report.young == 2
    assert list(store(app).iter_digests()) == [young_orphan]
    # Only Kejian's own work files go; anything else in tmp is not ours to remove.
    assert sorted(p.name for p in (home / "tmp").iterdir()) == [
        "notes.txt",
        "upload-live",
    ]
    assert list(store_tmp.iterdir()) == []


def test_upload_after_the_collector_took_its_bytes_stores_them_again(
    app: Any, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bytes are stored but no row refers to them: a failed upload's orphan.
    orphan = store(app).put_stream(io.BytesIO(LESSON)).sha256
    take_lock = files.hold_digest

    def collector_first(sha256: str, *, remove: bool = False) -> bool:
        # The collector removes the orphan after the upload's put found it stored,
        # before the upload holds the lock.
        store(app).delete(sha256)
        return take_lock(sha256, remove=remove)

    monkeypatch.setattr(files, "hold_digest", collector_first)
    rid = api.create("uploader1", title="背影")["id"]

    resp = api.upload("uploader1", rid, "背影.txt", LESSON)

    assert resp.status_code == 201, resp.get_json()
    assert b"".join(store(app).iter_bytes(orphan)) == LESSON


def test_upload_mends_a_row_whose_bytes_are_gone(
    app: Any, api: Any, client: Any, world: Any
) -> None:
    deleted_and_shared(api, client, world)
    # A collector whose commit failed after it removed the object leaves the row.
    store(app).delete(sha(LESSON))
    rid = api.create("uploader2", title="背影 重传")["id"]

    resp = api.upload("uploader2", rid, "背影.txt", LESSON)

    assert resp.status_code == 201
    assert b"".join(store(app).iter_bytes(sha(LESSON))) == LESSON


def test_collector_does_not_take_bytes_an_upload_is_committing(
    app: Any, api: Any, client: Any, world: Any
) -> None:
    kept = deleted_and_shared(api, client, world)
    age_rows()
    version_id = db.session.scalar(
        select(ResourceVersion.id).where(ResourceVersion.resource_id == kept)
    )
    db.session.commit()

    # Another process uploads the same bytes: it holds the digest's lock and has
    # added a row that refers to them, but has not committed yet.
    upload = db.engine.connect()
    transaction = upload.begin()
    postgres = upload.dialect.name == "postgresql"
    if postgres:
        key = int.from_bytes(bytes.fromhex(sha(LESSON)[:8]), "big", signed=True)
        upload.execute(
            text("SELECT pg_advisory_xact_lock_shared(:c, :k)"),
            {"c": files._DIGEST_LOCK_CLASS, "k": key},
        )
    upload.execute(
        insert(VersionFile).values(
            version_id=version_id,
            sha256=sha(LESSON),
            name="背影.txt",
            created_at=datetime.now(UTC),
        )
    )
    if postgres:
        # PostgreSQL's collector does not wait for the lock: it skips the file.
        report = collect_garbage(dry_run=False)
        transaction.commit()
        assert report.busy == 1
    else:
        # SQLite's collector waits for the write lock, and then sees the new row.
        committer = threading.Timer(0.5, transaction.commit)
        committer.start()
        report = collect_garbage(dry_run=False)
        committer.join()
    upload.close()

    assert report.files == 0
    assert store(app).exists(sha(LESSON))
    assert db.session.get(FileObject, sha(LESSON)) is not None


def test_gc_command_reports_as_json(
    app: Any, api: Any, client: Any, world: Any
) -> None:
    deleted_and_shared(api, client, world)
    age_rows()
    runner = app.test_cli_runner()

    dry = json.loads(runner.invoke(args=["gc", "--dry-run", "--json"]).output)
    result = runner.invoke(args=["gc"])

    assert dry["dry_run"] is True
    assert dry["files"] == {"count": 1, "bytes": len(LESSON)}
    assert dry["min_age_seconds"] == 3600
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Removed 1 unreferenced files")
    assert not store(app).exists(sha(LESSON))
