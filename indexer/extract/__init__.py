"""Type sniffing and text extraction (see :func:`indexer.extract.core.extract`).

:mod:`~indexer.extract.core` holds the public API and dispatches to one reader per
family: :mod:`~indexer.extract.pdf`, :mod:`~indexer.extract.office`,
:mod:`~indexer.extract.packages` (SCORM, Common Cartridge, QTI, cmi5, AICC, plain
zips, EPUB), :mod:`~indexer.extract.text` and :mod:`~indexer.extract.media`. Untrusted
zips and XML go through :mod:`~indexer.extract.zips` and
:mod:`~indexer.extract.xmlsafe`; :mod:`~indexer.extract.cjk` cleans the text.
"""

from indexer.extract.core import (
    KINDS,
    PACKAGE_TYPES,
    STATUSES,
    Extraction,
    Limits,
    extract,
    sniff,
)

__all__ = [
    "KINDS",
    "PACKAGE_TYPES",
    "STATUSES",
    "Extraction",
    "Limits",
    "extract",
    "sniff",
]
