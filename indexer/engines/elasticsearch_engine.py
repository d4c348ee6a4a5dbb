"""The Elasticsearch backend: resource documents in a cluster, behind an alias.

It speaks to Elasticsearch 8.x and 9.x through the official 8.19 client. On the
cluster, with ``<alias>`` the value of ``KEJIAN_SEARCH_INDEX``::

    <alias>                    the alias that every search and write names
    <alias>-<timestamp>        the physical index it points to (20 digits, UTC)
    _index_template/<alias>    settings and mappings for ``<alias>-*``, when allowed

The settings and mappings are data: ``elasticsearch/index.json``, plus the Chinese
analysis of ``elasticsearch/analyzers.json`` chosen by ``KEJIAN_SEARCH_ANALYZER``.

Documents are matched on the tokens of :mod:`indexer.analysis` (CJK bigrams and
lower-cased words), computed here and indexed in whitespace-analysed ``tokens.*``
fields, and queries are built from the same module's query plan with term queries,
never with a query parser. The two engines therefore find the same documents for the
same words, synonyms included, and any text a user types runs. The text fields
analysed by the cluster (``cjk``, ``smartcn`` or IK) add their score on top, so that
a word segmenter, when installed, ranks whole words above chance character pairs.
Highlights are cut from ``_source`` by :class:`indexer.analysis.Highlighter`, as in
the embedded engine.

Facets are multi-select: the visible matches are the query, the filters a
``post_filter``, and each facet counts under a ``filter`` aggregation holding every
filter but its own.

The first call that reaches the cluster checks the analyzer's plugin, installs the
template and, when the alias is missing, creates an empty index behind it. A cluster
that cannot be reached raises :class:`~indexer.engines.base.SearchUnavailable` with
our own words (the cluster's are logged), and the next call tries again.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import functools
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import SplitResult, unquote, urlsplit

import elastic_transport
from elastic_transport.client_utils import DEFAULT
from elasticsearch import ApiError, Elasticsearch, UnsupportedProductError, helpers

from indexer import analysis
from indexer.engines import common
from indexer.engines.base import (
    ACL_ALL,
    FACET_FIELDS,
    SHOWN_FIELDS,
    TEXT_FIELDS,
    Hit,
    IndexOutdated,
    QueryError,
    Rebuild,
    SearchEngine,
    SearchEngineError,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
)

log = logging.getLogger("kejian.search")

_DATA_DIR = Path(__file__).with_name("elasticsearch")


def _load(name: str) -> dict[str, Any]:
    data = json.loads((_DATA_DIR / name).read_text(encoding="utf-8"))
    return {key: value for key, value in data.items() if not key.startswith("_")}


#: Settings and mappings of every index (``elasticsearch/index.json``).
INDEX_BODY: dict[str, Any] = _load("index.json")
#: Analysis variants by ``KEJIAN_SEARCH_ANALYZER`` value (``analyzers.json``).
ANALYZER_VARIANTS: dict[str, dict[str, Any]] = _load("analyzers.json")
ANALYZERS = tuple(ANALYZER_VARIANTS)
#: Layout version recorded in each index's ``_meta``; another one must be rebuilt.
SCHEMA_VERSION: int = INDEX_BODY["mappings"]["_meta"]["kejian"]["schema"]

DEFAULT_INDEX = "kejian-resources"
#: Ports of URLs that name none: Elasticsearch's own over HTTP, and HTTPS's, which
#: is what hosted clusters and proxies in front of them listen on.
DEFAULT_PORTS = {"http": 9200, "https": 443}
#: What ``KEJIAN_SEARCH_INDEX`` may be: an index name that leaves room for the
#: ``-<timestamp>`` of physical indices within Elasticsearch's 255 bytes.
_ALIAS_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,199}")
_TIMESTAMP_FORMAT = "%Y%m%d%H%M%S%f"
_TIMESTAMP_DIGITS = 20

#: Seconds a request may take; bulk loads of large texts get longer.
REQUEST_TIMEOUT = 10.0
BULK_TIMEOUT = 120.0
#: A bulk request carries at most this many documents or bytes.
BULK_DOCUMENTS = 500
BULK_BYTES = 10 * 1024 * 1024
#: Documents per page when listing every id.
ID_PAGE = 10_000
#: Tries at moving the alias while other processes move it too.
SWAP_ATTEMPTS = 3
#: Priority of our index template over the cluster's own templates.
TEMPLATE_PRIORITY = 200
#: Characters of the query given to the cluster's analyzer for its extra score:
#: enough for any real query, few enough to stay far below the clause limit.
NATIVE_QUERY_CHARS = 100

#: Ends the private alias a rebuild writes its new index through: writing through
#: an alias with ``require_alias`` fails once the index is gone, where writing to
#: the index by name would quietly create an empty one from the template.
LOADING_ALIAS_SUFFIX = "-loading"

#: Index settings that a rebuild changes while it loads and restores at commit.
_LOADING_SETTINGS = {
    "refresh_interval": "-1",
    "number_of_replicas": 0,
    "auto_expand_replicas": "false",
}
_BOOSTED_FIELDS = {name: boost for name, boost in TEXT_FIELDS.items() if name != "text"}
_SORTS: dict[str, list[dict[str, Any]]] = {
    "relevance": [{"_score": "desc"}, {"id": "asc"}],
    "newest": [{"updated_at": {"order": "desc", "missing": "_last"}}, {"id": "asc"}],
    "popular": [{"downloads": {"order": "desc", "missing": "_last"}}, {"id": "asc"}],
}
_HIGHLIGHT_SOURCE = ["title", "description", "text_src"]
#: What a hit reads of ``_source``: its shown fields and the texts to highlight.
_HIT_SOURCE = sorted({*SHOWN_FIELDS, *_HIGHLIGHT_SOURCE})
#: Largest ``downloads`` a ``long`` field holds.
_MAX_LONG = 2**63 - 1

_T = TypeVar("_T")


# ----------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ClusterAddress:
    """Where the cluster is and how to log in, read from ``KEJIAN_SEARCH_URL``."""

    #: ``scheme://host:port[/path]`` of each node, without credentials.
    hosts: tuple[str, ...]
    basic_auth: tuple[str, str] | None = None

    def __str__(self) -> str:
        return ", ".join(self.hosts)

    @property
    def secure(self) -> bool:
        return all(host.startswith("https://") for host in self.hosts)


def parse_search_url(url: str) -> ClusterAddress:
    """Read ``KEJIAN_SEARCH_URL``: ``http(s)://[user:password@]host[:port][/path]``.

    Several nodes are separated by commas; after the first, a node may be given as
    ``host[:port]`` alone, taking the scheme, credentials, port and path of the
    first. Every node uses the credentials of the first (a node may repeat them,
    not give others). Percent-encode ``@ : , /`` in a
    user name or password. A missing port is 9200 for ``http`` and 443 for
    ``https``.

    :raises ValueError: naming the variable and what is wrong, never the password.
    """
    items = [item.strip() for item in url.split(",")]
    if not all(items):
        raise ValueError("KEJIAN_SEARCH_URL has an empty host between commas")

    first = urlsplit(items[0])
    if first.scheme not in DEFAULT_PORTS:
        raise ValueError(
            "KEJIAN_SEARCH_URL must start with http:// or https://, e.g. "
            "https://user:password@search.example.org:9200"
        )
    first_port = _port(first, 1, DEFAULT_PORTS[first.scheme])

    hosts: list[str] = []
    auth: tuple[str, str] | None = None
    for number, item in enumerate(items, start=1):
        if "://" in item:
            parts = urlsplit(item)
            host, node_auth = _node(parts, number, DEFAULT_PORTS.get(parts.scheme, 0))
        else:
            parts = urlsplit(f"{first.scheme}://{item}")
            host, node_auth = _node(parts, number, first_port)
            host += first.path.rstrip("/")
        if number == 1:
            auth = node_auth
        elif node_auth is not None and node_auth != auth:
            raise ValueError(
                "KEJIAN_SEARCH_URL gives its hosts different users or passwords; "
                "every host must use the same ones"
            )
        hosts.append(host)
    return ClusterAddress(tuple(hosts), auth)


def _port(parts: SplitResult, number: int, default: int) -> int:
    try:
        return parts.port or default
    except ValueError:
        raise ValueError(
            f"host {number} of KEJIAN_SEARCH_URL has a port that is not a number "
            "from 1 to 65535"
        ) from None


def _node(
    parts: SplitResult, number: int, default_port: int
) -> tuple[str, tuple[str, str] | None]:
    """One node's URL without credentials, and its credentials."""
    where = f"host {number} of KEJIAN_SEARCH_URL"
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"{where} must start with http:// or https://")
    if parts.query or parts.fragment:
        raise ValueError(f"{where} cannot have a ?query or #fragment")
    if not parts.hostname:
        raise ValueError(f"{where} names no host")

    port = _port(parts, number, default_port)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    address = f"{parts.scheme}://{host}:{port}{parts.path.rstrip('/')}"
    if parts.username is None:
        return address, None
    return address, (unquote(parts.username), unquote(parts.password or ""))


