"""Taking files in, checking them, and handing them out again.

An upload is streamed to a temporary file in the instance folder while it is hashed and
counted, so that no request ever holds a file in memory. The file is then sniffed from
its content (never its name) and, up to ``KEJIAN_SYNC_EXTRACT_MB``, fully read by the
extractors while the request waits: a broken or refused file is answered at once and
nothing is stored. Only then is the spooled file handed to the object store, which
keeps one copy per SHA-256: with its digest already known, the local store links the
spool into place rather than writing the bytes a second time. Larger files are
extracted afterwards by a job.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from indexer.extract import KINDS, Extraction, sniff
from indexer.extract.isolated import extract_isolated
from repo_app.errors import PayloadTooLarge, UnsupportedFile, ValidationError
from repo_app.extensions import db
from repo_app.models import FileObject, Resource, ResourceVersion, VersionFile
from repo_app.runtime import runtime
from storage.base import CHUNK_SIZE
from storage.errors import DigestMismatch

log = logging.getLogger("kejian.files")


def _extract(path: Path, filename: str | None) -> Extraction:
    # In a worker process: a crash in a C parser costs the file, not this server.
    return extract_isolated(path, filename)


#: Kinds of content Kejian keeps: every kind the extractors know except ``other``
#: (executables, unknown binaries), which is refused with the sniffed type.
ACCEPTED_KINDS = frozenset(KINDS) - {"other"}

#: Types that a browser may show inline from our origin. HTML, SVG and XML are never
#: among them: they could run script as us.
INLINE_SAFE_PREFIXES = ("image/png", "image/jpeg", "image/gif", "image/webp",
                        "video/", "audio/", "application/pdf", "text/plain", "text/vtt")


def clean_filename(name: str | None) -> str:
    """Return a safe display name for an uploaded file.

    Folders are dropped (``../../x`` becomes ``x``), control characters removed and the
    name cut to 255 bytes, keeping its extension.

    :raises ValidationError: when nothing usable is left.
    """
    raw = (name or "").replace("\\", "/").split("/")[-1]
    raw = unicodedata.normalize("NFC", raw)
    cleaned = "".join(ch for ch in raw if unicodedata.category(ch)[0] != "C").strip()
    cleaned = cleaned.strip(". ")
    if not cleaned:
        raise ValidationError(
            "The file needs a name, such as lesson.pdf.",
            details={"field": "name", "given": name or ""},
        )
    stem, dot, ext = cleaned.rpartition(".")
    if not dot:
        stem, ext = cleaned, ""
    while len((stem + dot + ext).encode("utf-8")) > 255:
        stem = stem[:-1] or stem
        if len(ext.encode("utf-8")) > 32:
            ext = ext[:32]
    return stem + dot + ext


@contextmanager
def spooled(stream: BinaryIO, max_bytes: int) -> Iterator[tuple[Path, str, int]]:
    """Copy *stream* to a temporary file; yield (path, sha256, size); remove it after.

    :raises PayloadTooLarge: as soon as more than *max_bytes* arrive.
    """
    tmp_dir = runtime().settings.home / "tmp"
    tmp_dir.mkdir(exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = stream.read(CHUNK_SIZE)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(
                        f"The file is larger than the limit of {max_bytes // (1024 * 1024)} MB.",
                        details={"limit_bytes": max_bytes},
                    )
                digest.update(chunk)
                out.write(chunk)
        yield path, digest.hexdigest(), size
    finally:
        path.unlink(missing_ok=True)


def _refusal(extraction: Extraction) -> str:
    reasons = "; ".join(extraction.problems) or "it cannot be read"
    return f"The file was refused: {reasons}."


def _apply(blob: FileObject, ex: Extraction) -> None:
    blob.mime = ex.mime
    blob.kind = ex.kind
    blob.package_type = ex.package_type
    blob.extraction = ex.status
    blob.encrypted = ex.encrypted
    blob.title = (ex.title or None) and ex.title[:500]
    blob.text = ex.text.replace("\x00", "")  # PostgreSQL text cannot hold NUL
    blob.language = ex.language
    blob.pages = ex.pages
    blob.problems = list(ex.problems)
    blob.outline = list(ex.outline)
    blob.meta = {k: v for k, v in ex.metadata.items() if isinstance(v, (str, int, float, bool))}


#: PostgreSQL advisory locks come in classes; this one ("KJ") holds stored digests.
_DIGEST_LOCK_CLASS = 0x4B4A


def hold_digest(sha256: str, *, remove: bool = False) -> bool:
    """Lock the stored bytes of *sha256* until the current transaction ends.

    An upload holds the lock from the moment it relies on bytes being stored (it found
    their :class:`FileObject`, or the store already had them) until it commits the
    rows that refer to them. The garbage collector holds it, with *remove*, while it
    checks once more that nothing refers to the bytes and removes them. So neither can
    act on what the other saw a moment before: an upload that waited finds the row or
    the object gone and stores the bytes again, and the collector that waited finds
    the new rows.

    On PostgreSQL this is an advisory lock, shared between uploads and exclusive for
    the collector, which does not wait for it. SQLite lets one transaction write at a
    time, so there the lock is the database's write lock, taken by an update that
    changes nothing; everyone waits for it up to the connection's busy timeout.

    :returns: False when *remove* is set and an upload holds the lock.
    :raises sqlalchemy.exc.OperationalError: on SQLite, when the write lock is not
        free within the busy timeout.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(text("UPDATE file_objects SET sha256 = sha256 WHERE 0 = 1"))
        return True

    function = "pg_try_advisory_xact_lock" if remove else "pg_advisory_xact_lock_shared"
    statement = text(
        f"SELECT {function}(CAST(:lock_class AS integer), CAST(:key AS integer))"
    )
    # The first 32 bits of the digest; two digests sharing them only wait for
    # each other.
    key = int.from_bytes(bytes.fromhex(sha256[:8]), "big", signed=True)
    held = db.session.execute(statement, {"lock_class": _DIGEST_LOCK_CLASS, "key": key})
    return held.scalar() is not False


