"""Limits: wall time, text size and zip entry size are enforced, never fatal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from indexer.extract import Limits, extract

Write = Callable[[str, bytes], Path]
MakePdf = Callable[[list[str]], bytes]
MakeZip = Callable[..., bytes]


def test_pdf_reading_stops_at_the_time_limit(write: Write, make_pdf: MakePdf) -> None:
    path = write("long.pdf", make_pdf([f"Page {n}" for n in range(300)]))

    result = extract(path, limits=Limits(max_seconds=0.0))

    assert result.kind == "pdf"
    assert result.pages == 300
    assert result.status == "partial"
    assert any(
        "after page 0 of 300" in p and "time limit" in p for p in result.problems
    )


def test_the_time_limit_bounds_a_big_pdf(write: Write, make_pdf: MakePdf) -> None:
    path = write("long.pdf", make_pdf([f"Page {n} " * 50 for n in range(3000)]))
    started = time.monotonic()

    result = extract(path, limits=Limits(max_seconds=0.05))

    assert time.monotonic() - started < 5
    if result.status == "partial":
        assert any("time limit" in problem for problem in result.problems)
    else:
        # A fast machine may read all 3000 pages within the limit.
        assert "Page 2999" in result.text


def test_json_walk_stops_at_the_time_limit(write: Write) -> None:
    path = write("many.json", json.dumps([f"word {n}" for n in range(30_000)]).encode())

    result = extract(path, limits=Limits(max_seconds=0.0))

    assert result.status == "partial"
    assert any("time limit" in problem for problem in result.problems)


def test_text_is_cut_at_max_text_chars(write: Write) -> None:
    path = write("big.txt", ("二次函数的图像是抛物线。\n" * 200_000).encode())

    result = extract(path, limits=Limits(max_text_chars=10_000))

    assert len(result.text) == 10_000
    assert result.status == "partial"
    assert any("first 10,000 characters" in problem for problem in result.problems)


def test_huge_text_file_within_limits_is_read_quickly(write: Write) -> None:
    path = write("huge.txt", ("The quick brown fox. " * 90_000).encode())
    started = time.monotonic()

    result = extract(path)

    assert time.monotonic() - started < 10
    assert result.status == "ok"
    assert len(result.text) > 1_800_000


def test_pdf_pages_stop_when_the_text_is_full(write: Write, make_pdf: MakePdf) -> None:
    path = write("long.pdf", make_pdf(["x" * 100] * 200))

    result = extract(path, limits=Limits(max_text_chars=1000))

    assert len(result.text) == 1000
    assert result.status == "partial"


def test_oversized_zip_entries_are_skipped(make_zip: MakeZip, write: Write) -> None:
    path = write(
        "files.zip",
        make_zip({"small.txt": b"small text", "large.txt": b"large text " * 1000}),
    )

    result = extract(path, limits=Limits(max_member_bytes=1000))

    assert result.status == "ok"
    assert "small text" in result.text
    assert "large text" not in result.text
    assert any("large.txt" in problem for problem in result.problems)
