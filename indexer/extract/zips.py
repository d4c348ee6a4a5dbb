"""Reading untrusted zip files: names, zip bombs and path traversal.

Courseware packages (SCORM, Common Cartridge), office documents and plain archives
are all zip files uploaded by anyone with an account, so every one is read through
:class:`SafeZip`:

- Nothing is ever written to disk; members are read into memory with size caps, so an
  entry named ``../../etc/passwd`` can do no harm. Such names are still counted and
  reported, because a package that holds them is broken or hostile.
- Zip bombs are refused twice: first by the sizes the central directory declares
  (entry count, total size, expansion ratio, entries that overlap one another), then
  by counting the bytes actually inflated while reading.
- Names written without the UTF-8 flag are decoded the way Chinese and Japanese
  Windows wrote them (GBK, Shift_JIS) instead of as DOS code page 437.
- Finder and Explorer droppings (``__MACOSX/``, ``.DS_Store``, ``Thumbs.db``) are left
  out of the member list.
"""

from __future__ import annotations

import io
import itertools
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

__all__ = [
    "BOMB_FLOOR_BYTES",
    "Member",
    "MemberUnreadable",
    "SafeZip",
    "ZipDamaged",
    "ZipRejected",
    "decode_member_name",
]

#: Expansion ratios are only judged on entries (and archives) that inflate to more than
#: this: a small file of spaces compresses a thousandfold and harms no one.
BOMB_FLOOR_BYTES = 1024 * 1024

_CHUNK = 64 * 1024
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_UNICODE_PATH_EXTRA = 0x7075
_LOCAL_HEADER_SIZE = 30
_JUNK_DIRS = frozenset({"__MACOSX"})
_JUNK_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


class ZipRejected(Exception):
    """The archive cannot be accepted; the message tells the uploader why."""


class ZipDamaged(ZipRejected):
    """The archive's directory cannot be read: the file is truncated or corrupt."""


class MemberUnreadable(Exception):
    """One entry cannot be read (too large, encrypted, corrupt); others may be fine."""


@dataclass(frozen=True)
class Member:
    """One usable entry of an archive."""

    #: Decoded name with ``/`` separators; never a path to open on disk.
    name: str
    size: int
    compressed_size: int
    is_dir: bool
    encrypted: bool
    info: zipfile.ZipInfo

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()

    @property
    def at_root(self) -> bool:
        return "/" not in self.name.rstrip("/")


def decode_member_name(info: zipfile.ZipInfo) -> str:
    """The entry name as its author wrote it.

    Without the UTF-8 flag, :mod:`zipfile` decodes names as code page 437, which turns
    Chinese and Japanese names into box-drawing characters. The raw bytes are
    recovered and tried as, in order: an Info-ZIP Unicode Path field, UTF-8, GBK
    limited to GB2312's common characters, Shift_JIS, then any GBK. The GB2312 step
    comes first because GBK accepts almost any byte pair, Shift_JIS included.
    """
    name = info.orig_filename.split("\x00", 1)[0]
    if info.flag_bits & _UTF8_FLAG:
        return name

    raw = name.encode("cp437")
    unicode_path = _unicode_path_field(info.extra, raw)
    if unicode_path is not None:
        return unicode_path

    for decode in (_utf8, _gb2312_only, _shift_jis, _gbk):
        decoded = decode(raw)
        if decoded is not None:
            return decoded

    return name


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _gb2312_only(raw: bytes) -> str | None:
    try:
        text = raw.decode("gbk")
        text.encode("gb2312")
    except UnicodeError:
        return None

    return text


def _shift_jis(raw: bytes) -> str | None:
    try:
        return raw.decode("shift_jis")
    except UnicodeDecodeError:
        return None


def _gbk(raw: bytes) -> str | None:
    try:
        return raw.decode("gbk")
    except UnicodeDecodeError:
        return None


def _unicode_path_field(extra: bytes, raw_name: bytes) -> str | None:
    """The name in an Info-ZIP Unicode Path extra field, if present and current."""
    pos = 0
    while pos + 4 <= len(extra):
        field_id, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if field_id != _UNICODE_PATH_EXTRA or len(body) < 5 or body[0] != 1:
            continue

        # The field names the CRC of the name it replaces, so a renaming tool that
        # left a stale field behind is detected.
        (crc,) = struct.unpack_from("<I", body, 1)
        if crc != zlib.crc32(raw_name):
            return None

        try:
            return body[5:].decode("utf-8")
        except UnicodeDecodeError:
            return None

    return None


def _is_unsafe(name: str) -> bool:
    """Absolute paths, drive letters and ``..`` components."""
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True

    return ".." in name.split("/")


def _is_junk(name: str) -> bool:
    parts = name.rstrip("/").split("/")
    return parts[0] in _JUNK_DIRS or parts[-1] in _JUNK_FILES


