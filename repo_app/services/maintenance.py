"""Housekeeping that no request does: removing what nothing refers to any more.

Deleting a resource deletes its versions and their file rows but leaves the stored
bytes, because other resources may share them (one copy per SHA-256). Work that is
interrupted leaves files behind too. :func:`collect_garbage`, behind ``kejian gc``,
removes three kinds of garbage:

* **unreferenced files**: a :class:`FileObject` row that no :class:`VersionFile`
  refers to, with its stored object. The row goes too: it only describes the bytes
  (type, extracted text), and an upload of the same bytes later makes a new one;
* **orphan objects**: stored objects without a row, left by an upload whose request
  failed or whose process died between storing the bytes and committing;
* **leftovers**: spools and extraction copies in ``KEJIAN_HOME/tmp``, the object
  store's temporary files or ``incoming/`` keys, and resumable uploads left
  unfinished past their expiry (:func:`repo_app.services.tus.remove_expired`).

Nothing younger than ``min_age`` is touched, so work still in progress is safe.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import OperationalError

from repo_app.extensions import db
from repo_app.models import FileObject, VersionFile
from repo_app.runtime import runtime
from repo_app.services import tus
from repo_app.services.files import hold_digest
from storage import Leftover, ObjectNotFound, ObjectStore

log = logging.getLogger("kejian.gc")

#: Longer than any upload, extraction or import of one file takes.
DEFAULT_MIN_AGE = timedelta(hours=1)

#: Files in ``KEJIAN_HOME/tmp`` that the upload path and extraction jobs write.
_WORK_FILE_PREFIXES = ("upload-", "extract-")

#: Stored digests looked up in the database at a time.
_BATCH = 500

#: Called with (candidates checked, candidates found) after each candidate.
Progress = Callable[[int, int], object]


class _Outcome(enum.Enum):
    FILE = "file"
    ORPHAN = "orphan"
    LEFTOVER = "leftover"
    YOUNG = "young"
    BUSY = "busy"
    #: Referred to again, or already gone, by the time it was checked.
    KEPT = "kept"


@dataclass
class GarbageReport:
    """What :func:`collect_garbage` removed (or, in a dry run, would remove)."""

    dry_run: bool
    min_age: timedelta
    files: int = 0
    file_bytes: int = 0
    orphans: int = 0
    orphan_bytes: int = 0
    leftovers: int = 0
    leftover_bytes: int = 0
    #: Garbage kept because it is younger than ``min_age``.
    young: int = 0
    #: Files skipped because an upload of the same bytes held them.
    busy: int = 0
    #: Unfinished resumable uploads removed (counted among the leftovers too).
    expired_uploads: int = 0

    def count(self, outcome: _Outcome, size: int = 0) -> None:
        if outcome is _Outcome.FILE:
            self.files += 1
            self.file_bytes += size
        elif outcome is _Outcome.ORPHAN:
            self.orphans += 1
            self.orphan_bytes += size
        elif outcome is _Outcome.LEFTOVER:
            self.leftovers += 1
            self.leftover_bytes += size
        elif outcome is _Outcome.YOUNG:
            self.young += 1
        elif outcome is _Outcome.BUSY:
            self.busy += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "min_age_seconds": int(self.min_age.total_seconds()),
            "files": {"count": self.files, "bytes": self.file_bytes},
            "orphans": {"count": self.orphans, "bytes": self.orphan_bytes},
            "leftovers": {"count": self.leftovers, "bytes": self.leftover_bytes},
            "expired_uploads": self.expired_uploads,
            "kept_young": self.young,
            "skipped_busy": self.busy,
        }


@dataclass(frozen=True)
class _WorkFile:
    """A spool or extraction copy in ``KEJIAN_HOME/tmp``."""

    path: Path
    size: int
    modified: datetime


def collect_garbage(
    *,
    dry_run: bool,
    min_age: timedelta = DEFAULT_MIN_AGE,
    progress: Progress | None = None,
) -> GarbageReport:
    """Remove unreferenced files, orphan objects and leftovers older than *min_age*.

    Candidates are listed first, without locks, and each is checked again just before
    it is removed, in its own short transaction, so the collector can run while the
    service takes uploads.

    The race that matters is an upload of the same bytes. It may have found the row
    of an unreferenced file, or found the bytes already stored when it put them, and
    be about to commit a :class:`VersionFile` that refers to them; removing them then
    would leave a resource with no bytes. Uploads therefore hold the digest's lock
    (:func:`~repo_app.services.files.hold_digest`) from the moment they rely on stored
    bytes until they commit, and the collector holds it while it checks and removes.
    Under the lock it checks again that no version refers to the file and that the
    file is older than *min_age*; an upload that took the lock after the collector
    finds the row or object gone and stores its spool again. On PostgreSQL the
    collector does not wait for a held lock and counts the file as busy; on SQLite
    it waits for the database's write lock, up to the busy timeout.

    *min_age* guards what the lock cannot: spools and temporary keys still being
    written, and objects stored by an upload that has not committed its rows yet.
    The age of a file is its row's, of an orphan its object's, of a leftover its
    last write's.

    Within one file the row is deleted, then the object, then the transaction is
    committed. A failure before the commit keeps the row; a failed commit after the
    object went leaves a row without bytes, which the next upload of those bytes
    stores again and the next run removes.

    :param dry_run: find and count, remove nothing.
    :param progress: called after each candidate with (done, total).
    :raises StorageUnavailable: when the object store fails; what was removed
        before stays removed.
    """
    rt = runtime()
    cutoff = datetime.now(UTC) - min_age
    report = GarbageReport(dry_run=dry_run, min_age=min_age)

    unreferenced = _unreferenced_files()
    orphans = _orphan_objects(rt.store)
    work_files = _work_files(rt.settings.home / "tmp")
    leftovers = list(rt.store.iter_leftovers())
    total = len(unreferenced) + len(orphans) + len(work_files) + len(leftovers)
    done = 0

    def advance(outcome: _Outcome, size: int = 0) -> None:
        nonlocal done
        report.count(outcome, size)
        done += 1
        if progress is not None:
            progress(done, total)

    for sha256 in unreferenced:
        advance(*_remove_file(rt.store, sha256, cutoff, dry_run))
    for sha256 in orphans:
        advance(*_remove_orphan(rt.store, sha256, cutoff, dry_run))
    for work_file in work_files:
        advance(*_remove_work_file(work_file, cutoff, dry_run))
    for leftover in leftovers:
        advance(*_remove_leftover(rt.store, leftover, cutoff, dry_run))
    # Their expiry, not min_age, says when unfinished uploads may go.
    expired, expired_bytes = tus.remove_expired(dry_run=dry_run)
    report.expired_uploads = expired
    report.leftovers += expired
    report.leftover_bytes += expired_bytes

    log.info(
        "garbage collected dry_run=%s files=%d file_bytes=%d orphans=%d "
        "orphan_bytes=%d leftovers=%d leftover_bytes=%d young=%d busy=%d",
        dry_run,
        report.files,
        report.file_bytes,
        report.orphans,
        report.orphan_bytes,
        report.leftovers,
        report.leftover_bytes,
        report.young,
        report.busy,
    )
    return report


# -- finding candidates ---------------------------------------------------------------


def _unreferenced_files() -> list[str]:
    """Digests of the rows no version refers to, young ones included."""
    referenced = exists().where(VersionFile.sha256 == FileObject.sha256)
    try:
        return list(
            db.session.scalars(
                select(FileObject.sha256).where(~referenced).order_by(FileObject.sha256)
            )
        )
    finally:
        db.session.rollback()


def _orphan_objects(store: ObjectStore) -> list[str]:
    """Stored digests without a row, looked up a batch at a time."""
    orphans: list[str] = []
    digests = store.iter_digests()
    try:
        while batch := list(islice(digests, _BATCH)):
            known = set(
                db.session.scalars(
                    select(FileObject.sha256).where(FileObject.sha256.in_(batch))
                )
            )
            orphans.extend(d for d in batch if d not in known)
    finally:
        db.session.rollback()
    return orphans


def _work_files(folder: Path) -> list[_WorkFile]:
    found: list[_WorkFile] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.startswith(_WORK_FILE_PREFIXES):
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                status = entry.stat(follow_symlinks=False)
                found.append(
                    _WorkFile(
                        path=Path(entry.path),
                        size=status.st_size,
                        modified=datetime.fromtimestamp(status.st_mtime, UTC),
                    )
                )
    except FileNotFoundError:
        pass
    return found


# -- removing them, one checked candidate at a time -----------------------------------


def _remove_file(
    store: ObjectStore, sha256: str, cutoff: datetime, dry_run: bool
) -> tuple[_Outcome, int]:
    try:
        if not dry_run and not hold_digest(sha256, remove=True):
            return _Outcome.BUSY, 0

        row = db.session.execute(
            select(FileObject.size, FileObject.created_at).where(
                FileObject.sha256 == sha256
            )
        ).one_or_none()
        if row is None or _referenced(sha256):
            return _Outcome.KEPT, 0
        if _as_utc(row.created_at) > cutoff:
            return _Outcome.YOUNG, 0
        if dry_run:
            return _Outcome.FILE, row.size

        db.session.execute(
            delete(FileObject).where(FileObject.sha256 == sha256),
            execution_options={"synchronize_session": False},
        )
        store.delete(sha256)
        db.session.commit()
        return _Outcome.FILE, row.size
    except OperationalError as exc:
        if not _locked(exc):
            raise
        log.warning("unreferenced file skipped sha256=%s reason=locked", sha256)
        return _Outcome.BUSY, 0
    finally:
        db.session.rollback()


def _remove_orphan(
    store: ObjectStore, sha256: str, cutoff: datetime, dry_run: bool
) -> tuple[_Outcome, int]:
    try:
        if not dry_run and not hold_digest(sha256, remove=True):
            return _Outcome.BUSY, 0

        # An upload that stored these bytes may have committed its row since.
        has_row = db.session.scalar(
            select(exists().where(FileObject.sha256 == sha256))
        )
        if has_row:
            return _Outcome.KEPT, 0

        try:
            info = store.stat(sha256)
        except ObjectNotFound:
            return _Outcome.KEPT, 0
        if info.modified is not None and info.modified > cutoff:
            return _Outcome.YOUNG, 0

        if not dry_run:
            store.delete(sha256)
        return _Outcome.ORPHAN, info.size
    except OperationalError as exc:
        if not _locked(exc):
            raise
        log.warning("orphan object skipped sha256=%s reason=locked", sha256)
        return _Outcome.BUSY, 0
    finally:
        db.session.rollback()


def _remove_work_file(
    work_file: _WorkFile, cutoff: datetime, dry_run: bool
) -> tuple[_Outcome, int]:
    if work_file.modified > cutoff:
        return _Outcome.YOUNG, 0

    if not dry_run:
        work_file.path.unlink(missing_ok=True)
    return _Outcome.LEFTOVER, work_file.size


def _remove_leftover(
    store: ObjectStore, leftover: Leftover, cutoff: datetime, dry_run: bool
) -> tuple[_Outcome, int]:
    if leftover.modified > cutoff:
        return _Outcome.YOUNG, 0

    if not dry_run:
        store.remove_leftover(leftover.name)
    return _Outcome.LEFTOVER, leftover.size


def _referenced(sha256: str) -> bool:
    return bool(
        db.session.scalar(select(exists().where(VersionFile.sha256 == sha256)))
    )


def _locked(exc: OperationalError) -> bool:
    """Whether SQLite's write lock stayed taken for the whole busy timeout."""
    return "database is locked" in str(exc.orig)


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back the UTC time it was given, without its zone.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
