"""Uploads from the pages: a batch of files described once, and metadata by CSV.

An uploader describes a set of files once (an :class:`~repo_app.models.UploadBatch`:
owner school, visibility asked for, metadata); each file sent for the batch, through
a resumable upload (:mod:`repo_app.services.tus`) or a plain form, becomes a resource
of its own with that metadata. A file the files service refuses is recorded on its
upload with the reason, for the page to show.

:func:`apply_csv` sets the metadata of many resources from one CSV file, all rows or
none.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from marshmallow import ValidationError as SchemaError
from sqlalchemy import func, select

from repo_app.errors import KejianError, NotFound, UnsupportedFile, ValidationError
from repo_app.extensions import db
from repo_app.models import (
    ChapterNode,
    Organisation,
    Resource,
    Role,
    UploadBatch,
    UploadSession,
    UploadState,
    Visibility,
    parse_id,
)
from repo_app.runtime import runtime
from repo_app.security import Principal
from repo_app.services import files, indexing, resources
from repo_app.services.importer import decode_csv

log = logging.getLogger("kejian.uploads")

#: Metadata a batch may carry (chapters as node ids).
BATCH_FIELDS = (*resources.METADATA_FIELDS, "chapters")
#: Columns of a metadata CSV besides ``id``; keywords are separated by ``;``.
CSV_FIELDS = tuple(f for f in resources.METADATA_FIELDS)
#: Rows one CSV may change.
MAX_CSV_ROWS = 2000


def upload_orgs(principal: Principal) -> list[Organisation]:
    """The organisations *principal* may upload for (uploader or admin there)."""
    orgs = principal.member_orgs(Role.UPLOADER, Role.ADMIN)
    return sorted({o.id: o for o in orgs}.values(), key=lambda o: o.code)


def create_batch(
    principal: Principal,
    owner_org: str,
    visibility: Visibility,
    metadata: dict[str, Any],
) -> UploadBatch:
    """Describe a set of files to come; the caller commits.

    *metadata* holds resource fields as codes (checked by the page's form) and
    ``chapters`` as node ids.

    :raises Forbidden: when *principal* may not upload for *owner_org*.
    """
    org = resources.owner_for(principal, owner_org)
    batch = UploadBatch(
        user_id=principal.user_id,
        owner_org=org,
        metadata_={k: v for k, v in metadata.items() if k in BATCH_FIELDS},
        visibility=visibility,
    )
    db.session.add(batch)
    db.session.flush()
    return batch


def get_batch(principal: Principal, batch_id: int) -> UploadBatch:
    """*principal*'s batch *batch_id*; anyone else's does not exist for them."""
    batch = db.session.get(UploadBatch, batch_id)
    if batch is None or batch.user_id != principal.user_id:
        raise NotFound(f"There is no upload batch {batch_id} of yours.")
    return batch


def batch_uploads(batch: UploadBatch) -> list[UploadSession]:
    """The files sent for *batch*, oldest first."""
    return list(
        db.session.scalars(
            select(UploadSession)
            .where(UploadSession.batch_id == batch.id)
            .order_by(UploadSession.created_at, UploadSession.id)
        )
    )


def recent_uploads(principal: Principal, limit: int = 20) -> list[UploadSession]:
    """*principal*'s latest uploads that did not become a resource (unfinished or
    refused), newest first."""
    return list(
        db.session.scalars(
            select(UploadSession)
            .where(
                UploadSession.user_id == principal.user_id,
                UploadSession.state != UploadState.STORED,
            )
            .order_by(UploadSession.updated_at.desc())
            .limit(limit)
        )
    )


@dataclass
class Target:
    """Where a resumable upload's file goes, as :func:`check_target` found it."""

    filename: str
    #: Columns of the :class:`UploadSession`: ``batch_id`` or ``resource_id``.
    links: dict[str, int]


def check_target(principal: Principal, metadata: dict[str, str]) -> Target:
    """Check the ``Upload-Metadata`` of a new resumable upload.

    ``filename`` names the file; ``batch`` (an id of the principal's batches) or
    ``resource`` (an id of a resource the principal may change) says where it goes.

    :raises ValidationError: for a missing or bad name or destination.
    :raises NotFound: for a batch or resource that is not the principal's.
    """
    name = files.clean_filename(metadata.get("filename") or metadata.get("name"))
    batch, resource = parse_id(metadata.get("batch")), parse_id(metadata.get("resource"))
    if batch is not None:
        return Target(name, {"batch_id": get_batch(principal, batch).id})
    if resource is not None:
        return Target(
            name, {"resource_id": resources.get_for_edit(principal, resource).id}
        )
    raise ValidationError(
        "Say where the file goes: 'batch' or 'resource' in Upload-Metadata.",
        details={"field": "batch"},
    )


