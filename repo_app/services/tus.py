"""Resumable uploads: the server side of the tus 1.0 protocol (https://tus.io).

A browser (``tus-js-client``, built into ``static/vendor/tus``) or any tus client
creates an upload with its length, then sends the bytes in one or more ``PATCH``
requests, each starting at the offset the server reports. A connection that breaks
keeps every byte that arrived; the client asks for the offset (``HEAD``) and goes on
from there, after a page reload too (``tus-js-client`` remembers the upload's address
in the browser). Supported: core, ``creation``, ``termination`` and ``expiration``.

Why this module and not a library: the Flask tus servers on PyPI (Flask-Tus 0.7.1 of
2016, Flask-Tus-Cont 1.3.2, Flask-Tus-Ponthe 1.1.4) keep their state in Redis, import
``flask._app_ctx_stack``, which Flask 3 removed, and have no notion of whose upload
it is; tusfilter 0.5.1 (2015) reads the finished file into memory. The maintained
servers are for aiohttp, ASGI, Django or Litestar. The protocol's core is small, so
it is implemented here, on the app's database and instance folder:

- an :class:`~repo_app.models.UploadSession` row holds the length, the offset, the
  owner and the expiry; the bytes go to ``$KEJIAN_HOME/uploads/<id>.part``, written as
  they arrive, never held in memory;
- each upload belongs to the user who created it: for anyone else it does not exist
  (404), so that upload ids cannot be probed;
- one ``PATCH`` at a time writes an upload (an exclusive ``flock`` on its file; a
  second one is answered 423 and the client retries);
- a session's browser requests carry the page's CSRF token in ``X-CSRFToken``, as
  every API write does (:mod:`repo_app.auth`); API clients send a bearer token;
- an unfinished upload expires :data:`EXPIRY` after its last byte; ``kejian gc``
  removes it with its file (:func:`remove_expired`);
- when the last byte is in, the file is hashed and handed to the files service
  through :func:`repo_app.services.uploads.receive`, which sniffs and checks it and
  makes it a resource, or records why it was refused.
"""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import hashlib
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from werkzeug.exceptions import ClientDisconnected

from repo_app.errors import (
    Conflict,
    KejianError,
    NotFound,
    PayloadTooLarge,
    ValidationError,
)
from repo_app.extensions import db
from repo_app.models import UploadSession, UploadState, utcnow
from repo_app.runtime import runtime
from repo_app.security import Principal
from storage.base import CHUNK_SIZE

log = logging.getLogger("kejian.tus")

VERSION = "1.0.0"
EXTENSIONS = ("creation", "termination", "expiration")
#: An unfinished upload is kept this long after its last byte arrived.
EXPIRY = timedelta(hours=24)
#: Unfinished uploads one user may have at once: each reserves disk space.
MAX_OPEN_PER_USER = 50
#: Space the instance folder keeps free beyond every upload's declared length.
DISK_RESERVE = 256 * 1024 * 1024


class UploadGone(KejianError):
    """The upload expired (or finished) and its bytes are gone: start again."""

    status = 410
    code = "upload_expired"


class UploadLocked(KejianError):
    """Another request is writing this upload right now; retry in a moment."""

    status = 423
    code = "upload_locked"


class InsufficientStorage(KejianError):
    status = 507
    code = "insufficient_storage"


def folder() -> Path:
    """``$KEJIAN_HOME/uploads``, where unfinished uploads keep their bytes."""
    path = runtime().settings.home / "uploads"
    path.mkdir(exist_ok=True)
    return path


def part_path(upload_id: str) -> Path:
    return folder() / f"{upload_id}.part"


def parse_metadata(header: str | None) -> dict[str, str]:
    """Decode ``Upload-Metadata``: comma-separated ``key base64value`` pairs.

    :raises ValidationError: for a pair that is not base64 UTF-8, or a key given twice.
    """
    metadata: dict[str, str] = {}
    for pair in (header or "").split(","):
        key, _, value = pair.strip().partition(" ")
        if not key:
            continue
        if key in metadata:
            # tus 1.0: keys are unique; which of two values was meant is unknowable.
            raise ValidationError(
                f"Upload-Metadata names {key!r} twice.", details={"field": key}
            )
        try:
            metadata[key] = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ValidationError(
                f"Upload-Metadata: the value of {key!r} is not base64 UTF-8 text.",
                details={"field": key},
            ) from None
    return metadata