@dataclass(frozen=True)
class ClusterSettings:
    """The ``KEJIAN_SEARCH_*`` settings of a cluster, checked, defaults filled in."""

    address: ClusterAddress
    index: str = DEFAULT_INDEX
    api_key: str | None = None
    ca_certs: Path | None = None
    analyzer: str = "cjk"


def check_settings(
    url: str,
    *,
    index: str | None = None,
    api_key: str | None = None,
    ca_certs: str | Path | None = None,
    analyzer: str | None = None,
) -> ClusterSettings:
    """Check the settings of an Elasticsearch cluster, each named after its
    ``KEJIAN_SEARCH_*`` variable; ``None`` takes the default.

    :raises ValueError: naming the first variable that cannot be used.
    """
    address = parse_search_url(url)
    index = DEFAULT_INDEX if index is None else index
    if not _ALIAS_NAME.fullmatch(index) or index in (".", ".."):
        raise ValueError(
            "KEJIAN_SEARCH_INDEX must be 1 to 200 lower-case letters, digits, '-', "
            f"'_' or '.', starting with a letter or digit; got {index!r}"
        )

    analyzer = "cjk" if analyzer is None else analyzer
    if analyzer not in ANALYZER_VARIANTS:
        raise ValueError(
            f"KEJIAN_SEARCH_ANALYZER must be one of {', '.join(ANALYZERS)}; "
            f"got {analyzer!r}"
        )

    if api_key and address.basic_auth:
        raise ValueError(
            "KEJIAN_SEARCH_API_KEY is set and KEJIAN_SEARCH_URL holds a user and "
            "password; give only one of them"
        )

    bundle = Path(ca_certs) if ca_certs else None
    if bundle is not None and not address.secure:
        raise ValueError(
            "KEJIAN_SEARCH_CA_CERTS is set but KEJIAN_SEARCH_URL is not https://"
        )
    if bundle is not None and not bundle.is_file():
        raise ValueError(f"KEJIAN_SEARCH_CA_CERTS is not a file: {bundle}")
    return ClusterSettings(address, index, api_key or None, bundle, analyzer)


def index_body(analyzer: str) -> dict[str, Any]:
    """Settings and mappings of a new index analysed by the *analyzer* variant."""
    body = copy.deepcopy(INDEX_BODY)
    body["settings"]["index"]["analysis"] = copy.deepcopy(
        ANALYZER_VARIANTS[analyzer]["analysis"]
    )
    body["mappings"]["_meta"]["kejian"]["analyzer"] = analyzer
    return body


# -------------------------------------------------------------------- the engine


class _IndexMissing(SearchUnavailable):
    """The alias names no index (deleted behind our back); preparing again helps."""


class _AnalyzerMissing(SearchUnavailable):
    """The cluster lacks the plugin of ``KEJIAN_SEARCH_ANALYZER``."""