def receive(
    principal: Principal, upload: UploadSession, path: Path, sha256: str
) -> None:
    """Take in the complete file of *upload* and make it a resource (or a new version
    of its resource); record a refusal on the upload instead. Commits.
    """
    try:
        resource, pending = _take_in(principal, upload, path, sha256)
    except UnsupportedFile as exc:
        db.session.rollback()
        upload.state = UploadState.REFUSED
        upload.error = _reason(exc)
        db.session.commit()
        log.info("upload refused id=%s reason=%s", upload.id, upload.error)
        return
    upload.state = UploadState.STORED
    upload.resource_id = resource.id
    _commit(pending)
    log.info("upload stored id=%s resource=%d", upload.id, resource.id)


def receive_stream(
    principal: Principal,
    batch: UploadBatch,
    stream: BinaryIO,
    filename: str,
    *,
    several: bool = False,
) -> Resource:
    """Take in one file of *batch* sent in a plain form (pages without JavaScript);
    commits.

    :raises UnsupportedFile: when the file is refused (nothing is kept).
    :raises PayloadTooLarge: past ``KEJIAN_MAX_UPLOAD_MB``.
    """
    name = files.clean_filename(filename)
    blob, pending = files.ingest(stream, name)
    resource = _resource_of_batch(principal, batch, blob, name, several)
    _commit(blob.sha256 if pending else None)
    return resource


def _take_in(
    principal: Principal, upload: UploadSession, path: Path, sha256: str
) -> tuple[Resource, str | None]:
    """The resource *upload*'s file joined, and the digest a job must extract."""
    blob, pending = files.ingest_file(path, sha256, upload.length, upload.filename)
    if upload.batch is not None:
        several = _sessions_in(upload.batch) > 1
        resource = _resource_of_batch(
            principal, upload.batch, blob, upload.filename, several
        )
    else:
        resource = resources.get_for_edit(principal, upload.resource_id or 0)
        files.add_file(resource, blob, upload.filename, user_id=principal.user_id)
        indexing.mark(resource.id)
    return resource, blob.sha256 if pending else None


def _resource_of_batch(
    principal: Principal, batch: UploadBatch, blob: Any, name: str, several: bool
) -> Resource:
    """A new resource of *batch* holding *blob*; *several* when the batch has more
    than this file, so that a title given once is told apart by the file's name."""
    data = dict(batch.metadata_)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    title = data.get("title") or ""
    if not title:
        title = blob.title or stem
    elif several:
        # One title for several files: the file's name tells them apart.
        title = f"{title} · {stem}"
    data["title"] = title[:300]
    data["owner_org"] = batch.owner_org.code
    resource = resources.create(principal, data)
    files.add_file(resource, blob, name, user_id=principal.user_id)
    if batch.visibility is not Visibility.OWNER:
        resources.publish(principal, resource.id, batch.visibility)
    return resource


def _sessions_in(batch: UploadBatch) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(UploadSession)
            .where(UploadSession.batch_id == batch.id)
        )
        or 0
    )


def _commit(extract_sha256: str | None = None) -> None:
    """Commit; then a large file's extraction job and the index changes run."""
    db.session.commit()
    if extract_sha256:
        runtime().tasks["extract_file"](extract_sha256)
    indexing.after_commit()


def _reason(exc: KejianError) -> str:
    return exc.message.removeprefix("The file was refused: ").rstrip(".")


# -- metadata by CSV -------------------------------------------------------------------


@dataclass(frozen=True)
class RowProblem:
    """What is wrong in one row of a metadata CSV.

    ``kind`` is ``unknown_resource``, ``unknown_value``, ``invalid`` or ``bad_id``;
    ``message`` is the English detail (the page words the kinds in its language).
    """

    row: int
    kind: str
    field: str = ""
    value: str = ""
    message: str = ""


@dataclass
class CsvOutcome:
    applied: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    #: Columns the CSV has that are not resource fields; they are ignored.
    ignored_columns: list[str] = field(default_factory=list)


