"""Helpers both backends need: digest checks, range checks and closable byte streams.

Digests arrive from callers and become file paths or object keys, so every backend
checks them here before building either: a digest is exactly 64 lowercase hex digits,
which leaves no room for ``..``, slashes or other keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator

from storage.errors import ObjectNotFound

_DIGEST = re.compile(r"[0-9a-f]{64}")


def is_digest(value: str) -> bool:
    return _DIGEST.fullmatch(value) is not None


def require_digest(sha256: str) -> str:
    """Return *sha256* when it is a well-formed digest.

    A malformed digest names no object, so reads report it as missing.

    :raises ObjectNotFound: when *sha256* is not 64 lowercase hex digits.
    """
    if not isinstance(sha256, str) or not is_digest(sha256):
        raise ObjectNotFound(str(sha256)[:80])
    return sha256


def shard_path(sha256: str) -> str:
    """The relative location of an object: ``ab/cd/<sha256>``.

    Two levels of 256 folders keep each folder (or listing prefix) small.
    """
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def check_range(start: int, end: int | None) -> None:
    """:raises ValueError: when the range cannot describe any bytes."""
    if start < 0:
        raise ValueError(f"range start must not be negative, got {start}")

    if end is not None and end < start:
        raise ValueError(f"range end {end} is before its start {start}")


class ByteStream(Iterator[bytes]):
    """An iterator of chunks that releases its file or connection when done.

    Backends open the object before returning this, so a missing object is reported by
    ``iter_bytes`` itself rather than on the first chunk. The resource is released when
    the chunks run out, when reading fails, or when :meth:`close` is called; WSGI
    servers call ``close`` on a response body, including when the client goes away
    half-way. A plain generator would not do: closing one that never started skips its
    ``finally``.
    """

    def __init__(
        self, chunks: Generator[bytes, None, None], release: Callable[[], None]
    ) -> None:
        self._chunks = chunks
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> ByteStream:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        release, self._release = self._release, None
        if release is None:
            return

        try:
            self._chunks.close()
        finally:
            release()
