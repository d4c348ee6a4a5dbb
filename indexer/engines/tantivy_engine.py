"""The embedded search engine: a tantivy index in a directory of ``KEJIAN_HOME``.

Text is analysed by :mod:`indexer.analysis` (CJK bigrams, lower-cased words) and
handed to tantivy as space-separated tokens read by its built-in ``whitespace``
tokenizer; queries are built from the same tokens with tantivy's query objects, never
with its query parser. Facet and filter fields are untokenized fast fields, counted
with tantivy's terms aggregation over the whole visible result set.

Several processes share one index directory: the web process searches, the worker
writes. Tantivy allows one writer per directory (a lock file), so every write opens a
writer, commits and releases it at once; searchers notice a new commit by the
modification of ``meta.json`` and reload before their next search.

Tantivy cannot migrate an index to a new schema. A marker file records the layout
version the index was built with; an outdated index that holds documents makes every
call raise :class:`~indexer.engines.base.IndexOutdated` until ``kejian reindex``
(whose :meth:`TantivyEngine.clear` swaps in an empty index) rebuilds it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import tantivy

from indexer import analysis
from indexer.engines.base import (
    ACL_ALL,
    FACET_FIELDS,
    SORTS,
    TEXT_FIELDS,
    Hit,
    IndexOutdated,
    QueryError,
    SearchEngine,
    SearchEngineError,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
)

log = logging.getLogger("kejian.search")

#: Bump when the schema or the analysis changes; an older index must be rebuilt.
SCHEMA_VERSION = 1
MARKER_FILE = "kejian-index.json"

#: Results can be paged up to this depth (``offset + limit``).
MAX_RESULT_WINDOW = 10_000
#: Values returned per facet; counts are exact while a field has fewer values than
#: ten times this in each index segment.
FACET_SIZE = 100
#: Extracted text stored (not indexed: all of it is) for highlighting.
STORED_TEXT_CHARS = 20_000
#: Snippet length of ``description`` and ``text``; titles come back whole.
SNIPPET_CHARS = 120
TITLE_SNIPPET_CHARS = 300

#: Field boosts of a document's text for relevance and of an exact phrase in a title.
PHRASE_BOOST = 2.0

#: Matching runs on one field holding the tokens of every text field: intersecting
#: one posting list per token is two to three times faster than intersecting unions
#: over five fields. Its score counts with the boost of the body text; the other
#: fields are indexed again on their own and add their boosted scores on top (a sum
#: over fields rather than the best field: the same order, a third faster).
ALL_FIELD = "all"
BODY_FIELD = "text"
_BOOSTED_FIELDS = {
    name: boost for name, boost in TEXT_FIELDS.items() if name != BODY_FIELD
}
_STORED_TEXT = {
    "title": "title_src",
    "description": "description_src",
    "text": "text_src",
}
_DATE_FIELDS = ("created_at", "updated_at")


def build_schema() -> tantivy.Schema:
    """The index layout; changing it means bumping :data:`SCHEMA_VERSION`."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field(
        "id", stored=True, tokenizer_name="raw", index_option="basic"
    )
    builder.add_text_field("acl", tokenizer_name="raw", index_option="basic")
    for name in ("status", "visibility"):
        builder.add_text_field(
            name, tokenizer_name="raw", index_option="basic", fast=True
        )

    # Analysed text: every field in ``all`` for matching, the short fields again on
    # their own for their boosts. Only titles keep positions (exact-phrase boost).
    builder.add_text_field(ALL_FIELD, tokenizer_name="whitespace", index_option="freq")
    for name in _BOOSTED_FIELDS:
        option = "position" if name == "title" else "freq"
        builder.add_text_field(name, tokenizer_name="whitespace", index_option=option)
    for name in _STORED_TEXT.values():
        builder.add_bytes_field(name, stored=True, indexed=False)

    for name in FACET_FIELDS:
        builder.add_text_field(
            name, tokenizer_name="raw", index_option="basic", fast=True
        )
    for name in _DATE_FIELDS:
        builder.add_date_field(name, indexed=True, fast=True)
    builder.add_integer_field("downloads", indexed=True, fast=True)

    # Completion keys: what a title starts with, and every suffix of it.
    for name in ("suggest_head", "suggest_any"):
        builder.add_text_field(name, tokenizer_name="whitespace", index_option="basic")
    return builder.build()


