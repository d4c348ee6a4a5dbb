"""What the Elasticsearch engine does beyond the contract: its settings, its alias
and physical indices, and a cluster that is down or lacks a plugin."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest

from indexer.engines import elasticsearch_engine as es
from indexer.engines import open_engine
from indexer.engines.base import (
    IndexOutdated,
    SearchEngineError,
    SearchQuery,
    SearchUnavailable,
)
from indexer.engines.elasticsearch_engine import (
    ElasticsearchEngine,
    check_settings,
    parse_search_url,
)
from tests.search_cluster import ClusterProxy, SearchCluster

MakeDoc = Callable[..., dict[str, Any]]


@pytest.fixture
def alias(search_alias: str) -> str:
    """The test's own alias; everything named after it is deleted afterwards."""
    return search_alias


@pytest.fixture
def engine(search_cluster: SearchCluster, alias: str) -> Iterator[ElasticsearchEngine]:
    opened = search_cluster.engine(alias)
    yield opened
    opened.close()


def found(engine: ElasticsearchEngine, text: str = "") -> list[str]:
    result = engine.search(SearchQuery(text=text, acl=["public"], limit=100))
    return sorted(hit.id for hit in result.hits)


def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("url", "hosts", "auth"),
    [
        ("http://localhost:9200", ("http://localhost:9200",), None),
        ("http://localhost", ("http://localhost:9200",), None),
        ("https://search.example.org", ("https://search.example.org:443",), None),
        (
            "https://kejian:p%40ss%3Aw%2Cd@es1:9201,es2, es3:9300",
            ("https://es1:9201", "https://es2:9201", "https://es3:9300"),
            ("kejian", "p@ss:w,d"),
        ),
        (
            "https://u:p@es1:9200,http://es2:9200,https://u:p@es3:9200",
            ("https://es1:9200", "http://es2:9200", "https://es3:9200"),
            ("u", "p"),
        ),
        ("https://proxy.example.org/es/", ("https://proxy.example.org:443/es",), None),
        ("http://[::1]:9200,[::2]", ("http://[::1]:9200", "http://[::2]:9200"), None),
    ],
)
def test_search_url_names_hosts_and_credentials(
    url: str, hosts: tuple[str, ...], auth: tuple[str, str] | None
) -> None:
    address = parse_search_url(url)

    assert (address.hosts, address.basic_auth) == (hosts, auth)
    assert "p@ss" not in str(address)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("es1:9200", "must start with http"),
        ("http://", "names no host"),
        ("http://es1:99999", "port"),
        ("http://es1:9200,,es2:9200", "empty host"),
        ("http://u:secret@es1:9200,http://v:other@es2:9200", "same"),
        ("http://es1:9200/?pretty", "query"),
        ("http://es1:9200,ftp://es2", "http"),
    ],
)
def test_a_wrong_search_url_is_named_without_its_password(
    url: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem) as info:
        parse_search_url(url)

    assert "KEJIAN_SEARCH_URL" in str(info.value)
    assert "secret" not in str(info.value) and "other" not in str(info.value)


@pytest.mark.parametrize(
    ("options", "variable"),
    [
        ({"index": "Kejian"}, "KEJIAN_SEARCH_INDEX"),
        ({"index": "-kejian"}, "KEJIAN_SEARCH_INDEX"),
        ({"index": "kejian resources"}, "KEJIAN_SEARCH_INDEX"),
        ({"analyzer": "jieba"}, "KEJIAN_SEARCH_ANALYZER"),
        ({"api_key": "a2V5"}, "KEJIAN_SEARCH_API_KEY"),
        ({"ca_certs": "/no/such/bundle.pem"}, "KEJIAN_SEARCH_CA_CERTS"),
    ],
)
def test_wrong_cluster_settings_name_their_variable(
    options: dict[str, str], variable: str
) -> None:
    # The API key clashes with the password in the URL; the CA needs https.
    url = "https://kejian:secret@es1:9200"
    if "api_key" not in options:
        url = url.replace("kejian:secret@", "")

    with pytest.raises(ValueError, match=variable):
        check_settings(url, **options)  # type: ignore[arg-type]
    with pytest.raises(SearchEngineError, match=variable):
        open_engine(url, home=Path("."), **options)  # type: ignore[arg-type]


