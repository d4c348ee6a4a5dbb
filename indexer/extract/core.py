"""Type sniffing and text extraction for uploaded courseware.

:func:`extract` is what the upload pipeline calls for every file: it decides, from
the content, what the file is, whether the repository may store it, and what text,
title and outline the search index gets. It never raises for bad content. Every
outcome is a :class:`Extraction` whose ``status`` says what happened:

``ok``
    Read as expected. ``problems`` may still hold notes (a misleading extension).
``partial``
    Stored, but some content could not be read: a scanned PDF without a text layer,
    a password-protected document, a truncated MP3 that still plays, a legacy
    ``.doc`` without LibreOffice, text cut at the size or time limit.
``rejected``
    Refused: an empty file, content of no recognised type, a program, a damaged
    document no parser opens, a package whose manifest an LMS could not find, a zip
    bomb. ``problems`` says why and, where possible, what the uploader can do.

Problems are short English sentences meant for the uploader.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.extract.cjk import clean_text, guess_language
from indexer.extract.job import Job, Source
from indexer.extract.media import inspect_audio_video, inspect_image
from indexer.extract.sniffing import (
    ENCRYPTED_OOXML_MIME,
    EXECUTABLE_MIMES,
    EXTENSION_MIMES,
    KINDS,
    LEGACY_OFFICE_MIMES,
    OOXML_MIMES,
    kind_for,
    sniff_source,
)
from indexer.extract.text import extract_text

__all__ = [
    "KINDS",
    "PACKAGE_TYPES",
    "STATUSES",
    "Extraction",
    "Limits",
    "extract",
    "sniff",
]

logger = logging.getLogger(__name__)

STATUSES = ("ok", "partial", "rejected")
PACKAGE_TYPES = (
    "scorm12",
    "scorm2004",
    "imscc",
    "qti12",
    "qti21",
    "cmi5",
    "aicc",
    "ims-cp",
)

_MAX_TITLE_CHARS = 300
_CFB_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_LABELS = {
    "pdf": "PDF",
    "document": "document",
    "presentation": "presentation",
    "spreadsheet": "spreadsheet",
    "package": "package",
    "video": "video",
    "audio": "audio file",
    "image": "image",
    "text": "text file",
    "archive": "archive",
    "other": "file",
}


@dataclass
class Limits:
    """Resource limits for reading one file; exceeding one never crashes a worker."""

    #: Wall time per file, checked between pages, slides, sheets and zip entries.
    max_seconds: float = 60.0
    #: Extracted text is cut to this many characters.
    max_text_chars: int = 2_000_000
    #: Zip archives (packages, OOXML, ODF) with more entries are refused.
    max_zip_members: int = 20_000
    #: Refuse zips whose entries inflate to more than this, declared or counted.
    max_zip_total_bytes: int = 2 * 1024**3
    #: Refuse zips where an entry, or the whole, expands more than this (zip bombs).
    max_zip_ratio: float = 200.0
    #: Entries of a zip larger than this are not read for text.
    max_member_bytes: int = 200 * 1024**2


@dataclass
class Extraction:
    """What :func:`extract` learned about one file."""

    #: MIME type sniffed from the content (zip packages are ``application/zip``).
    mime: str
    #: One of :data:`KINDS`.
    kind: str
    #: For ``kind == "package"``: one of :data:`PACKAGE_TYPES`, else ``None``.
    package_type: str | None = None
    #: From document metadata, the package manifest, a first heading or JSON title.
    title: str | None = None
    #: Extracted text, cleaned (see :func:`indexer.extract.cjk.clean_text`).
    text: str = ""
    #: ``"zh"``, ``"en"``, ... guessed from the text's scripts; ``None`` without text.
    language: str | None = None
    #: Pages of a PDF or document, slides of a presentation, when known.
    pages: int | None = None
    duration_seconds: float | None = None
    #: Packages: organisation tree of ``{"title", "href", "children"}`` nodes.
    outline: list[dict[str, Any]] = field(default_factory=list)
    encrypted: bool = False
    #: One of :data:`STATUSES`; see the module documentation.
    status: str = "ok"
    #: Short English sentences for the uploader: what is wrong, what to do.
    problems: list[str] = field(default_factory=list)
    #: Author, dates, producer, sizes, ... when cheaply available.
    metadata: dict[str, Any] = field(default_factory=dict)


def sniff(path: Path, filename: str | None = None) -> tuple[str, str]:
    """``(mime, kind)`` of the file at ``path``, judged by its content.

    :param filename: the name the uploader gave; its extension only breaks ties
        content cannot settle (Markdown vs plain text, which OOXML format an
        encrypted file is).
    :raises OSError: when ``path`` cannot be read.
    """
    path = Path(path)
    mime, kind, _ = sniff_source(Source(name=filename or path.name, path=path))
    return mime, kind


def extract(
    path: Path, filename: str | None = None, limits: Limits | None = None
) -> Extraction:
    """Sniff, check and read the file at ``path``.

    :param filename: the name the uploader gave (see :func:`sniff`); also used in
        problems about a misleading extension.
    :param limits: resource limits; :class:`Limits` defaults when ``None``.
    :raises OSError: only when ``path`` itself cannot be read.
    """
    path = Path(path)
    limits = limits if limits is not None else Limits()
    src = Source(name=filename or path.name, path=path)

    # Libraries warn freely about the oddities of real-world files; whatever matters
    # ends up in ``problems`` instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mime, kind, package_type = sniff_source(src)
        result = Extraction(mime=mime, kind=kind, package_type=package_type)
        job = Job(result, limits)
        if _admit(src, job):
            _note_misleading_extension(src, job)
            _read_guarded(src, job)

        _finish(job)

    return result


def _admit(src: Source, job: Job) -> bool:
    """Refuse what no reader should see; ``True`` when the file may be read."""
    mime = job.result.mime
    if mime == "inode/x-empty":
        job.reject("the file is empty")
    elif mime.startswith("inode/"):
        job.reject(f"not a regular file ({mime})")
    elif mime in EXECUTABLE_MIMES:
        job.reject(f"programs ({mime}) are not accepted as courseware")
    elif mime == "application/octet-stream":
        job.reject(
            "the content is not a recognised file type (it may be damaged or "
            "encrypted); upload it in a common format such as PDF, DOCX or MP4"
        )
    else:
        return True

    return False


def _note_misleading_extension(src: Source, job: Job) -> None:
    expected = EXTENSION_MIMES.get(src.suffix)
    mime, kind = job.result.mime, job.result.kind
    if expected is None or expected == mime:
        return

    if kind_for(expected) != kind or kind in (
        "document",
        "presentation",
        "spreadsheet",
    ):
        job.note(
            f"the file name ends in {src.suffix} but the content is {mime}; it was "
            "read as what the content is"
        )


def _read_guarded(src: Source, job: Job) -> None:
    """Run the reader; turn any failure into a partial or rejected result."""
    collected = job.sink.chars
    try:
        _read(src, job)
    except Exception as exc:  # a reader failing on hostile input must not crash us
        logger.warning(
            "extract failed: name=%r mime=%s error=%r",
            src.name,
            job.result.mime,
            exc,
            exc_info=True,
        )
        label = _LABELS.get(job.result.kind, "file")
        detail = f"{type(exc).__name__}: {exc}"[:160]
        message = f"the {label} is damaged and could not be fully read ({detail})"
        if job.sink.chars > collected or job.result.kind in ("audio", "video", "image"):
            job.partial(message)
        else:
            job.reject(message + "; save or export it again")


def _read(src: Source, job: Job) -> None:
    # The readers import their parsers (pdfium, python-docx, openpyxl, ...) when a
    # file first needs them: a process that only sniffs, such as the web server or a
    # command, starts about a second sooner without them.
    from indexer.extract.office import (
        extract_docx,
        extract_encrypted_ooxml,
        extract_legacy,
        extract_odf,
        extract_pptx,
        extract_xlsx,
    )
    from indexer.extract.packages import extract_archive, extract_epub, extract_package
    from indexer.extract.pdf import extract_pdf

    mime, kind = job.result.mime, job.result.kind
    if kind == "pdf":
        extract_pdf(src, job)
    elif mime == ENCRYPTED_OOXML_MIME or (
        mime in OOXML_MIMES and src.head(8) == _CFB_SIGNATURE
    ):
        extract_encrypted_ooxml(src, job)
    elif mime in OOXML_MIMES:
        reader = {
            "document": extract_docx,
            "presentation": extract_pptx,
            "spreadsheet": extract_xlsx,
        }[kind]
        reader(src, job)
    elif mime.startswith("application/vnd.oasis.opendocument.") and kind != "other":
        extract_odf(src, job)
    elif mime in LEGACY_OFFICE_MIMES:
        extract_legacy(src, job)
    elif mime == "application/epub+zip":
        extract_epub(src, job)
    elif kind == "package":
        extract_package(src, job, _read_member)
    elif kind == "archive" and mime == "application/zip":
        extract_archive(src, job, _read_member)
    elif kind == "text" or mime == "text/csv":
        extract_text(src, job)
    elif kind in ("audio", "video"):
        inspect_audio_video(src, job)
    elif kind == "image":
        inspect_image(src, job)


def _read_member(src: Source, mime: str, kind: str, job: Job) -> None:
    """Read a document found inside a package with the matching reader."""
    if kind in ("package", "archive"):
        # Zips inside zips are not opened: that is how nested zip bombs work.
        return

    _read_guarded(src, job)


def _finish(job: Job) -> None:
    """Clean the text and fill the fields derived from it."""
    result = job.result
    limit = job.limits.max_text_chars
    text = clean_text(job.sink.text())
    if len(text) > limit or job.sink.truncated:
        text = text[:limit]
        job.partial(f"the text was cut to its first {limit:,} characters")

    result.text = text
    result.language = guess_language(text) if text else None
    if result.title is not None:
        title = " ".join(clean_text(result.title).split())[:_MAX_TITLE_CHARS]
        result.title = title or None
