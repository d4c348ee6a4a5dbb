"""What the local store promises beyond the conformance suite: layout and races."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from storage.local import LocalStore


def test_objects_are_sharded_files_under_root(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)

    stored = store.put_stream(io.BytesIO(b"unit 3 slides"))

    sha256 = stored.sha256
    path = tmp_path / "objects" / sha256[:2] / sha256[2:4] / sha256
    assert path.read_bytes() == b"unit 3 slides"
    assert list((tmp_path / "tmp").iterdir()) == []


def test_concurrent_uploads_of_the_same_bytes_create_it_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    data = b"the same handout from eight teachers" * 10_000
    barrier = threading.Barrier(8)
    results = []

    def upload() -> None:
        barrier.wait()
        results.append(store.put_stream(io.BytesIO(data)))

    threads = [threading.Thread(target=upload) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r.created for r in results) == 1
    assert {r.sha256 for r in results} == {hashlib.sha256(data).hexdigest()}
    assert list(store.iter_digests()) == [results[0].sha256]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_stray_files_are_not_listed_as_objects(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    sha256 = store.put_stream(io.BytesIO(b"real")).sha256
    shard = tmp_path / "objects" / sha256[:2] / sha256[2:4]
    (shard / "notes.txt").write_text("not an object")
    (shard / ("0" * 64)).write_text("a digest in the wrong shard")
    (tmp_path / "objects" / "zz").mkdir()

    assert list(store.iter_digests()) == [sha256]


def test_closing_a_download_early_releases_the_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    sha256 = store.put_stream(io.BytesIO(b"x" * 3_000_000)).sha256

    chunks = store.iter_bytes(sha256)
    first = next(chunks)
    assert open_handles(tmp_path) == 1
    chunks.close()  # type: ignore[attr-defined]

    assert len(first) == 1024 * 1024
    assert open_handles(tmp_path) == 0
    assert next(chunks, None) is None


def spooled(folder: Path, data: bytes, name: str = "upload-spool") -> tuple[Path, str]:
    """A finished upload spool outside the store, and its digest."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def object_path(root: Path, sha256: str) -> Path:
    return root / "objects" / sha256[:2] / sha256[2:4] / sha256


def test_put_file_links_the_spool_instead_of_copying(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    path, sha256 = spooled(tmp_path / "spool", b"a lesson recorded in class")

    stored = store.put_file(path, sha256, path.stat().st_size)

    assert stored.created is True
    # One inode under two names: the bytes were written once, by the spool.
    assert object_path(store.root, sha256).stat().st_ino == path.stat().st_ino
    assert not any((store.root / "tmp").glob("*"))


def test_put_file_from_another_filesystem_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path / "store")
    path, sha256 = spooled(tmp_path / "spool", b"spooled on another disk")
    real_link = os.link

    def link(source: Path, target: Path) -> None:
        if not Path(source).is_relative_to(store.root):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(source, target)

    monkeypatch.setattr("storage.local.os.link", link)
    stored = store.put_file(path, sha256, path.stat().st_size)

    final = object_path(store.root, sha256)
    assert stored.created is True
    assert final.read_bytes() == b"spooled on another disk"
    assert final.stat().st_ino != path.stat().st_ino
    assert list((store.root / "tmp").iterdir()) == []


def test_put_file_without_hard_links_moves_the_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path / "store")
    path, sha256 = spooled(tmp_path / "spool", b"on a mount without links")

    def link(source: Path, target: Path) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr("storage.local.os.link", link)
    stored = store.put_file(path, sha256, path.stat().st_size)

    assert stored.created is True
    assert object_path(store.root, sha256).read_bytes() == b"on a mount without links"
    assert not path.exists()


def test_concurrent_put_file_of_the_same_bytes_creates_it_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    data = b"the same handout, spooled by eight requests" * 10_000
    spools = [spooled(tmp_path / "spool", data, f"upload-{i}") for i in range(8)]
    barrier = threading.Barrier(8)
    results = []

    def upload(path: Path, sha256: str) -> None:
        barrier.wait()
        results.append(store.put_file(path, sha256, len(data)))

    threads = [threading.Thread(target=upload, args=pair) for pair in spools]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r.created for r in results) == 1
    assert list(store.iter_digests()) == [hashlib.sha256(data).hexdigest()]


def open_handles(folder: Path) -> int:
    """How many of this process's file descriptors point into *folder* (Linux)."""
    fds = Path("/proc/self/fd")
    targets = []
    for fd in fds.iterdir():
        try:
            targets.append(fd.readlink())
        except OSError:
            continue
    return sum(1 for target in targets if target.is_relative_to(folder))