class SafeZip:
    """A zip archive opened for reading under the given limits.

    :param source: a path, or an open binary file that the archive then owns and
        closes.
    :param max_members: most entries accepted.
    :param max_total_bytes: most bytes the entries may inflate to, declared or read.
    :param max_ratio: most an entry, or the whole archive, may expand.
    :param max_member_bytes: larger entries are listed but not read.
    :raises ZipRejected: when the archive is damaged, truncated or a zip bomb.
    """

    def __init__(
        self,
        source: str | IO[bytes],
        *,
        max_members: int,
        max_total_bytes: int,
        max_ratio: float,
        max_member_bytes: int,
    ) -> None:
        try:
            self._zip = zipfile.ZipFile(source)
        except zipfile.BadZipFile as exc:
            raise ZipDamaged(
                "the zip archive is damaged or truncated (its central directory "
                "cannot be read); upload the complete file again"
            ) from exc
        except (OSError, ValueError, EOFError, struct.error) as exc:
            raise ZipRejected(f"the zip archive cannot be read ({exc})") from exc

        self._source = None if isinstance(source, str) else source
        self.max_total_bytes = max_total_bytes
        self.max_ratio = max_ratio
        self.max_member_bytes = max_member_bytes
        self.bytes_read = 0
        #: Entries whose names try to leave the archive (``../``, ``/etc``); never read.
        self.unsafe_names: list[str] = []
        #: Usable entries, junk and unsafe names left out, in archive order.
        self.members: list[Member] = []

        try:
            infos = self._zip.infolist()
            self._check_declared_sizes(infos, max_members)
        except ZipRejected:
            self.close()
            raise

        for info in infos:
            name = decode_member_name(info).replace("\\", "/")
            if _is_unsafe(name):
                self.unsafe_names.append(name)
                continue

            while name.startswith("./"):
                name = name[2:]

            if not name or _is_junk(name):
                continue

            self.members.append(
                Member(
                    name=name,
                    size=info.file_size,
                    compressed_size=info.compress_size,
                    is_dir=info.is_dir() or name.endswith("/"),
                    encrypted=bool(info.flag_bits & _ENCRYPTED_FLAG),
                    info=info,
                )
            )

        self._by_name = {m.name: m for m in self.members}
        self._by_lower_name = {m.name.lower(): m for m in self.members}

    def _check_declared_sizes(
        self, infos: list[zipfile.ZipInfo], max_members: int
    ) -> None:
        if len(infos) > max_members:
            raise ZipRejected(
                f"the zip holds {len(infos)} entries, more than the {max_members} "
                "accepted; split it into smaller archives"
            )

        total = sum(info.file_size for info in infos)
        if total > self.max_total_bytes:
            raise ZipRejected(
                f"the zip would expand to {total:,} bytes, more than the "
                f"{self.max_total_bytes:,} accepted"
            )

        for info in infos:
            if info.file_size > BOMB_FLOOR_BYTES and (
                info.file_size / max(info.compress_size, 1) > self.max_ratio
            ):
                raise ZipRejected(
                    f"the zip entry {info.filename!r} expands "
                    f"{info.file_size / max(info.compress_size, 1):.0f} times "
                    f"(limit {self.max_ratio:.0f}): refused as a possible zip bomb"
                )

        compressed = sum(info.compress_size for info in infos)
        if total > BOMB_FLOOR_BYTES and total / max(compressed, 1) > self.max_ratio:
            raise ZipRejected(
                f"the zip expands {total / max(compressed, 1):.0f} times (limit "
                f"{self.max_ratio:.0f}): refused as a possible zip bomb"
            )

        # Entries sharing their compressed data is how the densest zip bombs get past
        # per-entry ratio checks; no archiver writes such files.
        by_offset = sorted(infos, key=lambda info: info.header_offset)
        for first, second in itertools.pairwise(by_offset):
            end = first.header_offset + _LOCAL_HEADER_SIZE + first.compress_size
            if end > second.header_offset:
                raise ZipRejected(
                    "the zip's entries overlap one another: refused as a possible "
                    "zip bomb"
                )

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()
        if self._source is not None:
            self._source.close()

    def files(self) -> Iterator[Member]:
        """Usable entries that are not directories."""
        return (m for m in self.members if not m.is_dir)

    def get(self, name: str, *, ignore_case: bool = False) -> Member | None:
        """The entry called ``name`` (exact, or ignoring case when asked)."""
        if ignore_case:
            return self._by_lower_name.get(name.lower())

        return self._by_name.get(name)

    def read(self, member: Member, limit: int | None = None) -> bytes:
        """The inflated content of ``member``, counted while it is read.

        :param limit: read at most this many bytes instead of the whole entry.
        :raises MemberUnreadable: for an entry that is encrypted, larger than the
            member limit, or corrupt (bad CRC, bad deflate stream).
        :raises ZipRejected: when the archive inflates past its declared sizes or past
            the total limit, which only a forged archive does.
        """
        if member.encrypted:
            raise MemberUnreadable(f"{member.name}: encrypted entry")

        if limit is None and member.size > self.max_member_bytes:
            raise MemberUnreadable(
                f"{member.name}: larger than {self.max_member_bytes:,} bytes"
            )

        cap = member.size if limit is None else min(member.size, limit)
        buffer = io.BytesIO()
        try:
            with self._zip.open(member.info) as stream:
                while buffer.tell() < cap:
                    chunk = stream.read(min(_CHUNK, cap - buffer.tell()))
                    if not chunk:
                        break

                    self.bytes_read += len(chunk)
                    if self.bytes_read > self.max_total_bytes:
                        raise ZipRejected(
                            "the zip inflates past the accepted total size: refused "
                            "as a possible zip bomb"
                        )

                    buffer.write(chunk)
        except ZipRejected:
            raise
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            raise MemberUnreadable(f"{member.name}: corrupt entry ({exc})") from exc
        except (NotImplementedError, RuntimeError) as exc:
            # Unsupported compression methods (e.g. 7-Zip's PPMd) land here.
            raise MemberUnreadable(f"{member.name}: {exc}") from exc

        return buffer.getvalue()
