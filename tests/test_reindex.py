"""``kejian reindex`` while the city keeps working: searches answer throughout, a
failure changes nothing, and what changes during the rebuild is not lost."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from repo_app import cli
from repo_app.services import indexing

LESSONS = {
    "方程": "一元二次方程的解法，配方法与公式法。",
    "浮力": "阿基米德原理与浮力的计算。",
    "光合": "光合作用的过程 photosynthesis。",
    "古诗": "唐诗三首：静夜思。",
}
QUERIES = ["", "方程", "浮力", "photosynthesis", "静夜思", "课件"]


def publish(api: Any, who: str, title: str, text: str, **fields: Any) -> int:
    """A resource with one text file, published to its school."""
    rid: int = api.create(who, title=title, **fields)["id"]
    assert api.upload(who, rid, f"{title}.txt", text.encode()).status_code == 201
    assert api.publish(who, rid, "school").get_json()["status"] == "published"
    return rid


def snapshot(api: Any) -> dict[str, Any]:
    """What two teachers of different schools see for each query: every hit as
    shown, totals and facet counts.

    Hits are compared by id, not by rank: equal scores (or dates within one second)
    come in the order documents were written, which a rebuild does not keep.
    """
    seen = {}
    for who in ("teacher1", "teacher2"):
        for query in QUERIES:
            body = api.search(who, q=query).get_json()
            hits = sorted(body["hits"], key=lambda hit: hit["id"])
            seen[f"{who} {query}"] = (hits, body["total"], body.get("facets"))
    return seen


def found(api: Any, who: str, query: str) -> list[int]:
    return sorted(hit["id"] for hit in api.search(who, q=query).get_json()["hits"])


def reindex(app: Any) -> Any:
    return app.test_cli_runner().invoke(args=["reindex"])


def generations(app: Any) -> list[str]:
    index = app.extensions["kejian"].settings.home / "index" / "generations"
    return sorted(path.name for path in Path(index).iterdir())


class Bar:
    """Stands in for the progress bar: runs *during* after each loaded batch,
    that is while the rebuild is loaded but not yet live."""

    def __init__(self, during: Callable[[], None]) -> None:
        self.during = during

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, count: int) -> None:
        self.during()


@pytest.fixture
def city(api: Any) -> dict[str, int]:
    ids = {}
    for i, (title, text) in enumerate(LESSONS.items()):
        who = "uploader1" if i % 2 == 0 else "uploader2"
        ids[title] = publish(api, who, f"{title} 课件", text, subject="数学")
    return ids


def test_reindex_gives_the_same_results(
    app: Any, api: Any, city: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    before = snapshot(api)
    assert before["teacher1 方程"][1] == 1

    with caplog.at_level(logging.INFO, logger="kejian.indexing"):
        result = reindex(app)

    assert result.exit_code == 0, result.output
    assert "Indexed 4 resources" in result.output
    assert snapshot(api) == before
    assert any(
        r.getMessage().startswith("reindex finished documents=4 seconds=")
        for r in caplog.records
    )
    # Only the new generation is left on disk.
    assert len(generations(app)) == 1


def test_changes_during_a_reindex_are_caught_up(
    app: Any,
    api: Any,
    client: Any,
    world: Any,
    city: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from repo_app.extensions import db
    from repo_app.models import FileObject

    # Only what changes after the start counts, so that the test sees the catch-up
    # pick exactly the changed resources rather than everything just created.
    monkeypatch.setattr(indexing, "CATCH_UP_MARGIN", timedelta(0))
    # One resource's file still waits for its text (a job queued for a big file).
    sha = api.upload("uploader2", city["古诗"], "扫描.txt", b"scanned").get_json()
    sha = sha["files"][-1]["sha256"]
    blob = db.session.get(FileObject, sha)
    blob.extraction = "pending"
    db.session.commit()
    before = snapshot(api)
    added: list[int] = []

    def meanwhile() -> None:
        # Searches still answer from the old index while the new one loads.
        assert snapshot(api) == before

        # A title changes, a resource is deleted, another is created and a file is
        # added (uploads leave updated_at alone); each is delivered to the old index.
        h = world.headers("uploader1")
        resp = client.patch(
            f"/api/v1/resources/{city['方程']}",
            json={"title": "二次函数 课件"},
            headers=h,
        )
        assert resp.status_code == 200, resp.get_json()
        resp = client.delete(f"/api/v1/resources/{city['光合']}", headers=h)
        assert resp.status_code == 204
        added.append(publish(api, "uploader1", "电路 课件", "串联与并联电路。"))
        resp = api.upload("uploader2", city["浮力"], "习题.txt", "密度习题".encode())
        assert resp.status_code == 201

        # The queued extraction finishes, as extract_stored() does.
        blob = db.session.get(FileObject, sha)
        blob.text, blob.extraction = "床前明月光", "ok"
        indexing.mark(city["古诗"])
        db.session.commit()
        indexing.after_commit()
        assert found(api, "teacher1", "二次函数") == [city["方程"]]

    monkeypatch.setattr(cli, "_progress", lambda total, desc: Bar(meanwhile))
    result = reindex(app)

    assert result.exit_code == 0, result.output
    assert added, "the rebuild never reported progress"
    assert found(api, "teacher1", "二次函数") == [city["方程"]]
    assert found(api, "teacher1", "photosynthesis") == []
    assert found(api, "teacher1", "电路") == added
    assert found(api, "teacher2", "密度习题") == [city["浮力"]]
    assert found(api, "teacher2", "明月光") == [city["古诗"]]
    engine = app.extensions["kejian"].engine
    expected = {str(rid) for rid in city.values()} - {str(city["光合"])}
    assert engine.ids() == expected | {str(added[0])}


def test_a_failed_reindex_leaves_search_as_it_was(
    app: Any, api: Any, city: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(api)
    live = generations(app)
    real_build = indexing.build_document
    built = 0

    def build_then_fail(*args: Any) -> dict[str, Any]:
        nonlocal built
        built += 1
        if built > 2:
            raise RuntimeError("database went away")
        return real_build(*args)

    # Small batches: two are loaded into the new index before the failure.
    monkeypatch.setattr(indexing, "BATCH", 1)
    monkeypatch.setattr(indexing, "build_document", build_then_fail)
    result = reindex(app)

    assert result.exit_code != 0
    assert isinstance(result.exception, RuntimeError)
    assert snapshot(api) == before
    assert generations(app) == live


def test_an_engine_failure_is_one_line_and_changes_nothing(
    app: Any, api: Any, city: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexer.engines.base import SearchUnavailable
    from indexer.engines.tantivy_engine import TantivyRebuild

    before = snapshot(api)
    live = generations(app)

    def disk_full(self: TantivyRebuild, documents: Any) -> int:
        raise SearchUnavailable("could not write the new search index: disk full")

    monkeypatch.setattr(TantivyRebuild, "index", disk_full)
    result = reindex(app)

    assert result.exit_code == 1
    assert "search index is unchanged" in result.output
    assert "disk full" in result.output and "Traceback" not in result.output
    assert snapshot(api) == before
    assert generations(app) == live
