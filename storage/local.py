"""The local-disk object store, Kejian's embedded default.

Objects live at ``ROOT/objects/ab/cd/<sha256>``; uploads in progress live in
``ROOT/tmp``. The temporary folder sits inside the root on purpose: an object becomes
visible by a hard link from ``tmp`` into ``objects``, which is atomic only within one
filesystem. Readers therefore see either no object or a complete, fsynced one, never a
partial file, even when two processes store the same bytes at the same moment.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import BinaryIO

from storage._shared import (
    ByteStream,
    check_range,
    is_digest,
    require_digest,
    shard_path,
)
from storage.base import CHUNK_SIZE, ObjectInfo, ObjectStore, StoredObject
from storage.errors import ObjectNotFound, ObjectTooLarge, StorageUnavailable

# Filesystems without hard links (some network and FUSE mounts) answer link() with one
# of these; the store then falls back to rename, which is atomic but overwrites.
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}

_SHARD = re.compile(r"[0-9a-f]{2}")


class LocalStore(ObjectStore):
    """Objects as files under *root*, which is created on first use.

    The root must be writable by the service; nothing else needs to read it, so
    objects keep the owner-only mode that :func:`tempfile.mkstemp` gives them.
    """

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def put_stream(
        self, stream: BinaryIO, *, max_size: int | None = None
    ) -> StoredObject:
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="upload-")
        except OSError as exc:
            raise self._unavailable("create a temporary file", exc) from exc

        tmp_path = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                sha256, size = self._copy(stream, out, max_size)
                try:
                    out.flush()
                    os.fsync(out.fileno())
                except OSError as exc:
                    raise self._unavailable("write a temporary file", exc) from exc

            created = self._publish(tmp_path, sha256)
        finally:
            # After a successful link the temporary name is just a second link.
            with contextlib.suppress(OSError):
                tmp_path.unlink(missing_ok=True)

        return StoredObject(sha256=sha256, size=size, created=created)

    def stat(self, sha256: str) -> ObjectInfo:
        path = self._path(sha256)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(sha256) from None
        except OSError as exc:
            raise self._unavailable("read an object", exc) from exc

        return ObjectInfo(sha256=sha256, size=size)

    def iter_bytes(
        self, sha256: str, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        check_range(start, end)
        path = self._path(sha256)
        try:
            handle = path.open("rb")
            size = os.fstat(handle.fileno()).st_size
        except FileNotFoundError:
            raise ObjectNotFound(sha256) from None
        except OSError as exc:
            raise self._unavailable("read an object", exc) from exc

        # Same rule as an S3 server: a range must start inside the object, except a
        # read of the whole object, which works even when it is empty.
        if start >= size and (start, end) != (0, None):
            handle.close()
            raise ValueError(f"range starts at {start}, past the {size}-byte object")

        stop = size if end is None else min(end + 1, size)
        return ByteStream(self._read(handle, start, stop), handle.close)

    def delete(self, sha256: str) -> None:
        if not is_digest(sha256):
            raise ValueError(f"not a SHA-256 digest: {sha256[:80]!r}")

        # Empty shard folders are left in place: removing one could race with a
        # concurrent put that has just created it and is about to link into it.
        try:
            (self._objects / shard_path(sha256)).unlink(missing_ok=True)
        except OSError as exc:
            raise self._unavailable("delete an object", exc) from exc

    def iter_digests(self) -> Iterator[str]:
        try:
            for first in _subfolders(self._objects):
                for second in _subfolders(first):
                    with os.scandir(second) as entries:
                        for entry in entries:
                            if is_digest(entry.name) and entry.name.startswith(
                                first.name + second.name
                            ):
                                yield entry.name
        except OSError as exc:
            raise self._unavailable("list objects", exc) from exc

    def check(self) -> None:
        """Create the folders and prove the root is writable with a probe file."""
        try:
            self._objects.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self._tmp, prefix="probe-"):
                pass
        except OSError as exc:
            raise self._unavailable("write to its folder", exc) from exc

    # -- internals ---------------------------------------------------------------

    def _path(self, sha256: str) -> Path:
        return self._objects / shard_path(require_digest(sha256))

    def _copy(
        self, stream: BinaryIO, out: BinaryIO, max_size: int | None
    ) -> tuple[str, int]:
        """Copy *stream* to *out* chunk by chunk, hashing and counting on the way.

        Errors raised by *stream* (a client that went away) reach the caller as they
        are; only errors of the disk become :class:`StorageUnavailable`.
        """
        digest = hashlib.sha256()
        size = 0
        while chunk := stream.read(CHUNK_SIZE):
            size += len(chunk)
            if max_size is not None and size > max_size:
                raise ObjectTooLarge(max_size)

            digest.update(chunk)
            try:
                out.write(chunk)
            except OSError as exc:
                raise self._unavailable("write a temporary file", exc) from exc

        return digest.hexdigest(), size

    def _publish(self, tmp_path: Path, sha256: str) -> bool:
        """Make the complete temporary file visible as the object; False if present."""
        final = self._objects / shard_path(sha256)
        if final.exists():
            return False

        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                # link() refuses to replace an existing name, so when two uploads of
                # the same bytes race, exactly one of them reports created=True.
                os.link(tmp_path, final)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                os.replace(tmp_path, final)

            _fsync_folder(final.parent)
        except OSError as exc:
            raise self._unavailable("store an object", exc) from exc

        return True

    def _read(
        self, handle: BinaryIO, start: int, stop: int
    ) -> Generator[bytes, None, None]:
        try:
            handle.seek(start)
            remaining = stop - start
            while remaining > 0:
                chunk = handle.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk
        except OSError as exc:
            raise self._unavailable("read an object", exc) from exc

    def _unavailable(self, action: str, exc: OSError) -> StorageUnavailable:
        reason = exc.strerror or str(exc)
        return StorageUnavailable(
            f"the local object store at {self.root} cannot {action}: {reason}"
        )


def _subfolders(folder: Path) -> list[Path]:
    """The two-hex-digit shard folders directly under *folder*, sorted."""
    try:
        with os.scandir(folder) as entries:
            return sorted(
                Path(entry.path)
                for entry in entries
                if _SHARD.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
            )
    except FileNotFoundError:
        return []


def _fsync_folder(folder: Path) -> None:
    # The new name is only durable once its folder's entry is on disk too.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
