"""Jobs through a real queue: with KEJIAN_QUEUE_URL set, the web process only queues,
and `kejian worker --once` delivers. Nothing is lost while no worker runs."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

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
