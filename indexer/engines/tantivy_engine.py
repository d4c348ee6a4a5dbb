"""The embedded search engine: a tantivy index in a directory of ``KEJIAN_HOME``.

Text is analysed by :mod:`indexer.analysis` (CJK bigrams, lower-cased words) and
handed to tantivy as space-separated tokens read by its built-in ``whitespace``
tokenizer; queries are built from the same tokens with tantivy's query objects, never
with its query parser. Facet and filter fields are untokenized fast fields, counted
with tantivy's terms aggregation over the whole visible result set.

Several processes share one index directory: the web process searches, the worker
writes, ``kejian reindex`` rebuilds. Its layout::

    index/
        live.json              {"generation": "<name>"}: the generation in use
        generations/<name>/    one complete tantivy index each, with a layout marker
        .swap.lock             held while the pointer changes or old ones are claimed

Searches and writes go to the generation ``live.json`` names, and every call first
stats that file: one system call, after which a process whose pointer was replaced
opens the generation it names now. A rebuild fills a new generation, renames a new
pointer over the old one (atomic on POSIX) and deletes the generation it replaced;
a process still reading that one keeps its open files until its next call. Each
generation being built holds an ``flock`` on its directory, so the clean-up after a
switch removes what a killed rebuild left but never a rebuild still running.

An index written before generations existed (the tantivy files right in ``index/``)
is used as it is, as generation zero; the first rebuild or :meth:`clear` moves to the
layout above and deletes those files.

Tantivy allows one writer per generation (a lock file), so every write opens a
writer, commits and releases it at once; searchers notice a new commit by the
modification of ``meta.json`` and reload before their next search. A rebuild keeps
the writer of its new generation, which nobody else writes, until it commits.

Tantivy cannot migrate an index to a new schema. A marker file in each generation
records the layout version it was built with; an outdated index that holds documents
makes every call raise :class:`~indexer.engines.base.IndexOutdated` until ``kejian
reindex`` rebuilds it.

The locks are POSIX ``flock`` locks: the engine runs on Linux (and macOS).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import tantivy

from indexer import analysis
from indexer.engines import common, tantivy_order
from indexer.engines.base import (
    ACL_ALL,
    FACET_FIELDS,
    SHOWN_FIELDS,
    TEXT_FIELDS,
    Hit,
    IndexOutdated,
    Rebuild,
    SearchEngine,
    SearchEngineError,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
)

log = logging.getLogger("kejian.search")

#: Bump when the schema or the analysis changes; an older index must be rebuilt.
#: 4: the ``pinyin`` field. 5: the :data:`~indexer.engines.base.SHOWN_FIELDS` stored.
SCHEMA_VERSION = 5
MARKER_FILE = "kejian-index.json"

#: Names inside the index directory (see the module's description of the layout).
POINTER_FILE = "live.json"
GENERATIONS_DIR = "generations"
SWAP_LOCK_FILE = ".swap.lock"
#: The generation an index from before generations stands for: the directory itself.
LEGACY_GENERATION = ""
_GENERATION_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,63}")
#: Writes tried in a row while rebuilds keep switching generations under them; a
#: write that still fails is kept in the outbox and retried later.
WRITE_ATTEMPTS = 3

#: Facet counts of tantivy's terms aggregation are exact while a field has fewer
#: values than this many times common.FACET_SIZE in each index segment.
_SEGMENT_FACET_FACTOR = 10

#: Matching runs on one field holding the tokens of every text field: intersecting
#: one posting list per token is two to three times faster than intersecting unions
#: over five fields. Its score counts with the boost of the body text; the other
#: fields are indexed again on their own and add their boosted scores on top (a sum
#: over fields rather than the best field: the same order, a third faster).
ALL_FIELD = "all"
BODY_FIELD = "text"
#: Pinyin of titles (see :func:`indexer.analysis.pinyin_words`), for near matches.
PINYIN_FIELD = "pinyin"
_BOOSTED_FIELDS = {
    name: boost for name, boost in TEXT_FIELDS.items() if name != BODY_FIELD
}
_STORED_TEXT = {
    "title": "title_src",
    "description": "description_src",
    "text": "text_src",
}
_DATE_FIELDS = ("created_at", "updated_at")
#: The shown fields stored as themselves (the title is read from ``title_src``).
_SHOWN_STORED = tuple(name for name in SHOWN_FIELDS if name != "title")


def build_schema() -> tantivy.Schema:
    """The index layout; changing it means bumping :data:`SCHEMA_VERSION`."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field(
        "id", stored=True, tokenizer_name="raw", index_option="basic"
    )
    # Hits with equal sort values are put in id order by it, filtered and named by
    # it (see indexer.engines.tantivy_order).
    builder.add_unsigned_field(tantivy_order.ID_KEY_FIELD, indexed=True, fast=True)
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
    # The full pinyin of the title's words, which homophones typed for them share.
    builder.add_text_field(
        PINYIN_FIELD, tokenizer_name="whitespace", index_option="basic"
    )

    for name in FACET_FIELDS:
        builder.add_text_field(
            name,
            stored=name in SHOWN_FIELDS,
            tokenizer_name="raw",
            index_option="basic",
            fast=True,
        )
    for name in _DATE_FIELDS:
        builder.add_date_field(name, stored=name in SHOWN_FIELDS, indexed=True, fast=True)
    builder.add_integer_field("downloads", indexed=True, fast=True)

    # Completion keys: what a title starts with, and every suffix of it.
    for name in ("suggest_head", "suggest_any"):
        builder.add_text_field(name, tokenizer_name="whitespace", index_option="basic")
    return builder.build()