class ElasticsearchEngine(SearchEngine):
    """Resource documents in an Elasticsearch cluster, behind the alias *index*.

    Creating the engine does not need the cluster: when it cannot be reached, each
    call tries again (and raises :class:`SearchUnavailable` meanwhile), so that the
    web application starts and keeps taking uploads while the cluster is down.

    The settings are those of :func:`check_settings`; ``None`` takes the default.

    :param url: ``KEJIAN_SEARCH_URL`` (see :func:`parse_search_url`).
    :param index: ``KEJIAN_SEARCH_INDEX``: the alias, and the prefix of the
        physical indices behind it.
    :param api_key: ``KEJIAN_SEARCH_API_KEY``, the encoded API key, instead of a
        user and password in *url*.
    :param ca_certs: ``KEJIAN_SEARCH_CA_CERTS``, the CA bundle that signed the
        cluster's certificate.
    :param analyzer: ``KEJIAN_SEARCH_ANALYZER``: ``cjk`` (built in), ``smartcn`` or
        ``ik`` (plugins).
    :param timeout: seconds one request may take (bulk loads get
        :data:`BULK_TIMEOUT`).
    :raises SearchEngineError: for a setting that cannot be used, naming it, and
        when the cluster answers but lacks the analyzer's plugin.
    """

    name = "elasticsearch"

    def __init__(
        self,
        url: str,
        *,
        index: str | None = None,
        api_key: str | None = None,
        ca_certs: str | Path | None = None,
        analyzer: str | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        try:
            settings = check_settings(
                url, index=index, api_key=api_key, ca_certs=ca_certs, analyzer=analyzer
            )
        except ValueError as exc:
            raise SearchEngineError(str(exc)) from None

        self.address = settings.address
        self.alias = settings.index
        self.analyzer = settings.analyzer
        self._body = index_body(settings.analyzer)
        self._physical = re.compile(
            rf"{re.escape(settings.index)}-\d{{{_TIMESTAMP_DIGITS}}}"
        )
        self._client = Elasticsearch(
            list(self.address.hosts),
            basic_auth=self.address.basic_auth,
            api_key=settings.api_key,
            ca_certs=str(settings.ca_certs) if settings.ca_certs else DEFAULT,
            request_timeout=timeout,
            # Another node is tried on a failure; one node alone is tried again.
            max_retries=2,
            retry_on_timeout=True,
        )
        # Preparing (template, first index) happens once, whichever thread is first.
        self._lock = threading.Lock()
        self._ready = False
        self._outdated = False
        self._closed = False

        try:
            self._prepare()
        except _AnalyzerMissing as exc:
            # A setting to fix: start-up stops (later, the same makes searches 503).
            raise SearchEngineError(str(exc)) from None
        except SearchUnavailable as exc:
            log.warning(
                "search cluster not ready at start hosts=%s error=%s", self.address, exc
            )

    # ---------------------------------------------------------------- preparing

    def _prepare(self) -> None:
        """Check the analyzer, install the template and make sure the alias names an
        index; done once per process, and again after the alias went missing."""
        with self._lock:
            if self._ready:
                return
            self._check_analyzer()
            self._install_template()
            holders = self._alias_holders()
            if not holders:
                self._install_first_index()
                self._outdated = False
            elif self._layout_outdated():
                self._outdated = not self._replace_if_empty()
            else:
                self._outdated = False
            self._ready = True

    def _ensure(self) -> None:
        """Be ready to search and write the live index.

        :raises IndexOutdated: while the live index has another layout.
        """
        if self._closed:
            raise SearchUnavailable("the search engine has been closed")

        if not self._ready:
            self._prepare()
        if self._outdated:
            # Another process may have rebuilt it since: look again each time.
            self._outdated = self._layout_outdated()
        if self._outdated:
            raise IndexOutdated(
                f"the search index {self.alias} was built by another version of "
                "Kejian; run `kejian reindex` to rebuild it"
            )

    def _on_live_index(self, action: Callable[[], _T]) -> _T:
        """Run *action* on the live index; when its alias went missing, prepare an
        empty one and run it once more."""
        self._ensure()
        try:
            return action()
        except _IndexMissing:
            log.warning(
                "search alias missing alias=%s; an empty index is created, run "
                "`kejian reindex` to fill it",
                self.alias,
            )
            with self._lock:
                self._ready = False
            self._ensure()
            return action()

    def _check_analyzer(self) -> None:
        """:raises _AnalyzerMissing: naming the setting when the plugin of the
        chosen analyzer is not installed."""
        variant = ANALYZER_VARIANTS[self.analyzer]
        if not variant["probe"]:
            return

        try:
            self._client.indices.analyze(**variant["probe"])
        except ApiError as exc:
            if exc.status_code == 400:
                raise _AnalyzerMissing(
                    f"KEJIAN_SEARCH_ANALYZER={self.analyzer} needs the "
                    f"{variant['plugin']} plugin on every Elasticsearch node; install "
                    "it or set KEJIAN_SEARCH_ANALYZER=cjk"
                ) from None
            if exc.status_code in (401, 403):
                # Credentials limited to our indices may not use the analyze API;
                # creating an index still fails if the plugin is missing.
                log.warning(
                    "analyzer not checked analyzer=%s status=%s",
                    self.analyzer,
                    exc.status_code,
                )
                return
            raise self._api_failure("check the Chinese analyzer", exc) from exc
        except elastic_transport.TransportError as exc:
            raise self._transport_failure("check the Chinese analyzer", exc) from exc

    def _install_template(self) -> None:
        """Install the index template for ``<alias>-*``, where the server and our
        credentials allow it: each index is created with the full body anyway."""
        try:
            self._client.indices.put_index_template(
                name=self.alias,
                index_patterns=[f"{self.alias}-*"],
                priority=TEMPLATE_PRIORITY,
                template=self._body,
                meta={"kejian": {"schema": SCHEMA_VERSION}},
            )
        except ApiError as exc:
            if exc.status_code >= 500:
                raise self._api_failure("install the index template", exc) from exc
            # Too old a server, a least-privilege key, or another template for the
            # same names: none of them stops us.
            log.warning(
                "index template not installed alias=%s status=%s error=%s",
                self.alias,
                exc.status_code,
                _error_type(exc),
            )
        except elastic_transport.TransportError as exc:
            raise self._transport_failure("install the index template", exc) from exc

    def _install_first_index(self) -> None:
        """Create an empty index behind the missing alias.

        Two processes starting together may both add one; the index with the
        smaller (older) name stays and the other process removes its own.
        """
        name = self._create_index(loading=False)
        try:
            self._client.indices.update_aliases(
                actions=[{"add": {"index": name, "alias": self.alias}}]
            )
        except (ApiError, elastic_transport.TransportError) as exc:
            self._delete_indices([name])
            if _error_type(exc) == "invalid_alias_name_exception":
                raise SearchEngineError(
                    f"cannot create the search alias {self.alias}: an index of that "
                    "name exists; delete it (`kejian reindex` refills the search) or "
                    "set KEJIAN_SEARCH_INDEX to another name"
                ) from None
            raise self._failure("create the search alias", exc) from exc

        holders = self._alias_holders()
        if len(holders) > 1 and name != min(holders):
            with self._vendor_errors("remove a duplicate search index"):
                self._client.indices.update_aliases(
                    actions=[{"remove_index": {"index": name}}]
                )
            return
        log.info("search index created alias=%s index=%s", self.alias, name)

    def _replace_if_empty(self) -> bool:
        """Replace an outdated live index that holds no documents by a current one;
        return whether it was replaced (one with documents waits for a reindex)."""
        with self._vendor_errors("count the search index"):
            documents = int(self._client.count(index=self.alias)["count"])
        if documents:
            return False

        name = self._create_index(loading=False)
        try:
            replaced = self._switch(name)
        except BaseException:
            self._delete_indices([name])
            raise
        self._delete_indices(replaced)
        log.info("search index replaced alias=%s reason=empty-outdated", self.alias)
        return True

    def _layout_outdated(self) -> bool:
        """Whether an index behind the alias was built with another layout."""
        with self._vendor_errors("read the search index mapping"):
            mappings = self._client.indices.get_mapping(index=self.alias).body
        for details in mappings.values():
            meta = details.get("mappings", {}).get("_meta", {}).get("kejian", {})
            if meta.get("schema") != SCHEMA_VERSION:
                return True
        return False

    # ------------------------------------------------------------------ indices

    def _alias_holders(self) -> list[str]:
        """The indices the alias points to (one, unless changed by hand)."""
        with self._vendor_errors("read the search alias"):
            answer = self._client.options(ignore_status=404).indices.get_alias(
                name=self.alias
            )
        if answer.meta.status == 404:
            return []
        return sorted(answer.body)

    def _create_index(self, *, loading: bool) -> str:
        """Create ``<alias>-<timestamp>`` with our settings and mappings. A loading
        index has no replicas and no refreshes until it goes live, and is written
        through its private alias (see :data:`LOADING_ALIAS_SUFFIX`)."""
        settings = copy.deepcopy(self._body["settings"])
        if loading:
            settings["index"].update(_LOADING_SETTINGS)

        for attempt in range(3):
            name = f"{self.alias}-{dt.datetime.now(dt.UTC):{_TIMESTAMP_FORMAT}}"
            aliases: dict[str, Any] = (
                {f"{name}{LOADING_ALIAS_SUFFIX}": {}} if loading else {}
            )
            try:
                self._client.indices.create(
                    index=name,
                    settings=settings,
                    mappings=self._body["mappings"],
                    aliases=aliases,
                )
                return name
            except (ApiError, elastic_transport.TransportError) as exc:
                # Two indices created in the same microsecond: take the next one.
                if (
                    _error_type(exc) == "resource_already_exists_exception"
                    and attempt < 2
                ):
                    continue
                raise self._failure("create a search index", exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _switch(self, new: str, *, loaded: bool = False) -> list[str]:
        """Point the alias at *new* alone with one ``POST /_aliases``, which the
        cluster applies atomically; return the indices it pointed to before. A
        *loaded* index loses its private alias in the same request.

        Each ``remove`` must find the alias where we saw it: when another process
        moved it meanwhile, the whole request fails and we look again.
        """
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            holders = [name for name in self._alias_holders() if name != new]
            actions: list[dict[str, Any]] = [
                {"remove": {"index": name, "alias": self.alias, "must_exist": True}}
                for name in holders
            ]
            if loaded:
                private = f"{new}{LOADING_ALIAS_SUFFIX}"
                actions.append({"remove": {"index": new, "alias": private}})
            actions.append({"add": {"index": new, "alias": self.alias}})
            try:
                self._client.indices.update_aliases(actions=actions)
                return holders
            except (ApiError, elastic_transport.TransportError) as exc:
                if (
                    _error_type(exc) == "aliases_not_found_exception"
                    and attempt < SWAP_ATTEMPTS
                ):
                    continue
                if _error_type(exc) == "index_not_found_exception":
                    raise _removed_meanwhile(new) from exc
                raise self._failure("switch the search alias", exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _delete_indices(self, names: Iterable[str]) -> None:
        """Delete indices by name; a failure is logged, and what is left is removed
        by the next switch (see :meth:`_remove_leftovers`)."""
        names = sorted(set(names))
        if not names:
            return
        try:
            with self._vendor_errors("delete old search indices"):
                self._client.indices.delete(
                    index=",".join(names), ignore_unavailable=True
                )
        except SearchEngineError as exc:
            log.warning("search indices not deleted indices=%s error=%s", names, exc)
            return
        log.info("search indices deleted indices=%s", ",".join(names))

    def _remove_leftovers(self, live: str) -> None:
        """Delete what killed or failed rebuilds left: our physical indices older
        than the live one and not behind the alias. Newer ones may be rebuilds
        still loading, and stay."""
        try:
            with self._vendor_errors("list the search indices"):
                answer = self._client.indices.get_alias(index=f"{self.alias}-*")
        except SearchEngineError as exc:
            log.warning(
                "search leftovers not listed alias=%s error=%s", self.alias, exc
            )
            return

        stale = [
            name
            for name, details in answer.body.items()
            if self._physical.fullmatch(name)
            and name < live
            and self.alias not in details.get("aliases", {})
        ]
        self._delete_indices(stale)

    def _go_live(self, name: str) -> list[str]:
        """Give a loaded index its live settings, refresh it and switch the alias
        to it; return the indices it replaced."""
        live_settings = self._body["settings"]["index"]
        restored = {key: live_settings.get(key) for key in _LOADING_SETTINGS}
        try:
            with self._vendor_errors("finish the new search index"):
                self._client.indices.put_settings(
                    index=name, settings={"index": restored}
                )
                self._client.indices.refresh(index=name)
        except _IndexMissing:
            raise _removed_meanwhile(name) from None
        replaced = self._switch(name, loaded=True)
        with self._lock:
            self._ready = True
            self._outdated = False
        return replaced

    # ------------------------------------------------------------------ writing

    def index(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Add or replace *documents*; return how many distinct ids were written.

        :raises ValueError: for a document without ``id`` or with a bad value; the
            call then writes nothing.
        :raises SearchUnavailable: when the cluster cannot take them now.
        """
        actions, written = _index_actions(documents)
        if actions:
            self._on_live_index(lambda: self._write(actions))
        return written

    def delete(self, ids: Iterable[str]) -> None:
        wanted = sorted({common.clean(str(doc_id)) for doc_id in ids})
        if not wanted:
            return

        actions = [{"_op_type": "delete", "_id": doc_id} for doc_id in wanted]
        self._on_live_index(lambda: self._write(actions))

    def _write(self, actions: list[dict[str, Any]]) -> None:
        """Bulk-apply *actions* through the alias and refresh, so that they are
        searchable when this returns."""
        self._bulk(self.alias, actions)
        with self._vendor_errors("refresh the search index"):
            self._client.indices.refresh(index=self.alias)

    def _bulk(self, target: str, actions: list[dict[str, Any]]) -> None:
        """Send *actions* through the alias *target* in bulk requests of bounded
        size. ``require_alias`` makes a missing alias fail the items rather than
        let the cluster create a plain index of that name.

        :raises SearchUnavailable: when the cluster cannot take them now.
        :raises SearchEngineError: when it refuses documents.
        """
        for action in actions:
            action["_index"] = target
        failures: list[dict[str, Any]] = []
        client = self._client.options(request_timeout=BULK_TIMEOUT)
        with self._vendor_errors("write the search index"):
            for ok, item in helpers.streaming_bulk(
                client,
                actions,
                chunk_size=BULK_DOCUMENTS,
                max_chunk_bytes=BULK_BYTES,
                raise_on_error=False,
                # A busy cluster (429) gets two short retries; the outbox keeps
                # whatever still fails for a later delivery.
                max_retries=2,
                initial_backoff=0.5,
                max_backoff=2,
                require_alias=True,
            ):
                result = next(iter(item.values()))
                # Deleting an id that is not there is fine.
                if not ok and not (
                    result.get("status") == 404 and "error" not in result
                ):
                    failures.append(result)
        if failures:
            raise self._bulk_failure(failures, len(actions))

    def _bulk_failure(
        self, failures: list[dict[str, Any]], sent: int
    ) -> SearchEngineError:
        kinds = sorted(
            {str(f.get("error", {}).get("type", "unknown")) for f in failures}
        )
        log.warning(
            "search documents refused alias=%s refused=%d sent=%d errors=%s first=%s",
            self.alias,
            len(failures),
            sent,
            kinds,
            failures[0].get("error", {}).get("reason", ""),
        )
        if kinds == ["index_not_found_exception"]:
            return _IndexMissing(f"the search alias {self.alias} names no index")
        if any(
            f.get("status", 500) in (408, 429) or f.get("status", 500) >= 500
            for f in failures
        ):
            return SearchUnavailable(
                f"the search cluster at {self.address} could not take {len(failures)} "
                f"of {sent} documents now; they are sent again later"
            )
        return SearchEngineError(
            f"the search cluster refused {len(failures)} of {sent} documents "
            f"({', '.join(kinds)}; first id {failures[0].get('_id')})"
        )

    # ---------------------------------------------------------------- searching

    def search(self, query: SearchQuery) -> SearchResult:
        """Run *query* with the matching of the embedded engine.

        Every word must match; when no visible document has them all, documents with
        any of them are returned instead. Hits sorted by date or downloads carry a
        score of 0. A query without words lists documents newest first.

        :raises QueryError: for a query that cannot run (bad sort, paging, field or
            cursor).
        :raises SearchUnavailable: when the cluster cannot be reached.
        """
        facets = common.check_query(query)
        plan = analysis.plan_query(query.text or "", analysis.default_synonyms())
        tokens = common.access_tokens(query.acl)
        if not tokens:
            return SearchResult(0, [], {name: [] for name in facets})

        # Without words every score is equal; browsing shows the newest first.
        sort = "newest" if not plan and query.sort == "relevance" else query.sort
        request = _SearchRequest(
            plan=plan,
            query=query,
            facets=facets,
            sort=sort,
            access=tokens,
            native_text=(query.text or "")[:NATIVE_QUERY_CHARS],
            search_after=_check_cursor(query.search_after, sort),
        )

        answer = self._on_live_index(lambda: self._run(request.body(conjunction=True)))
        if _total(answer) == 0 and plan:
            # Nothing has every word: show what has any of them (a misspelt word
            # then does not empty the page), best matches first.
            answer = self._run(request.body(conjunction=False))
        return request.result(answer)

    def _run(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._vendor_errors("search", refused=QueryError):
            answer: dict[str, Any] = self._client.search(index=self.alias, **body).body
        return answer

    # ------------------------------------------------------------- suggestions

    def suggest(self, prefix: str, acl: Sequence[str], limit: int = 10) -> list[str]:
        limit = min(limit, 100)
        if limit <= 0:
            return []
        key = common.suggestion_key(prefix)
        tokens = common.access_tokens(acl)
        if not key or not tokens:
            return []

        titles: list[str] = []
        # Titles that start with the prefix first, then titles containing it;
        # within each, the most downloaded.
        for field in ("suggest_head", "suggest_any"):
            clauses = [*_access_filter(tokens), {"prefix": {field: key}}]
            body = {
                "query": {"bool": {"filter": clauses}},
                "sort": _SORTS["popular"],
                "size": limit * 3,
                "source": ["title"],
            }
            answer = self._on_live_index(functools.partial(self._run, body))
            for hit in answer["hits"]["hits"]:
                title = hit.get("_source", {}).get("title")
                if title and title not in titles:
                    titles.append(title)
                if len(titles) >= limit:
                    return titles
        return titles

    # ------------------------------------------------------------- maintenance

    def ids(self) -> set[str]:
        """Every id, paged by ``search_after`` so that no result window limits it."""
        found: set[str] = set()
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "query": {"match_all": {}},
                "sort": [{"id": "asc"}],
                "size": ID_PAGE,
                "source": False,
                "track_total_hits": False,
            }
            if after is not None:
                body["search_after"] = after
            answer = self._on_live_index(functools.partial(self._run, body))
            hits = answer["hits"]["hits"]
            found.update(hit["_id"] for hit in hits)
            if len(hits) < ID_PAGE:
                return found
            after = hits[-1]["sort"]

    def rebuild(self) -> ElasticsearchRebuild:
        """Start a new physical index beside the live one (see :class:`Rebuild`).

        The live index may be outdated: the new one has the current layout, which
        is how ``kejian reindex`` repairs an index after an upgrade.

        :raises SearchUnavailable: when the new index cannot be created.
        """
        if self._closed:
            raise SearchUnavailable("the search engine has been closed")

        self._prepare()
        name = self._create_index(loading=True)
        log.info("search index rebuild started alias=%s index=%s", self.alias, name)
        return ElasticsearchRebuild(self, name)

    def check(self) -> None:
        def count() -> None:
            with self._vendor_errors("read the search index"):
                self._client.count(index=self.alias)

        self._on_live_index(count)

    def close(self) -> None:
        self._closed = True
        self._client.close()

    # ------------------------------------------------------------------ errors

    @contextlib.contextmanager
    def _vendor_errors(
        self, action: str, *, refused: type[SearchEngineError] = SearchEngineError
    ) -> Iterator[None]:
        """Turn the client's errors into ours, with our own words: the cluster's
        are logged, never passed on. A request the cluster refuses raises
        *refused*; one it cannot serve now raises :class:`SearchUnavailable`."""
        try:
            yield
        except (ApiError, elastic_transport.TransportError) as exc:
            raise self._failure(action, exc, refused) from exc

    def _failure(
        self,
        action: str,
        exc: ApiError | elastic_transport.TransportError,
        refused: type[SearchEngineError] = SearchEngineError,
    ) -> SearchEngineError:
        """Our error for a failed request (see :meth:`_vendor_errors`)."""
        if isinstance(exc, ApiError):
            return self._api_failure(action, exc, refused)
        return self._transport_failure(action, exc)

    def _api_failure(
        self,
        action: str,
        exc: ApiError,
        refused: type[SearchEngineError] = SearchEngineError,
    ) -> SearchEngineError:
        status = exc.status_code
        kind = _error_type(exc)
        log.warning(
            "search cluster error action=%r status=%s type=%s reason=%s",
            action,
            status,
            kind,
            _error_reason(exc),
        )
        if isinstance(exc, UnsupportedProductError):
            return SearchUnavailable(
                f"the server at {self.address} is not an Elasticsearch cluster"
            )
        if status in (401, 403):
            return SearchUnavailable(
                f"the search cluster at {self.address} refused Kejian's credentials "
                f"to {action}; check KEJIAN_SEARCH_URL or KEJIAN_SEARCH_API_KEY"
            )
        if status == 404 and kind == "index_not_found_exception":
            return _IndexMissing(f"the search alias {self.alias} names no index")
        if status in (408, 429) or status >= 500:
            return SearchUnavailable(
                f"the search cluster at {self.address} could not {action} now "
                f"(HTTP {status}); try again later"
            )
        if refused is QueryError:
            return QueryError("the search engine cannot run this search")
        return refused(f"the search cluster refused to {action} ({kind})")

    def _transport_failure(
        self, action: str, exc: elastic_transport.TransportError
    ) -> SearchUnavailable:
        log.warning(
            "search cluster unreachable action=%r hosts=%s error=%s",
            action,
            self.address,
            type(exc).__name__,
        )
        if isinstance(exc, elastic_transport.ConnectionTimeout):
            return SearchUnavailable(
                f"the search cluster at {self.address} did not answer in time to "
                f"{action}"
            )
        if isinstance(exc, elastic_transport.TlsError):
            return SearchUnavailable(
                f"the search cluster at {self.address} failed the TLS check; check "
                "KEJIAN_SEARCH_CA_CERTS"
            )
        return SearchUnavailable(
            f"cannot reach the search cluster at {self.address} to {action}"
        )


class ElasticsearchRebuild(Rebuild):
    """A physical index being loaded beside the live one (see :class:`Rebuild`)."""

    def __init__(self, engine: ElasticsearchEngine, index_name: str) -> None:
        self.engine = engine
        self.index_name = index_name
        self._state = "building"
        self._documents = 0
        self._started = time.monotonic()

    def _building(self) -> None:
        if self._state != "building":
            raise SearchEngineError(f"the search index rebuild is {self._state}")

    def index(self, documents: Iterable[Mapping[str, Any]]) -> int:
        self._building()
        actions, written = _index_actions(documents)
        if actions:
            target = f"{self.index_name}{LOADING_ALIAS_SUFFIX}"
            try:
                self.engine._bulk(target, actions)
            except _IndexMissing:
                raise _removed_meanwhile(self.index_name) from None
        self._documents += written
        return written

    def commit(self) -> None:
        self._building()
        try:
            replaced = self.engine._go_live(self.index_name)
        except BaseException:
            self.abort()
            raise

        # The alias names this index now: it is no longer ours to delete.
        self._state = "committed"
        self.engine._delete_indices(replaced)
        self.engine._remove_leftovers(self.index_name)
        log.info(
            "search index switched alias=%s index=%s documents=%d seconds=%.1f",
            self.engine.alias,
            self.index_name,
            self._documents,
            time.monotonic() - self._started,
        )

    def abort(self) -> None:
        if self._state != "building":
            return

        self._state = "aborted"
        # A failure is logged; the next switch removes what is left.
        self.engine._delete_indices([self.index_name])
        log.info(
            "search index rebuild aborted alias=%s index=%s",
            self.engine.alias,
            self.index_name,
        )


# --------------------------------------------------------------- query building


@dataclass(frozen=True)
class _SearchRequest:
    """One search: builds the request bodies and reads the answer."""

    plan: analysis.QueryPlan
    query: SearchQuery
    facets: list[str]
    sort: str
    access: list[str]
    native_text: str
    search_after: list[Any] | None

    def body(self, *, conjunction: bool) -> dict[str, Any]:
        """The request: visible matches as the query, the facet filters as a
        ``post_filter``, and each facet counted without its own filter."""
        scope = [*_access_filter(self.access), *_date_filter(self.query)]
        boolean: dict[str, Any] = {"filter": scope}
        if self.plan:
            # Sorted by date or downloads, partial matches would mix with full ones.
            relaxed = self.sort == "relevance"
            boolean["must"] = [
                _matching(self.plan, conjunction=conjunction, relaxed=relaxed)
            ]
            boolean["should"] = _boosts(self.plan, self.native_text)

        filters = _facet_filters(self.query.filters)
        body: dict[str, Any] = {
            "query": {"bool": boolean},
            "sort": _SORTS[self.sort],
            "size": self.query.limit,
            "from_": self.query.offset,
            "track_total_hits": True,
            "source": _HIT_SOURCE if self._highlighting else list(SHOWN_FIELDS),
        }
        if filters:
            body["post_filter"] = {"bool": {"filter": list(filters.values())}}
        if self.facets:
            body["aggs"] = {
                name: {
                    "filter": {
                        "bool": {"filter": [c for f, c in filters.items() if f != name]}
                    },
                    "aggs": {
                        "values": {"terms": {"field": name, "size": common.FACET_SIZE}}
                    },
                }
                for name in self.facets
            }
        if self.search_after is not None:
            body["search_after"] = self.search_after
        return body

    @property
    def _highlighting(self) -> bool:
        return self.query.highlight and bool(self.plan)

    def result(self, answer: Mapping[str, Any]) -> SearchResult:
        highlighter = analysis.Highlighter(
            self.plan.terms if self._highlighting else ()
        )
        raw_hits = answer["hits"]["hits"]
        hits = []
        for raw in raw_hits:
            source = raw.get("_source") or {}
            texts = {
                "title": source.get("title"),
                "description": source.get("description"),
                "text": source.get("text_src"),
            }
            score = float(raw.get("_score") or 0.0) if self.sort == "relevance" else 0.0
            hits.append(
                Hit(
                    raw["_id"],
                    score,
                    common.highlights(highlighter, texts),
                    common.shown(source),
                )
            )

        aggregations = answer.get("aggregations", {})
        facets = {
            name: common.facet_counts(
                [
                    (str(bucket["key"]), int(bucket["doc_count"]))
                    for bucket in aggregations[name]["values"]["buckets"]
                ]
            )
            for name in self.facets
        }
        cursor = list(raw_hits[-1]["sort"]) if raw_hits else None
        return SearchResult(_total(answer), hits, facets, cursor)


def _access_filter(tokens: Sequence[str]) -> list[dict[str, Any]]:
    """Who may see what: the document's ``acl`` must hold one of the tokens."""
    if ACL_ALL in tokens:
        return []
    return [{"terms": {"acl": list(tokens)}}]


def _date_filter(query: SearchQuery) -> list[dict[str, Any]]:
    """``updated_at`` from ``date_from`` (included) to ``date_to`` (excluded).

    The bounds keep their own offset, which the cluster applies: converting
    9999-12-31 at UTC-12 to UTC in Python would overflow its last year.
    """
    bounds = {}
    for name, operator in (("date_from", "gte"), ("date_to", "lt")):
        moment: dt.datetime | None = getattr(query, name)
        if moment is None:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)  # naive bounds are UTC
        bounds[operator] = moment.isoformat(timespec="milliseconds")
    return [{"range": {"updated_at": bounds}}] if bounds else []


def _facet_filters(filters: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Any]]:
    """Field -> its filter clause (any of the values), for fields given values."""
    clauses = {}
    for name, accepted in filters.items():
        values = sorted(set(common.keyword_values(accepted)))
        if values:
            clauses[name] = {"terms": {name: values}}
    return clauses


def _matching(
    plan: analysis.QueryPlan, *, conjunction: bool, relaxed: bool
) -> dict[str, Any]:
    """Which documents match: the required parts of the plan in ``tokens.all``,
    as many as :meth:`~indexer.analysis.QueryPlan.needed` says, scored with the
    body text's boost.

    Matching an optional part (a kind of material) in :data:`common.KIND_FIELDS`
    adds :data:`common.KIND_SCORE`, and having every required part when fewer are
    enough adds :data:`common.EVERY_WORD_SCORE`.
    """
    required = [_part(part, loose=not conjunction) for part in plan.required]
    enough = plan.needed(conjunction=conjunction, relaxed=relaxed)
    bonus = [
        {"constant_score": {"filter": _kind(part), "boost": common.KIND_SCORE}}
        for part in plan.optional
    ]
    if enough == len(required):
        matching: dict[str, Any] = {"must": required}
    else:
        matching = {
            "must": [{"bool": {"should": required, "minimum_should_match": enough}}]
        }
        # Those with every word first.
        every = {"bool": {"filter": required}}
        bonus.append(
            {"constant_score": {"filter": every, "boost": common.EVERY_WORD_SCORE}}
        )
    if bonus:
        matching["should"] = bonus
    return {"bool": matching}


def _kind(part: analysis.Part) -> dict[str, Any]:
    """Any alternative of a part naming a kind of material, with all its tokens in
    one of :data:`common.KIND_FIELDS`."""
    return {
        "bool": {
            "should": [
                {"bool": {"filter": [_token(t, f"tokens.{name}") for t in alternative]}}
                for alternative in part.alternatives
                for name in common.KIND_FIELDS
            ],
            "minimum_should_match": 1,
        }
    }


def _part(part: analysis.Part, *, loose: bool = False) -> dict[str, Any]:
    """Any alternative of the part, each with all its tokens (*loose*: with
    :meth:`~indexer.analysis.QueryPlan.loosely` many)."""
    alternatives = []
    for alternative in part.alternatives:
        queries = [_token(token, "tokens.all") for token in alternative]
        needed = analysis.QueryPlan.loosely(alternative) if loose else len(queries)
        if len(queries) == 1:
            alternatives.append(queries[0])
        elif needed == len(queries):
            alternatives.append({"bool": {"must": queries}})
        else:
            alternatives.append(
                {"bool": {"should": queries, "minimum_should_match": needed}}
            )
    alternatives.extend(
        {"constant_score": {"filter": near, "boost": common.NEAR_BOOST}}
        for near in _near(part)
    )
    return {
        "bool": {
            "should": alternatives,
            "minimum_should_match": 1,
            "boost": TEXT_FIELDS["text"],
        }
    }


def _near(part: analysis.Part) -> list[dict[str, Any]]:
    """The part's looser matches (see :class:`~indexer.analysis.Part`): its pinyin
    in titles' pinyin, its word misspelt in :data:`common.FUZZY_FIELDS`."""
    near: list[dict[str, Any]] = []
    if part.pinyin:
        sounds = [{"term": {"tokens.pinyin": word}} for word in part.pinyin]
        near.append({"bool": {"filter": sounds}})
    if part.fuzzy is not None:
        word, edits = part.fuzzy
        spelt = [
            {
                "fuzzy": {
                    f"tokens.{name}": {
                        "value": word,
                        "fuzziness": edits,
                        "transpositions": True,
                    }
                }
            }
            for name in common.FUZZY_FIELDS
        ]
        near.append({"bool": {"should": spelt, "minimum_should_match": 1}})
    return near


def _boosts(plan: analysis.QueryPlan, native_text: str) -> list[dict[str, Any]]:
    """Optional clauses that only raise scores: every token in every boosted field
    (their scores add up), exact title phrases, and the cluster's own analysis of
    the query across the text fields."""
    clauses = [
        _token(token, f"tokens.{name}", boost)
        for token in sorted(plan.tokens)
        for name, boost in _BOOSTED_FIELDS.items()
        # A prefix expands to many terms: only a title match is worth its cost.
        if name == "title" or not token.endswith(analysis.PREFIX_MARK)
    ]
    # An exact run of characters in a title ranks above scattered bigrams.
    clauses += [
        {
            "match_phrase": {
                "tokens.title": {
                    "query": " ".join(phrase),
                    "boost": common.PHRASE_BOOST * TEXT_FIELDS["title"],
                }
            }
        }
        for phrase in plan.phrases
    ]
    if native_text.strip():
        clauses.append(
            {
                "multi_match": {
                    "query": native_text,
                    "fields": [
                        f"{name}^{boost:g}" for name, boost in TEXT_FIELDS.items()
                    ],
                    "type": "best_fields",
                }
            }
        )
    return clauses


def _token(token: str, field: str, boost: float = 1.0) -> dict[str, Any]:
    if token.endswith(analysis.PREFIX_MARK):
        value = token.removesuffix(analysis.PREFIX_MARK)
        return {"prefix": {field: {"value": value, "boost": boost}}}
    return {"term": {field: {"value": token, "boost": boost}}}


def _check_cursor(cursor: Sequence[Any] | None, sort: str) -> list[Any] | None:
    """The ``search_after`` values of a cursor made by :meth:`ElasticsearchEngine.
    search` for *sort*: its sort key (a score, or a date or count as an integer)
    and the id.

    :raises QueryError: for anything else.
    """
    if cursor is None:
        return None

    values = list(cursor)
    valid = len(values) == 2 and isinstance(values[1], str)
    if valid:
        key = values[0]
        if sort == "relevance":
            valid = (
                isinstance(key, int | float)
                and not isinstance(key, bool)
                and math.isfinite(key)
            )
        else:
            valid = isinstance(key, int) and not isinstance(key, bool)
    if not valid:
        raise QueryError(
            f"search_after is not a cursor of a search sorted by {sort}; pass the "
            "cursor of the page before with the same sort"
        )
    return values


def _total(answer: Mapping[str, Any]) -> int:
    return int(answer["hits"]["total"]["value"])


# ------------------------------------------------------------------- documents


def _index_actions(
    documents: Iterable[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], int]:
    """Bulk ``index`` actions for *documents*, and how many distinct ids they hold.

    Every document is converted before anything is sent, so that a bad one leaves
    nothing of its call behind.

    :raises ValueError: for a document without ``id`` or with a bad value.
    """
    converted = [_source(document) for document in documents]
    actions = [
        {"_op_type": "index", "_id": doc_id, "_source": body}
        for doc_id, body in converted
    ]
    return actions, len({doc_id for doc_id, _ in converted})


def _source(document: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The id and ``_source`` of an engine-neutral document.

    :raises ValueError: for a document without ``id`` or with a bad value.
    """
    doc_id = common.document_id(document)
    source: dict[str, Any] = {"id": doc_id}
    for name in ("acl", "status", "visibility", *FACET_FIELDS):
        values = common.keyword_values(document.get(name))
        if values:
            source[name] = values

    tokens: dict[str, str] = {}
    everything = []
    for name in TEXT_FIELDS:
        text = common.clean(common.joined_text(document.get(name)))
        if not text:
            continue
        source[name] = text
        analysed = analysis.index_text(text)
        if analysed:
            everything.append(analysed)
            if name in _BOOSTED_FIELDS:
                tokens[name] = analysed
    if everything:
        tokens["all"] = " ".join(everything)
    pinyin = common.title_pinyin(source.get("title", ""))
    if pinyin:
        tokens["pinyin"] = pinyin
    if tokens:
        source["tokens"] = tokens
    if "text" in source:
        source["text_src"] = source["text"][: common.STORED_TEXT_CHARS]

    for name in ("created_at", "updated_at"):
        moment = common.utc_datetime(document.get(name), name)
        if moment is not None:
            source[name] = _date_text(moment)
    downloads = common.integer(document.get("downloads"), "downloads")
    if not -_MAX_LONG <= downloads <= _MAX_LONG:
        raise ValueError(f"downloads is out of range: {downloads}")
    source["downloads"] = downloads

    head, contained = analysis.suggest_keys(source.get("title", ""))
    if head:
        source["suggest_head"] = sorted(head)
        source["suggest_any"] = sorted(contained)
    return doc_id, source


def _date_text(moment: dt.datetime) -> str:
    """A date as Elasticsearch reads it, to the millisecond it keeps."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def _removed_meanwhile(name: str) -> SearchEngineError:
    return SearchEngineError(
        f"the new search index {name} was removed while it loaded (by another "
        "reindex?); the live index is unchanged"
    )


def _error_type(exc: Exception) -> str:
    """The ``error.type`` of an error response, e.g. ``index_not_found_exception``;
    ``unknown`` for anything else (a connection error has no response)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("type", "unknown"))
    return "unknown"


def _error_reason(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("reason", ""))[:500]
    return str(body)[:500]
