"""The Elasticsearch cluster the tests use, behind the ``search_cluster`` fixture.

* By default, ``osmem-server`` (an in-memory server speaking the Elasticsearch and
  OpenSearch API, from PyPI), started once per test session on 127.0.0.1, behind a
  small proxy in this process that adapts the requests of the Elasticsearch client
  to it (see ``tests/README.md``, "osmem-server vs Elasticsearch").
* With ``KEJIAN_TEST_ELASTICSEARCH_URL`` set (``KEJIAN_TEST_ELASTICSEARCH_API_KEY``
  and ``KEJIAN_TEST_ELASTICSEARCH_CA_CERTS`` optional), that real cluster instead.

Every test gets its own alias (``kejian-test-<random>``), and everything named after
it is deleted afterwards, so tests never meet, in parallel runs either.

Import the fixture into a test module or conftest: ``from tests.search_cluster
import search_cluster``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch

from indexer.engines.elasticsearch_engine import ElasticsearchEngine, parse_search_url

REAL_URL_VARIABLE = "KEJIAN_TEST_ELASTICSEARCH_URL"
REAL_API_KEY_VARIABLE = "KEJIAN_TEST_ELASTICSEARCH_API_KEY"
REAL_CA_CERTS_VARIABLE = "KEJIAN_TEST_ELASTICSEARCH_CA_CERTS"

#: The versioned media types of the Elasticsearch client, which osmem refuses
#: (406); the proxy sends the plain ones they stand for.
_VERSIONED_MEDIA_TYPE = re.compile(
    r"application/vnd\.elasticsearch\+([a-z-]+)\s*;\s*compatible-with=\d+"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
#: Hits osmem is asked for when the proxy pages by score itself.
_SCORE_PAGE_WINDOW = 10_000

Reply = tuple[int, list[tuple[str, str]], bytes]


class ClusterProxy:
    """An HTTP proxy on a free port of 127.0.0.1 in front of *target*.

    With *osmem* set it adapts the Elasticsearch client's requests to osmem-server
    (see ``tests/README.md``): plain media types instead of versioned ones, and
    ``search_after`` cursors of a score-sorted search run as Elasticsearch runs them.
    It can also play a cluster that is down: while :attr:`down` is set, it closes
    every connection without answering, as a stopped node's port refuses them.
    *credentials* (``user:password``) are put into :attr:`url` for clients.
    """

    def __init__(self, target: str, *, osmem: bool, credentials: str = "") -> None:
        self.target = urlsplit(target)
        self.osmem = osmem
        self.credentials = credentials
        self.down = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm
            # and delayed ACKs hold each answer back by 40 ms.
            disable_nagle_algorithm = True
            upstream: http.client.HTTPConnection | None = None

            def handle_one_request(self) -> None:
                if proxy.down:
                    self.close_connection = True
                    return
                super().handle_one_request()

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in _HOP_BY_HOP
                }
                status, reply_headers, data = proxy.exchange(
                    self, self.command, self.path, body, headers
                )
                self.send_response(status)
                for name, value in reply_headers:
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="search-proxy",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        login = f"{self.credentials}@" if self.credentials else ""
        return f"http://{login}{host}:{port}"

    def exchange(
        self,
        handler: Any,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
    ) -> Reply:
        """Answer one request, adapted to osmem when asked."""
        if not self.osmem:
            return self.send(handler, method, path, body, headers)

        for name, value in headers.items():
            if name.lower() in ("content-type", "accept"):
                headers[name] = _VERSIONED_MEDIA_TYPE.sub(r"application/\1", value)
        request = _score_cursor_search(path, body)
        if request is None:
            return self.send(handler, method, path, body, headers)
        return self._page_after_score(handler, method, path, request, headers)

    def _page_after_score(
        self,
        handler: Any,
        method: str,
        path: str,
        request: dict[str, Any],
        headers: dict[str, str],
    ) -> Reply:
        """Run a score-sorted ``search_after`` request the way Elasticsearch does.

        osmem compares a cursor's score with its own, more precise one, so a page
        that ends among equal scores comes back again and again. Here osmem is asked
        for the hits from the start instead, and the page is cut after the cursor by
        comparing (score, id) as osmem prints them, which is what the cursor holds.
        """
        cursor = request.pop("search_after")
        size = int(request.get("size", 10))
        request.update({"from": 0, "size": _SCORE_PAGE_WINDOW})
        data = json.dumps(request).encode()
        status, reply_headers, reply = self.send(handler, method, path, data, headers)
        if status != 200:
            return status, reply_headers, reply

        answer = json.loads(reply)
        after = (-cursor[0], *cursor[1:])
        hits = [
            hit
            for hit in answer["hits"]["hits"]
            if (-hit["sort"][0], *hit["sort"][1:]) > after
        ]
        answer["hits"]["hits"] = hits[:size]
        return status, reply_headers, json.dumps(answer).encode()

    def send(
        self,
        handler: Any,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
    ) -> Reply:
        """Send one request upstream on the handler's own kept-alive connection."""
        for attempt in range(2):
            if handler.upstream is None:
                handler.upstream = http.client.HTTPConnection(
                    self.target.hostname, self.target.port, timeout=60
                )
            try:
                handler.upstream.request(method, path, body=body, headers=headers)
                reply = handler.upstream.getresponse()
                return reply.status, reply.getheaders(), reply.read()
            except (ConnectionError, http.client.HTTPException):
                handler.upstream.close()
                handler.upstream = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _score_cursor_search(path: str, body: bytes | None) -> dict[str, Any] | None:
    """The body of a search that pages by ``search_after`` on a descending
    ``_score`` sort (the engine's relevance order), or ``None`` for any other."""
    if body is None or not urlsplit(path).path.endswith("/_search"):
        return None
    request = json.loads(body)
    sort = request.get("sort") or [None]
    if "search_after" not in request or sort[0] != {"_score": "desc"}:
        return None
    return dict(request)