#: ``(inode, mtime in ns, size)`` of a file: a replaced or rewritten file changes it.
Stamp = tuple[int, int, int]


@dataclass(frozen=True)
class _Filters:
    """What a search keeps besides its words."""

    #: Clauses that every facet count keeps too: access, the date range.
    fixed: list[tantivy.Query]
    #: Facet field -> the values it accepts (one of them is enough).
    accepted: dict[str, list[str]]


@dataclass(frozen=True)
class _Live:
    """The generation a pointer named when it was read."""

    name: str
    directory: Path
    #: The pointer's stamp; ``None`` for an index from before generations.
    pointer: Stamp | None


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
        # The open index (None while outdated) and its generation, replaced in one
        # assignment so that no thread sees one generation's index with another.
        self._opened: tuple[tantivy.Index | None, _Live] | None = None
        self._stamp: Stamp | None = None
        self._closed = False
        # Writes are serialised in this process; the lock file does it across them.
        self._write_lock = threading.Lock()
        # Reopening and reloading happen once, whichever thread notices first.
        self._reload_lock = threading.RLock()
        self._open()

    @property
    def live_path(self) -> Path:
        """The directory of the generation searches and writes use now."""
        self._follow_pointer()
        if self._opened is None:
            raise SearchUnavailable(f"no search index is open at {self.path}")
        return self._opened[1].directory

    # ---------------------------------------------------------------- opening

    def _open(self) -> None:
        """Open the live generation, creating the first one when there is none and
        replacing it when it is outdated but empty; open no index (calls raise
        :class:`IndexOutdated`) when it is outdated or unreadable and not empty."""
        live = self._read_live() or self._install_empty(replacing=None)
        if _outdated(live.directory) and _documents_on_disk(live.directory) == 0:
            log.info("search index replaced path=%s reason=empty-outdated", self.path)
            live = self._install_empty(replacing=live)

        if _outdated(live.directory):
            self._opened = (None, live)
            return

        with _vendor_errors("open the search index"):
            index = tantivy.Index.open(str(live.directory))
            index.config_reader("manual")
        self._stamp = None
        self._opened = (index, live)

    def _read_live(self) -> _Live | None:
        """The generation the pointer names, the directory itself for an index from
        before generations, or ``None`` when there is no index yet."""
        pointer = self.path / POINTER_FILE
        try:
            with open(pointer, "rb") as fh:
                # Stamp and content come from one file even when the pointer is
                # replaced between the two reads.
                stamp = _stamp(os.fstat(fh.fileno()))
                data = json.loads(fh.read())
        except FileNotFoundError:
            if (self.path / "meta.json").exists():
                return _Live(LEGACY_GENERATION, self.path, None)
            return None
        except (OSError, ValueError) as exc:
            raise SearchEngineError(
                f"cannot read the search index pointer {pointer} ({exc}); remove it "
                "and run `kejian reindex`"
            ) from exc

        name = data.get("generation") if isinstance(data, dict) else None
        if not isinstance(name, str) or not _GENERATION_NAME.fullmatch(name):
            raise SearchEngineError(
                f"the search index pointer {pointer} is damaged; remove it and run "
                "`kejian reindex`"
            )
        return _Live(name, self.path / GENERATIONS_DIR / name, stamp)

    def _pointer_stamp(self) -> Stamp | None:
        try:
            return _stamp(os.stat(self.path / POINTER_FILE))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SearchUnavailable(
                f"cannot read the search index at {self.path}: {exc.strerror}"
            ) from exc

    def _pointer_moved(self, live: _Live) -> bool:
        """Whether the pointer was replaced since *live* was read (one ``stat``)."""
        return self._pointer_stamp() != live.pointer

    def _switched_from(self, live: _Live) -> bool:
        """Whether another generation is live now than *live*, read from the
        pointer's content: after a failure, a stamp that repeats (two switches in
        one clock tick reusing an inode) must not keep us on a deleted one."""
        return _name(self._read_live()) != live.name

    def _reopen(self) -> None:
        with self._reload_lock:
            self._open()

    def _follow_pointer(self) -> None:
        """Reopen when the pointer was replaced (a rebuild committed, here or in
        another process) or when the index could not be used last time."""
        stamp = self._pointer_stamp()
        if _usable(self._opened, stamp):
            return

        with self._reload_lock:
            if not _usable(self._opened, stamp):
                self._open()

    def _ready(self) -> tuple[tantivy.Index, _Live]:
        """The open index of the live generation, and which generation it is."""
        if self._closed:
            raise SearchUnavailable("the search engine has been closed")

        self._follow_pointer()
        opened = self._opened
        if opened is None or opened[0] is None:
            raise IndexOutdated(
                f"the search index at {self.path} was built by another version "
                "of Kejian or cannot be read; run `kejian reindex` to rebuild it"
            )
        return opened[0], opened[1]

    def _searcher(self) -> tantivy.Searcher:
        """A searcher over the latest commit, from this or another process."""
        index, live = self._ready()
        try:
            return self._refreshed(index, live.directory)
        except SearchUnavailable:
            # A rebuild may have switched generations and deleted the one we had
            # between our reading of the pointer and of its files.
            if not self._switched_from(live):
                raise
        self._reopen()
        index, live = self._ready()
        return self._refreshed(index, live.directory)

    def _refreshed(self, index: tantivy.Index, directory: Path) -> tantivy.Searcher:
        try:
            meta = os.stat(directory / "meta.json")
        except OSError as exc:
            raise SearchUnavailable(f"the search index at {directory} is gone") from exc

        stamp = _stamp(meta)
        if stamp != self._stamp:
            with self._reload_lock:
                if stamp != self._stamp:
                    self._reload(index, directory)
                    self._stamp = stamp
        return index.searcher()

    def _reload(self, index: tantivy.Index, directory: Path) -> None:
        # A commit from another process may delete files between our reading of
        # meta.json and opening its segments; the next attempt sees the newer commit.
        for attempt in range(3):
            try:
                index.reload()
                return
            except ValueError as exc:
                if attempt == 2:
                    raise SearchUnavailable(
                        f"the search index at {directory} cannot be read: {exc}"
                    ) from exc
                time.sleep(0.01)

    # ------------------------------------------------------------ generations

    @contextlib.contextmanager
    def _swap_lock(self) -> Iterator[None]:
        """Serialise, across processes, pointer changes with creating generations
        and claiming old ones, so that a clean-up never takes a new generation."""
        lock_path = self.path / SWAP_LOCK_FILE
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SearchUnavailable(
                f"cannot lock the search index at {self.path}: {exc.strerror}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _create_generation(self) -> tuple[str, Path, int, tantivy.Index]:
        """Create an empty generation; return its name, directory, the descriptor
        holding its build lock, and the open index.

        The caller holds the swap lock, so no clean-up sees the new directory before
        it is locked.
        """
        moment = dt.datetime.now(dt.UTC)
        name = f"{moment:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
        directory = self.path / GENERATIONS_DIR / name
        try:
            directory.mkdir(parents=True)
            fd = _lock_directory(directory)
        except OSError as exc:
            raise SearchUnavailable(
                f"cannot create a search index in {directory.parent}: {exc.strerror}"
            ) from exc
        assert fd is not None  # a directory made just now is locked by nobody

        try:
            with _vendor_errors("create the search index"):
                index = tantivy.Index(self._schema, str(directory), reuse=False)
            marker = {"schema": SCHEMA_VERSION, "generation": name}
            (directory / MARKER_FILE).write_text(json.dumps(marker), encoding="utf-8")
        except OSError as exc:
            _remove_generation(directory, fd)
            raise SearchUnavailable(
                f"cannot create the search index at {directory}: {exc.strerror}"
            ) from exc
        except BaseException:
            _remove_generation(directory, fd)
            raise
        return name, directory, fd, index

    def _install_empty(self, *, replacing: _Live | None) -> _Live:
        """Make a new, empty generation live and return what is live afterwards.

        Nothing changes when the live generation is no longer *replacing* (``None``:
        no index at all), so that two processes starting together make one index.
        """
        if replacing is None:
            self._refuse_foreign()
        with self._swap_lock():
            live = self._read_live()
            if _name(live) == _name(replacing):
                name, directory, fd, _ = self._create_generation()
                try:
                    self._point_to(name)
                except BaseException:
                    _remove_generation(directory, fd)
                    raise
                os.close(fd)
                stale = self._claim_stale(name)
            else:
                stale = []
            live = self._read_live()
        self._remove_stale(stale)

        if live is None:
            raise SearchUnavailable(f"the search index at {self.path} disappeared")
        return live

    def _publish(self, name: str) -> None:
        """Make the generation *name* live and delete those it replaces."""
        with self._swap_lock():
            self._point_to(name)
            stale = self._claim_stale(name)
        self._remove_stale(stale)

    def _point_to(self, name: str) -> None:
        """Replace the pointer in one rename; the caller holds the swap lock."""
        pointer = self.path / POINTER_FILE
        fresh = pointer.with_name(f"{POINTER_FILE}.{uuid.uuid4().hex}.tmp")
        try:
            with open(fresh, "w", encoding="utf-8") as fh:
                json.dump({"generation": name}, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(fresh, pointer)
        except OSError as exc:
            with contextlib.suppress(OSError):
                fresh.unlink()
            raise SearchUnavailable(
                f"cannot switch the search index at {self.path}: {exc.strerror}"
            ) from exc

        # The switch has happened: failing to make it durable must not undo it.
        with contextlib.suppress(OSError):
            _fsync_directory(self.path)

    def _claim_stale(self, live_name: str) -> list[tuple[Path, int]]:
        """Lock every generation but *live_name* that no rebuild is building.

        The caller holds the swap lock; deleting happens after it is released (see
        :meth:`_remove_stale`), so searches elsewhere are not held up meanwhile.
        """
        claimed: list[tuple[Path, int]] = []
        try:
            entries = sorted((self.path / GENERATIONS_DIR).iterdir())
        except OSError:
            return claimed

        for entry in entries:
            if entry.name == live_name or not entry.is_dir():
                continue
            try:
                fd = _lock_directory(entry)
            except OSError:
                continue  # removed meanwhile
            if fd is not None:
                claimed.append((entry, fd))
        return claimed

    def _remove_stale(self, claimed: list[tuple[Path, int]]) -> None:
        """Delete claimed generations and the files of an index from before
        generations. Readers that have them open keep their open files; whatever
        fails to go is deleted by the next switch."""
        for directory, fd in claimed:
            _remove_generation(directory, fd)
            log.info("search index generation removed path=%s", directory)

        if not (self.path / POINTER_FILE).exists():
            return
        ours = {POINTER_FILE, GENERATIONS_DIR, SWAP_LOCK_FILE}
        try:
            legacy = [
                entry
                for entry in self.path.iterdir()
                if entry.name not in ours
                and not entry.name.startswith(f"{POINTER_FILE}.")
                and entry.is_file()
            ]
        except OSError:
            return
        for entry in legacy:
            with contextlib.suppress(OSError):
                entry.unlink()

    def _refuse_foreign(self) -> None:
        """Refuse to create an index in a directory that holds other things."""
        ours = {POINTER_FILE, GENERATIONS_DIR, SWAP_LOCK_FILE}
        try:
            names = [entry.name for entry in self.path.iterdir()]
        except FileNotFoundError:
            return
        except OSError as exc:
            raise SearchEngineError(
                f"cannot use {self.path} for the search index: {exc.strerror}"
            ) from exc

        if any(n not in ours and not n.startswith(POINTER_FILE) for n in names):
            raise SearchEngineError(
                f"{self.path} exists but is not a Kejian search index; move it "
                "away or set KEJIAN_HOME to another directory"
            )

    def rebuild(self) -> TantivyRebuild:
        """Start a new generation beside the live one (see :class:`Rebuild`).

        The live generation may be outdated: the new one has the current layout,
        which is how ``kejian reindex`` repairs an index after an upgrade.

        :raises SearchUnavailable: when the new generation cannot be created.
        """
        if self._closed:
            raise SearchUnavailable("the search engine has been closed")

        with self._swap_lock():
            name, directory, fd, index = self._create_generation()
        try:
            with _vendor_errors("open the new search index"):
                writer = index.writer(heap_size=self.writer_heap, num_threads=1)
        except BaseException:
            _remove_generation(directory, fd)
            raise
        log.info("search index rebuild started path=%s generation=%s", self.path, name)
        return TantivyRebuild(self, name, directory, fd, writer)

    # ---------------------------------------------------------------- writing

    def _acquire_writer(self, index: tantivy.Index) -> tantivy.IndexWriter:
        """Take the generation's single writer, waiting a little for another one."""
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
        """Apply *change* in one commit to the live generation, release the writer
        and refresh searches.

        When a rebuild switches generations while we write, the change is applied
        again to the new one, which may have been loaded before it (up to
        :data:`WRITE_ATTEMPTS` times in all). Whatever *change* raises rolls the
        whole commit back and propagates.
        """
        with self._write_lock:
            for attempt in range(1, WRITE_ATTEMPTS + 1):
                index, live = self._ready()
                try:
                    self._commit(index, change)
                except SearchUnavailable:
                    # The generation may have been switched and deleted under us.
                    if attempt == WRITE_ATTEMPTS or not self._switched_from(live):
                        raise
                    self._reopen()
                    continue
                if not self._pointer_moved(live):
                    break
            # meta.json's inode, mtime and size can repeat across two quick commits
            # (coarse file-system clock, reused inode); our own commit always reloads.
            with self._reload_lock:
                self._stamp = None
            self._searcher()

    def _commit(
        self, index: tantivy.Index, change: Callable[[tantivy.IndexWriter], None]
    ) -> None:
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

    def index(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Add or replace *documents*; return how many distinct ids were written.

        :raises ValueError: for a document without ``id`` or with a bad value; the
            call then writes nothing.
        """
        # A list: the change is applied twice when a rebuild switches meanwhile.
        pending = list(documents)
        if not pending:
            return 0
        written: set[str] = set()

        def change(writer: tantivy.IndexWriter) -> None:
            # Converting here lets tantivy's indexing thread, which runs without
            # the GIL, work on earlier documents meanwhile. Deleting the id first
            # also removes an earlier document of this call with the same id.
            written.clear()
            for document in pending:
                doc_id, converted = self._convert(document)
                with _vendor_errors("write the search index"):
                    writer.delete_documents_by_term("id", doc_id)
                    writer.add_document(converted)
                written.add(doc_id)

        self._write(change)
        return len(written)

    def delete(self, ids: Iterable[str]) -> None:
        wanted = sorted({common.clean(str(doc_id)) for doc_id in ids})
        if not wanted:
            return

        def change(writer: tantivy.IndexWriter) -> None:
            with _vendor_errors("write the search index"):
                for doc_id in wanted:
                    writer.delete_documents_by_term("id", doc_id)

        self._write(change)

    def _convert(self, document: Mapping[str, Any]) -> tuple[str, tantivy.Document]:
        """Turn an engine-neutral document into a tantivy one."""
        doc_id = common.document_id(document)

        doc = tantivy.Document()
        doc.add_text("id", doc_id)
        doc.add_unsigned(tantivy_order.ID_KEY_FIELD, tantivy_order.id_key(doc_id))
        for name in ("acl", "status", "visibility", *FACET_FIELDS):
            for value in common.keyword_values(document.get(name)):
                doc.add_text(name, value)

        everything = []
        for name in TEXT_FIELDS:
            text = common.joined_text(document.get(name))
            analysed = analysis.index_text(text) if text else ""
            if analysed:
                everything.append(analysed)
                if name in _BOOSTED_FIELDS:
                    doc.add_text(name, analysed)
            stored = _STORED_TEXT.get(name)
            if stored and text:
                kept = text[: common.STORED_TEXT_CHARS]
                doc.add_bytes(stored, kept.encode("utf-8", "replace"))

        if everything:
            doc.add_text(ALL_FIELD, " ".join(everything))

        for name in _DATE_FIELDS:
            moment = common.utc_datetime(document.get(name), name)
            if moment is not None:
                doc.add_date(name, moment)
        downloads = common.integer(document.get("downloads"), "downloads")
        doc.add_integer("downloads", downloads)

        title = common.joined_text(document.get("title"))
        pinyin = common.title_pinyin(title)
        if pinyin:
            doc.add_text(PINYIN_FIELD, pinyin)
        head, contained = analysis.suggest_keys(title)
        if head:
            doc.add_text("suggest_head", " ".join(sorted(head)))
            doc.add_text("suggest_any", " ".join(sorted(contained)))
        return doc_id, doc

    # -------------------------------------------------------------- searching

    def search(self, query: SearchQuery) -> SearchResult:
        """Run *query*; see :class:`~indexer.analysis.QueryPlan` for what matches.

        Every word must match, or all but one of three or more (those with every
        word first), and words naming a kind of material only rank (see
        :class:`~indexer.analysis.QueryPlan`); when no visible document matches so,
        documents with any of the words are returned instead. Hits sorted by date
        or downloads carry a score of 0. A query without words lists documents
        newest first.

        Order, pages and cursors are those of :mod:`~indexer.engines.tantivy_order`.
        A cursor is ``[score, id]`` for relevance, ``[second, id]`` for newest (the
        Unix time of ``updated_at`` in whole seconds, ``None`` for an undated
        document) and ``[downloads, id]`` for popular. Cursors page on without limit
        by newest and popular, and up to
        :data:`~indexer.engines.tantivy_order.RELEVANCE_DEPTH` hits deep by
        relevance. Dates are indexed to the second: ``date_from`` and ``date_to``
        are cut to the second before they are compared.

        :raises QueryError: for a query that cannot run, a malformed cursor, or a
            relevance cursor deeper than ``RELEVANCE_DEPTH``.
        :raises SearchUnavailable: when the index cannot be read.
        """
        facets = common.check_query(query)
        plan = analysis.plan_query(query.text or "", analysis.default_synonyms())
        sort = query.sort
        if not plan and sort == "relevance":
            # Without words every score is equal; browsing shows the newest first.
            sort = "newest"
        after = tantivy_order.parse_cursor(sort, query.search_after)
        access = self._access_clause(query.acl)
        if access is None:
            return SearchResult(0, [], {name: [] for name in facets})

        filters = self._filters(query, access)
        clauses = self._clauses(filters)

        searcher = self._searcher()
        pager = tantivy_order.Pager(searcher, self._schema)
        with _vendor_errors("search"):
            # Sorted by date or downloads, partial matches would mix with full ones.
            relaxed = sort == "relevance"
            for conjunction in (True, False):
                matching = self._matching_query(
                    plan, clauses, conjunction=conjunction, relaxed=relaxed
                )
                ranked = (
                    self._scored(matching, plan) if sort == "relevance" else matching
                )
                page = pager.page(
                    sort,
                    ranked=ranked,
                    matching=matching,
                    offset=query.offset,
                    limit=query.limit,
                    after=after,
                )
                # Nothing has every word: show what has any of them (a misspelt word
                # then does not empty the page), best matches first.
                if page.total:
                    break

            highlighter = analysis.Highlighter(plan.terms if query.highlight else ())
            hits = [
                self._hit(searcher, entry, highlighter, sort) for entry in page.entries
            ]
            counts = self._facet_counts(
                searcher,
                facets,
                filters,
                results=matching,
                total=page.total,
                widened=partial(
                    self._matching_query,
                    plan,
                    conjunction=conjunction,
                    relaxed=relaxed,
                ),
            )
        cursor = (
            tantivy_order.cursor_for(page.entries[-1], hits[-1].id) if hits else None
        )
        return SearchResult(page.total, hits, counts, cursor)

    def _hit(
        self,
        searcher: tantivy.Searcher,
        entry: tantivy_order.Entry,
        highlighter: analysis.Highlighter,
        sort: str,
    ) -> Hit:
        stored = searcher.doc(entry.address)
        score = entry.value if sort == "relevance" and entry.value is not None else 0
        texts = {}
        for name, stored_name in _STORED_TEXT.items():
            if name == "title" or highlighter:
                value = stored.get_first(stored_name)
                if value is not None:
                    texts[name] = bytes(value).decode("utf-8", "replace")
        values = {name: stored.get_first(name) for name in _SHOWN_STORED}
        values["title"] = texts.get("title")
        return Hit(
            id=stored.get_first("id"),
            score=float(score),
            highlights=common.highlights(highlighter, texts) if highlighter else {},
            shown=common.shown(values),
        )

    def _facet_counts(
        self,
        searcher: tantivy.Searcher,
        facets: Sequence[str],
        filters: _Filters,
        *,
        results: tantivy.Query,
        total: int,
        widened: Callable[[list[tantivy.Query]], tantivy.Query],
    ) -> dict[str, list[tuple[str, int]]]:
        """Counts of the values of *facets*, multi-select (see
        :class:`~indexer.engines.base.SearchQuery`).

        :param results: the query of the results, every filter applied.
        :param widened: makes the query of the words with the given clauses.
        """
        counts: dict[str, list[tuple[str, int]]] = {name: [] for name in facets}
        chosen = {
            name: filters.accepted[name] for name in facets if name in filters.accepted
        }
        if not chosen:
            if facets and total:
                answer = searcher.aggregate(results, _terms(facets))
                counts.update(_read_counts(answer, {name: () for name in facets}))
            return counts

        # One pass over the matches of every filter but those on counted fields,
        # which filter aggregations apply: to each count all but its field's own.
        base = widened(self._clauses(filters, leaving_out=chosen))
        request: dict[str, Any] = {}
        paths: dict[str, tuple[str, ...]] = {}
        plain = [name for name in facets if name not in chosen]
        if plain:
            request["_all"] = {"filter": _filter_string(chosen), "aggs": _terms(plain)}
            paths.update((name, ("_all",)) for name in plain)
        for name in chosen:
            others = {field: v for field, v in chosen.items() if field != name}
            if not others:
                request.update(_terms([name]))
                paths[name] = ()
                continue
            key = f"_without_{name}"
            request[key] = {"filter": _filter_string(others), "aggs": _terms([name])}
            paths[name] = (key,)

        counts.update(_read_counts(searcher.aggregate(base, request), paths))
        return counts

    # -------------------------------------------------------- query building

    def _access_clause(self, acl: Sequence[str]) -> tantivy.Query | None:
        tokens = common.access_tokens(acl)
        if not tokens:
            return None
        if ACL_ALL in tokens:
            return tantivy.Query.all_query()
        return self._any_value("acl", tokens)

    def _filters(self, query: SearchQuery, access: tantivy.Query) -> _Filters:
        """The query's filters, *access* among them."""
        fixed = [access]
        dates = self._date_clause(query.date_from, query.date_to)
        if dates is not None:
            fixed.append(dates)

        accepted = {}
        for name, given in query.filters.items():
            values = sorted(set(common.keyword_values(given)))
            if values:
                accepted[name] = values
        return _Filters(fixed, accepted)

    def _clauses(
        self, filters: _Filters, *, leaving_out: Iterable[str] = ()
    ) -> list[tantivy.Query]:
        """Every clause of *filters*, but those on the fields *leaving_out*."""
        return filters.fixed + [
            self._any_value(name, values)
            for name, values in filters.accepted.items()
            if name not in leaving_out
        ]

    def _date_clause(
        self, date_from: dt.datetime | None, date_to: dt.datetime | None
    ) -> tantivy.Query | None:
        """Documents updated at or after *date_from* and before *date_to*, to the
        second; an undated document is outside every range."""
        if date_from is None and date_to is None:
            return None

        lower = None if date_from is None else tantivy_order.epoch_second(date_from)
        upper = None if date_to is None else tantivy_order.epoch_second(date_to)
        first, last = tantivy_order.FIRST_SECOND, tantivy_order.LAST_SECOND
        if (
            (lower is not None and lower > last)
            or (upper is not None and upper <= first)
            or (lower is not None and upper is not None and lower >= upper)
        ):
            return tantivy.Query.empty_query()

        # Bounds beyond the dates tantivy can hold leave that side open.
        if lower is not None and lower < first:
            lower = None
        if upper is not None and upper > last:
            upper = None
        if lower is None and upper is None:
            return tantivy.Query.exists_query("updated_at")
        return tantivy.Query.range_query(
            self._schema,
            "updated_at",
            tantivy.FieldType.Date,
            lower_bound=tantivy_order.second_datetime(lower),
            upper_bound=tantivy_order.second_datetime(upper),
            # The end is excluded; tantivy wants an open end included.
            include_upper=upper is None,
        )

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
        relaxed: bool,
    ) -> tantivy.Query:
        """Which documents match: filters (unscored) and the parts of the query in
        the ``all`` field (scored with the body's boost). Facets count these.

        :param conjunction: :param relaxed: see
            :meth:`~indexer.analysis.QueryPlan.needed`.
        """
        Occur = tantivy.Occur
        clauses = [
            (Occur.Must, tantivy.Query.const_score_query(clause, 0.0))
            for clause in filters
        ]
        if not plan:
            return tantivy.Query.boolean_query(clauses)

        required = [
            self._part_query(part, loose=not conjunction) for part in plan.required
        ]
        enough = plan.needed(conjunction=conjunction, relaxed=relaxed)
        if enough == len(required):
            text = [(Occur.Must, q) for q in required]
        else:
            some = tantivy.Query.boolean_query(
                [(Occur.Should, q) for q in required],
                minimum_number_should_match=enough,
            )
            every = tantivy.Query.boolean_query([(Occur.Must, q) for q in required])
            # Those with every word first.
            text = [
                (Occur.Must, some),
                (
                    Occur.Should,
                    tantivy.Query.const_score_query(every, common.EVERY_WORD_SCORE),
                ),
            ]
        text += [
            (
                Occur.Should,
                tantivy.Query.const_score_query(
                    self._kind_query(part), common.KIND_SCORE
                ),
            )
            for part in plan.optional
        ]
        clauses.append((Occur.Must, tantivy.Query.boolean_query(text)))
        return tantivy.Query.boolean_query(clauses)

    def _kind_query(self, part: analysis.Part) -> tantivy.Query:
        """Any alternative of a part naming a kind of material, with all its tokens
        in one of :data:`common.KIND_FIELDS`."""
        Occur = tantivy.Occur
        return tantivy.Query.boolean_query(
            [
                (
                    Occur.Should,
                    tantivy.Query.boolean_query(
                        [(Occur.Must, self._token_query(t, name)) for t in alternative]
                    ),
                )
                for alternative in part.alternatives
                for name in common.KIND_FIELDS
            ]
        )

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
                exact, common.PHRASE_BOOST * TEXT_FIELDS["title"]
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

    def _part_query(self, part: analysis.Part, *, loose: bool = False) -> tantivy.Query:
        """Any alternative of the part, each with all its tokens (*loose*: with
        :meth:`~indexer.analysis.QueryPlan.loosely` many), in ``all``."""
        Occur = tantivy.Occur
        alternatives = []
        for alternative in part.alternatives:
            token_queries = [
                self._token_query(token, ALL_FIELD) for token in alternative
            ]
            needed = (
                analysis.QueryPlan.loosely(alternative) if loose else len(alternative)
            )
            if len(token_queries) == 1:
                alternatives.append(token_queries[0])
            elif needed == len(token_queries):
                alternatives.append(
                    tantivy.Query.boolean_query(
                        [(Occur.Must, q) for q in token_queries]
                    )
                )
            else:
                alternatives.append(
                    tantivy.Query.boolean_query(
                        [(Occur.Should, q) for q in token_queries],
                        minimum_number_should_match=needed,
                    )
                )
        alternatives.extend(
            tantivy.Query.const_score_query(near, common.NEAR_BOOST)
            for near in self._near_queries(part)
        )
        if len(alternatives) == 1:
            found = alternatives[0]
        else:
            found = tantivy.Query.boolean_query(
                [(Occur.Should, q) for q in alternatives]
            )
        return tantivy.Query.boost_query(found, TEXT_FIELDS[BODY_FIELD])

    def _near_queries(self, part: analysis.Part) -> list[tantivy.Query]:
        """The part's looser matches (see :class:`~indexer.analysis.Part`): its
        pinyin in titles' pinyin, its word misspelt in :data:`common.FUZZY_FIELDS`."""
        near = []
        if part.pinyin:
            sounds = [
                tantivy.Query.term_query(
                    self._schema, PINYIN_FIELD, word, index_option="basic"
                )
                for word in part.pinyin
            ]
            near.append(
                tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in sounds])
            )
        if part.fuzzy is not None:
            word, edits = part.fuzzy
            spelt = [
                tantivy.Query.fuzzy_term_query(self._schema, name, word, distance=edits)
                for name in common.FUZZY_FIELDS
            ]
            near.append(
                tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in spelt])
            )
        return near

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
        key = common.suggestion_key(prefix)
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
        self._opened = None


