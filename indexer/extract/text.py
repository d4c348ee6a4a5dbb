"""Text-based formats: plain text, Markdown, HTML, JSON, XML and subtitles.

Teachers' text files come from Windows machines as often as not, so anything that is
not UTF-8 is decoded by detection, and GBK (GB18030) is preferred whenever it decodes
cleanly into mostly common Chinese characters: detectors often misjudge short Chinese
texts as a European code page, and a Chinese school's legacy files are GBK far more
often than anything else.
"""

from __future__ import annotations

import codecs
import json
import re
from html.parser import HTMLParser

import charset_normalizer
from lxml import etree

from indexer.extract.cjk import guess_language
from indexer.extract.job import Job, Source
from indexer.extract.xmlsafe import local_name, parse_xml

__all__ = ["decode_bytes", "extract_text", "html_to_text"]

#: JSON files larger than this are indexed as plain text instead of parsed.
MAX_JSON_BYTES = 64 * 1024 * 1024

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DETECT_SAMPLE = 256 * 1024
_META_CHARSET_RE = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I
)
_XML_ENCODING_RE = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""")
_FRONT_MATTER_RE = re.compile(
    r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S
)
_FRONT_MATTER_TITLE_RE = re.compile(r"^title\s*:\s*(.+?)\s*$", re.M)
_ATX_HEADING_RE = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.M)
_HASH_RE = re.compile(r"\A[0-9a-fA-F]{32,}\Z")
_URL_RE = re.compile(r"\A[a-z][a-z0-9+.-]*://\S*\Z")
_CUE_TAG_RE = re.compile(r"<[^>]*>")
#: XML elements holding scoring rules and identifiers rather than readable text
#: (QTI 1.2 and 2.x names).
_XML_SKIP = frozenset(
    {
        "resprocessing",
        "qtimetadata",
        "itemmetadata",
        "responseDeclaration",
        "outcomeDeclaration",
        "templateDeclaration",
        "responseProcessing",
        "templateProcessing",
        "outcomeProcessing",
        "stylesheet",
    }
)
_SUBTITLE_BLOCK_KEYWORDS = ("NOTE", "STYLE", "REGION", "WEBVTT")


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """``(text, encoding)`` for ``data``: BOM, ``declared``, UTF-8, GBK, detection.

    Never fails: the last resort decodes with replacement characters.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding

    if declared:
        try:
            return data.decode(declared), declared.lower()
        except (LookupError, UnicodeDecodeError):
            pass

    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by a size cap is still UTF-8.
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return data[: exc.start].decode("utf-8"), "utf-8"

    chinese = _as_gb18030(data)
    if chinese is not None:
        return chinese, "gb18030"

    guess = charset_normalizer.from_bytes(data[:_DETECT_SAMPLE]).best()
    if guess is not None and guess.encoding:
        return data.decode(guess.encoding, errors="replace"), guess.encoding

    return data.decode("gb18030", errors="replace"), "gb18030"


def _as_gb18030(data: bytes) -> str | None:
    """``data`` decoded as GB18030 if that reads as Chinese in common characters.

    EUC-KR Korean also decodes into common GB2312 characters and is read as Chinese
    here: in a Chinese school's files, that mistake is much rarer than the reverse.
    """
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return None

    wide = [char for char in text if ord(char) > 0x7F]
    if not wide:
        return None

    common = sum(1 for char in wide if _is_gb2312(char))
    if common / len(wide) >= 0.9 and guess_language(text) == "zh":
        return text

    return None


