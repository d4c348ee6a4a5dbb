"""What a file is, judged by its content.

Uploaders rename files, and browsers send whatever type the extension suggests, so
the type is decided from the bytes: libmagic first, then a look inside zip files,
because every OOXML, ODF, EPUB, SCORM and Common Cartridge file is "a zip" to
libmagic. The extension only breaks ties that content cannot settle: which text
format a text file is (Markdown looks like LaTeX to libmagic), and which OOXML format
a password-encrypted file is (encryption hides the package inside).

Kinds form a small closed set, :data:`KINDS`; see :func:`kind_for`.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable

import magic
from lxml import etree

from indexer.extract.job import Source
from indexer.extract.xmlsafe import local_name, parse_xml

__all__ = [
    "ARCHIVE_MIMES",
    "ENCRYPTED_OOXML_MIME",
    "EXECUTABLE_MIMES",
    "EXTENSION_MIMES",
    "KINDS",
    "LEGACY_OFFICE_MIMES",
    "OOXML_MIMES",
    "kind_for",
    "sniff_source",
]

#: Every kind :func:`kind_for` returns.
#:
#: ``pdf``; ``document`` (DOCX, ODT, legacy DOC, RTF, EPUB); ``presentation`` (PPTX,
#: ODP, PPT); ``spreadsheet`` (XLSX, ODS, XLS, CSV); ``package`` (a zip with an IMS
#: manifest, cmi5.xml or AICC descriptors: SCORM, Common Cartridge, QTI, ...);
#: ``video``; ``audio``; ``image`` (SVG included); ``text`` (plain, Markdown, HTML,
#: JSON, XML, subtitles); ``archive`` (any other zip, 7z, rar, tar, ...); ``other``
#: (everything else, including unrecognised content).
KINDS = (
    "pdf",
    "document",
    "presentation",
    "spreadsheet",
    "package",
    "video",
    "audio",
    "image",
    "text",
    "archive",
    "other",
)

_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_DOTX = "application/vnd.openxmlformats-officedocument.wordprocessingml.template"
_DOCM = "application/vnd.ms-word.document.macroEnabled.12"
_PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_PPSX = "application/vnd.openxmlformats-officedocument.presentationml.slideshow"
_POTX = "application/vnd.openxmlformats-officedocument.presentationml.template"
_PPTM = "application/vnd.ms-powerpoint.presentation.macroEnabled.12"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_XLTX = "application/vnd.openxmlformats-officedocument.spreadsheetml.template"
_XLSM = "application/vnd.ms-excel.sheet.macroEnabled.12"

_OPENXML = "application/vnd.openxmlformats-officedocument."

#: Main-part content type in ``[Content_Types].xml`` -> file MIME type.
_OOXML_MAIN_PARTS = {
    _OPENXML + "wordprocessingml.document.main+xml": _DOCX,
    _OPENXML + "wordprocessingml.template.main+xml": _DOTX,
    "application/vnd.ms-word.document.macroEnabled.main+xml": _DOCM,
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml": _DOCM,
    _OPENXML + "presentationml.presentation.main+xml": _PPTX,
    _OPENXML + "presentationml.slideshow.main+xml": _PPSX,
    _OPENXML + "presentationml.template.main+xml": _POTX,
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml": _PPTM,
    "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml": _PPTM,
    _OPENXML + "spreadsheetml.sheet.main+xml": _XLSX,
    _OPENXML + "spreadsheetml.template.main+xml": _XLTX,
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": _XLSM,
}

#: OOXML file MIME type -> kind.
OOXML_MIMES = {
    _DOCX: "document",
    _DOTX: "document",
    _DOCM: "document",
    _PPTX: "presentation",
    _PPSX: "presentation",
    _POTX: "presentation",
    _PPTM: "presentation",
    _XLSX: "spreadsheet",
    _XLTX: "spreadsheet",
    _XLSM: "spreadsheet",
}

#: Binary formats from before OOXML; their text needs LibreOffice.
LEGACY_OFFICE_MIMES = {
    "application/msword": "document",
    "application/vnd.ms-excel": "spreadsheet",
    "application/vnd.ms-powerpoint": "presentation",
    "application/rtf": "document",
    "text/rtf": "document",
}

#: What libmagic calls a password-encrypted OOXML file (an OLE2 "EncryptedPackage").
ENCRYPTED_OOXML_MIME = "application/encrypted"

_ODF_KINDS = {
    "text": "document",
    "text-template": "document",
    "text-master": "document",
    "presentation": "presentation",
    "presentation-template": "presentation",
    "spreadsheet": "spreadsheet",
    "spreadsheet-template": "spreadsheet",
}

ARCHIVE_MIMES = frozenset(
    {
        "application/zip",
        "application/x-7z-compressed",
        "application/x-rar",
        "application/vnd.rar",
        "application/x-tar",
        "application/gzip",
        "application/x-gzip",
        "application/x-bzip2",
        "application/x-xz",
        "application/zstd",
    }
)

#: Programs are never accepted as courseware.
EXECUTABLE_MIMES = frozenset(
    {
        "application/x-dosexec",
        "application/x-executable",
        "application/x-pie-executable",
        "application/x-sharedlib",
        "application/x-mach-binary",
        "application/x-msi",
        "application/x-msdownload",
        "application/vnd.microsoft.portable-executable",
    }
)

_TEXT_APPLICATION_MIMES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/xhtml+xml",
        "application/x-subrip",
        "application/javascript",
        "application/x-ndjson",
    }
)

#: Extensions that settle which text format a text file is.
_TEXT_EXTENSIONS = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".json": "application/json",
    ".csv": "text/csv",
    ".vtt": "text/vtt",
    ".srt": "application/x-subrip",
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "application/xhtml+xml",
    ".txt": "text/plain",
    ".xml": "text/xml",
}

#: Extensions of formats whose content we recognise -> the MIME type the content of
#: such a file should have; used to tell the uploader when name and content disagree.
EXTENSION_MIMES = {
    ".pdf": "application/pdf",
    ".docx": _DOCX,
    ".dotx": _DOTX,
    ".docm": _DOCM,
    ".pptx": _PPTX,
    ".ppsx": _PPSX,
    ".potx": _POTX,
    ".pptm": _PPTM,
    ".xlsx": _XLSX,
    ".xltx": _XLTX,
    ".xlsm": _XLSM,
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".ppt": "application/vnd.ms-powerpoint",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".epub": "application/epub+zip",
}

#: libmagic names that mean the same as a name used elsewhere in this package.
_ALIASES = {
    "application/x-zip-compressed": "application/zip",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "text/xhtml": "application/xhtml+xml",
    "image/svg": "image/svg+xml",
}

_ZIP_MIMES = frozenset(
    {
        "application/zip",
        "application/octet-stream",
        "application/java-archive",
        "application/epub+zip",
        *OOXML_MIMES,
        *(f"application/vnd.oasis.opendocument.{name}" for name in _ODF_KINDS),
    }
)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
_EMPTY_ZIP_SIGNATURE = b"PK\x05\x06"
_AICC_DESCRIPTORS = (".crs", ".au", ".des", ".cst")
_MIMETYPE_RE = re.compile(rb"^[\x21-\x7e]{3,100}$")


def kind_for(mime: str) -> str:
    """The kind (one of :data:`KINDS`) of content of type ``mime``.

    Packages are only recognised by looking inside the zip (:func:`sniff_source`); by
    MIME type alone a zip is an ``archive``.
    """
    if mime == "application/pdf":
        return "pdf"

    if mime in OOXML_MIMES:
        return OOXML_MIMES[mime]

    if mime in LEGACY_OFFICE_MIMES:
        return LEGACY_OFFICE_MIMES[mime]

    if mime.startswith("application/vnd.oasis.opendocument."):
        return _ODF_KINDS.get(mime.rsplit(".", 1)[-1], "other")

    if mime == "application/epub+zip":
        return "document"

    if mime == "text/csv":
        return "spreadsheet"

    for prefix, kind in (("image/", "image"), ("audio/", "audio"), ("video/", "video")):
        if mime.startswith(prefix):
            return kind

    if mime.startswith("text/") or mime in _TEXT_APPLICATION_MIMES:
        return "text"

    if mime in ARCHIVE_MIMES:
        return "archive"

    return "other"


def sniff_source(src: Source) -> tuple[str, str, str | None]:
    """``(mime, kind, package_type)`` of ``src``, from its content.

    ``package_type`` is set for packages whose type the root descriptor names
    (see :func:`classify_zip`).
    """
    if src.size == 0:
        return "inode/x-empty", "other", None

    mime = _magic_mime(src)
    head = src.head(16)

    if mime in _ZIP_MIMES and head.startswith((_ZIP_SIGNATURE, _EMPTY_ZIP_SIGNATURE)):
        zipped = _sniff_zip(src)
        if zipped is not None:
            return zipped

        # A zip without a readable directory (truncated upload): trust libmagic's
        # reading of the first entry; extraction will refuse it.
        if mime == "application/octet-stream":
            mime = "application/zip"

    elif mime == ENCRYPTED_OOXML_MIME:
        # Encryption hides which OOXML format this is; only the name can tell.
        by_name = EXTENSION_MIMES.get(src.suffix)
        if by_name in OOXML_MIMES:
            mime = by_name

    elif mime == "application/octet-stream":
        mime = _sniff_signature(head)

    elif kind_for(mime) == "text" and mime != "image/svg+xml":
        mime = _TEXT_EXTENSIONS.get(src.suffix, mime)

    return mime, kind_for(mime), None


def _magic_mime(src: Source) -> str:
    try:
        if src.path is not None:
            mime = magic.from_file(str(src.path), mime=True)
        else:
            assert src.data is not None
            mime = magic.from_buffer(src.data, mime=True)
    except magic.MagicException:
        return "application/octet-stream"

    return _ALIASES.get(mime, mime)


def _sniff_signature(head: bytes) -> str:
    """Formats libmagic gives up on when the file is damaged after its signature."""
    if head.startswith(_PNG_SIGNATURE):
        return "image/png"

    if head.startswith(b"ID3"):
        return "audio/mpeg"

    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"

    if head.startswith(_ZIP_SIGNATURE):
        return "application/zip"

    return "application/octet-stream"


def _sniff_zip(src: Source) -> tuple[str, str, str | None] | None:
    try:
        with src.open() as stream, zipfile.ZipFile(stream) as archive:
            return classify_zip(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
        return None


def classify_zip(archive: zipfile.ZipFile) -> tuple[str, str, str | None]:
    """``(mime, kind, package_type)`` of an open zip, from the entries it holds.

    Only small descriptor entries are read (``mimetype``, ``[Content_Types].xml``,
    ``imsmanifest.xml``); extraction does the full, limited reading.
    """
    names = {info.filename.replace("\\", "/"): info for info in archive.infolist()}

    mimetype = names.get("mimetype")
    if mimetype is not None and mimetype.file_size <= 100:
        declared = _read_small(archive, mimetype, 100).strip()
        if _MIMETYPE_RE.match(declared):
            mime = declared.decode("ascii")
            if mime.startswith("application/vnd.oasis.opendocument.") or (
                mime == "application/epub+zip"
            ):
                return mime, kind_for(mime), None

    content_types = names.get("[Content_Types].xml")
    if content_types is not None:
        ooxml = _ooxml_mime(archive, content_types, names)
        if ooxml is not None:
            return ooxml, OOXML_MIMES[ooxml], None

    roots = {name.lower(): name for name in names if "/" not in name.rstrip("/")}
    if "cmi5.xml" in roots:
        return "application/zip", "package", "cmi5"

    if "imsmanifest.xml" in roots:
        return "application/zip", "package", None

    if any(name.endswith(_AICC_DESCRIPTORS) for name in roots):
        return "application/zip", "package", "aicc"

    # A package zipped one folder too deep still claims to be a package: extraction
    # refuses it with the fix, rather than storing a SCORM course as a plain zip.
    if any(_is_nested_descriptor(name) for name in names):
        return "application/zip", "package", None

    return "application/zip", "archive", None


def _is_nested_descriptor(name: str) -> bool:
    base = name.rsplit("/", 1)[-1].lower()
    return (
        "/" in name
        and base in ("imsmanifest.xml", "cmi5.xml")
        and (not name.startswith("__MACOSX/"))
    )


def _read_small(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    try:
        with archive.open(info) as stream:
            return stream.read(limit)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
        return b""


def _ooxml_mime(
    archive: zipfile.ZipFile,
    content_types: zipfile.ZipInfo,
    names: Iterable[str],
) -> str | None:
    data = _read_small(archive, content_types, 1024 * 1024)
    root = parse_xml(data)
    if root is not None:
        for element in root.iter(etree.Element):
            if local_name(element) != "Override":
                continue

            content_type = (element.get("ContentType") or "").strip()
            if content_type in _OOXML_MAIN_PARTS:
                return _OOXML_MAIN_PARTS[content_type]

    # No recognised main part: fall back on the conventional part names.
    present = set(names)
    for part, mime in (
        ("word/document.xml", _DOCX),
        ("ppt/presentation.xml", _PPTX),
        ("xl/workbook.xml", _XLSX),
    ):
        if part in present:
            return mime

    return None
