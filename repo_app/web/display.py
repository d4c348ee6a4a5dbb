"""How resource metadata reads on the catalogue pages (browse, search, resource).

Vocabulary codes are shown by their label in the page's language; file kinds,
localities and visibilities by translated names (states by ``status_labels`` of
:mod:`repo_app.web.labels`); sizes in B/KB/MB; and the search engine's highlights as
HTML that can hold nothing but ``<em>``.

Blueprints hand these to their templates with
``bp.context_processor(display.template_helpers)``.
"""

from __future__ import annotations

import html
import re
from typing import Any

from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from config.vocabularies import FIELD_KINDS
from repo_app.runtime import runtime
from repo_app.web.i18n import vocab_lang

#: Names of the search engine's ``mime_group`` values (see indexer.documents).
MIME_GROUPS: dict[str, Any] = {
    "pdf": _l("PDF"),
    "document": _l("Documents"),
    "presentation": _l("Slides"),
    "spreadsheet": _l("Spreadsheets"),
    "package": _l("Course packages"),
    "video": _l("Video"),
    "audio": _l("Audio"),
    "image": _l("Images"),
    "text": _l("Text"),
    "archive": _l("Archives"),
    "other": _l("Other files"),
}
LOCALITIES: dict[str, Any] = {
    "urban": _l("Urban"),
    "town": _l("Town"),
    "rural": _l("Rural"),
}
VISIBILITIES: dict[str, Any] = {
    "owner": _l("Only its uploader"),
    "school": _l("Its school"),
    "district": _l("Its district"),
    "city": _l("Every school in the city"),
    "public": _l("Everyone (public)"),
}
PACKAGE_TYPES: dict[str, str] = {
    "scorm12": "SCORM 1.2",
    "scorm2004": "SCORM 2004",
    "imscc": "IMS Common Cartridge",
    "qti12": "IMS QTI 1.2",
    "qti21": "IMS QTI 2.1",
    "cmi5": "cmi5",
    "aicc": "AICC",
}

_EM_TAG = re.compile(r"(</?em>)")


def term_label(field: str, code: str | None) -> str:
    """The label of the vocabulary *code* of metadata *field* (``subject``,
    ``stage`` ...) in the page's language; the code itself when it is not in the
    vocabulary, and an empty string for no code."""
    if not code:
        return ""
    kind = FIELD_KINDS.get(field)
    term = runtime().vocab.term(kind, code) if kind else None
    return term.label(vocab_lang()) if term else code


def book_label(grade: str | None, volume: str | None) -> str:
    """A textbook as teachers name it: ``七年级 上册``, or ``必修第一册`` for a book
    without a grade (``-`` in a browse path stands for none)."""
    parts = [
        term_label(name, code) for name, code in (("grade", grade), ("volume", volume))
    ]
    return " ".join(part for part in parts if part and part != "-")


def value_label(field: str, value: str, fallback: str | None = None) -> str:
    """The label of a search facet *value*: vocabulary fields by their terms, file
    kinds and localities by their names, anything else by *fallback* (the search
    service's label, such as an organisation's name) or the value."""
    if field in FIELD_KINDS:
        return term_label(field, value)
    names = {"mime_group": MIME_GROUPS, "locality": LOCALITIES}.get(field, {})
    if value in names:
        return str(names[value])
    return fallback or value


def file_size(size: int | None) -> str:
    """*size* in bytes as people read it: ``532 B``, ``14.2 KB``, ``3.5 MB``."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # not reached


def safe_highlight(snippet: str | None) -> Markup:
    """A highlight of the search engine as markup holding only ``<em>`` tags.

    Engines promise escaped text with ``<em>`` around matches; this does not rely
    on it: every piece between the tags is unescaped and escaped again (so text
    escaped once shows as typed, and a stray ``<`` stays text), and the tags are
    balanced.
    """
    if not snippet:
        return Markup("")
    out: list[str] = []
    open_em = False
    for part in _EM_TAG.split(snippet):
        if part == "<em>":
            if not open_em:
                out.append("<em>")
                open_em = True
        elif part == "</em>":
            if open_em:
                out.append("</em>")
                open_em = False
        else:
            out.append(str(escape(html.unescape(part))))
    if open_em:
        out.append("</em>")
    return Markup("".join(out))


def template_helpers() -> dict[str, Any]:
    """What the catalogue templates use, for ``Blueprint.context_processor``."""
    return {
        "term_label": term_label,
        "book_label": book_label,
        "value_label": value_label,
        "file_size": file_size,
        "safe_highlight": safe_highlight,
        "mime_groups": MIME_GROUPS,
        "localities": LOCALITIES,
        "visibilities": VISIBILITIES,
        "package_types": PACKAGE_TYPES,
    }