def _is_gb2312(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False

    return True


def extract_text(src: Source, job: Job) -> None:
    """Read a text-kind file (plain, Markdown, HTML, JSON, XML, subtitles, CSV)."""
    mime = job.result.mime
    # Four bytes per character is UTF-8's worst case; beyond that the text is cut.
    limit = job.limits.max_text_chars * 4 + 4
    data = src.read(limit + 1)
    cut = len(data) > limit
    data = data[:limit]

    if mime in ("text/html", "application/xhtml+xml"):
        _html(data, job)
    elif mime == "application/json" and not cut and len(data) <= MAX_JSON_BYTES:
        _json(data, job)
    elif mime in ("text/xml", "application/xml"):
        _xml(data, job)
    elif mime in ("text/vtt", "application/x-subrip"):
        _subtitles(decode_bytes(data)[0], job)
    else:
        _plain(data, job)

    if cut:
        job.sink.truncated = True


def _plain(data: bytes, job: Job) -> None:
    text, encoding = decode_bytes(data)
    job.result.metadata["encoding"] = encoding
    if job.result.mime == "text/markdown" or _FRONT_MATTER_RE.match(text):
        text = _markdown(text, job)

    job.add_text(text)


def _markdown(text: str, job: Job) -> str:
    """Drop YAML front matter, taking the title from it or from the first heading."""
    front = _FRONT_MATTER_RE.match(text)
    if front is not None:
        text = text[front.end() :]
        title = _FRONT_MATTER_TITLE_RE.search(front.group(1))
        if title is not None:
            job.result.title = title.group(1).strip("'\"")

    if job.result.title is None:
        heading = _ATX_HEADING_RE.search(text)
        if heading is not None:
            job.result.title = heading.group(1)

    return text


class _HtmlText(HTMLParser):
    """Text of an HTML page: scripts and styles dropped, blocks on their own lines."""

    _SKIP = frozenset({"script", "style", "template", "object", "iframe", "noembed"})
    _BLOCK = frozenset(
        {
            "address", "article", "aside", "blockquote", "br", "dd", "div", "dl",
            "dt", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
            "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
            "section", "table", "td", "th", "tr", "ul",
        }
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: str | None = None
        self.h1: str | None = None
        self._skip_depth = 0
        self._capture: str | None = None
        self._captured: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        elif tag in ("title", "h1") and self._capture is None:
            self._capture, self._captured = tag, []

        if tag in self._BLOCK:
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and not self._skip_depth:
                self.parts.append(f" {alt} ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip_depth:
            self._skip_depth -= 1
        elif tag == self._capture:
            captured = " ".join("".join(self._captured).split())
            if tag == "title" and self.title is None:
                self.title = captured or None
            elif tag == "h1" and self.h1 is None:
                self.h1 = captured or None
            self._capture = None

        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return

        if self._capture is not None:
            self._captured.append(data)

        # The <title> is metadata, not body text.
        if self._capture != "title":
            self.parts.append(data)


def html_to_text(data: bytes) -> tuple[str, str | None]:
    """``(text, title)`` of an HTML page given as bytes."""
    declared = _META_CHARSET_RE.search(data[:4096])
    text, _ = decode_bytes(
        data, declared.group(1).decode("ascii") if declared else None
    )
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    body = "".join(parser.parts)
    # Markup indentation turns into runs of spaces and blank lines.
    body = re.sub(r"[ \t\u00a0]*\n[ \t\u00a0\n]*", "\n", body)
    body = re.sub(r"[ \t\u00a0]{2,}", " ", body)
    return body, parser.title or parser.h1


def _html(data: bytes, job: Job) -> None:
    text, title = html_to_text(data)
    if title and job.result.title is None:
        job.result.title = title

    job.add_text(text)


def _json(data: bytes, job: Job) -> None:
    text, _ = decode_bytes(data)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        job.note("the JSON is not valid; it was indexed as plain text")
        job.add_text(text)
        return

    if isinstance(document, dict):
        for key in ("title", "name"):
            value = document.get(key)
            if isinstance(value, str) and value.strip():
                job.result.title = value.strip()
                break

    # Walk with an explicit stack: nesting depth is the uploader's choice.
    stack: list[object] = [document]
    strings = 0
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            # Identifiers, links and bare numbers are noise in a full-text index.
            if _HASH_RE.match(node) or _URL_RE.match(node) or node.isdigit():
                continue

            if not job.add_text(node + "\n"):
                return

            strings += 1
            if strings % 10_000 == 0 and job.out_of_time():
                job.stopped("in the middle of the JSON")
                return
        elif isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


def _xml(data: bytes, job: Job) -> None:
    root = parse_xml(data)
    if root is None:
        declared = _XML_ENCODING_RE.search(data[:200])
        encoding = declared.group(1).decode("ascii") if declared else None
        job.add_text(decode_bytes(data, encoding)[0])
        return

    pieces: list[str] = []
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        name = local_name(element)
        if event == "start":
            if name in _XML_SKIP:
                walker.skip_subtree()
            elif name == "title" and element.text and job.result.title is None:
                job.result.title = " ".join(element.text.split())

            piece = element.text if name not in _XML_SKIP else None
        else:
            piece = element.tail if element is not root else None

        piece = (piece or "").strip()
        if not piece:
            continue

        # Question text in QTI is HTML, escaped inside the XML.
        if "<" in piece and ">" in piece:
            piece = html_to_text(piece.encode())[0].strip()

        pieces.append(piece)

    job.add_text("\n".join(pieces))


def _subtitles(text: str, job: Job) -> None:
    """Cue text of WebVTT or SubRip captions, without timings and settings."""
    cues: list[str] = []
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        block_lines = block.strip("\n").split("\n")
        if block_lines[0].startswith(_SUBTITLE_BLOCK_KEYWORDS) and "-->" not in block:
            continue

        timing = next((i for i, line in enumerate(block_lines) if "-->" in line), None)
        if timing is None:
            continue

        lines = (
            _CUE_TAG_RE.sub("", line).strip() for line in block_lines[timing + 1 :]
        )
        cue = "\n".join(line for line in lines if line)
        if cue:
            cues.append(cue)

    # One paragraph per cue: each is said on its own, while a cue's own line breaks
    # are only wrapping.
    job.add_text("\n\n".join(cues))