def apply_csv(principal: Principal, raw: bytes) -> CsvOutcome:
    """Set the metadata of the resources a CSV names, all rows or none; commits.

    The CSV has an ``id`` column (the resource's number) and any of
    :data:`CSV_FIELDS`; an empty cell leaves the field as it is. Vocabulary fields
    take a code or a Chinese or English label. UTF-8 (with or without BOM) or GBK.

    :raises ValidationError: when the file is not CSV text with an ``id`` column, or
        has more than :data:`MAX_CSV_ROWS` rows.
    """
    text = decode_csv(raw, "The CSV file")
    try:
        return _apply_rows(principal, csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        # A NUL byte, an unclosed quote at the end: not a CSV file.
        db.session.rollback()
        raise ValidationError(
            f"The CSV cannot be read: {exc}.", details={"problem": "unreadable"}
        ) from None


def _apply_rows(principal: Principal, reader: csv.DictReader[str]) -> CsvOutcome:
    columns = [c.strip() for c in reader.fieldnames or []]
    if "id" not in columns:
        raise ValidationError(
            "The CSV needs an 'id' column with the number of each resource.",
            details={"field": "file", "problem": "no_id_column"},
        )
    outcome = CsvOutcome(
        ignored_columns=[c for c in columns if c and c != "id" and c not in CSV_FIELDS]
    )
    changes: list[tuple[int, dict[str, Any]]] = []
    for number, row in enumerate(reader, start=2):  # row 1 is the header
        if number - 1 > MAX_CSV_ROWS:
            raise ValidationError(
                f"The CSV has more than {MAX_CSV_ROWS} rows; split it.",
                details={"field": "file", "problem": "too_many_rows"},
            )
        # Cells past the header's columns (key None) are ignored.
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        if not any(row.values()):
            continue
        change = _row_change(principal, number, row, outcome.problems)
        if change is not None:
            changes.append(change)

    if outcome.problems:
        db.session.rollback()
        return outcome
    for resource_id, data in changes:
        resources.update(principal, resource_id, data)
    outcome.applied = len(changes)
    _commit()
    return outcome


def _row_change(
    principal: Principal, number: int, row: dict[str, str], problems: list[RowProblem]
) -> tuple[int, dict[str, Any]] | None:
    from repo_app.api.schemas import ResourcePatchSchema

    raw_id = row.get("id", "")
    resource_id = parse_id(raw_id)
    if resource_id is None:
        problems.append(RowProblem(number, "bad_id", "id", raw_id))
        return None
    try:
        resources.get_for_edit(principal, resource_id)
    except KejianError:
        problems.append(RowProblem(number, "unknown_resource", "id", raw_id))
        return None

    data: dict[str, Any] = {k: row[k] for k in CSV_FIELDS if row.get(k)}
    if "keywords" in data:
        data["keywords"] = [
            k.strip()
            for k in data["keywords"].replace("；", ";").split(";")
            if k.strip()
        ]
    try:
        loaded: dict[str, Any] = ResourcePatchSchema().load(data)
    except SchemaError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {}
        for name, text in messages.items():
            kind = "unknown_value" if "Unknown value" in str(text) else "invalid"
            problems.append(
                RowProblem(number, kind, name, str(row.get(name, "")), _flat(text))
            )
        return None
    return resource_id, loaded


def _flat(text: Any) -> str:
    return " ".join(str(t) for t in text) if isinstance(text, list) else str(text)


def csv_of(principal: Principal) -> str:
    """A metadata CSV of *principal*'s own resources (codes as stored), to edit and
    send back to :func:`apply_csv`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", *CSV_FIELDS])
    mine = db.session.scalars(
        select(Resource)
        .where(Resource.uploader_id == principal.user_id)
        .order_by(Resource.id)
    )
    for resource in mine:
        values = [getattr(resource, name) for name in CSV_FIELDS]
        writer.writerow(
            [
                resource.id,
                *(
                    ";".join(v) if isinstance(v, list) else ("" if v is None else v)
                    for v in values
                ),
            ]
        )
    # A BOM, so that Excel on a Chinese Windows opens it as UTF-8.
    return "\ufeff" + out.getvalue()


# -- the chapter picker ----------------------------------------------------------------


@dataclass
class ChapterBranch:
    """A chapter node with the nodes below it, for a tree of choices."""

    id: int
    title: str
    children: list[ChapterBranch] = field(default_factory=list)


def chapter_trees() -> list[tuple[str, list[ChapterBranch]]]:
    """Every textbook that has chapters, with its tree: ``(textbook key, roots)``."""
    rows = db.session.scalars(
        select(ChapterNode).order_by(ChapterNode.textbook, ChapterNode.position)
    ).all()
    branches = {row.id: ChapterBranch(row.id, row.title) for row in rows}
    trees: dict[str, list[ChapterBranch]] = {}
    for row in rows:
        roots = trees.setdefault(row.textbook, [])
        parent = branches.get(row.parent_id) if row.parent_id else None
        (parent.children if parent else roots).append(branches[row.id])
    return list(trees.items())


def chapter_textbooks(ids: list[int]) -> dict[int, str]:
    """The textbook key of each chapter node id that exists."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(ChapterNode.id, ChapterNode.textbook).where(ChapterNode.id.in_(ids))
    )
    return {row.id: row.textbook for row in rows}
