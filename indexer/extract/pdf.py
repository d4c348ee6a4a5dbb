"""PDF text, page count and metadata.

PDFium (pypdfium2) reads first: it is fast, repairs damaged cross-reference tables
the way browsers do, and maps Chinese fonts to Unicode better than the pure-Python
parsers. pypdf is the fallback for files PDFium will not open at all.

PDFium is not thread-safe: run extractions in separate processes (the task queue
does), not in threads of one process. Every page and text page object is closed
before the next is opened; a page object dropped while its handle is still in use
crashes the interpreter.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any

import pypdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from indexer.extract.job import Job, Source

__all__ = ["extract_pdf"]

_PASSWORD_PROBLEM = (
    "encrypted with a password; text not indexed (upload a copy saved without a "
    "password to make it searchable)"
)
_SCANNED_PROBLEM = (
    "no text layer (scanned pages); the text is not searchable until the PDF is run "
    "through OCR, e.g. OCRmyPDF"
)
_METADATA_KEYS = {
    "Author": "author",
    "Subject": "subject",
    "Keywords": "keywords",
    "Creator": "creator",
    "Producer": "producer",
    "CreationDate": "created",
    "ModDate": "modified",
}
_PDF_DATE_RE = re.compile(
    r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?"
    r"(?:(Z)|([+-])(\d{2})'?(\d{2})?'?)?"
)


def extract_pdf(src: Source, job: Job) -> None:
    """Read a PDF into ``job``."""
    try:
        document = pdfium.PdfDocument(_pdfium_input(src))
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            _password_protected(src, job)
        else:
            _with_pypdf(src, job)
        return

    try:
        _with_pdfium(document, job)
    finally:
        document.close()


def _pdfium_input(src: Source) -> str | bytes:
    if src.data is not None:
        return src.data

    assert src.path is not None
    return str(src.path)


def _with_pdfium(document: pdfium.PdfDocument, job: Job) -> None:
    result = job.result
    count = len(document)
    result.pages = count

    # A security handler on a file that opened without a password means the owner
    # only restricted permissions (copying, printing): the text is readable.
    if pdfium_c.FPDF_GetSecurityHandlerRevision(document.raw) != -1:
        result.encrypted = True
        result.metadata["permissions"] = pdfium_c.FPDF_GetDocPermissions(document.raw)

    metadata = document.get_metadata_dict(skip_empty=True)
    _store_metadata(metadata, job)

    pages_with_text = 0
    pages_with_content = 0
    unreadable = 0
    for index in range(count):
        if job.out_of_time():
            job.stopped(f"after page {index} of {count}")
            return

        try:
            text, objects = _page_text(document, index)
        except pdfium.PdfiumError:
            unreadable += 1
            continue

        pages_with_content += objects > 0
        if text.strip():
            pages_with_text += 1

        # A blank line between pages keeps their text from running together.
        if not job.add_text(text + "\n\n"):
            return

    if unreadable:
        job.partial(f"{unreadable} of {count} pages could not be read")

    if pages_with_text:
        return

    if count == 0:
        job.reject("the PDF has no pages")
    elif unreadable == count:
        job.reject("none of the PDF's pages can be read: the file is damaged")
    elif pages_with_content == 0:
        job.reject(
            "the PDF has no visible content: its pages are empty or damaged; "
            "export or scan it again"
        )
    else:
        job.partial(_SCANNED_PROBLEM)


def _page_text(document: pdfium.PdfDocument, index: int) -> tuple[str, int]:
    page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range()
        finally:
            textpage.close()

        objects = pdfium_c.FPDFPage_CountObjects(page.raw)
    finally:
        page.close()

    return text, objects


def _password_protected(src: Source, job: Job) -> None:
    job.result.encrypted = True
    job.partial(_PASSWORD_PROBLEM)

    # The encryption dictionary itself is never encrypted: say how it is protected.
    try:
        with _quiet(), src.open() as stream:
            reader = pypdf.PdfReader(stream, strict=False)
            encrypt = reader.trailer["/Encrypt"].get_object()
            assert isinstance(encrypt, dict)
            job.result.metadata["encryption"] = {
                "filter": str(encrypt.get("/Filter", "")).lstrip("/"),
                "version": int(encrypt.get("/V", 0)),
                "revision": int(encrypt.get("/R", 0)),
                "key_bits": int(encrypt.get("/Length", 40)),
            }
    except Exception:  # the description is optional
        return


def _with_pypdf(src: Source, job: Job) -> None:
    """Lenient pure-Python reading, for files PDFium refuses."""
    damaged = (
        "the PDF is damaged and cannot be opened; export it again from the program "
        "that made it"
    )
    read = 0
    try:
        with _quiet(), src.open() as stream:
            reader = pypdf.PdfReader(stream, strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                _password_protected(src, job)
                return

            count = len(reader.pages)
            job.result.pages = count
            metadata: dict[str, Any] = dict(reader.metadata or {})
            _store_metadata(
                {str(key).lstrip("/"): str(value) for key, value in metadata.items()},
                job,
            )

            for index, page in enumerate(reader.pages):
                if job.out_of_time():
                    job.stopped(f"after page {index} of {count}")
                    break

                text = page.extract_text() or ""
                read += bool(text.strip())
                if not job.add_text(text + "\n\n"):
                    break
    except Exception:  # any parser error means the same to the user
        if not read:
            job.result.pages = None

    if not read:
        job.reject(damaged)
        return

    job.partial(
        "the PDF is damaged; its text was recovered, but some viewers may not open it"
    )


def _store_metadata(metadata: dict[str, Any], job: Job) -> None:
    title = str(metadata.get("Title") or "").strip()
    if title:
        job.result.title = title

    for key, name in _METADATA_KEYS.items():
        value = str(metadata.get(key) or "").strip()
        if not value:
            continue

        if name in ("created", "modified"):
            value = pdf_date(value)

        job.result.metadata[name] = value


def pdf_date(value: str) -> str:
    """A PDF date (``D:20151123102642+02'00'``) as ISO 8601, or as given."""
    match = _PDF_DATE_RE.match(value)
    if match is None:
        return value

    year, month, day, hour, minute, second, zulu, sign, tz_hour, tz_minute = (
        match.groups()
    )
    text = f"{year}-{month or '01'}-{day or '01'}"
    if hour is not None:
        text += f"T{hour}:{minute or '00'}:{second or '00'}"
        if zulu:
            text += "+00:00"
        elif sign:
            text += f"{sign}{tz_hour}:{tz_minute or '00'}"

    return text


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence pypdf's warnings about damaged files; the result reports them."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
