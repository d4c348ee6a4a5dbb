"""One suite that every object store passes: local disk, nanio and Swift's S3 API.

The ``backend`` fixture (conftest.py) runs each test once per store. What the rest of
Kejian relies on is written down here, so that a new backend is accepted by passing
this file rather than by reading the others' code.
"""

from __future__ import annotations

import hashlib
import io
import socket
import time
import urllib.error
from datetime import UTC, datetime, timedelta
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

from storage import (
    DigestMismatch,
    ObjectNotFound,
    ObjectTooLarge,
    StorageConfigError,
    StorageError,
    StorageUnavailable,
    open_store,
)
from storage.local import LocalStore
from storage.s3 import PART_SIZE, S3Store

if TYPE_CHECKING:
    from conftest import Backend, Content

MB = 1024 * 1024
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def read_all(
    backend: Backend, sha256: str, start: int = 0, end: int | None = None
) -> bytes:
    return b"".join(backend.store.iter_bytes(sha256, start, end))


def test_round_trip_keeps_bytes_and_digest(backend: Backend, content: Content) -> None:
    data = content.read(3 * MB + 17, seed=1)

    stored = backend.store.put_stream(io.BytesIO(data))

    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    assert stored.created is True
    assert backend.store.stat(stored.sha256).size == len(data)
    assert backend.store.exists(stored.sha256)
    assert read_all(backend, stored.sha256) == data
    assert backend.leftovers() == []


def test_same_bytes_twice_are_stored_once(backend: Backend) -> None:
    first = backend.store.put_stream(io.BytesIO(b"the same lesson plan"))
    second = backend.store.put_stream(io.BytesIO(b"the same lesson plan"))

    assert first.created is True
    assert second.created is False
    assert second.sha256 == first.sha256
    assert list(backend.store.iter_digests()) == [first.sha256]
    assert backend.leftovers() == []


def test_empty_object(backend: Backend) -> None:
    stored = backend.store.put_stream(io.BytesIO(b""))

    assert (stored.sha256, stored.size, stored.created) == (EMPTY_SHA256, 0, True)
    assert backend.store.stat(EMPTY_SHA256).size == 0
    assert read_all(backend, EMPTY_SHA256) == b""


@pytest.mark.parametrize(
    ("size", "limit"),
    [(11, 10), (PART_SIZE + 4 * MB, PART_SIZE + MB)],
    ids=["small", "past-first-part"],
)
def test_too_large_upload_leaves_nothing(
    backend: Backend, content: Content, size: int, limit: int
) -> None:
    with pytest.raises(ObjectTooLarge) as refused:
        backend.store.put_stream(content.stream(size), max_size=limit)

    assert refused.value.limit == limit
    assert list(backend.store.iter_digests()) == []
    assert backend.leftovers() == []


def test_upload_at_the_limit_is_accepted(backend: Backend) -> None:
    stored = backend.store.put_stream(io.BytesIO(b"0123456789"), max_size=10)

    assert stored.size == 10


def test_ranges(backend: Backend, content: Content) -> None:
    data = content.read(2 * MB + 100, seed=2)
    sha256 = backend.store.put_stream(io.BytesIO(data)).sha256
    last = len(data) - 1

    assert read_all(backend, sha256, 0, 0) == data[:1]
    assert read_all(backend, sha256, 1000, MB + 5000) == data[1000 : MB + 5001]
    assert read_all(backend, sha256, last, last) == data[-1:]
    assert read_all(backend, sha256, 0, last) == data
    assert read_all(backend, sha256, 0) == data
    assert read_all(backend, sha256, last - 9) == data[-10:]


