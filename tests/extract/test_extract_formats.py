"""Sniffing and reading of each format, on files generated in the test."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import docx
import openpyxl
import pptx
import pytest

from indexer.extract import extract, sniff
from tests.conftest import CORPUS

Write = Callable[[str, bytes], Path]
MakePdf = Callable[[list[str]], bytes]
MakeZip = Callable[..., bytes]

_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _docx_bytes() -> bytes:
    document = docx.Document()
    document.core_properties.title = "二次函数教案"
    document.add_heading("二次函数", level=1)
    document.add_paragraph("二次函数的图像是一条抛物线。")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "顶点"
    table.cell(0, 1).text = "对称轴"
    document.sections[0].header.paragraphs[0].text = "人教版九年级数学"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# Refusals -------------------------------------------------------------------------


def test_empty_file_is_rejected(write: Write) -> None:
    result = extract(write("empty.mp3", b""))

    assert result.status == "rejected"
    assert result.problems == ["the file is empty"]


def test_random_bytes_are_rejected(write: Write) -> None:
    result = extract(write("lesson.pdf", os.urandom(4096)))

    assert result.mime == "application/octet-stream"
    assert result.status == "rejected"
    assert "not a recognised file type" in result.problems[0]


def test_programs_are_rejected(write: Write) -> None:
    with open("/bin/true", "rb") as program:
        path = write("setup.docx", program.read(4096))

    result = extract(path)

    assert result.status == "rejected"
    assert any("programs" in problem for problem in result.problems)


# Wrong extensions -------------------------------------------------------------------


def test_pdf_with_wrong_extension_is_read_as_pdf(
    write: Write, make_pdf: MakePdf
) -> None:
    path = write("homework.docx", make_pdf(["Quadratic functions"]))

    result = extract(path)

    assert (result.mime, result.kind, result.status) == ("application/pdf", "pdf", "ok")
    assert "Quadratic functions" in result.text
    assert any("ends in .docx" in problem for problem in result.problems)


def test_docx_named_pdf_is_read_as_docx(write: Write) -> None:
    result = extract(write("notes.pdf", _docx_bytes()))

    assert (result.mime, result.kind) == (_DOCX, "document")
    assert "抛物线" in result.text


def test_extension_only_breaks_text_ties(write: Write) -> None:
    markdown = "---\ntitle: 等差数列\n---\n\n# 引入\n\n正文".encode()

    assert sniff(write("a.md", markdown)) == ("text/markdown", "text")
    assert sniff(write("a.txt", b"plain words here\n")) == ("text/plain", "text")
    # A name cannot make text into a PDF.
    assert sniff(write("b.pdf", b"plain words here\n")) == ("text/plain", "text")


# PDF --------------------------------------------------------------------------------


def test_pdf_pages_and_text(write: Write, make_pdf: MakePdf) -> None:
    result = extract(write("a.pdf", make_pdf(["First page", "Second page"])))

    assert result.status == "ok"
    assert result.pages == 2
    assert result.text == "First page\n\nSecond page"
    assert result.language == "en"


def test_pdf_with_empty_pages_is_rejected(write: Write, make_pdf: MakePdf) -> None:
    result = extract(write("blank.pdf", make_pdf([""])))

    assert result.status == "rejected"
    assert any("no visible content" in problem for problem in result.problems)


def test_pdf_with_broken_xref_is_repaired(write: Write, make_pdf: MakePdf) -> None:
    data = make_pdf(["Recovered text"])
    broken = data[: data.rindex(b"xref")] + b"%%EOF\n"

    result = extract(write("broken.pdf", broken))

    assert result.status in ("ok", "partial")
    assert "Recovered text" in result.text


# Office -----------------------------------------------------------------------------


def test_docx_body_table_header_and_title(write: Write) -> None:
    result = extract(write("lesson.docx", _docx_bytes()))

    assert result.status == "ok", result.problems
    assert result.title == "二次函数教案"
    for text in ("二次函数的图像是一条抛物线。", "顶点", "对称轴", "人教版九年级数学"):
        assert text in result.text
    assert result.language == "zh"


def test_pptx_slides_and_notes(write: Write) -> None:
    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[0])
    slide.shapes.title.text = "光合作用"
    slide.placeholders[1].text = "叶绿体中进行"
    slide.notes_slide.notes_text_frame.text = "提问：光反应需要什么？"
    buffer = io.BytesIO()
    presentation.save(buffer)

    result = extract(write("bio.pptx", buffer.getvalue()))

    assert (result.kind, result.status, result.pages) == ("presentation", "ok", 1)
    assert result.title == "光合作用"
    assert "叶绿体中进行" in result.text
    assert "光反应需要什么" in result.text


def test_xlsx_cells_of_every_sheet(write: Write) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.title = "成绩"
    workbook.active.append(["姓名", "分数"])
    workbook.active.append(["张三", 95])
    workbook.create_sheet("名单").append(["李四"])
    buffer = io.BytesIO()
    workbook.save(buffer)

    result = extract(write("scores.xlsx", buffer.getvalue()))

    assert (result.kind, result.status) == ("spreadsheet", "ok")
    assert result.metadata["sheets"] == ["成绩", "名单"]
    assert "张三\t95" in result.text
    assert "李四" in result.text


def test_legacy_format_without_libreoffice(
    write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    result = extract(write("old.rtf", rb"{\rtf1\ansi Hello}"))

    assert (result.mime, result.kind, result.status) == (
        "text/rtf",
        "document",
        "partial",
    )
    assert result.problems == [
        "legacy binary Office format; install LibreOffice to extract text"
    ]


def test_legacy_excel_is_read_without_libreoffice(
    write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    workbook = CORPUS / "office" / "chinese-provinces.xls"
    if not workbook.is_file():
        pytest.skip("no corpus")
    monkeypatch.setenv("PATH", str(tmp_path))

    result = extract(write("省份.xls", workbook.read_bytes()))

    assert (result.kind, result.status, result.problems) == ("spreadsheet", "ok", [])
    assert result.metadata["sheets"] == ["provinces"]
    assert "Beijing\t北京市" in result.text
    assert result.language == "zh"


def test_damaged_legacy_excel_is_refused_with_a_reason(write: Write) -> None:
    workbook = CORPUS / "office" / "chinese-provinces.xls"
    if not workbook.is_file():
        pytest.skip("no corpus")

    # The container and its directory survive; the workbook's records do not.
    damaged = bytearray(workbook.read_bytes())
    damaged[2048:3072] = b"\xff" * 1024
    result = extract(write("cut.xls", bytes(damaged)))

    assert result.status == "rejected"
    assert result.text == ""
    assert result.kind == "spreadsheet"
    assert "damaged" in result.problems[0]


def test_legacy_format_converted_by_libreoffice(
    write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A stand-in ``soffice`` writes a DOCX where LibreOffice would."""
    converted = write("converted.docx", _docx_bytes())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "soffice"
    script.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys, pathlib\n"
        "args = sys.argv[1:]\n"
        "outdir = pathlib.Path(args[args.index('--outdir') + 1])\n"
        "outdir.mkdir(parents=True, exist_ok=True)\n"
        "stem = pathlib.Path(args[-1]).stem\n"
        f"shutil.copy({str(converted)!r}, outdir / (stem + '.docx'))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert shutil.which("soffice") == str(script)

    result = extract(write("old.rtf", rb"{\rtf1\ansi Hello}"))

    assert result.status == "ok", result.problems
    assert result.mime == "text/rtf"
    assert result.metadata["converted_by"] == "LibreOffice"
    assert "抛物线" in result.text


