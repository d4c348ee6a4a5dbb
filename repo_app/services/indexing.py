"""Keeping the search index in step with the database.

Changes are recorded in the ``index_outbox`` table in the same transaction as the
resource (:func:`mark`), and delivered to the engine only after that transaction
commits (:func:`deliver`), in bulk. A delivery that fails leaves its rows in place
with a back-off and the error, so the change is retried and the resource is never
lost from search; :func:`outbox_status` shows what waits and why.

A full rebuild (:func:`reindex_all`) fills a new index beside the live one, switches
to it in one step and then delivers again what changed while it loaded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, or_, select

from indexer.documents import build_document
from indexer.engines.base import SearchEngineError, SearchUnavailable
from repo_app.extensions import db
from repo_app.models import (
    FileObject,
    IndexOutbox,
    Resource,
    ResourceVersion,
    VersionFile,
)
from repo_app.runtime import runtime
from repo_app.security import resource_acl

log = logging.getLogger("kejian.indexing")

BATCH = 200

#: How far before its start a reindex looks for changes to catch up on: a change
#: stamped just before the start may commit after its batch was read (a long
#: transaction, a clock a little behind on another host), and indexing a few
#: resources twice costs little.
CATCH_UP_MARGIN = timedelta(minutes=5)


def mark(*resource_ids: int) -> None:
    """Record that these resources must be re-indexed once the transaction commits."""
    for rid in resource_ids:
        db.session.add(IndexOutbox(resource_id=rid))


def pending_count() -> int:
    return db.session.scalar(select(func.count()).select_from(IndexOutbox)) or 0


@dataclass
class OutboxStatus:
    """What waits in the outbox: a view for ``kejian check`` and ``kejian worker``."""

    #: Resources with a change not yet delivered.
    queued: int
    #: Of them, those whose delivery failed at least once.
    failing: int
    #: When the oldest waiting change was recorded.
    oldest: datetime | None
    #: The latest failures, newest first: ``resource``, ``attempts``, ``error``,
    #: ``next_attempt_at``.
    failures: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "failing": self.failing,
            "oldest": self.oldest.isoformat() if self.oldest else None,
            "failures": self.failures,
        }


def outbox_status(examples: int = 10) -> OutboxStatus:
    """Count the changes waiting for delivery and show the latest failures."""
    queued, oldest = db.session.execute(
        select(
            func.count(IndexOutbox.resource_id.distinct()),
            func.min(IndexOutbox.created_at),
        )
    ).one()
    failed = IndexOutbox.attempts > 0
    failing = db.session.scalar(
        select(func.count(IndexOutbox.resource_id.distinct())).where(failed)
    )
    rows = db.session.execute(
        select(
            IndexOutbox.resource_id,
            IndexOutbox.attempts,
            IndexOutbox.last_error,
            IndexOutbox.next_attempt_at,
        )
        .where(failed)
        .order_by(IndexOutbox.next_attempt_at.desc(), IndexOutbox.id.desc())
        .limit(examples)
    ).all()
    failures = [
        {
            "resource": row.resource_id,
            "attempts": row.attempts,
            "error": row.last_error,
            "next_attempt_at": _utc(row.next_attempt_at).isoformat()
            if row.next_attempt_at
            else None,
        }
        for row in rows
    ]
    return OutboxStatus(
        queued=queued or 0,
        failing=failing or 0,
        oldest=_utc(oldest) if oldest else None,
        failures=failures,
    )


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(600, 2 ** min(attempts, 10)))


def deliver(
    *,
    limit: int | None = None,
    ignore_backoff: bool = False,
    progress: Callable[[int], object] | None = None,
) -> tuple[int, int]:
    """Send pending index changes to the search engine, in bulk batches.

    Each row is tried once per call. When the engine cannot be reached, the batch
    waits for a retry after a back-off that doubles with each attempt (up to ten
    minutes) and delivery stops; when the engine refuses some documents, the batch
    is sent again one resource at a time, so that only the refused ones wait. A
    failure is recorded on the rows (``attempts``, ``last_error``), which
    :func:`outbox_status` shows.

    :param limit: stop after about this many resources.
    :param ignore_backoff: retry failed changes now (``kejian worker --once``,
        ``kejian check --fix``).
    :param progress: called with the number of resources of each batch.
    :returns: (resources delivered, resources that failed and wait for a retry).
    """
    rt = runtime()
    delivered = failed = 0
    last_row = 0
    while limit is None or delivered + failed < limit:
        now = datetime.now(UTC)
        # Rows in id order from where the last batch ended: a change recorded
        # meanwhile comes later, and a row that failed here is not tried again.
        query = (
            select(IndexOutbox)
            .where(IndexOutbox.id > last_row)
            .order_by(IndexOutbox.id)
            .limit(BATCH)
        )
        if not ignore_backoff:
            query = query.where(
                or_(IndexOutbox.next_attempt_at.is_(None), IndexOutbox.next_attempt_at <= now)
            )
        rows = list(db.session.scalars(query))
        if not rows:
            break
        last_row = rows[-1].id

        ids = sorted({row.resource_id for row in rows})
        resources = {
            r.id: r for r in db.session.scalars(select(Resource).where(Resource.id.in_(ids)))
        }
        docs = {
            rid: build_document(r, rt.vocab, resource_acl(r))
            for rid, r in resources.items()
        }
        gone = [rid for rid in ids if rid not in resources]
        refused: dict[int, str] = {}
        try:
            _send(list(docs.values()), gone)
        except SearchUnavailable as exc:
            # Keep the rows: they are retried after a back-off, by the next delivery
            # or by `kejian worker`.
            _postpone(rows, str(exc), now)
            db.session.commit()
            failed += len(ids)
            log.warning("index delivery failed resources=%d error=%s", len(ids), exc)
            break
        except (ValueError, SearchEngineError):
            # One bad document must not hold back the others of its batch.
            refused = _send_each(docs, gone)

        # Only the rows read here are removed: a change recorded meanwhile stays queued.
        done = [row.id for row in rows if row.resource_id not in refused]
        db.session.execute(delete(IndexOutbox).where(IndexOutbox.id.in_(done)))
        for rid, error in refused.items():
            _postpone([row for row in rows if row.resource_id == rid], error, now)
        db.session.commit()
        delivered += len(ids) - len(refused)
        failed += len(refused)
        if progress is not None:
            progress(len(ids))
    return delivered, failed


def _send(docs: list[dict[str, Any]], gone: list[int]) -> None:
    engine = runtime().engine
    if docs:
        engine.index(docs)
    if gone:
        engine.delete(str(rid) for rid in gone)


def _send_each(docs: dict[int, dict[str, Any]], gone: list[int]) -> dict[int, str]:
    """Send each resource's change alone; return the refused ones with the error."""
    refused: dict[int, str] = {}
    changes: list[tuple[int, list[dict[str, Any]], list[int]]] = [
        (rid, [doc], []) for rid, doc in docs.items()
    ]
    changes += [(rid, [], [rid]) for rid in gone]
    for rid, one_doc, one_gone in changes:
        try:
            _send(one_doc, one_gone)
        except (ValueError, SearchEngineError) as exc:
            refused[rid] = str(exc)
            log.warning("index refused resource=%d error=%s", rid, exc)
    return refused