def _store(path: Path, sha256: str, size: int) -> None:
    """Hand the spooled file to the object store.

    The spool is private to this request and was hashed as it was written, so the
    store may take the digest on trust (see :meth:`ObjectStore.put_file`).
    """
    rt = runtime()
    try:
        rt.store.put_file(path, sha256, size, max_size=rt.settings.max_upload_bytes)
    except DigestMismatch:
        raise UnsupportedFile(
            "The file changed while it was being stored; send it again."
        ) from None


def _claim(known: FileObject, path: Path, sha256: str, size: int) -> FileObject | None:
    """Keep a file that is already stored from the collector until the commit.

    :returns: its row, or None when the collector removed the row meanwhile, in which
        case the upload goes on as for new bytes.
    """
    hold_digest(sha256)
    row = db.session.execute(
        select(FileObject)
        .where(FileObject.sha256 == sha256)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None:
        db.session.expunge(known)
        return None

    # A collector that failed between removing the object and committing leaves the
    # row behind; storing the bytes again mends it.
    if not runtime().store.exists(sha256):
        _store(path, sha256, size)
    return row


def ingest(stream: BinaryIO, filename: str) -> tuple[FileObject, bool]:
    """Take one file in; return its :class:`FileObject` and whether a job must extract it.

    The object is added to the session; the caller commits.

    :raises PayloadTooLarge: past ``KEJIAN_MAX_UPLOAD_MB``.
    :raises UnsupportedFile: for an empty, broken or unsupported file.
    """
    with spooled(stream, runtime().settings.max_upload_bytes) as (path, sha256, size):
        return ingest_file(path, sha256, size, filename)


def ingest_file(
    path: Path, sha256: str, size: int, filename: str
) -> tuple[FileObject, bool]:
    """Take in a complete local file whose SHA-256 and size the caller computed as it
    was written (a spool, or a finished resumable upload); as :func:`ingest`.

    The store may link *path* into place (see :meth:`ObjectStore.put_file`): the caller
    removes it afterwards and must not change it meanwhile.

    :raises UnsupportedFile: for an empty, broken or unsupported file.
    """
    rt = runtime()
    settings = rt.settings
    if size == 0:
        raise UnsupportedFile("The file is empty.", details={"name": filename})

    known = db.session.get(FileObject, sha256)
    if known is not None:
        known = _claim(known, path, sha256, size)
    if known is not None:
        return known, False

    extraction: Extraction | None = None
    if size <= settings.sync_extract_bytes:
        extraction = _extract(path, filename)
        if extraction.status == "rejected":
            raise UnsupportedFile(
                _refusal(extraction),
                details={"name": filename, "mime": extraction.mime},
            )
        mime, kind = extraction.mime, extraction.kind
    else:
        mime, kind = sniff(path, filename)
    if kind not in ACCEPTED_KINDS:
        raise UnsupportedFile(
            f"The file was refused: Kejian does not keep files of type {mime}.",
            details={"name": filename, "mime": mime},
        )

    # Stored before the lock is taken: on SQLite the lock stops every writer,
    # and a large file takes a while to reach S3.
    _store(path, sha256, size)
    hold_digest(sha256)
    if not rt.store.exists(sha256):
        # The bytes were already stored, and the collector removed them between
        # that put and the lock.
        _store(path, sha256, size)

    blob = FileObject(sha256=sha256, size=size, mime=mime, kind=kind, extraction="pending")
    if extraction is not None:
        _apply(blob, extraction)
    try:
        with db.session.begin_nested():
            db.session.add(blob)
    except IntegrityError:
        # The same bytes arrived in a concurrent request; use its record.
        blob = db.session.get(FileObject, sha256)  # type: ignore[assignment]
        return blob, False
    return blob, extraction is None


def extract_stored(sha256: str) -> str:
    """Extract a stored file's text (the job behind large uploads)."""
    from repo_app.services import indexing

    rt = runtime()
    blob = db.session.get(FileObject, sha256)
    if blob is None:
        return "missing"
    # The name tells Markdown from plain text, and an encrypted Office file's format.
    name = db.session.scalar(select(VersionFile.name).where(VersionFile.sha256 == sha256).limit(1))
    # A file of the local store is read where it lies; writing a second copy of a
    # large video would take longer than reading its metadata.
    in_place = rt.store.local_path(sha256)
    if in_place is not None:
        ex = _extract(in_place, name)
    else:
        tmp_dir = rt.settings.home / "tmp"
        tmp_dir.mkdir(exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="extract-") as fh:
            for chunk in rt.store.iter_bytes(sha256):
                fh.write(chunk)
            fh.flush()
            ex = _extract(Path(fh.name), name)
    _apply(blob, ex)
    resource_ids = db.session.scalars(
        select(ResourceVersion.resource_id)
        .join(VersionFile, VersionFile.version_id == ResourceVersion.id)
        .where(VersionFile.sha256 == sha256)
    ).all()
    indexing.mark(*set(resource_ids))
    db.session.commit()
    indexing.after_commit()
    log.info("extracted sha256=%s status=%s", sha256, ex.status)
    return ex.status


def add_file(resource: Resource, blob: FileObject, name: str, *, user_id: int | None,
             new_version: bool = True, note: str = "") -> VersionFile:
    """Attach *blob* to *resource*.

    With *new_version*, a new version is made that carries the previous version's files
    plus this one (a file with the same name is replaced); otherwise the file joins the
    current version.
    """
    current = resource.current_version
    if current is None or new_version:
        number = (current.number + 1) if current else 1
        version = ResourceVersion(resource=resource, number=number, note=note,
                                  created_by_id=user_id)
        db.session.add(version)
        if current is not None:
            for old in current.files:
                if old.name != name:
                    version.files.append(VersionFile(sha256=old.sha256, name=old.name))
    else:
        version = current
    vf = VersionFile(sha256=blob.sha256, name=name)
    vf.blob = blob
    version.files.append(vf)
    return vf
