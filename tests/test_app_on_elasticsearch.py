"""The whole upload → search → reindex path with search on Elasticsearch, on SQLite
and PostgreSQL: against osmem-server, or the cluster of
``KEJIAN_TEST_ELASTICSEARCH_URL`` (see ``tests/search_cluster.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from tests.search_cluster import (
    ClusterProxy,
    SearchCluster,
    search_alias,
    search_cluster,
    search_gate,
)

__all__ = ["search_alias", "search_cluster", "search_gate"]  # fixtures used here

LESSON = "勾股定理 课件：直角三角形两直角边的平方和等于斜边的平方。Pythagoras.".encode()
PLANT = "光合作用 学案：叶绿体把光能变成化学能。Photosynthesis.".encode()
#: Lucene syntax, emoji, control characters, a long text: results, never an error.
HOSTILE_QUERIES = [
    '"unbalanced',
    "title:(foo AND",
    "a OR b^2 ~3 * [1 TO",
    "/regex.*/ \\",
    "😀🎓 勾股",
    "\x00\x01\x1f 斜边",
    "斜边" * 499,
]


@contextlib.contextmanager
def app_on_cluster(
    settings: Any, url: str, alias: str, cluster: SearchCluster
) -> Iterator[tuple[Any, Any, dict[str, str]]]:
    """The application with search on the cluster at *url* under *alias*, in its
    context with the test city: (app, client, an uploader's headers)."""
    from repo_app import create_app
    from repo_app.extensions import db
    from tests.conftest import World

    on_cluster = replace(
        settings,
        search_url=url,
        search_index=alias,
        search_api_key=cluster.api_key,
        search_ca_certs=cluster.ca_certs,
    )
    app = create_app(on_cluster, TESTING=True)
    with app.app_context():
        world = World()
        yield app, app.test_client(), world.headers("uploader1")
        db.session.remove()
        db.engine.dispose()
    app.extensions["kejian"].engine.close()


def add_resource(client: Any, headers: dict[str, str], title: str, data: bytes) -> int:
    """Create, upload and publish a resource to the uploader's school."""
    resp = client.post("/api/v1/resources", json={"title": title}, headers=headers)
    rid: int = resp.get_json()["id"]
    resp = client.post(
        f"/api/v1/resources/{rid}/files",
        data=data,
        query_string={"name": f"{title}.txt"},
        headers={**headers, "Content-Type": "application/octet-stream"},
    )
    assert resp.status_code == 201, resp.get_json()
    resp = client.post(
        f"/api/v1/resources/{rid}/publish",
        json={"visibility": "school"},
        headers=headers,
    )
    assert resp.status_code == 200, resp.get_json()
    return rid


def found(client: Any, headers: dict[str, str], text: str) -> list[int]:
    resp = client.get("/api/v1/search", query_string={"q": text}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return [hit["id"] for hit in resp.get_json()["hits"]]


def test_upload_search_and_reindex_on_elasticsearch(
    settings: Any, search_cluster: SearchCluster, search_alias: str
) -> None:
    with app_on_cluster(settings, search_cluster.url, search_alias, search_cluster) as (
        app,
        client,
        headers,
    ):
        # Uploaded and published: found by a word of its text.
        rid = add_resource(client, headers, "勾股定理", LESSON)
        assert found(client, headers, "斜边") == [rid]

        # Query text of any kind runs on the cluster; too long a text is our 400.
        for text in HOSTILE_QUERIES:
            assert isinstance(found(client, headers, text), list), text
        resp = client.get("/api/v1/search", query_string={"q": "斜" * 10_000})
        assert resp.status_code == 400
        assert "too long" in resp.get_json()["error"]["message"]

        # kejian reindex loads a new physical index and moves the alias to it.
        (before,) = search_cluster.holders(search_alias)
        result = app.test_cli_runner().invoke(args=["reindex"])
        assert result.exit_code == 0, result.output
        (after,) = search_cluster.holders(search_alias)
        assert after > before
        assert list(search_cluster.indices(search_alias)) == [after]

        # Searches go on as before, and new uploads land in the new index.
        assert found(client, headers, "斜边") == [rid]
        other = add_resource(client, headers, "光合作用", PLANT)
        assert found(client, headers, "叶绿体") == [other]


def test_uploads_go_on_while_the_cluster_is_down_and_are_indexed_when_it_is_back(
    settings: Any,
    search_cluster: SearchCluster,
    search_gate: ClusterProxy,
    search_alias: str,
) -> None:
    from repo_app.services import indexing

    # The application starts while the cluster is down.
    search_gate.down = True
    with app_on_cluster(settings, search_gate.url, search_alias, search_cluster) as (
        app,
        client,
        headers,
    ):
        # Searching answers 503 with our own message; uploads still succeed and
        # their index changes wait in the outbox.
        resp = client.get("/api/v1/search", query_string={"q": "斜边"}, headers=headers)
        assert resp.status_code == 503
        error = resp.get_json()["error"]
        assert error["code"] == "search_unavailable"
        assert "127.0.0.1" not in error["message"]
        rid = add_resource(client, headers, "勾股定理", LESSON)
        assert indexing.pending_count() > 0

        # Back up: `kejian worker --once` delivers what waited.
        search_gate.down = False
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
        assert result.exit_code == 0, result.output
        assert indexing.pending_count() == 0
        assert found(client, headers, "斜边") == [rid]
