"""The interface every object store implements.

Objects are addressed by the lowercase hex SHA-256 of their content. Writers stream:
:meth:`ObjectStore.put_stream` reads its input in chunks, hashes while it writes, makes
the object visible atomically only once it is complete, and keeps a single copy when the
same bytes arrive twice.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

#: Size of the chunks stores read and write; large enough for throughput, small enough
#: that a request never holds a file in memory.
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    """What :meth:`ObjectStore.put_stream` wrote."""

    sha256: str
    size: int
    #: False when an object with the same digest was already stored.
    created: bool


@dataclass(frozen=True)
class ObjectInfo:
    sha256: str
    size: int


class ObjectStore(abc.ABC):
    """A content-addressed store of immutable objects."""

    #: Short name used in logs and the health endpoint ("local", "s3").
    name: str = "abstract"

    @abc.abstractmethod
    def put_stream(
        self, stream: BinaryIO, *, max_size: int | None = None
    ) -> StoredObject:
        """Store everything readable from *stream* and return its digest and size.

        The stream is read in chunks until it returns ``b""``; short reads are fine.
        The object becomes visible only once complete, and a failure at any point
        (including an exception raised by *stream* itself, which reaches the caller
        unchanged) leaves nothing behind.

        :raises ObjectTooLarge: when more than *max_size* bytes arrive; nothing is kept.
        :raises StorageUnavailable: when the backend fails.
        """

    @abc.abstractmethod
    def stat(self, sha256: str) -> ObjectInfo:
        """The stored size of the object.

        :raises ObjectNotFound: when nothing is stored under *sha256*, or when it is
            not a well-formed digest (64 lowercase hex digits).
        """

    def exists(self, sha256: str) -> bool:
        from storage.errors import ObjectNotFound

        try:
            self.stat(sha256)
        except ObjectNotFound:
            return False
        return True

    @abc.abstractmethod
    def iter_bytes(
        self, sha256: str, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        """Yield the object's bytes from *start* to *end* inclusive (HTTP range style).

        The object is opened before this returns, so a missing object raises here and
        not on the first chunk. An *end* past the object stops at its last byte. The
        returned iterator has a ``close()`` that releases the file or connection; WSGI
        servers call it when a response ends early.

        :raises ObjectNotFound: when nothing is stored under *sha256*, or when it is
            not a well-formed digest.
        :raises ValueError: when *start* is negative, *end* is before *start*, or
            *start* is not inside the object (reading a whole object, even an empty
            one, always works).
        """

    @abc.abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove the object; removing a missing object is not an error.

        :raises ValueError: when *sha256* is not a well-formed digest.
        """

    @abc.abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Yield the digest of every stored object."""

    def presigned_url(
        self,
        sha256: str,
        *,
        filename: str,
        content_type: str,
        expires_seconds: int = 300,
    ) -> str | None:
        """A URL a browser can download the object from directly, or None.

        Only stores that serve downloads themselves (S3 with presigned downloads turned
        on) return a URL; the caller then redirects instead of streaming.
        """
        return None

    def check(self) -> None:
        """Prepare the store (folders, bucket) and prove that it can be used.

        :raises StorageUnavailable: when the store cannot be reached or written.
        :raises StorageError: when it answers but refuses (credentials, permissions).
        """