class TantivyEngine(SearchEngine):
    """A tantivy index stored in *path* (created when missing).

    :param writer_heap: memory of the indexing writer, in bytes.
    :param lock_timeout: seconds to wait for another process's writer to finish.
    :raises SearchEngineError: when *path* holds something that is not our index.
    """

    name = "tantivy"

    def __init__(
        self,
        path: Path,
        *,
        writer_heap: int = 64_000_000,
        lock_timeout: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self.writer_heap = writer_heap
        self.lock_timeout = lock_timeout
        self._schema = build_schema()
        self._index: tantivy.Index | None = None
        self._generation = ""
        self._stamp: tuple[int, int, int] | None = None
        self._closed = False
        # Writes are serialised in this process; the lock file does it across them.
        self._write_lock = threading.Lock()
        # Reopening and reloading happen once, whichever thread notices first.
        self._reload_lock = threading.RLock()
        self._open()

    # ---------------------------------------------------------------- opening

    def _read_marker(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.path / MARKER_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _open(self) -> None:
        """Open the index, creating it when absent and replacing it when outdated
        but empty; leave ``_index`` unset when it is outdated and holds documents."""
        marker = self._read_marker()
        if marker is None and not (self.path / "meta.json").exists():
            self._install_new_index(replace=False)
            marker = self._read_marker()
            if marker is None:
                raise SearchEngineError(
                    f"{self.path} exists but is not a Kejian search index; move it "
                    "away or set KEJIAN_HOME to another directory"
                )

        if marker is None or marker.get("schema") != SCHEMA_VERSION:
            if self._documents_on_disk() == 0:
                log.info(
                    "search index replaced path=%s reason=empty-outdated", self.path
                )
                self._install_new_index(replace=True)
                marker = self._read_marker() or {}
            else:
                self._index = None
                return

        with _vendor_errors("open the search index"):
            index = tantivy.Index.open(str(self.path))
            index.config_reader("manual")
        self._index = index
        self._generation = str(marker.get("generation", ""))
        self._stamp = None

    def _documents_on_disk(self) -> int:
        """Documents in the index as stored, or -1 when it cannot be read."""
        try:
            return tantivy.Index.open(str(self.path)).searcher().num_docs
        except Exception:  # noqa: BLE001 - any failure means "cannot tell"
            return -1

    def _install_new_index(self, *, replace: bool) -> None:
        """Build an empty index beside *path* and move it into place.

        The rename is atomic, so two processes starting together cannot both create
        an index; when *replace* is set the old directory is moved aside and removed.
        """
        generation = uuid.uuid4().hex
        fresh = self.path.with_name(f".{self.path.name}.new-{generation}")
        try:
            fresh.mkdir(parents=True)
            with _vendor_errors("create the search index"):
                tantivy.Index(self._schema, str(fresh), reuse=False)
            marker = {"schema": SCHEMA_VERSION, "generation": generation}
            (fresh / MARKER_FILE).write_text(json.dumps(marker), encoding="utf-8")

            if replace and self.path.exists():
                old = self.path.with_name(f".{self.path.name}.old-{generation}")
                os.rename(self.path, old)
                shutil.rmtree(old, ignore_errors=True)
            with contextlib.suppress(OSError):
                # Failing means another process created it first (or the directory
                # holds something else, which the caller reports).
                os.rename(fresh, self.path)
        except OSError as exc:
            raise SearchUnavailable(
                f"cannot create the search index at {self.path}: {exc.strerror}"
            ) from exc
        finally:
            shutil.rmtree(fresh, ignore_errors=True)

    def _ready(self) -> tantivy.Index:
        """The open index, re-checked when it was outdated or replaced meanwhile."""
        if self._closed:
            raise SearchUnavailable("the search engine has been closed")

        if self._index is None:
            with self._reload_lock:
                if self._index is None:
                    self._open()
            if self._index is None:
                raise IndexOutdated(
                    f"the search index at {self.path} was built by another version "
                    "of Kejian; run `kejian reindex` to rebuild it"
                )
        return self._index

    def _searcher(self) -> tantivy.Searcher:
        """A searcher over the latest commit, from this or another process."""
        index = self._ready()
        try:
            meta = os.stat(self.path / "meta.json")
        except OSError as exc:
            raise SearchUnavailable(f"the search index at {self.path} is gone") from exc

        stamp = (meta.st_ino, meta.st_mtime_ns, meta.st_size)
        if stamp != self._stamp:
            with self._reload_lock:
                if stamp != self._stamp:
                    index = self._reload(index)
                    self._stamp = stamp
        return index.searcher()

    def _reload(self, index: tantivy.Index) -> tantivy.Index:
        marker = self._read_marker() or {}
        if marker.get("generation") != self._generation:
            # The directory was replaced (outdated index rebuilt by another process).
            self._open()
            return self._ready()

        # A commit from another process may delete files between our reading of
        # meta.json and opening its segments; the next attempt sees the newer commit.
        for attempt in range(3):
            try:
                index.reload()
                return index
            except ValueError as exc:
                if attempt == 2:
                    raise SearchUnavailable(
                        f"the search index at {self.path} cannot be read: {exc}"
                    ) from exc
                time.sleep(0.01)
        return index

    # ---------------------------------------------------------------- writing

    def _acquire_writer(self, index: tantivy.Index) -> tantivy.IndexWriter:
        """Take the directory's single writer, waiting a little for another one."""
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.01
        while True:
            try:
                return index.writer(heap_size=self.writer_heap, num_threads=1)
            except ValueError as exc:
                if "LockBusy" not in str(exc):
                    raise SearchUnavailable(
                        f"cannot write the search index: {exc}"
                    ) from exc
                if time.monotonic() >= deadline:
                    raise SearchUnavailable(
                        f"the search index at {self.path} is being written by another "
                        "process (worker or reindex) for more than "
                        f"{self.lock_timeout:g} s; the change is kept and retried later"
                    ) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    def _write(self, change: Callable[[tantivy.IndexWriter], None]) -> None:
        """Apply *change* in one commit, release the writer and refresh searches.

        Whatever *change* raises rolls the whole commit back and propagates.
        """
        with self._write_lock:
            index = self._ready()
            writer = self._acquire_writer(index)
            try:
                change(writer)
                with _vendor_errors("write the search index"):
                    writer.commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    writer.rollback()
                raise
            finally:
                # Waiting for merges consumes the writer, which frees the lock file.
                with contextlib.suppress(Exception):
                    writer.wait_merging_threads()
            self._searcher()

    def index(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Add or replace *documents*; return how many distinct ids were written.

        :raises ValueError: for a document without ``id`` or with a bad value; the
            call then writes nothing.
        """
        pending = iter(documents)
        first = next(pending, None)
        if first is None:
            return 0
        written: set[str] = set()

        def change(writer: tantivy.IndexWriter) -> None:
            # Converting here lets tantivy's indexing thread, which runs without
            # the GIL, work on earlier documents meanwhile. Deleting the id first
            # also removes an earlier document of this call with the same id.
            for document in itertools.chain([first], pending):
                doc_id, converted = self._convert(document)
                with _vendor_errors("write the search index"):
                    writer.delete_documents_by_term("id", doc_id)
                    writer.add_document(converted)
                written.add(doc_id)

        self._write(change)
        return len(written)

    def delete(self, ids: Iterable[str]) -> None:
        wanted = sorted({_clean(str(doc_id)) for doc_id in ids})
        if not wanted:
            return

        def change(writer: tantivy.IndexWriter) -> None:
            with _vendor_errors("write the search index"):
                for doc_id in wanted:
                    writer.delete_documents_by_term("id", doc_id)

        self._write(change)

    def clear(self) -> None:
        if self._closed:
            raise SearchUnavailable("the search engine has been closed")

        with self._write_lock:
            if self._index is None:
                self._open()
            if self._index is None:
                # Outdated and full: the rebuild starts from an empty, current index.
                log.info("search index replaced path=%s reason=outdated", self.path)
                self._install_new_index(replace=True)
                self._open()
                return

        def change(writer: tantivy.IndexWriter) -> None:
            with _vendor_errors("write the search index"):
                writer.delete_all_documents()

        self._write(change)

    def _convert(self, document: Mapping[str, Any]) -> tuple[str, tantivy.Document]:
        """Turn an engine-neutral document into a tantivy one."""
        raw_id = document.get("id")
        if raw_id is None or str(raw_id) == "":
            raise ValueError("a search document needs an 'id'")
        doc_id = _clean(str(raw_id))

        doc = tantivy.Document()
        doc.add_text("id", doc_id)
        for name in ("acl", "status", "visibility", *FACET_FIELDS):
            for value in _values(document.get(name)):
                doc.add_text(name, value)

        everything = []
        for name in TEXT_FIELDS:
            text = _joined(document.get(name))
            analysed = analysis.index_text(text) if text else ""
            if analysed:
                everything.append(analysed)
                if name in _BOOSTED_FIELDS:
                    doc.add_text(name, analysed)
            stored = _STORED_TEXT.get(name)
            if stored and text:
                kept = text[:STORED_TEXT_CHARS]
                doc.add_bytes(stored, kept.encode("utf-8", "replace"))

        if everything:
            doc.add_text(ALL_FIELD, " ".join(everything))

        for name in _DATE_FIELDS:
            moment = _datetime(document.get(name), name)
            if moment is not None:
                doc.add_date(name, moment)
        doc.add_integer("downloads", _int(document.get("downloads"), "downloads"))

        head, contained = analysis.suggest_keys(_joined(document.get("title")))
        if head:
            doc.add_text("suggest_head", " ".join(sorted(head)))
            doc.add_text("suggest_any", " ".join(sorted(contained)))
        return doc_id, doc

    # -------------------------------------------------------------- searching

    def search(self, query: SearchQuery) -> SearchResult:
        """Run *query*; see :class:`~indexer.analysis.QueryPlan` for what matches.

        Every word must match; when no visible document has them all, documents with
        any of them are returned instead. Hits sorted by date or downloads carry a
        score of 0. A query without words lists documents newest first.
        """
        facets = _check_query(query)
        plan = analysis.plan_query(query.text or "", analysis.default_synonyms())
        access = self._access_clause(query.acl)
        if access is None:
            return SearchResult(0, [], {name: [] for name in facets})

        filters = [access, *self._filter_clauses(query.filters)]
        searcher = self._searcher()
        sort = query.sort
        if not plan and sort == "relevance":
            # Without words every score is equal; browsing shows the newest first.
            sort = "newest"

        with _vendor_errors("search"):
            matching = self._matching_query(plan, filters, conjunction=True)
            result = self._run(searcher, self._scored(matching, plan), query, sort)
            if _total(result) == 0 and len(plan.parts) > 1:
                # Nothing has every word: show what has any of them (a misspelt word
                # then does not empty the page), best matches first.
                matching = self._matching_query(plan, filters, conjunction=False)
                result = self._run(searcher, self._scored(matching, plan), query, sort)

            highlighter = analysis.Highlighter(plan.terms if query.highlight else ())
            hits = [
                self._hit(searcher, score, address, highlighter, sort)
                for score, address in result.hits[: query.limit]
            ]
            total = _total(result)
            counts = self._facet_counts(searcher, matching, facets, total)
        return SearchResult(total, hits, counts)

    def _run(
        self,
        searcher: tantivy.Searcher,
        tantivy_query: tantivy.Query,
        query: SearchQuery,
        sort: str,
    ) -> tantivy.SearchResult:
        # tantivy panics on a limit of 0; one hit is fetched and dropped instead.
        limit = max(query.limit, 1)
        if sort == "relevance":
            return searcher.search(
                tantivy_query, limit, count=True, offset=query.offset
            )
        field = "updated_at" if sort == "newest" else "downloads"
        return searcher.search(
            tantivy_query,
            limit,
            count=True,
            offset=query.offset,
            order_by_field=field,
            order=tantivy.Order.Desc,
        )

    def _hit(
        self,
        searcher: tantivy.Searcher,
        score: Any,
        address: tantivy.DocAddress,
        highlighter: analysis.Highlighter,
        sort: str,
    ) -> Hit:
        stored = searcher.doc(address)
        hit = Hit(
            id=stored["id"][0], score=float(score) if sort == "relevance" else 0.0
        )
        if not highlighter:
            return hit

        for name, stored_name in _STORED_TEXT.items():
            values = stored.get_all(stored_name)
            if not values:
                continue
            text = bytes(values[0]).decode("utf-8", "replace")
            size = TITLE_SNIPPET_CHARS if name == "title" else SNIPPET_CHARS
            snippet = highlighter(text, size)
            if snippet is not None:
                hit.highlights[name] = snippet
        return hit

    def _facet_counts(
        self,
        searcher: tantivy.Searcher,
        tantivy_query: tantivy.Query,
        facets: Sequence[str],
        total: int,
    ) -> dict[str, list[tuple[str, int]]]:
        if not facets or total == 0:
            return {name: [] for name in facets}

        request = {
            name: {
                "terms": {
                    "field": name,
                    "size": FACET_SIZE,
                    "segment_size": FACET_SIZE * 10,
                }
            }
            for name in facets
        }
        answer = searcher.aggregate(tantivy_query, request)
        counts: dict[str, list[tuple[str, int]]] = {}
        for name in facets:
            buckets = answer.get(name, {}).get("buckets", [])
            pairs = [(str(b["key"]), int(b["doc_count"])) for b in buckets]
            counts[name] = sorted(pairs, key=lambda pair: (-pair[1], pair[0]))
        return counts

    # -------------------------------------------------------- query building

    def _access_clause(self, acl: Sequence[str]) -> tantivy.Query | None:
        if isinstance(acl, str):
            acl = [acl]
        tokens = sorted({_clean(str(token)) for token in acl if token})
        if not tokens:
            return None
        if ACL_ALL in tokens:
            return tantivy.Query.all_query()
        return self._any_value("acl", tokens)

    def _filter_clauses(
        self, filters: Mapping[str, Sequence[str]]
    ) -> list[tantivy.Query]:
        clauses = []
        for name, accepted in filters.items():
            values = sorted(set(_values(accepted)))
            if values:
                clauses.append(self._any_value(name, values))
        return clauses

    def _any_value(self, field: str, values: Sequence[str]) -> tantivy.Query:
        # Term queries rather than a term-set query: those skip through their
        # postings inside an intersection, a term set first reads all of them.
        terms = [
            tantivy.Query.term_query(self._schema, field, value, index_option="basic")
            for value in values
        ]
        if len(terms) == 1:
            return terms[0]
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, t) for t in terms])

    def _matching_query(
        self,
        plan: analysis.QueryPlan,
        filters: Sequence[tantivy.Query],
        *,
        conjunction: bool,
    ) -> tantivy.Query:
        """Which documents match: filters (unscored) and the parts of the query in
        the ``all`` field (scored with the body's boost). Facets count these."""
        Occur = tantivy.Occur
        clauses = [
            (Occur.Must, tantivy.Query.const_score_query(clause, 0.0))
            for clause in filters
        ]
        if plan:
            parts = [self._part_query(part) for part in plan.parts]
            if conjunction:
                text = tantivy.Query.boolean_query([(Occur.Must, q) for q in parts])
            else:
                text = tantivy.Query.boolean_query(
                    [(Occur.Should, q) for q in parts], minimum_number_should_match=1
                )
            clauses.append((Occur.Must, text))
        return tantivy.Query.boolean_query(clauses)

    def _scored(
        self, matching: tantivy.Query, plan: analysis.QueryPlan
    ) -> tantivy.Query:
        """*matching* plus one optional clause that only raises scores: every token
        in every boosted field (their scores add up), and exact title phrases."""
        Occur = tantivy.Occur
        boosts = [
            (
                Occur.Should,
                tantivy.Query.boost_query(self._token_query(token, name), boost),
            )
            for token in sorted(plan.tokens)
            for name, boost in _BOOSTED_FIELDS.items()
            # A prefix expands to many terms: only a title match is worth its cost.
            if name == "title" or not token.endswith(analysis.PREFIX_MARK)
        ]
        # An exact run of characters in a title ranks above scattered bigrams.
        for phrase in plan.phrases:
            exact = tantivy.Query.phrase_query(self._schema, "title", list(phrase))
            boosted = tantivy.Query.boost_query(
                exact, PHRASE_BOOST * TEXT_FIELDS["title"]
            )
            boosts.append((Occur.Should, boosted))

        if not boosts:
            return matching
        return tantivy.Query.boolean_query(
            [
                (Occur.Must, matching),
                (Occur.Should, tantivy.Query.boolean_query(boosts)),
            ]
        )

    def _part_query(self, part: analysis.Part) -> tantivy.Query:
        """Any alternative of the part, each with all its tokens, in ``all``."""
        Occur = tantivy.Occur
        alternatives = []
        for alternative in part.alternatives:
            token_queries = [
                self._token_query(token, ALL_FIELD) for token in alternative
            ]
            if len(token_queries) == 1:
                alternatives.append(token_queries[0])
            else:
                alternatives.append(
                    tantivy.Query.boolean_query(
                        [(Occur.Must, q) for q in token_queries]
                    )
                )
        if len(alternatives) == 1:
            found = alternatives[0]
        else:
            found = tantivy.Query.boolean_query(
                [(Occur.Should, q) for q in alternatives]
            )
        return tantivy.Query.boost_query(found, TEXT_FIELDS[BODY_FIELD])

    def _token_query(self, token: str, field: str) -> tantivy.Query:
        if token.endswith(analysis.PREFIX_MARK):
            return tantivy.Query.regex_query(
                self._schema, field, _prefix_regex(token[: -len(analysis.PREFIX_MARK)])
            )
        return tantivy.Query.term_query(self._schema, field, token, index_option="freq")

    # ------------------------------------------------------------ suggestions

    def suggest(self, prefix: str, acl: Sequence[str], limit: int = 10) -> list[str]:
        limit = min(limit, 100)
        if limit <= 0:
            return []
        key = analysis.compact(prefix or "")[: analysis.MAX_SUGGEST_CHARS]
        key = "".join(char for char in key if char.isalnum())
        access = self._access_clause(acl)
        if not key or access is None:
            return []

        searcher = self._searcher()
        titles: list[str] = []
        Occur = tantivy.Occur
        with _vendor_errors("suggest"):
            # Titles that start with the prefix first, then titles containing it;
            # within each, the most downloaded.
            for field in ("suggest_head", "suggest_any"):
                match = tantivy.Query.regex_query(
                    self._schema, field, _prefix_regex(key)
                )
                query = tantivy.Query.boolean_query(
                    [(Occur.Must, access), (Occur.Must, match)]
                )
                result = searcher.search(
                    query,
                    limit * 3,
                    order_by_field="downloads",
                    order=tantivy.Order.Desc,
                )
                for _, address in result.hits:
                    values = searcher.doc(address).get_all("title_src")
                    title = (
                        bytes(values[0]).decode("utf-8", "replace") if values else ""
                    )
                    if title and title not in titles:
                        titles.append(title)
                    if len(titles) >= limit:
                        return titles
        return titles

    # ------------------------------------------------------------ maintenance

    def ids(self) -> set[str]:
        searcher = self._searcher()
        with _vendor_errors("list document ids"):
            # Filtering by a query leaves out deleted documents not yet merged away.
            terms = searcher.terms_with_prefix(
                "id", "", filter_query=tantivy.Query.all_query()
            )
        return {term for term, count in terms if count > 0}

    def check(self) -> None:
        searcher = self._searcher()
        with _vendor_errors("read the search index"):
            searcher.num_docs  # noqa: B018 - touches the segments

    def close(self) -> None:
        self._closed = True
        self._index = None


# ------------------------------------------------------------------------ helpers


@contextlib.contextmanager
def _vendor_errors(action: str) -> Iterator[None]:
    """Turn tantivy's errors (and its Rust panics) into our own."""
    try:
        yield
    except SearchEngineError:
        raise
    except (ValueError, OSError, RuntimeError) as exc:
        raise SearchUnavailable(f"could not {action}: {exc}") from exc
    except BaseException as exc:
        # A Rust panic surfaces as pyo3's PanicException, a BaseException.
        if type(exc).__name__ != "PanicException":
            raise
        raise SearchEngineError(f"could not {action}: tantivy failed: {exc}") from None


def _total(result: tantivy.SearchResult) -> int:
    """Documents matched by a search run with ``count=True``."""
    # tantivy-py 0.27 sets the count but its type stubs do not declare it.
    return int(result.count)  # type: ignore[attr-defined]


def _check_query(query: SearchQuery) -> list[str]:
    """Validate what the caller asked for; return the facet fields to count."""
    if query.sort not in SORTS:
        raise QueryError(f"unknown sort {query.sort!r}; use one of {', '.join(SORTS)}")

    for name, value in (("offset", query.offset), ("limit", query.limit)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise QueryError(f"{name} must be a non-negative integer, got {value!r}")
    if query.offset + query.limit > MAX_RESULT_WINDOW:
        raise QueryError(
            f"results can be paged up to {MAX_RESULT_WINDOW} (offset + limit); "
            "narrow the search with filters"
        )

    if not isinstance(query.text, str | None):
        raise QueryError("the search text must be a string")

    facets = [query.facets] if isinstance(query.facets, str) else list(query.facets)
    for name in [*facets, *query.filters]:
        if name not in FACET_FIELDS:
            raise QueryError(f"{name!r} cannot be filtered or counted")
    return list(dict.fromkeys(facets))


def _prefix_regex(prefix: str) -> str:
    """A regex matching terms that start with *prefix*, which holds only letters,
    digits and CJK characters (none of them special in a regex)."""
    return "".join(char for char in prefix if char.isalnum()) + ".*"


def _clean(value: str) -> str:
    """Drop what cannot cross into Rust (lone surrogates)."""
    if value.isascii():
        return value
    return value.encode("utf-8", "replace").decode("utf-8")


def _values(value: Any) -> list[str]:
    """A keyword field's values: one string, a list of them, or nothing."""
    if value is None:
        return []
    items = [value] if isinstance(value, str | int) else list(value)
    return [_clean(str(item)) for item in items if item is not None and str(item) != ""]


def _joined(value: Any) -> str:
    """A text field's content: one string or a list joined by line breaks."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "\n".join(str(item) for item in value if item)


def _datetime(value: Any, name: str) -> dt.datetime | None:
    """A UTC datetime from a datetime (naive ones are UTC), a date or ISO text."""
    if value is None or value == "":
        return None

    moment: dt.datetime
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} is not an ISO date: {value!r}") from None
    else:
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _int(value: Any, name: str) -> int:
    if value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