def _postpone(rows: list[IndexOutbox], error: str, now: datetime) -> None:
    for row in rows:
        row.attempts += 1
        row.last_error = error[:2000]
        row.next_attempt_at = now + _backoff(row.attempts)


def after_commit() -> None:
    """Deliver pending changes: inline in embedded mode, through the queue otherwise."""
    rt = runtime()
    task = rt.tasks["deliver_index"]
    try:
        task()
    except Exception:  # noqa: BLE001 - the outbox keeps the change; never fail the request
        log.exception("could not start index delivery; the outbox keeps the change")


def reindex_all(progress: Callable[[int], object] | None = None) -> int:
    """Rebuild the search index from the database while searches go on.

    Every resource is loaded into a new index beside the live one, which searches
    and deliveries keep using until the new one replaces it in one step; a failure
    at any point removes the new index, leaves the live one as it was and
    propagates. Changes committed during the load are caught up after the switch
    (:func:`_catch_up`).

    :param progress: called with the number of resources of each loaded batch.
    :returns: the number of documents loaded.
    :raises SearchEngineError: when the new index cannot be built or switched to.
    """
    rt = runtime()
    started = time.monotonic()
    since = datetime.now(UTC) - CATCH_UP_MARGIN
    # Text extraction finishing during the load changes documents without touching
    # a timestamp, so the resources still waiting for it are caught up as well.
    extracting = set(db.session.scalars(_waiting_for_extraction()))
    ids = list(db.session.scalars(select(Resource.id).order_by(Resource.id)))

    done = 0
    # Leaving the block by an exception aborts the rebuild and re-raises it.
    with rt.engine.rebuild() as rebuild:
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            query = select(Resource).where(Resource.id.in_(chunk))
            docs = [
                build_document(r, rt.vocab, resource_acl(r))
                for r in db.session.scalars(query)
            ]
            rebuild.index(docs)
            done += len(docs)
            # Ending the read transaction keeps SQLite's WAL and PostgreSQL's
            # vacuum from waiting on a load that can last an hour.
            db.session.expunge_all()
            db.session.rollback()
            if progress is not None:
                progress(len(chunk))
        rebuild.commit()

    caught_up, removed = _catch_up(since, extracting)
    log.info(
        "reindex finished documents=%d seconds=%.1f caught_up=%d removed=%d",
        done,
        time.monotonic() - started,
        caught_up,
        removed,
    )
    return done


