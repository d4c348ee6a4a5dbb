"""Parsing XML from uploads without trusting it.

Manifests, OOXML and ODF parts come from strangers. The parser never resolves
entities, never loads a DTD and never touches the network, so neither external
entities (reading local files) nor entity expansion ("billion laughs") can be used
against the server; libxml2's limits on tree depth and text node size stay on.

Elements are matched by local name throughout the package: the same vocabularies
come in several namespace versions (SCORM 1.2 and 2004, transitional and strict
OOXML, Common Cartridge 1.0 to 1.3) and the local names are what they share.
"""

from __future__ import annotations

from lxml import etree

__all__ = ["XmlError", "local_name", "parse_xml", "parse_xml_checked"]


class XmlError(Exception):
    """The XML is not well-formed; the message says where."""


def _parser(recover: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=recover,
    )


def parse_xml(data: bytes, *, recover: bool = True) -> etree._Element | None:
    """The root element of ``data``, or ``None`` when nothing can be made of it."""
    try:
        return etree.fromstring(data, _parser(recover))
    except (etree.XMLSyntaxError, ValueError):
        return None


def parse_xml_checked(data: bytes) -> tuple[etree._Element | None, str | None]:
    """Parse strictly, else leniently: ``(root, error)``.

    ``error`` describes the first well-formedness error when strict parsing failed;
    ``root`` is what lenient parsing recovered (``None`` if nothing).
    """
    try:
        return etree.fromstring(data, _parser(False)), None
    except (etree.XMLSyntaxError, ValueError) as exc:
        error = str(exc) or type(exc).__name__

    return parse_xml(data, recover=True), error


def local_name(element: etree._Element) -> str:
    """The tag of ``element`` without its namespace (``""`` for comments and PIs)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""

    return tag.rsplit("}", 1)[-1]
