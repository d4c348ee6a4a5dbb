"""Comparing the search index with the database, and repairing it (``kejian check``).

Every resource has a search document, drafts and withdrawn ones included (their
access tokens keep them from everyone but their uploader and administrators), so the
index should hold exactly the ids of the resources table, each with the document of
the resource as it is now. :func:`check` sorts the differences into

* **missing**: a resource whose id is not in the index;
* **extra**: an id in the index that is no resource (deleted, or never ours);
* **stale**: a resource whose document carries another ``updated_at`` than its row,
  or every resource when the index was built with an older layout (an upgrade of
  Kejian changed what documents hold): the engine then refuses to read it, and
  :func:`repair` rebuilds it as ``kejian reindex`` does.

Engines hand back ids, not stored fields, so staleness is read through their date
filter, to the second (the coarsest precision an engine keeps): for each second in
which some resource's ``updated_at`` falls, the ids the index holds for that second
are compared with the database's (:func:`_stale`). That is one search per distinct
second: about one per resource on a pool that grows by hand, far fewer after bulk
imports. Every change of metadata, status, visibility or review moves
``updated_at``; a change that does not (a file added, text extracted, an
organisation renamed or moved) is seen only while its outbox row waits, and two
changes within one second look alike. ``kejian reindex`` rewrites every document.

Changes waiting in the outbox are on their way and are not counted as differences;
they are reported apart, with the failures recorded by :func:`indexing.deliver`. A
change committed while the check runs can show as a difference once; repairing it
re-delivers it harmlessly.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from indexer.engines.base import ACL_ALL, IndexOutdated, SearchQuery
from repo_app.extensions import db
from repo_app.models import IndexOutbox, Resource
from repo_app.runtime import runtime
from repo_app.services import indexing

log = logging.getLogger("kejian.check")

#: Hits per search while reading the documents of one second from the index.
PAGE = 1_000
_ONE_SECOND = timedelta(seconds=1)

#: A change queued longer than this is late: no worker delivers it.
LATE = timedelta(minutes=15)

Progress = Callable[[int], object]


@dataclass
class CheckReport:
    """The differences between the database and the search index."""

    resources: int
    documents: int
    missing: list[int]
    stale: list[int]
    extra: list[str]
    outbox: indexing.OutboxStatus
    #: Waiting changes recorded more than :data:`LATE` ago.
    late: int
    seconds: float = 0.0
    #: Why the index cannot be compared document by document when it was built
    #: with an older layout (every resource is then stale); ``None`` otherwise.
    outdated: str | None = None

    @property
    def consistent(self) -> bool:
        """No difference, and every waiting change is on time and has not failed."""
        differences = self.missing or self.stale or self.extra or self.outdated
        return not differences and not self.outbox.failing and not self.late

    def as_json(self, examples: int = 20) -> dict[str, Any]:
        def listed(ids: list[Any]) -> dict[str, Any]:
            return {"count": len(ids), "examples": ids[:examples]}

        return {
            "consistent": self.consistent,
            "resources": self.resources,
            "documents": self.documents,
            "missing": listed(self.missing),
            "stale": listed(self.stale),
            "extra": listed(self.extra),
            "outbox": {**self.outbox.as_json(), "late": self.late},
            "outdated": self.outdated,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Repair:
    """What :func:`repair` did."""

    #: Resources queued again for indexing (missing, stale, and extra ids).
    queued: int
    #: Extra ids that can be no resource, deleted from the index directly.
    removed: int
    delivered: int
    failed: int
    #: Documents loaded into a new index that replaced an outdated one.
    rebuilt: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "removed": self.removed,
            "delivered": self.delivered,
            "failed": self.failed,
            "rebuilt": self.rebuilt,
        }


def check(progress: Progress | None = None) -> CheckReport:
    """Compare the database with the search index; change neither.

    :param progress: called with the number of resources compared at each step.
    :raises SearchEngineError: when the index cannot be read.
    """
    started = time.monotonic()
    engine = runtime().engine

    # The database first, then the index: a resource created in between is then
    # extra for this run at worst, never silently missing.
    stamps = _stamps()
    try:
        indexed = engine.ids()
    except IndexOutdated as exc:
        return _outdated(stamps, str(exc), started, progress)
    known = {str(rid) for rid in stamps}
    missing = {rid for rid in stamps if str(rid) not in indexed}
    extra = indexed - known
    stale = _stale(stamps, indexed, progress)

    # Changes on their way are not differences.
    queued = set(db.session.scalars(select(IndexOutbox.resource_id).distinct()))
    outbox = indexing.outbox_status()
    late = _late()
    report = CheckReport(
        resources=len(stamps),
        documents=len(indexed),
        missing=sorted(missing - queued),
        stale=sorted(stale - queued - missing),
        extra=sorted(doc for doc in extra if not _queued_id(doc, queued)),
        outbox=outbox,
        late=late,
        seconds=time.monotonic() - started,
    )
    # Ending the read transaction: the check can take minutes on a large pool.
    db.session.rollback()
    log.info(
        "index check finished resources=%d documents=%d missing=%d stale=%d "
        "extra=%d queued=%d failing=%d late=%d seconds=%.1f",
        report.resources,
        report.documents,
        len(report.missing),
        len(report.stale),
        len(report.extra),
        outbox.queued,
        outbox.failing,
        late,
        report.seconds,
    )
    return report


def repair(report: CheckReport, progress: Progress | None = None) -> Repair:
    """Mend what *report* found; :func:`check` again to see the result.

    Missing and stale resources, and extra ids that look like resource ids, go
    through the outbox like any change (delivering an id with no resource deletes
    its document); other extra ids are deleted from the index at once. Everything
    queued is then delivered, failed changes included without waiting for their
    back-off. An outdated index is rebuilt instead, as ``kejian reindex`` does,
    before the queue is delivered.

    :param progress: called with the number of resources of each delivered batch.
    :raises SearchEngineError: when the index cannot be written.
    """
    if report.outdated:
        rebuilt = indexing.reindex_all(progress=progress)
        delivered, failed = indexing.deliver(ignore_backoff=True)
        done = Repair(0, 0, delivered, failed, rebuilt)
        log.info(
            "index repair finished rebuilt=%d delivered=%d failed=%d",
            done.rebuilt,
            done.delivered,
            done.failed,
        )
        return done

    numeric = [int(doc) for doc in report.extra if doc.isdigit()]
    foreign = [doc for doc in report.extra if not doc.isdigit()]
    ids = sorted({*report.missing, *report.stale, *numeric})
    indexing.mark(*ids)
    db.session.commit()
    if foreign:
        runtime().engine.delete(foreign)

    delivered, failed = indexing.deliver(ignore_backoff=True, progress=progress)
    done = Repair(len(ids), len(foreign), delivered, failed)
    log.info(
        "index repair finished queued=%d removed=%d delivered=%d failed=%d",
        done.queued,
        done.removed,
        done.delivered,
        done.failed,
    )
    return done


def _outdated(
    stamps: dict[int, datetime],
    reason: str,
    started: float,
    progress: Progress | None,
) -> CheckReport:
    """The report on an index of an older layout: every resource is stale."""
    report = CheckReport(
        resources=len(stamps),
        documents=0,
        missing=[],
        stale=sorted(stamps),
        extra=[],
        outbox=indexing.outbox_status(),
        late=_late(),
        seconds=time.monotonic() - started,
        outdated=reason,
    )
    db.session.rollback()
    if progress is not None:
        progress(len(stamps))
    log.info(
        "index check finished resources=%d outdated=true seconds=%.1f",
        report.resources,
        report.seconds,
    )
    return report


def _stamps() -> dict[int, datetime]:
    """Every resource id with its ``updated_at`` in UTC, cut to the second (the
    coarsest precision an engine keeps), oldest first."""
    rows = db.session.execute(select(Resource.id, Resource.updated_at))
    stamps = sorted((_second(stamp), rid) for rid, stamp in rows)
    return {rid: stamp for stamp, rid in stamps}


def _second(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # SQLite hands back naive datetimes, all UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def _stale(
    stamps: dict[int, datetime], indexed: set[str], progress: Progress | None
) -> set[int]:
    """Indexed resources whose document carries another second than their row.

    One date-range search per second that some resource's ``updated_at`` falls in:
    a resource found in the range of another second, or in none, was indexed with
    another date. Ranges merging several seconds would be fewer searches but could
    not see a document that moved within one, and a lost delivery is most often a
    change made seconds or minutes after the one indexed.
    """
    by_second: dict[datetime, set[str]] = defaultdict(set)
    for rid, second in stamps.items():
        by_second[second].add(str(rid))

    stale: set[str] = set()
    seen: set[str] = set()
    for second, expected in by_second.items():
        found = _indexed_between(second, second + _ONE_SECOND)
        seen |= found
        stale |= found - expected
        if progress is not None:
            progress(len(expected))
    # Indexed at a second that no resource has.
    stale |= indexed - seen
    return {int(doc) for doc in stale if doc.isdigit() and int(doc) in stamps}


def _indexed_between(start: datetime | None, end: datetime | None) -> set[str]:
    """Ids of the documents updated in ``[start, end)``, read page by page."""
    engine = runtime().engine
    found: set[str] = set()
    after: list[Any] | None = None
    while True:
        result = engine.search(
            SearchQuery(
                sort="newest",
                limit=PAGE,
                acl=[ACL_ALL],
                highlight=False,
                date_from=start,
                date_to=end,
                search_after=after,
            )
        )
        found.update(hit.id for hit in result.hits)
        if len(result.hits) < PAGE or result.cursor is None:
            return found
        after = result.cursor


def _late() -> int:
    """Resources with a change queued for longer than :data:`LATE`."""
    cutoff = datetime.now(UTC) - LATE
    query = select(func.count(IndexOutbox.resource_id.distinct())).where(
        IndexOutbox.created_at < cutoff
    )
    return db.session.scalar(query) or 0


def _queued_id(doc: str, queued: set[int]) -> bool:
    return doc.isdigit() and int(doc) in queued