def test_range_end_past_the_object_is_cut(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    backend.known_gap(request, "range-past-end")
    sha256 = backend.store.put_stream(io.BytesIO(b"twelve bytes")).sha256

    # As with HTTP ranges, an end past the object stops at its last byte.
    assert read_all(backend, sha256, 7, 100) == b"bytes"


def test_range_starting_past_the_object_is_refused(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    backend.known_gap(request, "range-past-end")
    sha256 = backend.store.put_stream(io.BytesIO(b"twelve bytes")).sha256

    with pytest.raises(ValueError):
        read_all(backend, sha256, 12)


def test_malformed_ranges_are_refused(backend: Backend) -> None:
    sha256 = backend.store.put_stream(io.BytesIO(b"twelve bytes")).sha256

    with pytest.raises(ValueError):
        read_all(backend, sha256, 5, 4)
    with pytest.raises(ValueError):
        read_all(backend, sha256, -1)


def test_downloads_closed_half_way_do_not_disturb_later_ones(
    backend: Backend, content: Content
) -> None:
    data = content.read(3 * MB, seed=4)
    sha256 = backend.store.put_stream(io.BytesIO(data)).sha256

    # As a WSGI server does when the client goes away: a chunk, then close().
    for _ in range(12):
        chunks = backend.store.iter_bytes(sha256)
        first = next(chunks)
        chunks.close()  # type: ignore[attr-defined]
        assert first and data.startswith(first)

    assert read_all(backend, sha256) == data


def test_missing_object(backend: Backend) -> None:
    missing = hashlib.sha256(b"never stored").hexdigest()

    with pytest.raises(ObjectNotFound) as not_found:
        backend.store.stat(missing)
    assert not_found.value.sha256 == missing

    # Reported by iter_bytes itself, before any chunk, so a view can still answer 404.
    with pytest.raises(ObjectNotFound):
        backend.store.iter_bytes(missing)
    assert backend.store.exists(missing) is False


@pytest.mark.parametrize(
    "digest", ["../../../etc/passwd", "AB" * 32, "ab" * 31, "ab" * 32 + "/x", ""]
)
def test_malformed_digests_name_no_object(backend: Backend, digest: str) -> None:
    with pytest.raises(ObjectNotFound):
        backend.store.stat(digest)
    with pytest.raises(ObjectNotFound):
        backend.store.iter_bytes(digest)
    with pytest.raises(ValueError):
        backend.store.delete(digest)


def test_delete_is_idempotent(backend: Backend) -> None:
    sha256 = backend.store.put_stream(io.BytesIO(b"old worksheet")).sha256

    backend.store.delete(sha256)
    backend.store.delete(sha256)

    assert backend.store.exists(sha256) is False
    assert list(backend.store.iter_digests()) == []


def test_iter_digests_lists_every_object(backend: Backend) -> None:
    stored = {
        backend.store.put_stream(io.BytesIO(f"file {i}".encode())).sha256
        for i in range(5)
    }

    assert sorted(backend.store.iter_digests()) == sorted(stored)


def test_multipart_upload(backend: Backend, content: Content) -> None:
    size = 40 * 1000 * 1000  # 40 MB: three parts of 16 MiB on S3
    assert size > 2 * PART_SIZE

    stored = backend.store.put_stream(content.stream(size, seed=3))

    assert stored.sha256 == content.digest(size, seed=3)
    assert stored.size == size
    assert backend.store.stat(stored.sha256).size == size
    read_back = hashlib.sha256()
    for chunk in backend.store.iter_bytes(stored.sha256):
        read_back.update(chunk)
    assert read_back.hexdigest() == stored.sha256
    assert backend.leftovers() == []


@pytest.mark.parametrize(
    "fail_after", [100, PART_SIZE + 3 * MB], ids=["first-part", "later-part"]
)
def test_failing_stream_leaves_nothing(
    backend: Backend, content: Content, fail_after: int
) -> None:
    stream = content.stream(PART_SIZE * 2, fail_after=fail_after)

    # The reader's own error reaches the caller unchanged: it is not a storage fault.
    with pytest.raises(content.ClientGone):
        backend.store.put_stream(stream)

    assert list(backend.store.iter_digests()) == []
    assert backend.leftovers() == []


def test_check_passes(backend: Backend) -> None:
    backend.store.check()


def test_wrong_secret_is_a_configuration_error(backend: Backend) -> None:
    if not isinstance(backend.store, S3Store):
        pytest.skip("only S3 stores have credentials")
    store = backend.store
    wrong = S3Store(store.endpoint, "test:tester", "wrong", store.bucket, secure=False)

    with pytest.raises(StorageError, match="KEJIAN_STORAGE_URL") as refused:
        wrong.check()

    assert not isinstance(refused.value, StorageUnavailable)


def test_stat_says_when_the_object_was_written(backend: Backend) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    sha256 = backend.store.put_stream(io.BytesIO(b"dated worksheet")).sha256

    modified = backend.store.stat(sha256).modified

    assert modified is not None
    assert before < modified < datetime.now(UTC) + timedelta(minutes=5)


def test_local_path_is_the_object_or_none(backend: Backend) -> None:
    sha256 = backend.store.put_stream(io.BytesIO(b"read where it lies")).sha256
    missing = hashlib.sha256(b"never stored").hexdigest()

    path = backend.store.local_path(sha256)

    if isinstance(backend.store, LocalStore):
        assert path is not None and path.read_bytes() == b"read where it lies"
        with pytest.raises(ObjectNotFound):
            backend.store.local_path(missing)
    else:
        # Stores without local files give none; callers copy with iter_bytes.
        assert path is None


# -- leftovers of interrupted writes ---------------------------------------------------


def test_leftovers_of_an_interrupted_write_are_listed_and_removed(
    backend: Backend,
) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    backend.store.put_stream(io.BytesIO(b"a finished object"))
    name = backend.abandon_write()

    [leftover] = backend.store.iter_leftovers()
    backend.store.remove_leftover(name)
    backend.store.remove_leftover(name)

    assert (leftover.name, leftover.size) == (name, 4)
    assert before < leftover.modified < datetime.now(UTC) + timedelta(minutes=5)
    assert list(backend.store.iter_leftovers()) == []
    assert backend.leftovers() == []
    assert len(list(backend.store.iter_digests())) == 1


def test_a_store_without_leftovers_lists_none(backend: Backend) -> None:
    assert list(backend.store.iter_leftovers()) == []


@pytest.mark.parametrize(
    "name", ["", "..", "../objects", "incoming/../objects/x", "objects/ab/cd/x"]
)
def test_remove_leftover_refuses_other_names(backend: Backend, name: str) -> None:
    sha256 = backend.store.put_stream(io.BytesIO(b"keep me")).sha256

    with pytest.raises(ValueError):
        backend.store.remove_leftover(name)
    with pytest.raises(ValueError):
        backend.store.remove_leftover(f"objects/{sha256[:2]}/{sha256[2:4]}/{sha256}")

    assert backend.store.exists(sha256)


# -- put_file: a complete local file with a known digest -------------------------------


def spool(path: Path, content: Content, size: int, *, seed: int = 0) -> str:
    """Write generated content to *path* as an upload spool would; return its digest."""
    digest = hashlib.sha256()
    stream = content.stream(size, seed=seed)
    with path.open("wb") as out:
        while piece := stream.read():
            digest.update(piece)
            out.write(piece)
    return digest.hexdigest()


def test_put_file_round_trip(
    backend: Backend, content: Content, tmp_path: Path
) -> None:
    size = 3 * MB + 17
    path = tmp_path / "upload-spool"
    sha256 = spool(path, content, size, seed=5)

    stored = backend.store.put_file(path, sha256, size)
    # The caller removes its spool; the object must not depend on that name.
    path.unlink(missing_ok=True)

    assert (stored.sha256, stored.size, stored.created) == (sha256, size, True)
    assert backend.store.stat(sha256).size == size
    assert read_all(backend, sha256) == content.read(size, seed=5)
    assert backend.leftovers() == []


def test_put_file_of_stored_bytes_keeps_one_copy(
    backend: Backend, tmp_path: Path
) -> None:
    data = b"the same lesson plan, spooled"
    path = tmp_path / "upload-spool"
    path.write_bytes(data)
    sha256 = hashlib.sha256(data).hexdigest()

    first = backend.store.put_stream(io.BytesIO(data))
    second = backend.store.put_file(path, sha256, len(data))
    path.write_bytes(data)  # a store may have moved the first spool into place
    third = backend.store.put_file(path, sha256, len(data))

    assert first.created is True
    assert (second.created, third.created) == (False, False)
    assert list(backend.store.iter_digests()) == [sha256]
    assert read_all(backend, sha256) == data
    assert backend.leftovers() == []


def test_put_file_of_an_empty_file(backend: Backend, tmp_path: Path) -> None:
    path = tmp_path / "upload-spool"
    path.write_bytes(b"")

    stored = backend.store.put_file(path, EMPTY_SHA256, 0)

    assert (stored.sha256, stored.size, stored.created) == (EMPTY_SHA256, 0, True)
    assert read_all(backend, EMPTY_SHA256) == b""


def test_put_file_in_parts(backend: Backend, content: Content, tmp_path: Path) -> None:
    size = 40 * 1000 * 1000  # three parts of 16 MiB on S3, with a known length
    path = tmp_path / "upload-spool"
    sha256 = spool(path, content, size, seed=6)

    stored = backend.store.put_file(path, sha256, size)

    assert (stored.sha256, stored.size, stored.created) == (sha256, size, True)
    read_back = hashlib.sha256()
    for chunk in backend.store.iter_bytes(sha256):
        read_back.update(chunk)
    assert read_back.hexdigest() == sha256
    assert backend.leftovers() == []


def test_put_file_over_the_limit_leaves_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    path = tmp_path / "upload-spool"
    path.write_bytes(b"eleven byte")

    with pytest.raises(ObjectTooLarge) as refused:
        backend.store.put_file(
            path, hashlib.sha256(b"eleven byte").hexdigest(), 11, max_size=10
        )

    assert refused.value.limit == 10
    assert list(backend.store.iter_digests()) == []
    assert backend.leftovers() == []


def test_put_file_with_the_wrong_size_is_refused(
    backend: Backend, tmp_path: Path
) -> None:
    path = tmp_path / "upload-spool"
    path.write_bytes(b"twelve bytes")
    sha256 = hashlib.sha256(b"twelve bytes").hexdigest()

    with pytest.raises(DigestMismatch):
        backend.store.put_file(path, sha256, 13)

    assert list(backend.store.iter_digests()) == []
    assert backend.leftovers() == []


def test_put_file_with_the_wrong_digest_is_refused_when_read(
    backend: Backend, tmp_path: Path
) -> None:
    if isinstance(backend.store, LocalStore):
        pytest.skip("the local store trusts the digest and never reads the file")
    path = tmp_path / "upload-spool"
    path.write_bytes(b"twelve bytes")
    claimed = hashlib.sha256(b"other bytes!").hexdigest()

    with pytest.raises(DigestMismatch):
        backend.store.put_file(path, claimed, 12)

    assert backend.store.exists(claimed) is False
    assert backend.leftovers() == []


@pytest.mark.parametrize("digest", ["../../../etc/passwd", "AB" * 32, ""])
def test_put_file_refuses_malformed_digests(
    backend: Backend, tmp_path: Path, digest: str
) -> None:
    path = tmp_path / "upload-spool"
    path.write_bytes(b"x")

    with pytest.raises(ValueError):
        backend.store.put_file(path, digest, 1)
    assert list(backend.store.iter_digests()) == []


# -- presigned downloads ---------------------------------------------------------------


def presign(backend: Backend, sha256: str) -> str:
    url = backend.store.presigned_url(
        sha256,
        filename='三年级 数学 "期中".pdf',
        content_type="application/pdf",
        expires_seconds=60,
    )
    if url is None:
        pytest.skip(f"the {backend.name} store serves downloads itself")
    return url


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def test_presigned_url_downloads_the_bytes(backend: Backend) -> None:
    sha256 = backend.store.put_stream(io.BytesIO(b"%PDF-1.7 exam")).sha256

    status, _, body = fetch(presign(backend, sha256))

    assert (status, body) == (200, b"%PDF-1.7 exam")


def test_presigned_url_names_the_file(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    sha256 = backend.store.put_stream(io.BytesIO(b"%PDF-1.7 exam")).sha256
    url = presign(backend, sha256)
    backend.known_gap(request, "response-overrides")

    status, headers, _ = fetch(url)

    assert status == 200
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == (
        'attachment; filename="___ __ ____.pdf"; '
        "filename*=UTF-8''%E4%B8%89%E5%B9%B4%E7%BA%A7%20%E6%95%B0%E5%AD%A6%20"
        "%22%E6%9C%9F%E4%B8%AD%22.pdf"
    )


def test_tampered_presigned_url_is_refused(backend: Backend) -> None:
    sha256 = backend.store.put_stream(io.BytesIO(b"answer key")).sha256
    url = presign(backend, sha256)
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))

    def with_query(**changes: str) -> str:
        encoded = urlencode({**query, **changes}, quote_via=quote)
        return urlunsplit(parts._replace(query=encoded))

    signature = query["X-Amz-Signature"]
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]
    renamed = 'attachment; filename="virus.exe"'

    assert fetch(with_query())[0] == 200
    assert fetch(with_query(**{"X-Amz-Signature": forged}))[0] == 403
    assert fetch(with_query(**{"response-content-disposition": renamed}))[0] == 403