class TantivyRebuild(Rebuild):
    """A generation being filled beside the live one, by one thread.

    It keeps the generation's writer from start to :meth:`commit`, so the documents
    are committed once, and an ``flock`` on its directory, which tells clean-ups in
    every process that the directory is still in use.
    """

    def __init__(
        self,
        engine: TantivyEngine,
        name: str,
        directory: Path,
        lock_fd: int,
        writer: tantivy.IndexWriter,
    ) -> None:
        self.engine = engine
        self.generation = name
        self.path = directory
        self._lock_fd = lock_fd
        self._writer: tantivy.IndexWriter | None = writer
        self._state = "building"
        self._documents = 0

    def _building(self) -> tantivy.IndexWriter:
        if self._writer is None:
            raise SearchEngineError(f"the search index rebuild is {self._state}")
        return self._writer

    def index(self, documents: Iterable[Mapping[str, Any]]) -> int:
        writer = self._building()
        # Converted first, so that a bad document leaves nothing of the call behind.
        converted = [self.engine._convert(document) for document in documents]
        with _vendor_errors("write the new search index"):
            for doc_id, document in converted:
                writer.delete_documents_by_term("id", doc_id)
                writer.add_document(document)
        written = len({doc_id for doc_id, _ in converted})
        self._documents += written
        return written

    def commit(self) -> None:
        writer = self._building()
        started = time.monotonic()
        try:
            with _vendor_errors("write the new search index"):
                writer.commit()
                # Merging finishes before the switch, so the new generation goes
                # live with its final segments; waiting also frees the writer.
                self._writer = None
                writer.wait_merging_threads()
            self.engine._publish(self.generation)
        except BaseException:
            self.abort()
            raise

        # The pointer names this generation now: it is no longer ours to delete.
        self._state = "committed"
        os.close(self._lock_fd)
        log.info(
            "search index switched path=%s generation=%s documents=%d "
            "commit_seconds=%.1f",
            self.engine.path,
            self.generation,
            self._documents,
            time.monotonic() - started,
        )

    def abort(self) -> None:
        if self._state != "building":
            return

        self._state = "aborted"
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.rollback()
            with contextlib.suppress(Exception):
                writer.wait_merging_threads()
        _remove_generation(self.path, self._lock_fd)
        log.info(
            "search index rebuild aborted path=%s generation=%s",
            self.engine.path,
            self.generation,
        )


