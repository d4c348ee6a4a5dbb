"""The interface's own put_file, which a store without a faster way inherits."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from storage import DigestMismatch, ObjectStore
from storage.local import LocalStore


class StreamingStore(LocalStore):
    """A local store that keeps the default put_file, which reads through put_stream."""

    put_file = ObjectStore.put_file


def test_default_put_file_stores_the_file(tmp_path: Path) -> None:
    store = StreamingStore(tmp_path / "store")
    path = tmp_path / "upload-spool"
    path.write_bytes(b"worksheet answers")
    sha256 = hashlib.sha256(b"worksheet answers").hexdigest()

    stored = store.put_file(path, sha256, 17)

    assert (stored.sha256, stored.size, stored.created) == (sha256, 17, True)
    assert b"".join(store.iter_bytes(sha256)) == b"worksheet answers"
    assert path.read_bytes() == b"worksheet answers"


def test_default_put_file_checks_the_digest(tmp_path: Path) -> None:
    store = StreamingStore(tmp_path / "store")
    path = tmp_path / "upload-spool"
    path.write_bytes(b"worksheet answers")
    claimed = hashlib.sha256(b"another worksheet").hexdigest()

    with pytest.raises(DigestMismatch, match=claimed):
        store.put_file(path, claimed, 17)

    assert store.exists(claimed) is False


def test_default_put_file_checks_the_size_before_storing(tmp_path: Path) -> None:
    store = StreamingStore(tmp_path / "store")
    path = tmp_path / "upload-spool"
    path.write_bytes(b"worksheet answers")
    sha256 = hashlib.sha256(b"worksheet answers").hexdigest()

    with pytest.raises(DigestMismatch, match="17 bytes, not 18"):
        store.put_file(path, sha256, 18)

    assert list(store.iter_digests()) == []