# -- failures that do not depend on a running backend ----------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_fails_fast(tmp_path: Path) -> None:
    url = (
        f"s3://key:secret@127.0.0.1:{free_port()}/kejian?secure=false&region=us-east-1"
    )
    store = open_store(url, home=tmp_path)

    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="cannot be reached"):
        store.check()
    with pytest.raises(StorageUnavailable):
        store.put_stream(io.BytesIO(b"lost"))
    with pytest.raises(StorageUnavailable):
        store.stat(EMPTY_SHA256)
    assert time.monotonic() - started < 5


def test_unusable_local_root(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store should be")
    store = open_store(f"file://{blocker}", home=tmp_path)

    with pytest.raises(StorageUnavailable, match="not-a-folder"):
        store.check()
    with pytest.raises(StorageUnavailable):
        store.put_stream(io.BytesIO(b"x"))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://host/bucket",
        "kejian-objects",
        "file://",
        "file:///srv/objects?fsync=false",
        "s3://host:9000/bucket",
        "s3://key:secret@/bucket",
        "s3://key:secret@host:notaport/bucket",
        "s3://key:secret@host:9000",
        "s3://key:secret@host:9000/Bucket_Name",
        "s3://key:secret@host:9000/bucket/extra",
        "s3://key:secret@host:9000/bucket?secure=maybe",
        "s3://key:secret@host:9000/bucket?presigned=true",
    ],
)
def test_bad_urls_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(StorageConfigError, match="KEJIAN_STORAGE_URL") as refused:
        open_store(url, home=tmp_path)

    message = str(refused.value)
    assert "\n" not in message
    assert "secret" not in message.replace("SECRET", "")