def test_a_ca_bundle_needs_https() -> None:
    with pytest.raises(ValueError, match="KEJIAN_SEARCH_CA_CERTS.*https"):
        check_settings("http://es1:9200", ca_certs=certifi.where())


def test_the_client_carries_the_credentials_and_ca_bundle() -> None:
    port = closed_port()

    with_password = ElasticsearchEngine(f"https://kejian:s%40id@127.0.0.1:{port}")
    with_key = ElasticsearchEngine(
        f"https://127.0.0.1:{port}",
        api_key="a2VqaWFuOmtleQ==",
        ca_certs=certifi.where(),
    )

    # The client sends these headers with every request, to every node.
    assert with_password._client._headers["authorization"].startswith("Basic ")
    assert with_key._client._headers["authorization"] == "ApiKey a2VqaWFuOmtleQ=="
    (node,) = with_key._client.transport.node_pool.all()
    assert node.config.ca_certs == certifi.where()
    assert (with_key.alias, with_key.analyzer) == ("kejian-resources", "cjk")
    with_password.close()
    with_key.close()


def test_open_engine_opens_the_cluster_of_an_http_url(
    search_cluster: SearchCluster, alias: str
) -> None:
    engine = open_engine(search_cluster.url, home=Path("."), index=alias)

    assert isinstance(engine, ElasticsearchEngine)
    assert engine.alias == alias and len(search_cluster.holders(alias)) == 1
    engine.close()


# -------------------------------------------------------------------- analyzers


@pytest.mark.parametrize("analyzer", ["smartcn", "ik"])
def test_an_analyzer_whose_plugin_is_missing_stops_start_up(
    search_cluster: SearchCluster, alias: str, analyzer: str
) -> None:
    probe = es.ANALYZER_VARIANTS[analyzer]["probe"]
    installed = (
        search_cluster.admin.options(ignore_status=400).indices.analyze(**probe)
    ).meta.status == 200
    if installed:
        engine = search_cluster.engine(alias, analyzer=analyzer)
        assert engine.search(SearchQuery()).total == 0
        engine.close()
        return

    with pytest.raises(SearchEngineError) as info:
        search_cluster.engine(alias, analyzer=analyzer)

    message = str(info.value)
    assert f"KEJIAN_SEARCH_ANALYZER={analyzer}" in message and "\n" not in message
    assert es.ANALYZER_VARIANTS[analyzer]["plugin"] in message
    assert search_cluster.indices(alias) == {}


def test_indices_are_made_from_the_data_files(
    search_cluster: SearchCluster, engine: ElasticsearchEngine, alias: str
) -> None:
    (live,) = search_cluster.holders(alias)
    mapping = search_cluster.admin.indices.get_mapping(index=live)[live]["mappings"]
    settings = search_cluster.admin.indices.get_settings(index=live)[live]["settings"]
    template = search_cluster.admin.indices.get_index_template(name=alias)

    assert live.removeprefix(f"{alias}-").isdigit()
    assert mapping["_meta"]["kejian"] == {
        "schema": es.SCHEMA_VERSION,
        "analyzer": "cjk",
    }
    assert mapping["properties"]["title"]["analyzer"] == "kejian_index"
    assert settings["index"]["analysis"]["analyzer"]["kejian_index"] == {"type": "cjk"}
    (installed,) = template["index_templates"]
    assert installed["index_template"]["index_patterns"] == [f"{alias}-*"]


# ----------------------------------------------------------- alias and rebuilds


def test_searches_see_the_old_or_the_new_index_during_a_switch(
    search_cluster: SearchCluster,
    engine: ElasticsearchEngine,
    alias: str,
    make_doc: MakeDoc,
) -> None:
    engine.index([make_doc(f"old-{i}", title="勾股定理") for i in range(5)])
    (old,) = search_cluster.holders(alias)
    old_ids = sorted(f"old-{i}" for i in range(5))
    new_ids = sorted(f"new-{i}" for i in range(3))
    seen: list[list[str] | BaseException] = []
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            try:
                seen.append(found(engine, "勾股"))
            except BaseException as exc:  # noqa: BLE001 - recorded for the assert
                seen.append(exc)

    searchers = [threading.Thread(target=search) for _ in range(2)]
    for thread in searchers:
        thread.start()
    with engine.rebuild() as rebuild:
        rebuild.index([make_doc(f"new-{i}", title="勾股定理") for i in range(3)])
        rebuild.commit()
    # Let the searchers run on the new index for a moment too.
    switched = len(seen)
    deadline = time.monotonic() + 5
    while len(seen) < switched + 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    for thread in searchers:
        thread.join()

    assert {tuple(r) if isinstance(r, list) else repr(r) for r in seen} <= {
        tuple(old_ids),
        tuple(new_ids),
    }
    (new,) = search_cluster.holders(alias)
    assert new > old and list(search_cluster.indices(alias)) == [new]


