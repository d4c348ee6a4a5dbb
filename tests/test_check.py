"""``kejian check``: the search index against the database, its repair, and the
outbox changes it reports; on SQLite and PostgreSQL, on the embedded index and on
Elasticsearch (osmem-server, or ``KEJIAN_TEST_ELASTICSEARCH_URL``)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from indexer.engines.base import SearchUnavailable
from tests.search_cluster import search_alias, search_cluster

__all__ = ["search_alias", "search_cluster"]  # fixtures for the Elasticsearch runs


@pytest.fixture
def settings(request: pytest.FixtureRequest, settings: Any) -> Any:
    """The shared settings, with search on the embedded index, or on Elasticsearch
    for the tests marked :data:`ON_BOTH_ENGINES`."""
    if getattr(request, "param", "tantivy") == "tantivy":
        return settings
    cluster = request.getfixturevalue("search_cluster")
    return replace(
        settings,
        search_url=cluster.url,
        search_index=request.getfixturevalue("search_alias"),
        search_api_key=cluster.api_key,
        search_ca_certs=cluster.ca_certs,
    )


#: What depends on the engine (its ids, its date filter, paging within one second)
#: runs on both; the report, the outbox and the command's errors on one.
ON_BOTH_ENGINES = pytest.mark.parametrize(
    "settings", ["tantivy", "elasticsearch"], indirect=True
)


def _check(app: Any, *args: str) -> tuple[int, dict[str, Any]]:
    result = app.test_cli_runner().invoke(args=["check", "--json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.output
    )
    return result.exit_code, json.loads(result.output)


def _ids(api: Any, who: str, **params: Any) -> set[int]:
    return {h["id"] for h in api.search(who, per_page=100, **params).get_json()["hits"]}


@pytest.fixture
def engine(app):  # type: ignore[no-untyped-def]
    return app.extensions["kejian"].engine


@pytest.fixture
def resources(api, world) -> list[int]:  # type: ignore[no-untyped-def]
    """Five resources of school s1: four published to the school, one draft."""
    ids = []
    for n in range(4):
        rid = api.create("uploader1", title=f"校本课程 {n}", subject="math")["id"]
        api.upload("uploader1", rid, "a.txt", f"校本 lesson {n}".encode())
        assert api.publish("uploader1", rid, "school").status_code == 200
        ids.append(rid)
    ids.append(api.create("uploader1", title="草稿")["id"])
    return ids


def _silently(rid: int, **changes: Any) -> None:
    """Change a resource in the database as if its index delivery were lost."""
    from repo_app.extensions import db
    from repo_app.models import Resource

    resource = db.session.get(Resource, rid)
    for name, value in changes.items():
        setattr(resource, name, value)
    db.session.commit()


@ON_BOTH_ENGINES
def test_a_consistent_index_passes(app, resources) -> None:
    code, report = _check(app)
    assert code == 0, report
    assert report["consistent"] is True
    assert report["resources"] == report["documents"] == 5
    for name in ("missing", "stale", "extra"):
        assert report[name] == {"count": 0, "examples": []}
    assert report["outbox"]["queued"] == report["outbox"]["failing"] == 0

    text = app.test_cli_runner().invoke(args=["check"])
    assert text.exit_code == 0 and "5 resources, 5 documents" in text.output


@ON_BOTH_ENGINES
def test_missing_stale_and_extra_are_found_then_repaired(
    app, api, engine, resources
) -> None:
    from indexer.documents import build_document
    from repo_app.extensions import db
    from repo_app.models import Resource, Status
    from repo_app.security import resource_acl

    lost, withdrawn, *_ = resources
    # A document lost from the index.
    engine.delete([str(lost)])
    # A withdrawal that never reached the index: teachers would still find it.
    later = datetime.now(UTC) + timedelta(minutes=3)
    _silently(withdrawn, status=Status.WITHDRAWN, updated_at=later)
    assert withdrawn in _ids(api, "teacher1", q="校本")
    # Documents of no resource: a deleted one, and an id that was never ours.
    resource = db.session.get(Resource, resources[2])
    doc = build_document(
        resource, app.extensions["kejian"].vocab, resource_acl(resource)
    )
    engine.index([{**doc, "id": "999999"}, {**doc, "id": "ghost"}])
    # Searches go on meanwhile; an id that names no resource is no hit.
    found = api.search("teacher1", q="校本")
    assert found.status_code == 200 and "ghost" not in found.get_data(as_text=True)

    code, report = _check(app)
    assert code == 1 and report["consistent"] is False
    assert report["missing"] == {"count": 1, "examples": [lost]}
    assert report["stale"] == {"count": 1, "examples": [withdrawn]}
    assert report["extra"] == {"count": 2, "examples": ["999999", "ghost"]}
    assert report["documents"] == 6

    code, report = _check(app, "--fix")
    assert code == 0, report
    assert report["fix"] == {
        "queued": 3,
        "removed": 1,
        "delivered": 3,
        "failed": 0,
        "rebuilt": 0,
    }
    assert report["after"]["consistent"] is True
    assert report["after"]["documents"] == 5
    # Searches agree with the database again.
    assert _ids(api, "teacher1", q="校本") == set(resources[:4]) - {withdrawn}
    assert lost in _ids(api, "uploader1", q="校本")


def _built_by_an_older_version(app: Any, request: pytest.FixtureRequest) -> None:
    """Leave the index as an older layout version built it, and the app as a
    process started after the upgrade."""
    from indexer.engines import elasticsearch_engine as es
    from indexer.engines import tantivy_engine
    from repo_app import open_search_engine

    rt = app.extensions["kejian"]
    before = rt.engine
    if isinstance(before, tantivy_engine.TantivyEngine):
        marker = before.live_path / tantivy_engine.MARKER_FILE
        layout = json.loads(marker.read_text(encoding="utf-8"))
        layout["schema"] = tantivy_engine.SCHEMA_VERSION - 1
        marker.write_text(json.dumps(layout), encoding="utf-8")
    else:
        cluster = request.getfixturevalue("search_cluster")
        cluster.admin.indices.put_mapping(
            index=before.alias, meta={"kejian": {"schema": es.SCHEMA_VERSION - 1}}
        )

    rt.engine = open_search_engine(rt.settings)
    before.close()


@ON_BOTH_ENGINES
def test_an_index_of_an_older_layout_is_stale_until_the_fix_rebuilds_it(
    app, api, resources, request
) -> None:
    _built_by_an_older_version(app, request)

    code, report = _check(app)
    assert code == 1 and report["consistent"] is False
    assert "kejian reindex" in report["outdated"]
    assert report["stale"] == {"count": 5, "examples": sorted(resources)}
    text = app.test_cli_runner().invoke(args=["check"])
    assert text.exit_code == 1 and "Traceback" not in text.output
    assert "5 resources, an index of an older layout" in text.output
    assert "Every document is stale" in text.output
    assert "`kejian reindex`" in text.output and "kejian check --fix" in text.output

    code, report = _check(app, "--fix")
    assert code == 0, report
    assert report["fix"]["rebuilt"] == 5
    assert report["after"]["consistent"] is True
    assert report["after"]["outdated"] is None
    assert report["after"]["documents"] == 5
    assert _ids(api, "teacher1", q="校本") == set(resources[:4])


@ON_BOTH_ENGINES
def test_after_an_upgrade_run_warns_and_demo_rebuilds_the_index(
    app, api, resources, request, tmp_path, capsys
) -> None:
    from repo_app.cli import warn_of_outdated_index

    assert warn_of_outdated_index(app) is False
    assert capsys.readouterr().err == ""
    _built_by_an_older_version(app, request)
    assert api.search("teacher1", q="校本").status_code == 503

    assert warn_of_outdated_index(app) is True
    assert "kejian reindex" in capsys.readouterr().err
    empty = tmp_path / "nothing"
    empty.mkdir()
    result = app.test_cli_runner().invoke(args=["demo", "--dir", str(empty)])

    assert result.exit_code == 0, result.output
    assert "another layout: rebuilt with 5 resources" in result.output
    assert _ids(api, "teacher1", q="校本") == set(resources[:4])
    assert warn_of_outdated_index(app) is False


def test_text_report_names_the_differences_and_the_remedy(
    app, engine, resources
) -> None:
    engine.delete([str(resources[0])])
    result = app.test_cli_runner().invoke(args=["check"])
    assert result.exit_code == 1
    assert f"missing       1  {resources[0]}" in result.output
    assert "kejian check --fix" in result.output

    result = app.test_cli_runner().invoke(args=["check", "--fix"])
    assert result.exit_code == 0, result.output
    assert "1 changes delivered, 0 failed" in result.output
    assert "After the repair:" in result.output


@ON_BOTH_ENGINES
def test_stale_is_found_among_many_resources_of_one_second(
    app, api, engine, world, monkeypatch
) -> None:
    from repo_app.extensions import db
    from repo_app.models import Resource
    from repo_app.services import index_check, indexing

    # Twelve resources stamped within the same second, read three hits a page.
    moment = datetime(2026, 5, 1, 8, 0, 0, 250_000, tzinfo=UTC)
    ids = [api.create("uploader1", title=f"批量 {n}")["id"] for n in range(12)]
    for rid in ids:
        db.session.get(Resource, rid).updated_at = moment
    indexing.mark(*ids)
    db.session.commit()
    indexing.deliver()
    monkeypatch.setattr(index_check, "PAGE", 3)
    assert index_check.check().consistent

    # One moves a second on (the index still has the old second), one to a second
    # no other resource has, one back in time.
    _silently(ids[4], updated_at=moment + timedelta(seconds=1))
    _silently(ids[7], updated_at=moment + timedelta(days=1))
    _silently(ids[9], updated_at=moment - timedelta(seconds=1))
    report = index_check.check()
    assert report.stale == sorted([ids[4], ids[7], ids[9]])
    assert not report.missing and not report.extra


def test_progress_counts_every_resource(app, resources) -> None:
    from repo_app.services import index_check

    steps: list[int] = []
    index_check.check(progress=steps.append)
    assert sum(steps) == len(resources)


def test_search_engine_down_is_one_line(app, engine, resources, monkeypatch) -> None:
    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise SearchUnavailable("connection refused to 10.0.0.1:9200")

    monkeypatch.setattr(engine, "ids", down)
    result = app.test_cli_runner().invoke(args=["check"])
    assert result.exit_code == 1
    assert "cannot be read" in result.output and "Traceback" not in result.output


def test_failed_deliveries_are_shown_and_retried_by_the_repair(
    app, api, engine, world, monkeypatch
) -> None:
    real_index = engine.index

    def down(_docs: Any) -> None:
        raise SearchUnavailable("the cluster is down")

    monkeypatch.setattr(engine, "index", down)
    rid = api.create("uploader1", title="等待")["id"]

    # On its way, not lost: queued and failing, not missing; the check fails.
    code, report = _check(app)
    assert code == 1
    assert report["missing"]["count"] == 0
    assert report["outbox"]["queued"] == report["outbox"]["failing"] == 1
    failure = report["outbox"]["failures"][0]
    assert failure["resource"] == rid and failure["attempts"] == 1
    assert failure["error"] == "the cluster is down"
    text = app.test_cli_runner().invoke(args=["check"]).output
    assert f"resource {rid}: 1 attempts" in text and "the cluster is down" in text

    # The engine comes back: the repair delivers it without waiting for the back-off.
    monkeypatch.setattr(engine, "index", real_index)
    code, report = _check(app, "--fix")
    assert code == 0 and report["fix"]["delivered"] == 1
    assert report["after"]["outbox"]["queued"] == 0
    assert rid in _ids(api, "uploader1")


def test_a_change_queued_too_long_is_late(app, api, world, monkeypatch) -> None:
    from repo_app.extensions import db
    from repo_app.models import IndexOutbox
    from repo_app.services import indexing

    # As with a worker that is not running: the change waits, untried.
    monkeypatch.setattr(indexing, "after_commit", lambda: None)
    rid = api.create("uploader1", title="没人送")["id"]
    code, report = _check(app)
    assert code == 0 and report["outbox"]["queued"] == 1  # in flight: fine

    row = db.session.query(IndexOutbox).filter_by(resource_id=rid).one()
    row.created_at = datetime.now(UTC) - timedelta(hours=1)
    db.session.commit()
    code, report = _check(app)
    assert code == 1 and report["outbox"]["late"] == 1
