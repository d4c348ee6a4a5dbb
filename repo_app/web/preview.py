"""Which preview each file of a resource gets on the resource page.

Previews read the file from the API's download address (``?inline=1`` for the types
:data:`~repo_app.services.files.INLINE_SAFE_PREFIXES` allows), which answers Range
requests: video and audio seek, and pdf.js fetches only the parts of a large PDF it
draws. HTML, SVG and XML are never shown from our origin, where they could run
script as us: the page shows their extracted text, or offers the download only.

Kinds of preview:

``pdf``     pages drawn in the browser by pdf.js (``static/js/resource.js``)
``video``   an HTML5 ``<video>``, with the version's WebVTT files as subtitles
``audio``   an HTML5 ``<audio>``
``image``   an ``<img>``
``text``    the beginning of the file's extracted text (text files, Office files)
``outline`` the organisation of a SCORM or IMS package (from its manifest)
``none``    nothing to show; :attr:`Preview.reason` says why
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

from repo_app.models import VersionFile
from repo_app.services.files import INLINE_SAFE_PREFIXES
from repo_app.web.assets import asset_url

#: Characters of extracted text a text preview shows.
TEXT_EXCERPT = 3000
#: Media types browsers play in ``<video>`` and ``<audio>``.
PLAYABLE = ("video/mp4", "video/webm", "video/ogg", "audio/")
#: Office kinds whose extracted text is their preview.
TEXT_KINDS = ("text", "document", "presentation", "spreadsheet")


@dataclass
class Preview:
    kind: str
    file: VersionFile
    #: Address of the file for the browser to show (inline), or to download.
    src: str = ""
    download: str = ""
    #: ``none``: why nothing is shown (a lazy string).
    reason: Any = None
    #: ``text``: the beginning of the text, and whether there is more.
    text: str = ""
    truncated: bool = False
    #: ``outline``: ``{"title", "children"}`` nodes.
    outline: list[dict[str, Any]] = field(default_factory=list)
    #: ``video``: (address, file name, language) of the WebVTT files beside it.
    subtitles: list[tuple[str, str, str]] = field(default_factory=list)


def content_url(vf: VersionFile, *, inline: bool = False) -> str:
    """The API's download address of *vf* (``inline`` for the browser to show)."""
    params: dict[str, Any] = {"inline": "1"} if inline else {}
    return url_for(
        "files.content",
        resource_id=vf.version.resource_id,
        file_id=vf.id,
        **params,
    )


#: Makes a file's address: ``url(vf, inline=True)`` for the browser to show it.
FileUrl = Callable[..., str]


def preview_of(
    vf: VersionFile,
    siblings: Sequence[VersionFile] = (),
    *,
    url: FileUrl = content_url,
) -> Preview:
    """The preview of *vf*; *siblings* are the other files of its version (a video
    takes their subtitles). The files' addresses come from *url* (the API's download
    by default; a page reached otherwise, such as inside an LMS, gives its own)."""
    blob = vf.blob
    mime = blob.mime or ""
    shown = Preview("none", vf, download=url(vf))
    inline_safe = mime.startswith(INLINE_SAFE_PREFIXES)

    if blob.encrypted:
        shown.reason = _l(
            "This file is protected by a password: download it to open it."
        )
    elif blob.kind == "pdf" and mime == "application/pdf":
        shown.kind, shown.src = "pdf", url(vf, inline=True)
    elif blob.kind in ("video", "audio") and mime.startswith(PLAYABLE):
        shown.kind, shown.src = blob.kind, url(vf, inline=True)
        if blob.kind == "video":
            shown.subtitles = [
                (url(s, inline=True), s.name, s.blob.language or "und")
                for s in siblings
                if s.blob.mime == "text/vtt"
            ]
    elif blob.kind == "image" and inline_safe:
        shown.kind, shown.src = "image", url(vf, inline=True)
    elif blob.kind == "package" and blob.outline:
        shown.kind, shown.outline = "outline", _titles(blob.outline)
    elif blob.kind in TEXT_KINDS and (blob.text or "").strip():
        text = blob.text.strip()
        shown.kind = "text"
        shown.text = text[:TEXT_EXCERPT]
        shown.truncated = len(text) > TEXT_EXCERPT
    elif blob.kind == "image" or mime in ("text/html", "application/xhtml+xml"):
        shown.reason = _l(
            "For safety this kind of file is not shown in the page: download it."
        )
    else:
        shown.reason = _l("This kind of file cannot be shown in the page: download it.")
    return shown


def shown_file(files: Sequence[VersionFile], asked: str = "") -> VersionFile | None:
    """The file to preview among *files*: the one whose id is *asked*, else the
    first that can be previewed, else the first."""
    by_id = {str(vf.id): vf for vf in files}
    if asked in by_id:
        return by_id[asked]
    return next((vf for vf in files if has_preview(vf)), files[0] if files else None)


def pdfjs_assets() -> dict[str, str] | None:
    """Addresses of pdf.js (built by ``make assets``), or None when it is missing:
    PDFs are then offered for download only."""
    try:
        return {
            "lib": asset_url("vendor/pdfjs/pdf.min.mjs"),
            "worker": asset_url("vendor/pdfjs/pdf.worker.min.mjs"),
            "base": url_for("static", filename="vendor/pdfjs/"),
        }
    except FileNotFoundError:
        return None


def _titles(nodes: Sequence[dict[str, Any]], depth: int = 0) -> list[dict[str, Any]]:
    """The outline's titles only: its ``href`` values name files inside the package,
    which are not served on their own."""
    if depth > 10:
        return []
    return [
        {
            "title": str(node.get("title") or node.get("href") or ""),
            "children": _titles(node.get("children") or [], depth + 1),
        }
        for node in nodes
        if isinstance(node, dict)
    ]


def has_preview(vf: VersionFile) -> bool:
    """Whether *vf* gets more than a download link (cheap: reads no text)."""
    blob = vf.blob
    if blob.encrypted:
        return False
    mime = blob.mime or ""
    return (
        (blob.kind == "pdf" and mime == "application/pdf")
        or (blob.kind in ("video", "audio") and mime.startswith(PLAYABLE))
        or (blob.kind == "image" and mime.startswith(INLINE_SAFE_PREFIXES))
        or (blob.kind == "package" and bool(blob.outline))
    )
