"""Keeping the search index in step with the database.

Changes are recorded in the ``index_outbox`` table in the same transaction as the
resource (:func:`mark`), and delivered to the engine only after that transaction
commits (:func:`deliver`). A delivery that fails leaves its rows in place with a
back-off, so the change is retried and the resource is never lost from search.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, or_, select

from indexer.documents import build_document
from indexer.engines.base import SearchEngineError
from repo_app.extensions import db
from repo_app.models import IndexOutbox, Resource
from repo_app.runtime import runtime
from repo_app.security import resource_acl

log = logging.getLogger("kejian.indexing")

BATCH = 200


def mark(*resource_ids: int) -> None:
    """Record that these resources must be re-indexed once the transaction commits."""
    for rid in resource_ids:
        db.session.add(IndexOutbox(resource_id=rid))


def pending_count() -> int:
    return db.session.scalar(select(func.count()).select_from(IndexOutbox)) or 0


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(600, 2 ** min(attempts, 10)))


def deliver(*, limit: int | None = None, ignore_backoff: bool = False) -> tuple[int, int]:
    """Send pending index changes to the search engine.

    :returns: (resources delivered, resources that failed and wait for a retry).
    """
    rt = runtime()
    delivered = failed = 0
    while limit is None or delivered + failed < limit:
        now = datetime.now(UTC)
        query = select(IndexOutbox).order_by(IndexOutbox.id).limit(BATCH)
        if not ignore_backoff:
            query = query.where(
                or_(IndexOutbox.next_attempt_at.is_(None), IndexOutbox.next_attempt_at <= now)
            )
        rows = list(db.session.scalars(query))
        if not rows:
            break

        ids = sorted({row.resource_id for row in rows})
        resources = {
            r.id: r for r in db.session.scalars(select(Resource).where(Resource.id.in_(ids)))
        }
        docs = [build_document(r, rt.vocab, resource_acl(r)) for r in resources.values()]
        gone = [str(i) for i in ids if i not in resources]
        try:
            if docs:
                rt.engine.index(docs)
            if gone:
                rt.engine.delete(gone)
        except SearchEngineError as exc:
            # Keep the rows: they are retried after a back-off, by the next delivery
            # or by `kejian worker`.
            for row in rows:
                row.attempts += 1
                row.last_error = str(exc)[:2000]
                row.next_attempt_at = now + _backoff(row.attempts)
            db.session.commit()
            failed += len(ids)
            log.warning("index delivery failed resources=%d error=%s", len(ids), exc)
            break

        # Only the rows read here are removed: a change recorded meanwhile stays queued.
        db.session.execute(
            delete(IndexOutbox).where(IndexOutbox.id.in_([row.id for row in rows]))
        )
        db.session.commit()
        delivered += len(ids)
    return delivered, failed


def after_commit() -> None:
    """Deliver pending changes: inline in embedded mode, through the queue otherwise."""
    rt = runtime()
    task = rt.tasks["deliver_index"]
    try:
        task()
    except Exception:  # noqa: BLE001 - the outbox keeps the change; never fail the request
        log.exception("could not start index delivery; the outbox keeps the change")


def reindex_all(progress=None) -> int:  # type: ignore[no-untyped-def]
    """Rebuild the index from the database; return the number of documents."""
    rt = runtime()
    ids = list(db.session.scalars(select(Resource.id).order_by(Resource.id)))
    rt.engine.clear()
    done = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        resources = db.session.scalars(select(Resource).where(Resource.id.in_(chunk)))
        docs = [build_document(r, rt.vocab, resource_acl(r)) for r in resources]
        rt.engine.index(docs)
        done += len(docs)
        db.session.expunge_all()
        if progress is not None:
            progress(len(chunk))
    return done