def _expiry(now: datetime | None = None) -> datetime:
    return (now or utcnow()) + EXPIRY


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back the UTC time it was given, without its zone.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def expires_at(upload: UploadSession) -> datetime:
    return _as_utc(upload.expires_at)


def create(
    principal: Principal, length: int, metadata: dict[str, str]
) -> UploadSession:
    """Start an upload of *length* bytes for *principal*; the caller commits.

    *metadata* must name the file (``filename``) and say where it goes: ``batch`` (an
    upload batch of the principal's, made by the upload page) or ``resource`` (a
    resource the principal may change, which gets a new version).

    :raises PayloadTooLarge: past ``KEJIAN_MAX_UPLOAD_MB``.
    :raises ValidationError: for a missing name or destination.
    :raises Conflict: with too many unfinished uploads.
    :raises InsufficientStorage: when the instance folder lacks the space.
    """
    from repo_app.services import uploads

    user = principal.user
    if user is None:
        raise NotFound("Sign in to upload.")
    limit = runtime().settings.max_upload_bytes
    if length > limit:
        raise PayloadTooLarge(
            f"The file is larger than the limit of {limit // 2**20} MB.",
            details={"limit_bytes": limit, "length": length},
        )
    target = uploads.check_target(principal, metadata)
    open_count = db.session.scalar(
        select(func.count())
        .select_from(UploadSession)
        .where(
            UploadSession.user_id == user.id,
            UploadSession.state == UploadState.RECEIVING,
        )
    )
    if (open_count or 0) >= MAX_OPEN_PER_USER:
        raise Conflict(
            f"You have {open_count} unfinished uploads; finish or cancel some first.",
            details={"open": open_count},
        )
    if shutil.disk_usage(folder()).free < length + DISK_RESERVE:
        raise InsufficientStorage("The server has no room for this file right now.")

    upload = UploadSession(
        id=secrets.token_hex(16),
        user_id=user.id,
        filename=target.filename,
        length=length,
        offset=0,
        state=UploadState.RECEIVING,
        expires_at=_expiry(),
        **target.links,
    )
    db.session.add(upload)
    # The file exists from the start, so that HEAD and PATCH find it.
    part_path(upload.id).touch()
    log.info("upload created id=%s user=%s length=%d", upload.id, user.username, length)
    return upload


def get(principal: Principal, upload_id: str) -> UploadSession:
    """The upload *upload_id* of *principal*.

    :raises NotFound: when there is none, or it is someone else's.
    :raises UploadGone: when it expired.
    """
    upload = None
    if principal.user_id is not None and len(upload_id) == 32:
        upload = db.session.get(UploadSession, upload_id, populate_existing=True)
    if upload is None or upload.user_id != principal.user_id:
        raise NotFound("There is no such upload.")
    if upload.state is UploadState.RECEIVING and expires_at(upload) <= utcnow():
        raise UploadGone("This upload has expired; start it again.")
    return upload


@dataclass
class Appended:
    upload: UploadSession
    #: True when this request brought the last byte in.
    finished: bool