# Text formats -----------------------------------------------------------------------


def test_gbk_text_file_decodes(write: Write) -> None:
    text = "第一课 二次函数\n二次函数的图像是一条抛物线，开口方向由a决定。\n"

    result = extract(write("notes.txt", text.encode("gbk")))

    assert result.status == "ok"
    assert "二次函数的图像是一条抛物线" in result.text
    assert result.metadata["encoding"] == "gb18030"


def test_short_gbk_text_decodes(write: Write) -> None:
    result = extract(write("t.txt", "校长的魅力".encode("gbk")))

    assert result.text == "校长的魅力"


def test_utf16_text_with_bom_decodes(write: Write) -> None:
    result = extract(write("t.txt", "三角函数".encode("utf-16")))

    assert result.text == "三角函数"


def test_html_text_without_scripts(write: Write) -> None:
    page = (
        "<html><head><meta charset='gbk'><title>课文：春</title>"
        "<style>p {color: red}</style><script>var secret = 1;</script></head>"
        "<body><h1>春</h1><p>盼望着，<br>盼望着，东风来了。</p>"
        "<img src='a.png' alt='春天的图片'></body></html>"
    ).encode("gbk")

    result = extract(write("spring.html", page))

    assert result.title == "课文：春"
    assert "盼望着，盼望着，东风来了。" in result.text
    assert "春天的图片" in result.text
    assert "secret" not in result.text
    assert "color" not in result.text