def test_a_failed_load_leaves_the_alias_and_deletes_the_new_index(
    search_cluster: SearchCluster,
    engine: ElasticsearchEngine,
    alias: str,
    make_doc: MakeDoc,
) -> None:
    engine.index([make_doc("old", title="旧课件")])
    before = search_cluster.holders(alias)

    with pytest.raises(RuntimeError, match="database went away"):
        with engine.rebuild() as rebuild:
            rebuild.index([make_doc("new", title="新课件")])
            assert len(search_cluster.indices(alias)) == 2
            raise RuntimeError("database went away")

    assert search_cluster.holders(alias) == before
    assert list(search_cluster.indices(alias)) == before
    assert found(engine, "课件") == ["old"]


def test_a_failed_switch_leaves_the_alias_and_deletes_the_new_index(
    search_cluster: SearchCluster,
    engine: ElasticsearchEngine,
    alias: str,
    make_doc: MakeDoc,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine.index([make_doc("old", title="旧课件")])
    before = search_cluster.holders(alias)

    def refused(new: str, *, loaded: bool = False) -> list[str]:
        raise SearchUnavailable("the cluster went away during the switch")

    rebuild = engine.rebuild()
    rebuild.index([make_doc("new", title="新课件")])
    monkeypatch.setattr(engine, "_switch", refused)
    with pytest.raises(SearchUnavailable, match="went away"):
        rebuild.commit()

    assert list(search_cluster.indices(alias)) == before
    assert search_cluster.holders(alias) == before
    with pytest.raises(SearchEngineError, match="aborted"):
        rebuild.commit()


def test_a_rebuild_whose_index_is_removed_fails_instead_of_starting_over(
    search_cluster: SearchCluster,
    engine: ElasticsearchEngine,
    alias: str,
    make_doc: MakeDoc,
) -> None:
    engine.index([make_doc("old", title="旧课件")])
    before = search_cluster.holders(alias)
    rebuild = engine.rebuild()
    rebuild.index([make_doc("new-1")])

    # Another reindex's clean-up takes the index: later batches must not land in
    # an index the cluster creates anew from the template.
    search_cluster.admin.indices.delete(index=rebuild.index_name)
    with pytest.raises(SearchEngineError, match="removed while it loaded"):
        rebuild.index([make_doc("new-2")])
    with pytest.raises(SearchEngineError, match="removed while it loaded"):
        rebuild.commit()

    assert list(search_cluster.indices(alias)) == before
    assert found(engine, "课件") == ["old"]


def test_a_switch_cleans_up_what_killed_rebuilds_left(
    search_cluster: SearchCluster,
    engine: ElasticsearchEngine,
    alias: str,
    make_doc: MakeDoc,
) -> None:
    admin = search_cluster.admin
    # A rebuild killed long ago, one killed just now (never aborted), and one that
    # started after ours and is still loading.
    admin.indices.create(index=f"{alias}-{'0' * 19}1")
    killed = engine.rebuild()
    killed.index([make_doc("half")])
    with engine.rebuild() as rebuild:
        admin.indices.create(index=f"{alias}-{'9' * 20}")
        rebuild.index([make_doc("whole")])
        rebuild.commit()

    assert list(search_cluster.indices(alias)) == sorted(
        [rebuild.index_name, f"{alias}-{'9' * 20}"]
    )
    assert killed.index_name not in search_cluster.indices(alias)
    assert engine.ids() == {"whole"}


def test_ids_pages_past_any_result_window(
    engine: ElasticsearchEngine, make_doc: MakeDoc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(es, "ID_PAGE", 3)
    engine.index([make_doc(f"d{i}") for i in range(10)])

    assert engine.ids() == {f"d{i}" for i in range(10)}


def test_an_outdated_index_must_be_rebuilt(
    search_cluster: SearchCluster, alias: str, make_doc: MakeDoc
) -> None:
    # An index of an older Kejian, holding a document.
    old = f"{alias}-{'0' * 19}1"
    search_cluster.admin.indices.create(
        index=old, mappings={"_meta": {"kejian": {"schema": 0}}}
    )
    search_cluster.admin.index(index=old, id="x", document={"id": "x"}, refresh=True)
    search_cluster.admin.indices.put_alias(index=old, name=alias)
    engine = search_cluster.engine(alias)

    with pytest.raises(IndexOutdated, match="kejian reindex"):
        engine.search(SearchQuery())
    with pytest.raises(IndexOutdated):
        engine.index([make_doc("a")])
    with engine.rebuild() as rebuild:
        rebuild.index([make_doc("a", title="勾股")])
        rebuild.commit()

    assert found(engine, "勾股") == ["a"]
    assert old not in search_cluster.indices(alias)
    engine.close()


def test_an_outdated_empty_index_is_replaced_at_once(
    search_cluster: SearchCluster, alias: str
) -> None:
    old = f"{alias}-{'0' * 19}1"
    search_cluster.admin.indices.create(
        index=old, mappings={"_meta": {"kejian": {"schema": 0}}}
    )
    search_cluster.admin.indices.put_alias(index=old, name=alias)

    engine = search_cluster.engine(alias)

    assert engine.search(SearchQuery()).total == 0
    assert old not in search_cluster.indices(alias)
    engine.close()


def test_a_plain_index_named_like_the_alias_is_refused(
    search_cluster: SearchCluster, alias: str
) -> None:
    search_cluster.admin.indices.create(index=alias)

    with pytest.raises(SearchEngineError, match="KEJIAN_SEARCH_INDEX"):
        search_cluster.engine(alias)
    assert list(search_cluster.indices(alias)) == [alias]


def test_an_alias_deleted_behind_its_back_is_made_again(
    search_cluster: SearchCluster,
    engine: ElasticsearchEngine,
    alias: str,
    make_doc: MakeDoc,
) -> None:
    engine.index([make_doc("a", title="勾股")])
    search_cluster.remove(alias)

    engine.index([make_doc("b", title="勾股")])

    assert found(engine, "勾股") == ["b"]


# ----------------------------------------------------------------- cluster down


def test_a_cluster_that_is_down_makes_calls_unavailable(make_doc: MakeDoc) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    engine = ElasticsearchEngine(url)  # starting needs no cluster

    calls: list[Callable[[], object]] = [
        lambda: engine.search(SearchQuery(text="数学")),
        lambda: engine.index([make_doc("a")]),
        lambda: engine.delete(["a"]),
        lambda: engine.suggest("sx", ["public"]),
        engine.ids,
        engine.rebuild,
        engine.check,
    ]
    for call in calls:
        with pytest.raises(SearchUnavailable) as info:
            call()
        message = str(info.value)
        assert message.startswith(f"cannot reach the search cluster at {url} to ")
        assert "urllib3" not in message and "Connection" not in message
    engine.close()


def test_a_cluster_that_does_not_answer_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        engine = ElasticsearchEngine(url, timeout=0.05)

        with pytest.raises(SearchUnavailable, match="did not answer in time"):
            engine.search(SearchQuery())
        engine.close()


def test_the_engine_starts_while_the_cluster_is_down_and_works_when_it_is_back(
    search_gate: ClusterProxy, alias: str, make_doc: MakeDoc
) -> None:
    search_gate.down = True
    engine = ElasticsearchEngine(search_gate.url, index=alias)
    with pytest.raises(SearchUnavailable):
        engine.index([make_doc("a", title="勾股")])

    search_gate.down = False
    engine.index([make_doc("a", title="勾股")])

    assert found(engine, "勾股") == ["a"]
    engine.close()


def test_a_node_that_is_down_is_passed_over(
    search_gate: ClusterProxy, alias: str, make_doc: MakeDoc
) -> None:
    engine = ElasticsearchEngine(
        f"{search_gate.url},127.0.0.1:{closed_port()}", index=alias
    )

    engine.index([make_doc("a", title="勾股")])

    assert found(engine, "勾股") == ["a"]
    engine.close()