def append(
    principal: Principal,
    upload_id: str,
    offset: int,
    stream: BinaryIO,
    content_length: int | None,
) -> Appended:
    """Write the bytes of *stream* at *offset* of the upload; commit the new offset.

    A stream that breaks off keeps what arrived (the client resumes from there). When
    the last byte is in, the file goes to :func:`repo_app.services.uploads.receive`.

    :raises Conflict: when *offset* is not the upload's offset (the client must ask
        for it again), or the upload is complete.
    :raises PayloadTooLarge: for more bytes than the upload's length.
    :raises UploadLocked: while another request writes the upload.
    """
    upload = get(principal, upload_id)
    if upload.state is not UploadState.RECEIVING:
        raise Conflict("This upload is complete.", details={"offset": upload.offset})
    remaining = upload.length - upload.offset
    if content_length is not None and content_length > remaining:
        raise PayloadTooLarge(
            "More bytes than the upload's length.",
            details={"remaining": remaining},
        )

    with _locked(part_path(upload.id)) as fd:
        # Read again under the lock: a request that held it may have moved on.
        db.session.refresh(upload)
        if offset != upload.offset:
            raise Conflict(
                f"The upload is at byte {upload.offset}, not {offset}.",
                details={"offset": upload.offset},
            )
        # The database holds no lock while the bytes arrive (a write transaction
        # would stop every other writer on SQLite for as long as the upload runs).
        db.session.commit()
        written, too_many = _write(fd, offset, stream, remaining)
        upload.offset = offset + written
        upload.updated_at = utcnow()
        upload.expires_at = _expiry()
        db.session.commit()

    if too_many:
        raise PayloadTooLarge(
            "More bytes than the upload's length; the extra bytes were dropped.",
            details={"offset": upload.offset},
        )
    finished = upload.offset == upload.length
    if finished:
        _finish(principal, upload)
    return Appended(upload, finished)


@contextmanager
def _locked(path: Path) -> Iterator[int]:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        raise UploadGone("This upload's bytes are gone; start it again.") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise UploadLocked(
                    "Another request is sending this upload; try again shortly."
                ) from None
            raise
        yield fd
    finally:
        os.close(fd)


def _write(fd: int, offset: int, stream: BinaryIO, remaining: int) -> tuple[int, bool]:
    """Copy *stream* to *fd* at *offset*, at most *remaining* bytes.

    :returns: the bytes written, and whether the stream held more than *remaining*.
    """
    # Bytes past the offset are from a request that broke off before its offset was
    # committed; they are not counted, so they go.
    os.ftruncate(fd, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    written = 0
    too_many = False
    try:
        while written < remaining:
            chunk = stream.read(min(CHUNK_SIZE, remaining - written))
            if not chunk:
                break
            os.write(fd, chunk)
            written += len(chunk)
        too_many = written == remaining and bool(stream.read(1))
    except (ClientDisconnected, ConnectionError, TimeoutError) as exc:
        # tus: keep what arrived, so the client resumes from there.
        log.info("upload interrupted at=%d reason=%s", offset + written, exc)
    os.fsync(fd)
    return written, too_many


def _finish(principal: Principal, upload: UploadSession) -> None:
    """Hash the complete file and hand it to the uploads service; remove the part."""
    from repo_app.services import uploads

    path = part_path(upload.id)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
    try:
        uploads.receive(principal, upload, path, digest.hexdigest())
    finally:
        path.unlink(missing_ok=True)


def terminate(principal: Principal, upload_id: str) -> None:
    """Cancel an upload and remove its bytes (tus termination); commits."""
    upload = get(principal, upload_id)
    with _locked(part_path(upload.id)):
        db.session.delete(upload)
        db.session.commit()
        part_path(upload_id).unlink(missing_ok=True)
    log.info("upload terminated id=%s", upload_id)


def remove_expired(*, dry_run: bool, now: datetime | None = None) -> tuple[int, int]:
    """Remove unfinished uploads past their expiry, and part files without a row.

    :returns: how many uploads (or stray files) and how many bytes went.
    """
    now = now or utcnow()
    removed = 0
    freed = 0
    expired = db.session.scalars(
        select(UploadSession).where(
            UploadSession.state == UploadState.RECEIVING,
            UploadSession.expires_at <= now,
        )
    ).all()
    for upload in expired:
        path = part_path(upload.id)
        removed += 1
        freed += path.stat().st_size if path.exists() else 0
        if not dry_run:
            db.session.delete(upload)
            db.session.commit()
            path.unlink(missing_ok=True)

    # A part file whose row is gone (a failed commit after a cancel) or never came.
    known = set(
        db.session.scalars(
            select(UploadSession.id).where(UploadSession.state == UploadState.RECEIVING)
        )
    )
    db.session.rollback()
    cutoff = (now - EXPIRY).timestamp()
    for path in folder().glob("*.part"):
        if path.stem in known:
            continue
        status = path.stat()
        if status.st_mtime > cutoff:
            continue
        removed += 1
        freed += status.st_size
        if not dry_run:
            path.unlink(missing_ok=True)
    return removed, freed