def test_markdown_front_matter(write: Write) -> None:
    markdown = (
        "---\ntitle: '等差数列'\nsidebar: 3\n---\n\n"
        "# 引入\n\n数列是按顺序排列的一列数。"
    )

    result = extract(write("ap.md", markdown.encode()))

    assert result.title == "等差数列"
    assert "sidebar" not in result.text
    assert "数列是按顺序排列的一列数。" in result.text


def test_markdown_title_from_heading(write: Write) -> None:
    result = extract(write("a.md", "intro\n\n# 化学反应速率\n\n正文".encode()))

    assert result.title == "化学反应速率"


def test_json_strings_and_title(write: Write) -> None:
    document = {
        "title": "三字經",
        "paragraphs": ["人之初，性本善。", "性相近，習相遠。"],
        "meta": {"id": 42, "sha": "0123456789abcdef0123456789abcdef01234567"},
    }

    result = extract(write("a.json", json.dumps(document, ensure_ascii=False).encode()))

    assert result.title == "三字經"
    assert "人之初，性本善。" in result.text
    assert "0123456789abcdef" not in result.text


def test_invalid_json_is_read_as_text(write: Write) -> None:
    result = extract(write("a.json", b'{"title": "unfinished'))

    assert result.status == "ok"
    assert "unfinished" in result.text


def test_deeply_nested_json_does_not_crash(write: Write) -> None:
    data = b"[" * 100_000 + b"]" * 100_000

    result = extract(write("deep.json", data))

    assert result.status in ("ok", "partial")


def test_webvtt_cues_without_timings(write: Write) -> None:
    captions = (
        "WEBVTT\n\nNOTE made by hand\n\n1\n00:00:00.000 --> 00:00:02.000 align:start\n"
        "<v 老师>同学们好\n\n00:00:02.000 --> 00:00:04.000\n今天学习勾股定理\n"
    )

    result = extract(write("captions.vtt", captions.encode()))

    assert (result.mime, result.kind) == ("text/vtt", "text")
    assert result.text == "同学们好\n\n今天学习勾股定理"


# Media ------------------------------------------------------------------------------


def test_svg_is_an_image(write: Write) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'

    result = extract(write("star.svg", svg))

    assert (result.mime, result.kind, result.text) == ("image/svg+xml", "image", "")


def test_png_with_bad_header_checksum_is_rejected(write: Write) -> None:
    header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + bytes(13) + b"\x00\x00\x00\x00"

    result = extract(write("bad.png", header + bytes(100)))

    assert result.kind == "image"
    assert result.status == "rejected"
