"""Content-addressed object stores for Kejian's files.

Every file Kejian keeps is stored once under the SHA-256 of its bytes. Two backends
share the :class:`storage.base.ObjectStore` interface: a local-disk store (the embedded
default) and an S3 store that speaks to MinIO, Swift's ``s3api`` or AWS through the
official ``minio`` client. :func:`open_store` picks one from ``KEJIAN_STORAGE_URL``.
"""

from storage.base import Leftover, ObjectInfo, ObjectStore, StoredObject
from storage.errors import (
    DigestMismatch,
    ObjectNotFound,
    ObjectTooLarge,
    StorageConfigError,
    StorageError,
    StorageUnavailable,
)
from storage.factory import open_store

__all__ = [
    "DigestMismatch",
    "Leftover",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectTooLarge",
    "StorageConfigError",
    "StorageError",
    "StorageUnavailable",
    "StoredObject",
    "open_store",
]
