"""The interface every object store implements.

Objects are addressed by the lowercase hex SHA-256 of their content. Writers stream:
:meth:`ObjectStore.put_stream` reads its input in chunks, hashes while it writes, makes
the object visible atomically only once it is complete, and keeps a single copy when the
same bytes arrive twice. A caller that already holds the whole file on local disk with
its digest (an upload spooled while it was hashed) hands it over with
:meth:`ObjectStore.put_file` instead, which lets a store skip work it would repeat.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from storage._shared import is_digest
from storage.errors import DigestMismatch, ObjectTooLarge

#: Size of the chunks stores read and write; large enough for throughput, small enough
#: that a request never holds a file in memory.
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    """What :meth:`ObjectStore.put_stream` or :meth:`ObjectStore.put_file` wrote."""

    sha256: str
    size: int
    #: False when an object with the same digest was already stored.
    created: bool


@dataclass(frozen=True)
class ObjectInfo:
    sha256: str
    size: int
    #: When the object was last written, in UTC; None when the store cannot say.
    #: Storing bytes that are already there does not change it.
    modified: datetime | None = None


@dataclass(frozen=True)
class Leftover:
    """A temporary file or key that a write abandoned when its process died."""

    #: The name :meth:`ObjectStore.remove_leftover` takes.
    name: str
    size: int
    #: When it was last written, in UTC.
    modified: datetime


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

    def put_file(
        self, path: Path, sha256: str, size: int, *, max_size: int | None = None
    ) -> StoredObject:
        """Store the complete local file at *path*, whose digest and size are known.

        For a caller that hashed the file while writing it, such as an upload spooled
        to a private temporary file. The caller keeps ownership of *path*: it removes
        whatever is left there afterwards (``unlink(missing_ok=True)``), since a store
        may have moved the file into place, and it must not write to the file during
        or after the call, since the stored object may share its disk blocks.

        This default streams the file through :meth:`put_stream`, which hashes it
        again, and refuses it when the digest differs. Stores that can take the file
        over more cheaply override it; they may trust *sha256* rather than read the
        file again, so a caller whose file could have been changed by someone else
        since it was hashed must use :meth:`put_stream`.

        :raises ObjectTooLarge: when *size* is over *max_size*; nothing is kept.
        :raises DigestMismatch: when the file does not hold *size* bytes, or (where
            the store reads the file) bytes with another digest; nothing is kept
            under *sha256*.
        :raises ValueError: when *sha256* is not a well-formed digest.
        :raises OSError: when *path* cannot be opened or read, unchanged.
        :raises StorageUnavailable: when the backend fails.
        """
        if not is_digest(sha256):
            raise ValueError(f"not a SHA-256 digest: {sha256[:80]!r}")
        if max_size is not None and size > max_size:
            raise ObjectTooLarge(max_size)

        with Path(path).open("rb") as stream:
            actual = os.fstat(stream.fileno()).st_size
            if actual != size:
                raise DigestMismatch(sha256, f"holds {actual} bytes, not {size}")
            stored = self.put_stream(stream, max_size=max_size)

        # The object is kept under its real digest; the collector removes it if
        # nothing refers to it, as it does any unreferenced object.
        if stored.sha256 != sha256:
            raise DigestMismatch(sha256, f"holds bytes with digest {stored.sha256}")
        return stored

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

    def local_path(self, sha256: str) -> Path | None:
        """The object's own file, for a reader that needs a path; None if it has none.

        Only a store that keeps each object as a complete local file returns one, so
        that a reader (text extraction) need not copy the bytes out first; with any
        other store the caller copies them with :meth:`iter_bytes`. The file is the
        object itself: read it, never write to it.

        :raises ObjectNotFound: when the store keeps files and *sha256* has none.
        """
        return None

    def iter_leftovers(self) -> Iterator[Leftover]:
        """Yield what interrupted writes left behind, such as temporary files.

        Writes in progress look the same, so callers only remove leftovers older
        than any write can take. A store whose writes leave nothing yields nothing.

        :raises StorageUnavailable: when the backend fails.
        """
        return iter(())

    def remove_leftover(self, name: str) -> None:
        """Remove one leftover named by :meth:`iter_leftovers`; a missing one is fine.

        :raises ValueError: when *name* is not the name of a leftover, so that no
            object can be removed through this.
        :raises StorageUnavailable: when the backend fails.
        """
        raise ValueError(f"{self.name} stores leave no leftovers, got {name[:80]!r}")

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
