"""Extraction in worker processes: a crashing or hanging reader costs one file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from indexer.extract import Limits
from indexer.extract.isolated import extract_isolated


def crash(path: Path, filename: str | None, limits: Limits):  # type: ignore[no-untyped-def]
    os.abort()  # what a segfault in a C parser looks like to the pool


def hang(path: Path, filename: str | None, limits: Limits):  # type: ignore[no-untyped-def]
    time.sleep(60)


def test_a_crash_rejects_the_file_and_the_next_file_is_read(tmp_path: Path, monkeypatch) -> None:
    doc = tmp_path / "lesson.md"
    doc.write_text("# 勾股定理\n\n直角三角形。", encoding="utf-8")

    crashed = extract_isolated(doc, "lesson.md", reader=crash)
    assert crashed.status == "rejected"
    assert "crashed" in crashed.problems[0]

    # The pool was started again: the same file now reads normally.
    ok = extract_isolated(doc, "lesson.md")
    assert ok.status == "ok" and "直角三角形" in ok.text


def test_a_reader_far_past_its_time_limit_is_killed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("indexer.extract.isolated.GRACE_SECONDS", 0.5)
    doc = tmp_path / "a.txt"
    doc.write_text("text")
    result = extract_isolated(doc, "a.txt", Limits(max_seconds=0.5), reader=hang)
    assert result.status == "rejected" and "too long" in result.problems[0]
    assert extract_isolated(doc, "a.txt").status == "ok"
