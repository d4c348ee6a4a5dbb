"""Errors raised by every object store.

Backends translate their vendor errors (``minio.error.S3Error``, ``OSError``, urllib3
connection errors) into these at the boundary, so that nothing above ``storage`` knows
which backend runs.
"""


class StorageError(Exception):
    """Base class of every storage error."""


class StorageConfigError(StorageError):
    """``KEJIAN_STORAGE_URL`` cannot be understood; the message names what to fix."""


class ObjectNotFound(StorageError):
    """No object is stored under the requested digest."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"no stored object {sha256}")
        self.sha256 = sha256


class ObjectTooLarge(StorageError):
    """A write went past its ``max_size``; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the limit of {limit} bytes")
        self.limit = limit


class DigestMismatch(StorageError):
    """A file handed to ``put_file`` does not hold the bytes its digest or size say.

    Nothing is kept under the claimed digest; the caller's file changed after it was
    hashed, or the caller passed the wrong figures.
    """

    def __init__(self, sha256: str, problem: str) -> None:
        super().__init__(f"the file given as {sha256} {problem}")
        self.sha256 = sha256


class StorageUnavailable(StorageError):
    """The object store cannot be reached or answered with a server error."""