def _waiting_for_extraction() -> Select[tuple[int]]:
    """Ids of resources with a file whose text extraction has not run yet."""
    return (
        select(ResourceVersion.resource_id)
        .join(VersionFile, VersionFile.version_id == ResourceVersion.id)
        .join(FileObject, FileObject.sha256 == VersionFile.sha256)
        .where(FileObject.extraction == "pending")
        .distinct()
    )


def _catch_up(since: datetime, extracting: set[int]) -> tuple[int, int]:
    """Re-deliver what changed while a rebuild loaded, now that it is live.

    The rebuild read each resource once, and deliveries made meanwhile went to the
    old index, so whatever changed after *since* is delivered again: resources whose
    ``updated_at`` moved (metadata, publishing, review, withdrawal), that
    got a file (uploads leave ``updated_at`` alone), or whose files were waiting for
    extraction (*extracting*). Documents whose resource is gone are removed. Both
    go through the outbox, so an engine failing now keeps them for a retry.

    :returns: (resources delivered again, documents removed).
    """
    rt = runtime()
    # A new transaction: see everything committed during the load.
    db.session.rollback()
    changed = set(
        db.session.scalars(select(Resource.id).where(Resource.updated_at >= since))
    )
    changed |= set(
        db.session.scalars(
            select(ResourceVersion.resource_id)
            .join(VersionFile, VersionFile.version_id == ResourceVersion.id)
            .where(VersionFile.created_at >= since)
        )
    )
    changed |= extracting

    # The index is read first: a resource created in between is then in the
    # database list, or (created and indexed after it) delivered again harmlessly.
    try:
        indexed = rt.engine.ids()
    except SearchEngineError as exc:
        # The new index is live already; only deletions made during the load can
        # be missed, and searches check hits against the database.
        log.warning("reindex could not look for deleted resources error=%s", exc)
        indexed = set()
    existing = {str(rid) for rid in db.session.scalars(select(Resource.id))}
    gone = indexed - existing

    mark(*sorted(changed | {int(doc_id) for doc_id in gone if doc_id.isdigit()}))
    db.session.commit()
    deliver()
    return len(changed), len(gone)
