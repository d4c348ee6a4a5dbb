"""The local-disk object store, Kejian's embedded default.

Objects live at ``ROOT/objects/ab/cd/<sha256>``; uploads in progress live in
``ROOT/tmp``. The temporary folder sits inside the root on purpose: an object becomes
visible by a hard link from ``tmp`` into ``objects``, which is atomic only within one
filesystem. Readers therefore see either no object or a complete, fsynced one, never a
partial file, even when two processes store the same bytes at the same moment.

:meth:`LocalStore.put_file` publishes a caller's finished file the same way, linking
it straight from where it is (an upload spooled to ``KEJIAN_HOME/tmp``, usually on the
same filesystem as the store) so that a large upload is written to disk only once.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from storage._shared import (
    ByteStream,
    check_range,
    is_digest,
    require_digest,
    shard_path,
)
from storage.base import (
    CHUNK_SIZE,
    Leftover,
    ObjectInfo,
    ObjectStore,
    StoredObject,
)
from storage.errors import (
    DigestMismatch,
    ObjectNotFound,
    ObjectTooLarge,
    StorageUnavailable,
)

# Filesystems without hard links (some network and FUSE mounts) answer link() with one
# of these; the store then falls back to rename, which is atomic but overwrites.
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}

_SHARD = re.compile(r"[0-9a-f]{2}")

# A plain file name, as mkstemp makes them: never a path, never "." or "..".
_TEMPORARY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


class _OtherFilesystem(StorageUnavailable):
    """A file could not be linked or moved into place: it is on another filesystem.

    Raised only where the source may live outside the store's root; put_file then
    copies the file in instead.
    """


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

    def put_file(
        self, path: Path, sha256: str, size: int, *, max_size: int | None = None
    ) -> StoredObject:
        """Make the caller's complete file the object, without reading it again.

        The file is fsynced and hard-linked into place, which is atomic and refuses
        to replace an object that is already there, so uploads of the same bytes that
        race still report exactly one ``created``. A filesystem without hard links
        gets the file moved instead; a file on another filesystem than the store
        (``KEJIAN_STORAGE_URL`` pointing at another disk) is copied into the store's
        temporary folder and published from there, as :meth:`put_stream` does.

        The digest is trusted, not recomputed. That is safe for the one caller this
        exists for, an upload spooled by the web process: it created the file with
        ``mkstemp`` (a fresh name, owner-only mode, in the instance's own folder),
        hashed each chunk as it wrote it, and shares the name with nobody, so the
        bytes on disk are the bytes it hashed. Hashing them again right after would
        read them back from the page cache, not from the disk, and catch nothing the
        first pass missed. The size is checked, as it costs one ``fstat``.
        """
        if not is_digest(sha256):
            raise ValueError(f"not a SHA-256 digest: {sha256[:80]!r}")
        if max_size is not None and size > max_size:
            raise ObjectTooLarge(max_size)

        path = Path(path)
        final = self._objects / shard_path(sha256)
        # Opening and measuring the caller's file may fail with the caller's own
        # OSError; only what happens inside the store becomes StorageUnavailable.
        with path.open("rb") as source:
            actual = os.fstat(source.fileno()).st_size
            if actual != size:
                raise DigestMismatch(sha256, f"holds {actual} bytes, not {size}")
            if final.exists():
                return StoredObject(sha256=sha256, size=size, created=False)

            # The spooled bytes may still sit in the page cache only; they must be
            # on disk before a name in objects/ promises a complete object.
            try:
                os.fsync(source.fileno())
            except OSError as exc:
                raise self._unavailable("write an object", exc) from exc

        try:
            created = self._publish(path, sha256)
        except _OtherFilesystem:
            created = self._publish_copy(path, sha256, size)

        return StoredObject(sha256=sha256, size=size, created=created)

    def stat(self, sha256: str) -> ObjectInfo:
        path = self._path(sha256)
        try:
            status = path.stat()
        except FileNotFoundError:
            raise ObjectNotFound(sha256) from None
        except OSError as exc:
            raise self._unavailable("read an object", exc) from exc

        return ObjectInfo(
            sha256=sha256, size=status.st_size, modified=_utc(status.st_mtime)
        )

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

    def local_path(self, sha256: str) -> Path:
        path = self._path(sha256)
        if not path.is_file():
            raise ObjectNotFound(sha256)
        return path

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

    def iter_leftovers(self) -> Iterator[Leftover]:
        """The files in ``tmp``: writes whose process died before cleaning up.

        The probe files of :meth:`check` have no name, so only writes show here.
        """
        try:
            with os.scandir(self._tmp) as entries:
                for entry in entries:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    status = entry.stat(follow_symlinks=False)
                    yield Leftover(
                        name=entry.name,
                        size=status.st_size,
                        modified=_utc(status.st_mtime),
                    )
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._unavailable("list its temporary files", exc) from exc

    def remove_leftover(self, name: str) -> None:
        if not _TEMPORARY.fullmatch(name):
            raise ValueError(f"not a temporary file of the store: {name[:80]!r}")

        try:
            (self._tmp / name).unlink(missing_ok=True)
        except OSError as exc:
            raise self._unavailable("remove a temporary file", exc) from exc

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
        """Make the complete, fsynced file visible as the object; False if present.

        :raises _OtherFilesystem: when *tmp_path* is on another filesystem.
        """
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
            error = self._unavailable("store an object", exc)
            if exc.errno == errno.EXDEV:
                error = _OtherFilesystem(str(error))
            raise error from exc

        return True

    def _publish_copy(self, source: Path, sha256: str, size: int) -> bool:
        """Copy *source* into the store's temporary folder, then publish the copy.

        The copy is not hashed either (see :meth:`put_file`); its size is checked.
        """
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="upload-")
        except OSError as exc:
            raise self._unavailable("create a temporary file", exc) from exc

        os.close(fd)
        tmp_path = Path(tmp_name)
        try:
            try:
                # copyfile uses sendfile() on Linux: no trip through this process.
                shutil.copyfile(source, tmp_path)
                copied = tmp_path.stat().st_size
                with tmp_path.open("rb") as copy:
                    os.fsync(copy.fileno())
            except OSError as exc:
                raise self._unavailable("copy a file in", exc) from exc

            if copied != size:
                raise DigestMismatch(sha256, f"holds {copied} bytes, not {size}")
            return self._publish(tmp_path, sha256)
        finally:
            with contextlib.suppress(OSError):
                tmp_path.unlink(missing_ok=True)

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


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _fsync_folder(folder: Path) -> None:
    # The new name is only durable once its folder's entry is on disk too.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
