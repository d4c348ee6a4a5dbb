"""Courseware packages (SCORM, Common Cartridge, QTI, cmi5, AICC) and plain zips.

A package is only usable if an LMS can find its descriptor at the root of the zip:
``imsmanifest.xml`` (IMS Content Packaging and everything built on it), ``cmi5.xml``
or the AICC descriptor files. Packages whose descriptor is missing, unreadable or
one folder too deep are rejected with the fix, because storing them would hand
teachers a course that no LMS imports.

From the descriptor come the package type, the title and the outline (the
organisation tree a learner navigates). The text of the pages and documents inside
(HTML, PDF, Word, PowerPoint, ...) is then read entry by entry, straight from the zip
into memory, under the job's limits.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from lxml import etree

from indexer.extract.job import Job, Source
from indexer.extract.office import open_safe_zip
from indexer.extract.sniffing import sniff_source
from indexer.extract.text import decode_bytes, html_to_text
from indexer.extract.xmlsafe import local_name, parse_xml, parse_xml_checked
from indexer.extract.zips import Member, MemberUnreadable, SafeZip, ZipRejected

__all__ = ["extract_archive", "extract_epub", "extract_package"]

#: Outline nodes kept at most, and how deep.
MAX_OUTLINE_NODES = 5_000
MAX_OUTLINE_DEPTH = 30
#: Missing launch files listed by name at most.
_MAX_LISTED = 5
#: Entries whose text is worth reading, by extension.
_INDEXED_SUFFIXES = frozenset(
    {
        ".html", ".htm", ".xhtml", ".txt", ".md", ".pdf", ".docx", ".pptx", ".xlsx",
        ".odt", ".odp", ".ods", ".xml",
    }
)  # fmt: skip
_QTI_ROOTS = (b"<questestinterop", b"assessmentItem", b"assessmentTest")
_GENERIC_TITLES = frozenset({"", "default", "organization", "org"})
_SCORM_2004_VERSIONS = ("2004", "cam 1.3")

#: Reads one entry of a package into the job; set by :mod:`indexer.extract.core` so
#: that this module needs no import of the format dispatcher.
ReadMember = Callable[[Source, str, str, Job], None]


@dataclass
class _Manifest:
    """What an ``imsmanifest.xml`` says, in the terms the rest of the code needs."""

    namespaces: set[str] = field(default_factory=set)
    schema: str = ""
    schema_version: str = ""
    title: str | None = None
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    organisations: list[etree._Element] = field(default_factory=list)
    default_organisation: str | None = None


def extract_package(src: Source, job: Job, read_member: ReadMember) -> None:
    """Read a package: descriptor, outline, then the text of its documents."""
    archive = open_safe_zip(src, job, "zip")
    if archive is None:
        return

    with archive:
        _report_unsafe_names(archive, job)
        roots = {m.name.lower(): m for m in archive.members if m.at_root}
        launch: list[str] = []

        if "cmi5.xml" in roots:
            job.result.package_type = "cmi5"
            launch = _cmi5(archive, roots["cmi5.xml"], job)
        elif "imsmanifest.xml" in roots:
            launch = _ims(archive, roots["imsmanifest.xml"], job)
        elif any(name.endswith((".crs", ".au", ".des", ".cst")) for name in roots):
            job.result.package_type = "aicc"
            launch = _aicc(archive, roots, job)
        else:
            _reject_misplaced_descriptor(archive, job)

        if job.result.status == "rejected":
            return

        _add_outline_text(job.result.outline, job)
        _read_members(archive, job, read_member, first=launch)


def extract_archive(src: Source, job: Job, read_member: ReadMember) -> None:
    """Read a plain zip: its file list and the text of the documents in it."""
    archive = open_safe_zip(src, job, "zip")
    if archive is None:
        return

    with archive:
        _report_unsafe_names(archive, job)
        files = list(archive.files())
        if not files:
            job.reject("the zip is empty")
            return

        if all(member.size == 0 for member in files):
            job.reject(
                f"the zip holds no content: all {len(files)} of its files are empty"
            )
            return

        job.result.metadata["files"] = [member.name for member in files[:1000]]
        job.result.metadata["file_count"] = len(files)
        # File names are often the best description a plain zip has (课件1.pptx).
        job.add_text("\n".join(member.name for member in files[:1000]) + "\n\n")
        _read_members(archive, job, read_member, first=[])


def _report_unsafe_names(archive: SafeZip, job: Job) -> None:
    if archive.unsafe_names:
        job.partial(
            f"{len(archive.unsafe_names)} zip entries with unsafe paths (such as "
            f"{archive.unsafe_names[0]!r}) were ignored"
        )


def _reject_misplaced_descriptor(archive: SafeZip, job: Job) -> None:
    nested = next(
        (
            m.name
            for m in archive.files()
            if posixpath.basename(m.name).lower() in ("imsmanifest.xml", "cmi5.xml")
        ),
        None,
    )
    if nested is None:
        job.reject("no imsmanifest.xml at the package root")
        return

    folder = posixpath.dirname(nested)
    job.reject(
        f"no imsmanifest.xml at the package root: it is inside {folder + '/'!r}. "
        "Zip the contents of that folder, not the folder itself"
    )


# IMS content packages (SCORM, Common Cartridge, QTI) --------------------------------


def _ims(archive: SafeZip, member: Member, job: Job) -> list[str]:
    """Read ``imsmanifest.xml``; return the launch files it names, in outline order."""
    try:
        data = archive.read(member)
    except MemberUnreadable as exc:
        job.reject(f"imsmanifest.xml cannot be read ({exc})")
        return []

    root, error = parse_xml_checked(data)
    if root is None or local_name(root) != "manifest":
        job.reject(
            "imsmanifest.xml is not a valid IMS manifest"
            + (f" ({error})" if error else " (its root element is not <manifest>)")
        )
        return []

    if error:
        job.partial(
            f"imsmanifest.xml is not well-formed XML ({error}); it was read "
            "leniently, but some LMSs will refuse the package"
        )

    manifest = _read_manifest(root)
    package_type = _ims_type(manifest, archive)
    job.result.package_type = package_type
    job.result.metadata["schema"] = " ".join(
        part for part in (manifest.schema, manifest.schema_version) if part
    )

    job.result.title = manifest.title
    organisation = _pick_organisation(manifest, job)
    if organisation is not None:
        job.result.outline = _outline_items(organisation, manifest.resources)
        title = _child_text(organisation, "title")
        if job.result.title is None and title.lower() not in _GENERIC_TITLES:
            job.result.title = title
    elif package_type in ("scorm12", "scorm2004"):
        job.partial(
            "the manifest has no <organization> (table of contents): most LMSs, "
            "Moodle included, refuse such a SCORM package. Add an organization to "
            "the manifest; the outline here lists its SCOs instead"
        )

    if job.result.title is None:
        job.result.title = _first_title(job.result.outline)

    if not job.result.outline:
        job.result.outline = _outline_resources(manifest.resources, scos_only=True)

    launch = _hrefs(job.result.outline)
    _check_launch_files(archive, launch, job)
    return launch


def _read_manifest(root: etree._Element) -> _Manifest:
    manifest = _Manifest()
    for element in root.iter(etree.Element):
        namespace = etree.QName(element).namespace
        if namespace:
            manifest.namespaces.add(namespace.lower())

    manifest.namespaces.update(ns.lower() for ns in root.nsmap.values() if ns)
    metadata = _child(root, "metadata")
    if metadata is not None:
        manifest.schema = _child_text(metadata, "schema")
        manifest.schema_version = _child_text(metadata, "schemaversion")
        manifest.title = _lom_title(metadata)

    base = _xml_base(root)
    resources = _child(root, "resources")
    if resources is not None:
        base = posixpath.join(base, _xml_base(resources))
        for resource in resources:
            if local_name(resource) != "resource":
                continue

            identifier = resource.get("identifier", "")
            href = resource.get("href")
            resource_base = posixpath.join(base, _xml_base(resource))
            manifest.resources[identifier] = {
                "href": _join_href(resource_base, href) if href else None,
                "type": (resource.get("type") or "").lower(),
                "scorm_type": _scorm_type(resource),
                "title": _lom_title(_child(resource, "metadata")),
            }

    organisations = _child(root, "organizations")
    if organisations is not None:
        manifest.default_organisation = organisations.get("default")
        manifest.organisations = [
            element
            for element in organisations
            if local_name(element) == "organization"
        ]

    return manifest


def _ims_type(manifest: _Manifest, archive: SafeZip) -> str:
    namespaces = " ".join(sorted(manifest.namespaces))
    schema = manifest.schema.lower()
    version = manifest.schema_version.lower()
    types = " ".join(resource["type"] for resource in manifest.resources.values())

    if "imscc" in namespaces or "common cartridge" in schema or "imscc" in types:
        return "imscc"

    if "adlcp_v1p3" in namespaces or version.startswith(_SCORM_2004_VERSIONS):
        return "scorm2004"

    if "adlcp_rootv1p2" in namespaces or version == "1.2":
        return "scorm12"

    if "imsqti_" in types or "qti" in schema:
        if re.search(r"imsqti_\w*xmlv1", types):
            return "qti12"

        return "qti21"

    # No QTI resource type declared: a QTI 1.2 export still has a questestinterop file.
    for resource in manifest.resources.values():
        member = archive.get(resource["href"] or "")
        if member is not None and member.suffix == ".xml" and _is_qti(archive, member):
            return "qti12" if b"questestinterop" in _peek(archive, member) else "qti21"

    return "ims-cp"


def _pick_organisation(manifest: _Manifest, job: Job) -> etree._Element | None:
    if not manifest.organisations:
        return None

    if manifest.default_organisation:
        for organisation in manifest.organisations:
            if organisation.get("identifier") == manifest.default_organisation:
                return organisation

        job.note(
            f"the manifest's default organization {manifest.default_organisation!r} "
            "does not exist; the first one is used"
        )

    return manifest.organisations[0]


def _outline_items(
    parent: etree._Element, resources: dict[str, dict[str, Any]], depth: int = 0
) -> list[dict[str, Any]]:
    """Outline nodes for the ``<item>`` children of ``parent``."""
    nodes: list[dict[str, Any]] = []
    if depth > MAX_OUTLINE_DEPTH:
        return nodes

    for item in parent:
        if local_name(item) != "item":
            continue

        resource = resources.get(item.get("identifierref") or "", {})
        href = resource.get("href")
        if href and item.get("parameters"):
            href += item.get("parameters", "")

        children = _outline_items(item, resources, depth + 1)
        title = _child_text(item, "title")
        if not title and not href:
            # Untitled wrappers (Canvas's "LearningModules") only group their children.
            nodes.extend(children)
            continue

        label = title or resource.get("title") or href
        nodes.append({"title": label, "href": href, "children": children})

    return nodes[:MAX_OUTLINE_NODES]


def _outline_resources(
    resources: dict[str, dict[str, Any]], *, scos_only: bool
) -> list[dict[str, Any]]:
    """A flat outline of launchable resources, for manifests without organisations."""
    nodes = []
    for resource in resources.values():
        if not resource["href"]:
            continue

        if scos_only and resource["scorm_type"] == "asset":
            continue

        title = resource["title"] or posixpath.basename(resource["href"])
        nodes.append({"title": title, "href": resource["href"], "children": []})

    return nodes[:MAX_OUTLINE_NODES]


def _check_launch_files(archive: SafeZip, hrefs: list[str], job: Job) -> None:
    missing = []
    for href in hrefs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue

        path = posixpath.normpath(unquote(parts.path)) if parts.path else ""
        if path and archive.get(path, ignore_case=True) is None:
            missing.append(path)

    if missing:
        job.partial(
            f"{len(missing)} page(s) the manifest launches are missing from the zip: "
            + _listing(missing)
        )


def _listing(names: list[str]) -> str:
    """The first few of ``names``, and how many more there are."""
    listed = ", ".join(names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        listed += f" and {len(names) - _MAX_LISTED} more"

    return listed


def _is_qti(archive: SafeZip, member: Member) -> bool:
    head = _peek(archive, member)
    return any(marker in head for marker in _QTI_ROOTS)


def _peek(archive: SafeZip, member: Member) -> bytes:
    try:
        return archive.read(member, limit=4096)
    except MemberUnreadable:
        return b""


# cmi5 ------------------------------------------------------------------------------


def _cmi5(archive: SafeZip, member: Member, job: Job) -> list[str]:
    try:
        root = parse_xml(archive.read(member), recover=False)
    except MemberUnreadable as exc:
        job.reject(f"cmi5.xml cannot be read ({exc})")
        return []

    if root is None or local_name(root) != "courseStructure":
        job.reject("cmi5.xml is not a cmi5 course structure")
        return []

    course = _child(root, "course")
    if course is not None:
        job.result.title = _langstring(_child(course, "title")) or None

    job.result.outline = _cmi5_nodes(root, 0)
    if not _hrefs(job.result.outline):
        job.reject("cmi5.xml declares no assignable unit (<au>) to launch")

    return [href for href in _hrefs(job.result.outline) if "://" not in href]


def _cmi5_nodes(parent: etree._Element, depth: int) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    if depth > MAX_OUTLINE_DEPTH:
        return nodes

    for element in parent:
        name = local_name(element)
        if name not in ("au", "block"):
            continue

        title = _langstring(_child(element, "title"))
        href = _child_text(element, "url") or None if name == "au" else None
        children = _cmi5_nodes(element, depth + 1) if name == "block" else []
        nodes.append({"title": title or href or "", "href": href, "children": children})

    return nodes


# AICC ------------------------------------------------------------------------------


def _aicc(archive: SafeZip, roots: dict[str, Member], job: Job) -> list[str]:
    by_suffix: dict[str, Member] = {}
    for name, member in roots.items():
        suffix = posixpath.splitext(name)[1]
        by_suffix.setdefault(suffix, member)

    missing = [suffix for suffix in (".crs", ".au") if suffix not in by_suffix]
    if missing:
        present = ", ".join(sorted(m.name for m in roots.values() if not m.is_dir))
        job.reject(
            "incomplete AICC package: it needs a course file (.crs) and an "
            f"assignable-unit file (.au) at the root, but holds only: {present}"
        )
        return []

    course = _read_text(archive, by_suffix[".crs"])
    course_title = re.search(r"(?im)^\s*course_title\s*=\s*(.+?)\s*$", course)
    if course_title:
        job.result.title = course_title.group(1).strip('"')

    titles: dict[str, str] = {}
    if ".des" in by_suffix:
        for row in _csv_rows(_read_text(archive, by_suffix[".des"])):
            if row.get("system_id"):
                titles[row["system_id"].lower()] = row.get("title") or ""

    outline: list[dict[str, Any]] = []
    for row in _csv_rows(_read_text(archive, by_suffix[".au"])):
        system_id = (row.get("system_id") or "").lower()
        href = row.get("file_name") or None
        title = titles.get(system_id) or system_id or href or ""
        outline.append({"title": title, "href": href, "children": []})

    job.result.outline = outline[:MAX_OUTLINE_NODES]
    return [href for href in _hrefs(outline) if "://" not in href]


def _read_text(archive: SafeZip, member: Member) -> str:
    try:
        return decode_bytes(archive.read(member))[0]
    except MemberUnreadable:
        return ""


def _csv_rows(text: str) -> list[dict[str, str]]:
    """AICC descriptor rows, with header names lower-cased."""
    rows = list(csv.reader(io.StringIO(text.strip())))
    if not rows:
        return []

    header = [cell.strip().lower() for cell in rows[0]]
    return [
        {name: cell.strip() for name, cell in zip(header, row, strict=False)}
        for row in rows[1:]
    ]


# Entries' text ---------------------------------------------------------------------


def _read_members(
    archive: SafeZip, job: Job, read_member: ReadMember, *, first: list[str]
) -> None:
    """Read the text of the documents in the zip: launch files first, then the rest."""
    ordered = _ordered_members(archive, first)
    failed: list[str] = []
    for index, member in enumerate(ordered):
        if job.text_full:
            return

        if job.out_of_time():
            job.stopped(f"after {index} of {len(ordered)} files in the zip")
            return

        # Of XML files only assessment items are read: the rest is configuration.
        if member.suffix == ".xml" and not _is_qti(archive, member):
            continue

        try:
            data = archive.read(member)
        except MemberUnreadable:
            failed.append(member.name)
            continue
        except ZipRejected as exc:
            job.reject(str(exc))
            return

        inner = Source(name=member.name, data=data)
        mime, kind, _ = sniff_source(inner)
        if kind not in ("pdf", "document", "presentation", "spreadsheet", "text"):
            continue

        if mime in ("text/html", "application/xhtml+xml"):
            # Page titles are already in the outline; the body is what is new.
            job.add_text(html_to_text(data)[0] + "\n\n")
            continue

        child = job.child(mime, kind)
        read_member(inner, mime, kind, child)
        if child.result.status != "ok":
            failed.append(member.name)

        job.add_text("\n\n")

    if failed:
        job.note(
            f"the text of {len(failed)} file(s) in the zip could not be fully read: "
            + _listing(failed)
        )


def _ordered_members(archive: SafeZip, first: Iterable[str]) -> list[Member]:
    candidates = [
        member
        for member in archive.files()
        if member.suffix in _INDEXED_SUFFIXES
        and member.size > 0
        and posixpath.basename(member.name).lower() != "imsmanifest.xml"
    ]
    rank: dict[str, int] = {}
    for position, href in enumerate(first):
        path = unquote(urlsplit(href).path).lower()
        rank.setdefault(path, position)

    return sorted(candidates, key=lambda m: rank.get(m.name.lower(), len(rank)))


def _add_outline_text(outline: list[dict[str, Any]], job: Job) -> None:
    titles = [node["title"] for node in _walk(outline) if node.get("title")]
    if titles:
        job.add_text("\n".join(titles) + "\n\n")


# XML helpers -----------------------------------------------------------------------


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None

    return next((child for child in element if local_name(child) == name), None)


def _child_text(element: etree._Element, name: str) -> str:
    child = _child(element, name)
    if child is None:
        return ""

    return " ".join("".join(child.itertext()).split())


def _langstring(element: etree._Element | None) -> str:
    """Text of a title that may be wrapped in ``<langstring>``s (cmi5, LOM 1.2)."""
    if element is None:
        return ""

    return " ".join(next((t for t in element.itertext() if t.strip()), "").split())


def _lom_title(metadata: etree._Element | None) -> str | None:
    """The LOM ``general/title`` of a manifest or resource, in any LOM version."""
    if metadata is None:
        return None

    for element in metadata.iter(etree.Element):
        if local_name(element) != "general":
            continue

        title = _child(element, "title")
        text = _langstring(title)
        if text:
            return text

    return None


def _scorm_type(resource: etree._Element) -> str:
    for key, value in resource.attrib.items():
        if str(key).rsplit("}", 1)[-1].lower() == "scormtype":
            return str(value).lower()

    return ""


def _xml_base(element: etree._Element) -> str:
    return element.get("{http://www.w3.org/XML/1998/namespace}base") or ""


def _join_href(base: str, href: str) -> str:
    if "://" in href:
        return href

    return posixpath.normpath(posixpath.join(base, href)) if base else href


def _walk(nodes: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.get("children", [])))


def _hrefs(outline: list[dict[str, Any]]) -> list[str]:
    return [node["href"] for node in _walk(outline) if node.get("href")]


def _first_title(outline: list[dict[str, Any]]) -> str | None:
    return next((node["title"] for node in _walk(outline) if node.get("title")), None)


# EPUB ------------------------------------------------------------------------------


def extract_epub(src: Source, job: Job) -> None:
    """An EPUB book: title and author from the OPF, chapters in reading order."""
    archive = open_safe_zip(src, job, "EPUB")
    if archive is None:
        return

    with archive:
        container = archive.get("META-INF/container.xml")
        root = parse_xml(_read_bytes(archive, container)) if container else None
        rootfile = next(
            (
                element.get("full-path")
                for element in (root.iter(etree.Element) if root is not None else ())
                if local_name(element) == "rootfile" and element.get("full-path")
            ),
            None,
        )
        package = archive.get(rootfile) if rootfile else None
        opf = parse_xml(_read_bytes(archive, package)) if package else None
        if opf is None:
            job.reject("the EPUB has no readable package document (content.opf)")
            return

        base = posixpath.dirname(package.name) if package else ""
        hrefs: dict[str, str] = {}
        spine: list[str] = []
        for element in opf.iter(etree.Element):
            name = local_name(element)
            text = " ".join((element.text or "").split())
            if name == "title" and text and job.result.title is None:
                job.result.title = text
            elif name == "creator" and text:
                job.result.metadata.setdefault("author", text)
            elif name == "item" and element.get("id") and element.get("href"):
                hrefs[element.get("id", "")] = element.get("href", "")
            elif name == "itemref" and element.get("idref"):
                spine.append(element.get("idref", ""))

        for index, idref in enumerate(spine):
            if job.out_of_time():
                job.stopped(f"after chapter {index} of {len(spine)}")
                return

            path = _join_href(base, unquote(hrefs.get(idref, "")))
            member = archive.get(path)
            if member is None:
                continue

            if not job.add_text(html_to_text(_read_bytes(archive, member))[0] + "\n\n"):
                return


def _read_bytes(archive: SafeZip, member: Member | None) -> bytes:
    if member is None:
        return b""

    try:
        return archive.read(member)
    except MemberUnreadable:
        return b""
