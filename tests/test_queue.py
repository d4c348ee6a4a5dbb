"""Jobs through a real queue: with KEJIAN_QUEUE_URL set, the web process only queues,
and `kejian worker --once` delivers. Nothing is lost while no worker runs. And the
index outbox under them: bulk delivery, back-off, failures on record."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from indexer.engines.base import SearchUnavailable

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.mark.parametrize("queue", ["redis", "sqlite"])
def test_worker_delivers_what_the_web_process_queued(settings, tmp_path, queue) -> None:
    from repo_app import create_app
    from repo_app.extensions import db
    from repo_app.services import indexing
    from tests.conftest import World

    url = REDIS_URL if queue == "redis" else f"sqlite:///{tmp_path / 'queue.db'}"
    app = create_app(replace(settings, queue_url=url), TESTING=True)
    huey = app.extensions["kejian"].huey
    if queue == "redis":
        huey.storage.queue_key = f"kejian-test-{uuid.uuid4().hex}"
    with app.app_context():
        world = World()
        client = app.test_client()
        headers = world.headers("uploader1")
        rid = client.post("/api/v1/resources", json={"title": "光合作用"}, headers=headers).get_json()["id"]
        client.post(f"/api/v1/resources/{rid}/files", data="叶绿体 photosynthesis".encode(),
                    query_string={"name": "a.txt"},
                    headers={**headers, "Content-Type": "text/plain"})
        client.post(f"/api/v1/resources/{rid}/publish", json={"visibility": "school"}, headers=headers)

        # The change waits in the outbox and the queue; search does not see it yet.
        assert indexing.pending_count() > 0
        assert huey.pending_count() > 0
        assert client.get("/api/v1/search", query_string={"q": "叶绿体"}, headers=headers).get_json()["total"] == 0

        # The worker runs the queue and delivers the outbox.
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
        assert result.exit_code == 0, result.output
        assert indexing.pending_count() == 0
        hits = client.get("/api/v1/search", query_string={"q": "叶绿体"}, headers=headers).get_json()["hits"]
        assert [h["id"] for h in hits] == [rid]
        huey.flush()
        db.session.remove()
        db.engine.dispose()


def test_failed_delivery_keeps_the_change(app, api, world, monkeypatch) -> None:
    from indexer.engines.base import SearchUnavailable
    from repo_app.services import indexing

    engine = app.extensions["kejian"].engine
    real_index = engine.index

    def down(_docs):  # type: ignore[no-untyped-def]
        raise SearchUnavailable("index is down")

    # While the engine is down, uploads still work and the change waits.
    monkeypatch.setattr(engine, "index", down)
    rid = api.create("uploader1", title="离线也能上传")["id"]
    assert api.upload("uploader1", rid, "a.txt", "离线 内容".encode()).status_code == 201
    assert api.publish("uploader1", rid, "school").status_code == 200
    assert indexing.pending_count() > 0

    # Once it is back, the next delivery catches up.
    monkeypatch.setattr(engine, "index", real_index)
    delivered, failed = indexing.deliver(ignore_backoff=True)
    assert failed == 0 and delivered >= 1
    assert api.search("teacher1", q="离线").get_json()["total"] == 1


def _down(*_args: Any, **_kwargs: Any) -> None:
    raise SearchUnavailable("the cluster is down")


def _visible(api: Any, who: str) -> set[int]:
    hits = api.search(who, per_page=100).get_json()["hits"]
    return {hit["id"] for hit in hits}


def test_changes_are_delivered_in_bulk(app, api, world, monkeypatch) -> None:
    from repo_app.extensions import db
    from repo_app.models import IndexOutbox
    from repo_app.services import indexing

    # Five changes wait while the engine is away (and their back-off is over).
    engine = app.extensions["kejian"].engine
    real_index = engine.index
    monkeypatch.setattr(engine, "index", _down)
    rids = [api.create("uploader1", title=f"批次 {n}")["id"] for n in range(5)]
    db.session.query(IndexOutbox).update({"next_attempt_at": None})
    db.session.commit()

    calls: list[int] = []

    def counting(docs: Any) -> int:
        docs = list(docs)
        calls.append(len(docs))
        return real_index(docs)

    monkeypatch.setattr(engine, "index", counting)
    monkeypatch.setattr(indexing, "BATCH", 3)
    assert indexing.deliver() == (5, 0)
    # Three at a time: two bulk writes, not five.
    assert calls == [3, 2]
    assert indexing.pending_count() == 0
    assert _visible(api, "uploader1") == set(rids)


def test_failures_back_off_and_are_on_record(app, api, world, monkeypatch) -> None:
    from repo_app.extensions import db
    from repo_app.models import IndexOutbox
    from repo_app.services import indexing

    monkeypatch.setattr(app.extensions["kejian"].engine, "index", _down)
    rid = api.create("uploader1", title="等待")["id"]

    # The failure is on the row, with a back-off that doubles with each attempt.
    row = db.session.query(IndexOutbox).filter_by(resource_id=rid).one()
    assert row.attempts == 1 and row.last_error == "the cluster is down"
    first_wait = _utc(row.next_attempt_at) - datetime.now(UTC)
    assert timedelta(0) < first_wait <= timedelta(seconds=2)
    assert indexing.deliver() == (0, 0)  # waiting: not tried again yet
    assert indexing.deliver(ignore_backoff=True) == (0, 1)
    db.session.refresh(row)
    assert row.attempts == 2
    assert _utc(row.next_attempt_at) - datetime.now(UTC) > first_wait

    status = indexing.outbox_status()
    assert (status.queued, status.failing) == (1, 1)
    assert status.failures[0]["error"] == "the cluster is down"

    # `kejian worker --once` tries once more, fails and says why.
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 1
    assert "0 index changes, 1 failed" in result.output
    waits = f"resource {rid} waits after 3 attempts: the cluster is down"
    assert waits in result.output


def test_one_refused_document_does_not_hold_back_its_batch(
    app, api, world, monkeypatch
) -> None:
    from repo_app.extensions import db
    from repo_app.models import IndexOutbox
    from repo_app.services import indexing

    engine = app.extensions["kejian"].engine
    real_index = engine.index
    monkeypatch.setattr(engine, "index", _down)
    rids = [api.create("uploader1", title=f"毒 {n}")["id"] for n in range(3)]
    poisoned = str(rids[1])

    def picky(docs: Any) -> int:
        docs = list(docs)
        if any(doc["id"] == poisoned for doc in docs):
            raise ValueError("downloads is out of range")
        return real_index(docs)

    monkeypatch.setattr(engine, "index", picky)
    assert indexing.deliver(ignore_backoff=True) == (2, 1)
    assert _visible(api, "uploader1") == {rids[0], rids[2]}
    row = db.session.query(IndexOutbox).one()
    assert row.resource_id == rids[1] and "out of range" in row.last_error


def test_a_deleted_resource_leaves_the_index(app, api, world) -> None:
    from repo_app.services import indexing

    rid = api.create("uploader1", title="删除")["id"]
    assert str(rid) in app.extensions["kejian"].engine.ids()
    resp = api.client.delete(
        f"/api/v1/resources/{rid}", headers=api.world.headers("uploader1")
    )
    assert resp.status_code == 204
    assert str(rid) not in app.extensions["kejian"].engine.ids()
    assert indexing.pending_count() == 0


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
