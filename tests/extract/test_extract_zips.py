"""Untrusted zips: bombs, path traversal, legacy name encodings, junk entries."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from indexer.extract import Limits, extract
from indexer.extract.zips import SafeZip, ZipRejected

MakeZip = Callable[..., bytes]
Write = Callable[[str, bytes], Path]


def _with_raw_names(data: bytes, names: dict[bytes, bytes]) -> bytes:
    """Replace ASCII placeholder names by raw (non-UTF-8) bytes, flag bit 11 unset.

    :mod:`zipfile` always writes non-ASCII names as UTF-8, so legacy archives are
    made by writing same-length placeholders and patching the bytes.
    """
    for placeholder, raw in names.items():
        assert len(placeholder) == len(raw)
        data = data.replace(placeholder, raw)

    return data


def _safe_zip(data: bytes, **limits: float) -> SafeZip:
    settings = {
        "max_members": 100,
        "max_total_bytes": 10**9,
        "max_ratio": 200.0,
        "max_member_bytes": 10**8,
    }
    settings.update(limits)
    return SafeZip(io.BytesIO(data), **settings)  # type: ignore[arg-type]


def test_zip_bomb_refused_by_expansion_ratio(make_zip: MakeZip, write: Write) -> None:
    # 30 MB of zeros deflate to about 30 KB: a thousandfold expansion.
    path = write("bomb.zip", make_zip({"zeros.txt": bytes(30 * 1024 * 1024)}))

    result = extract(path)

    assert result.status == "rejected"
    assert any("zip bomb" in problem for problem in result.problems)
    assert result.text == ""


def test_zip_refused_above_total_size(make_zip: MakeZip, write: Write) -> None:
    path = write("big.zip", make_zip({"a.txt": b"x" * 5000}, zipfile.ZIP_STORED))

    result = extract(path, limits=Limits(max_zip_total_bytes=4000))

    assert result.status == "rejected"
    assert any("expand to 5,000 bytes" in problem for problem in result.problems)


def test_zip_refused_above_member_count(make_zip: MakeZip, write: Write) -> None:
    entries = {f"f{i}.txt": b"hello" for i in range(30)}
    path = write("many.zip", make_zip(entries))

    result = extract(path, limits=Limits(max_zip_members=20))

    assert result.status == "rejected"
    assert any("30 entries" in problem for problem in result.problems)


def test_overlapping_entries_refused(make_zip: MakeZip) -> None:
    """Two directory records pointing at the same data: the densest bombs do this."""
    data = make_zip({"a.txt": b"hello " * 100})
    directory_offset = data.index(b"PK\x01\x02")
    end_offset = data.index(b"PK\x05\x06")
    record = data[directory_offset:end_offset]
    forged_end = bytearray(data[end_offset:])
    struct.pack_into("<HHI", forged_end, 8, 2, 2, 2 * len(record))
    forged = data[:directory_offset] + record + record + bytes(forged_end)

    with pytest.raises(ZipRejected, match="overlap"):
        _safe_zip(forged)


def test_bytes_are_counted_while_reading(make_zip: MakeZip) -> None:
    archive = _safe_zip(make_zip({"a.txt": b"a" * 1000, "b.txt": b"b" * 1000}))
    first, second = archive.files()
    archive.read(first)
    # A forged directory could understate sizes; the running count still stops it.
    archive.max_total_bytes = 1500

    with pytest.raises(ZipRejected, match="inflates past"):
        archive.read(second)


def test_path_traversal_names_are_never_used(
    make_zip: MakeZip, write: Write, tmp_path: Path
) -> None:
    path = write(
        "evil.zip",
        make_zip(
            {
                "../escape.txt": b"ESCAPED",
                "/etc/cron.d/evil": b"ABSOLUTE",
                "docs/../../up.txt": b"UPWARDS",
                "C:/Windows/evil.txt": b"DRIVE",
                "lesson/notes.txt": "课堂笔记".encode(),
            }
        ),
    )
    before = sorted(tmp_path.parent.rglob("*"))

    result = extract(path)

    assert sorted(tmp_path.parent.rglob("*")) == before, "nothing may be written"
    assert result.kind == "archive"
    assert result.status == "partial"
    assert any("4 zip entries with unsafe paths" in p for p in result.problems)
    assert result.metadata["files"] == ["lesson/notes.txt"]
    assert "课堂笔记" in result.text
    for marker in ("ESCAPED", "ABSOLUTE", "UPWARDS", "DRIVE"):
        assert marker not in result.text


def test_gbk_entry_names_are_decoded(make_zip: MakeZip, write: Write) -> None:
    name = "课件/第一课.txt".encode("gbk")
    placeholder = b"x" * (len(name) - 4) + b".txt"
    data = _with_raw_names(
        make_zip({placeholder.decode(): "二次函数".encode("gbk")}), {placeholder: name}
    )
    path = write("gbk.zip", data)

    result = extract(path)

    assert result.status == "ok", result.problems
    assert result.metadata["files"] == ["课件/第一课.txt"]
    assert "二次函数" in result.text
    assert result.language == "zh"


def test_shift_jis_entry_names_are_decoded(make_zip: MakeZip) -> None:
    name = "ひらがな資料.txt".encode("shift_jis")
    placeholder = b"y" * (len(name) - 4) + b".txt"
    data = _with_raw_names(make_zip({placeholder.decode(): b"x"}), {placeholder: name})

    archive = _safe_zip(data)

    assert [member.name for member in archive.files()] == ["ひらがな資料.txt"]


def test_utf8_flagged_names_are_kept(make_zip: MakeZip) -> None:
    archive = _safe_zip(make_zip({"数学/函数.txt": b"x"}))

    assert [member.name for member in archive.files()] == ["数学/函数.txt"]


def test_unicode_path_extra_field_wins(make_zip: MakeZip) -> None:
    raw = "课件.txt".encode("gbk")
    placeholder = b"z" * (len(raw) - 4) + b".txt"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(placeholder.decode())
        utf8 = "课件（修订）.txt".encode()
        info.extra = struct.pack("<HHBI", 0x7075, 5 + len(utf8), 1, zlib.crc32(raw))
        info.extra += utf8
        archive.writestr(info, b"x")

    data = _with_raw_names(buffer.getvalue(), {placeholder: raw})

    assert [m.name for m in _safe_zip(data).files()] == ["课件（修订）.txt"]


def test_mac_and_windows_junk_is_ignored(make_zip: MakeZip) -> None:
    archive = _safe_zip(
        make_zip(
            {
                "__MACOSX/._a.txt": b"junk",
                "docs/.DS_Store": b"junk",
                "Thumbs.db": b"junk",
                "a.txt": b"real",
            }
        )
    )

    assert [member.name for member in archive.files()] == ["a.txt"]


def test_truncated_zip_is_rejected(make_zip: MakeZip, write: Write) -> None:
    data = make_zip({"a.txt": b"hello " * 1000, "b.txt": b"world " * 1000})
    path = write("cut.zip", data[: len(data) // 2])

    result = extract(path)

    assert result.status == "rejected"
    assert any("damaged or truncated" in problem for problem in result.problems)


def test_zips_inside_zips_are_not_opened(make_zip: MakeZip, write: Write) -> None:
    inner = make_zip({"secret.txt": b"NESTED TEXT"})
    path = write("outer.zip", make_zip({"inner.zip": inner, "a.txt": b"outer text"}))

    result = extract(path)

    assert result.status == "ok"
    assert "outer text" in result.text
    assert "NESTED TEXT" not in result.text