@dataclass
class SearchCluster:
    """A cluster for tests: its URL and settings, and an admin client for checks
    and clean-up."""

    kind: str
    url: str
    api_key: str | None = None
    ca_certs: str | None = None
    proxy: ClusterProxy | None = None
    admin: Elasticsearch = field(init=False)

    def __post_init__(self) -> None:
        # The URL is read as the engine reads it: hosts, then their login.
        address = parse_search_url(self.url)
        options: dict[str, Any] = {"basic_auth": address.basic_auth}
        if self.api_key:
            options["api_key"] = self.api_key
        if self.ca_certs:
            options["ca_certs"] = self.ca_certs
        self.admin = Elasticsearch(list(address.hosts), **options)

    @staticmethod
    def new_alias() -> str:
        return f"kejian-test-{uuid.uuid4().hex[:12]}"

    def engine(self, alias: str, **options: Any) -> ElasticsearchEngine:
        options.setdefault("api_key", self.api_key)
        options.setdefault("ca_certs", self.ca_certs)
        return ElasticsearchEngine(self.url, index=alias, **options)

    def indices(self, alias: str) -> dict[str, list[str]]:
        """Every index named after *alias* (itself, ``<alias>-…``) -> its aliases."""
        answer = self.admin.options(ignore_status=404).indices.get_alias(
            index=f"{alias}*", expand_wildcards="all"
        )
        if answer.meta.status == 404:
            return {}
        return {
            name: sorted(details.get("aliases", {}))
            for name, details in answer.body.items()
            if name == alias or name.startswith(f"{alias}-")
        }

    def holders(self, alias: str) -> list[str]:
        """The indices *alias* points to."""
        return sorted(
            name for name, aliases in self.indices(alias).items() if alias in aliases
        )

    def remove(self, alias: str) -> None:
        """Delete the indices and template of *alias*, by name (Elasticsearch 8
        refuses wildcard deletes by default)."""
        names = sorted(self.indices(alias))
        if names:
            self.admin.indices.delete(index=",".join(names), ignore_unavailable=True)
        self.admin.options(ignore_status=404).indices.delete_index_template(name=alias)

    def gate(self) -> ClusterProxy:
        """A proxy in front of the cluster that a test can take down and bring back
        (:attr:`ClusterProxy.down`); its :attr:`~ClusterProxy.url` carries the
        cluster's user and password.

        A plain HTTP proxy cannot stand in front of HTTPS or an API key: the test is
        skipped on such a cluster.
        """
        first = urlsplit(self.url.split(",")[0])
        if self.api_key or first.scheme != "http":
            pytest.skip("the gate in front of the cluster speaks plain HTTP only")
        target = first._replace(netloc=first.netloc.rpartition("@")[2]).geturl()
        credentials = first.netloc.rpartition("@")[0]
        return ClusterProxy(target, osmem=False, credentials=credentials)

    def close(self) -> None:
        self.admin.close()
        if self.proxy is not None:
            self.proxy.close()


@pytest.fixture(scope="session")
def search_cluster() -> Iterator[SearchCluster]:
    """osmem-server behind the proxy, or ``KEJIAN_TEST_ELASTICSEARCH_URL``'s cluster."""
    real_url = os.environ.get(REAL_URL_VARIABLE, "").strip()
    if real_url:
        cluster = SearchCluster(
            "elasticsearch",
            real_url,
            api_key=os.environ.get(REAL_API_KEY_VARIABLE) or None,
            ca_certs=os.environ.get(REAL_CA_CERTS_VARIABLE) or None,
        )
        yield cluster
        cluster.close()
        return

    from osmem_server import OsmemServer

    server = OsmemServer.start(japanese=False)
    proxy = ClusterProxy(server.url, osmem=True)
    cluster = SearchCluster("osmem", proxy.url, proxy=proxy)
    yield cluster
    cluster.close()
    server.close()


@pytest.fixture
def search_gate(search_cluster: SearchCluster) -> Iterator[ClusterProxy]:
    """A gate in front of the test cluster (see :meth:`SearchCluster.gate`)."""
    gate = search_cluster.gate()
    yield gate
    gate.close()


@pytest.fixture
def search_alias(search_cluster: SearchCluster) -> Iterator[str]:
    """A fresh alias for one test; its indices are deleted afterwards."""
    alias = search_cluster.new_alias()
    yield alias
    search_cluster.remove(alias)
