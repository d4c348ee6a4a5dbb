"""Bulk import of a folder of courseware (``kejian import``).

Each file is hashed, checked and stored on its own, and its outcome is committed with
an :class:`~repo_app.models.ImportRecord` before the next file starts. A second run
therefore imports nothing new, a run that was killed resumes where it stopped, and one
bad file never stops the batch. A file refused for its metadata row is not recorded,
so that it comes in once the row is corrected.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from marshmallow import ValidationError as SchemaError
from sqlalchemy import select

from repo_app.api.schemas import ResourceInSchema
from repo_app.errors import KejianError, PayloadTooLarge, ValidationError
from repo_app.extensions import db
from repo_app.models import ImportRecord, Organisation, Resource, Status, User, Visibility
from repo_app.runtime import runtime
from repo_app.services import files, indexing

log = logging.getLogger("kejian.import")

#: Index delivery happens every this many files, so search catches up during a long
#: import without paying a commit of the index for every file.
INDEX_EVERY = 25

#: The resource type (a code of the ``resource_types`` vocabulary) an imported file of
#: each sniffed kind gets when its metadata row names none.
_TYPE_BY_KIND = {
    "presentation": "courseware",
    "video": "micro-lecture",
    "package": "course-package",
    "image": "media-asset",
    "audio": "media-asset",
}

_CSV_FIELDS = ("title", "description", "keywords", "language", "stage", "grade", "subject",
               "edition", "volume", "resource_type", "licence")


@dataclass
class ImportSummary:
    imported: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    #: ``path`` values of the metadata CSV that named no file of the import.
    unmatched_rows: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "already_imported": self.skipped,
            "rejected": self.rejected,
            "metadata_rows_without_file": self.unmatched_rows,
            "counts": {
                "imported": len(self.imported),
                "duplicates": len(self.duplicates),
                "already_imported": len(self.skipped),
                "rejected": len(self.rejected),
            },
        }


def iter_files(paths: list[Path]) -> Iterator[tuple[Path, Path]]:
    """Yield (file, root) for every regular file under *paths*, in a stable order.

    Hidden files and folders (``.git``, ``.DS_Store``) are skipped.
    """
    for root in paths:
        if root.is_file():
            yield root, root.parent
            continue
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if any(part.startswith(".") for part in rel.parts):
                continue
            if path.is_file() and not path.is_symlink():
                yield path, root


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def decode_csv(raw: bytes, what: str) -> str:
    """The text of a CSV file: UTF-8 with or without BOM, or GBK as Excel writes it
    in China.

    :raises ValidationError: naming *what* when it is neither.
    """
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError(
        f"{what} is neither UTF-8 nor GBK text.", details={"problem": "encoding"}
    )


def read_metadata(csv_path: Path) -> dict[str, dict[str, str]]:
    """Read a metadata CSV keyed by ``path`` (relative to the import root or a bare
    file name). UTF-8 with or without BOM, or GBK as Excel writes it in China.

    :raises ValidationError: when the file has no ``path`` column.
    """
    text = decode_csv(csv_path.read_bytes(), str(csv_path))
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "path" not in reader.fieldnames:
        raise ValidationError(f"{csv_path} needs a 'path' column naming each file.")
    rows: dict[str, dict[str, str]] = {}
    for row in reader:
        key = (row.get("path") or "").strip().replace("\\", "/")
        if key:
            rows[key] = {k: (v or "").strip() for k, v in row.items() if k}
    return rows


def _metadata_for(row: dict[str, str] | None) -> dict[str, Any]:
    if not row:
        return {}
    data: dict[str, Any] = {k: row[k] for k in _CSV_FIELDS if row.get(k)}
    if "keywords" in data:
        data["keywords"] = [k.strip() for k in data["keywords"].replace("；", ";").split(";") if k.strip()]
    if not data:
        return {}
    data.setdefault("title", "untitled")
    try:
        loaded = ResourceInSchema().load(data)
    except SchemaError as exc:
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.messages.items())  # type: ignore[union-attr]
        raise ValidationError(f"metadata row: {problems}") from None
    if row.get("title"):
        return loaded
    loaded.pop("title", None)
    return loaded


def run_import(
    paths: list[Path],
    org: Organisation,
    *,
    visibility: Visibility,
    metadata: dict[str, dict[str, str]] | None = None,
    uploader: User | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportSummary:
    """Import every file under *paths* into *org*, published at *visibility*."""
    summary = ImportSummary()
    metadata = metadata or {}
    seen: dict[str, str] = {}
    named: set[str] = set()
    since_index = 0
    limit = runtime().settings.max_upload_bytes

    for path, root in iter_files(paths):
        rel = path.relative_to(root).as_posix()
        named.update({rel, path.name} & metadata.keys())
        entry: dict[str, Any] = {"path": str(path)}
        try:
            sha256 = sha256_of(path)
        except OSError as exc:
            summary.rejected.append({**entry, "reason": f"cannot be read: {exc.strerror}"})
            if progress:
                progress(rel)
            continue
        entry["sha256"] = sha256

        previous = db.session.scalar(
            select(ImportRecord).where(ImportRecord.org_id == org.id, ImportRecord.sha256 == sha256)
        )
        if sha256 in seen:
            summary.duplicates.append({**entry, "same_as": seen[sha256]})
        elif previous is not None:
            summary.skipped.append({**entry, "outcome": previous.outcome, "resource_id": previous.resource_id})
        else:
            seen[sha256] = str(path)
            outcome = _import_one(path, rel, sha256, org, visibility, metadata, uploader, limit)
            (summary.imported if outcome.get("resource_id") else summary.rejected).append(
                {**entry, **outcome}
            )
            since_index += 1
            if since_index >= INDEX_EVERY:
                indexing.after_commit()
                since_index = 0
        if progress:
            progress(rel)

    indexing.after_commit()
    summary.unmatched_rows = sorted(metadata.keys() - named)
    log.info(
        "import finished org=%s imported=%d duplicates=%d already_imported=%d rejected=%d",
        org.code, len(summary.imported), len(summary.duplicates), len(summary.skipped),
        len(summary.rejected),
    )
    return summary


def _import_one(path: Path, rel: str, sha256: str, org: Organisation, visibility: Visibility,
                metadata: dict[str, dict[str, str]], uploader: User | None,
                limit: int) -> dict[str, Any]:
    name = path.name
    try:
        meta = _metadata_for(metadata.get(rel) or metadata.get(name))
    except ValidationError as exc:
        # Not recorded: the row is at fault, not the file, so a run with the row
        # corrected imports it.
        return {"reason": exc.message}
    try:
        if path.stat().st_size > limit:
            raise PayloadTooLarge(f"larger than the limit of {limit // 2**20} MB")
        with path.open("rb") as fh:
            blob, pending = files.ingest(fh, files.clean_filename(name))
    except KejianError as exc:
        db.session.rollback()
        reason = exc.message.removeprefix("The file was refused: ").rstrip(".")
        db.session.add(ImportRecord(org_id=org.id, sha256=sha256, source_path=str(path),
                                    outcome="rejected", reason=reason))
        db.session.commit()
        return {"reason": reason}

    now = datetime.now(UTC)
    resource = Resource(
        title=(meta.pop("title", None) or blob.title or path.stem)[:300],
        owner_org=org,
        uploader=uploader,
        language=blob.language,
        resource_type=_TYPE_BY_KIND.get(blob.kind),
        status=Status.PUBLISHED,
        visibility=visibility,
        published_at=now,
    )
    for key, value in meta.items():
        if key == "chapters":
            continue
        setattr(resource, key, value)
    db.session.add(resource)
    files.add_file(resource, blob, files.clean_filename(name), user_id=uploader.id if uploader else None,
                   note="imported")
    db.session.flush()
    db.session.add(ImportRecord(org_id=org.id, sha256=sha256, source_path=str(path),
                                outcome="imported", resource_id=resource.id))
    indexing.mark(resource.id)
    db.session.commit()
    if pending:
        runtime().tasks["extract_file"](blob.sha256)
    result: dict[str, Any] = {"resource_id": resource.id, "mime": blob.mime, "kind": blob.kind,
                              "extraction": blob.extraction}
    if blob.problems:
        result["problems"] = list(blob.problems)
    return result