# ------------------------------------------------------------------------ helpers


def _stamp(status: os.stat_result) -> Stamp:
    return (status.st_ino, status.st_mtime_ns, status.st_size)


def _usable(
    opened: tuple[tantivy.Index | None, _Live] | None, pointer: Stamp | None
) -> bool:
    """Whether an open index still serves: usable, and its pointer not replaced."""
    return opened is not None and opened[0] is not None and opened[1].pointer == pointer


def _name(live: _Live | None) -> str | None:
    return None if live is None else live.name


def _read_marker(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _outdated(directory: Path) -> bool:
    """Whether the generation was built with another layout (or has no marker)."""
    marker = _read_marker(directory)
    return marker is None or marker.get("schema") != SCHEMA_VERSION


def _documents_on_disk(directory: Path) -> int:
    """Documents in the index as stored, or -1 when it cannot be read."""
    try:
        return int(tantivy.Index.open(str(directory)).searcher().num_docs)
    except Exception:  # noqa: BLE001 - any failure means "cannot tell"
        return -1


def _lock_directory(directory: Path) -> int | None:
    """A descriptor holding an exclusive ``flock`` on *directory*, or ``None`` when
    another descriptor (in any process) holds it. Closing it releases the lock, as
    does the death of the process, so a killed rebuild leaves no lock behind."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_generation(directory: Path, lock_fd: int) -> None:
    """Delete a generation whose lock *lock_fd* holds, then release the lock.

    A failure leaves the directory unlocked, and the next switch deletes it.
    """
    try:
        shutil.rmtree(directory, ignore_errors=True)
    finally:
        with contextlib.suppress(OSError):
            os.close(lock_fd)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in *directory* survive a power cut."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def _terms(names: Iterable[str]) -> dict[str, Any]:
    """A terms aggregation for each facet field of *names*."""
    return {
        name: {
            "terms": {
                "field": name,
                "size": common.FACET_SIZE,
                "segment_size": common.FACET_SIZE * _SEGMENT_FACET_FACTOR,
            }
        }
        for name in names
    }


def _read_counts(
    answer: Mapping[str, Any], paths: Mapping[str, Sequence[str]]
) -> dict[str, list[tuple[str, int]]]:
    """Facet counts from an aggregation *answer*, each field's found under its
    path of enclosing aggregations."""
    counts = {}
    for name, path in paths.items():
        node = answer
        for key in path:
            node = node.get(key, {})
        buckets = node.get(name, {}).get("buckets", [])
        pairs = [(str(bucket["key"]), int(bucket["doc_count"])) for bucket in buckets]
        counts[name] = common.facet_counts(pairs)
    return counts


def _filter_string(accepted: Mapping[str, Sequence[str]]) -> str:
    """*accepted* in tantivy's query language, for a filter aggregation: any value
    of each field, every field. Quoted, no character of a value is syntax."""

    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return " AND ".join(
        "(" + " OR ".join(f"{name}:{quoted(value)}" for value in values) + ")"
        for name, values in accepted.items()
    )


def _prefix_regex(prefix: str) -> str:
    """A regex matching terms that start with *prefix*, which holds only letters,
    digits and CJK characters (none of them special in a regex)."""
    return "".join(char for char in prefix if char.isalnum()) + ".*"
