"""Backends for the storage conformance suite, each behind one ``backend`` fixture.

* ``local``: a :class:`LocalStore` in the test's temporary folder.
* ``nanio``: nanio's ASGI app under uvicorn in a thread of the test process, on a
  free port of 127.0.0.1, with signature checks on; one server for the session.
* ``swift``: the Swift node started by ``scripts/swift-s3.sh``, only when
  ``KEJIAN_TEST_SWIFT_URL`` holds the URL that script prints.

S3 tests each get their own bucket, named after the URL's bucket, so that listings
only show what the test wrote and parallel runs (pytest-xdist) do not meet.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import urlsplit, urlunsplit

import pytest
import uvicorn
from minio import Minio
from minio.deleteobjects import DeleteObject
from nanio.app import build_app
from nanio.auth.credentials import StaticCredentialResolver
from nanio.config import Settings

from storage import ObjectStore, open_store
from storage.local import LocalStore
from storage.s3 import S3Store

SWIFT_URL_VARIABLE = "KEJIAN_TEST_SWIFT_URL"
NANIO_KEY = "kejian-test"
NANIO_SECRET = "kejian-test-secret"

# Where nanio 0.1.7 parts from AWS S3, MinIO and Swift (read in its handlers).
NANIO_GAPS = {
    "response-overrides": "nanio 0.1.7 signs response-content-* parameters of a "
    "presigned GET but does not put them in the response",
    "range-past-end": "nanio 0.1.7 answers 400 InvalidArgument for a range that ends "
    "past the object instead of cutting it, and for one that starts past it instead "
    "of 416 InvalidRange",
}


@dataclass
class Backend:
    """A store under test plus a way to look at everything it left behind."""

    name: str
    store: ObjectStore
    #: Behaviour this backend is known to get wrong, by name, with the reason.
    gaps: dict[str, str] = field(default_factory=dict)

    def known_gap(self, request: pytest.FixtureRequest, gap: str) -> None:
        """Expect the calling test to fail on a backend with this gap.

        Strict, so a server release that fixes the gap makes the suite say so.
        """
        if gap in self.gaps:
            request.applymarker(pytest.mark.xfail(strict=True, reason=self.gaps[gap]))

    def leftovers(self) -> list[str]:
        """Every stored name that is not a finished object: temp files, temp keys
        and unfinished multipart uploads."""
        if isinstance(self.store, LocalStore):
            tmp = self.store.root / "tmp"
            return sorted(str(p) for p in tmp.rglob("*")) if tmp.exists() else []

        assert isinstance(self.store, S3Store)
        client = self.store._client
        bucket = self.store.bucket
        names = [
            o.object_name or ""
            for o in client.list_objects(bucket, recursive=True)
            if not (o.object_name or "").startswith("objects/")
        ]
        # The client has no public call for this; an unfinished multipart upload is
        # exactly the kind of leftover this check exists for.
        uploads = client._list_multipart_uploads(bucket).uploads
        return sorted(names + [f"upload:{u.object_name}" for u in uploads])

    def abandon_write(self) -> str:
        """Leave what a write killed half-way leaves; return the store's name for it."""
        if isinstance(self.store, LocalStore):
            tmp = self.store.root / "tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            (tmp / "upload-killed").write_bytes(b"half")
            return "upload-killed"

        assert isinstance(self.store, S3Store)
        key = f"incoming/{uuid.uuid4().hex}"
        self.store._client.put_object(self.store.bucket, key, io.BytesIO(b"half"), 4)
        return key


# -- nanio, inside the test process ----------------------------------------------------


@dataclass
class NanioServer:
    host: str
    port: int

    def url(self, bucket: str) -> str:
        return (
            f"s3://{NANIO_KEY}:{NANIO_SECRET}@{self.host}:{self.port}/{bucket}"
            "?secure=false&region=us-east-1&presign=true"
        )


@pytest.fixture(scope="session")
def nanio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NanioServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("nanio"),
        region="us-east-1",
        credentials=StaticCredentialResolver({NANIO_KEY: NANIO_SECRET}),
    )
    config = uvicorn.Config(
        build_app(settings),
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
    )
    server = uvicorn.Server(config)

    # Binding here rather than in uvicorn gives a free port without a race.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="nanio", daemon=True
    )
    thread.start()

    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("nanio did not start under uvicorn")
        time.sleep(0.01)

    yield NanioServer("127.0.0.1", port)

    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


# -- Swift, started by scripts/swift-s3.sh ---------------------------------------------


@pytest.fixture(scope="session")
def swift_url() -> str:
    url = os.environ.get(SWIFT_URL_VARIABLE, "").strip()
    if not url:
        pytest.skip(
            f"{SWIFT_URL_VARIABLE} is not set; start Swift with scripts/swift-s3.sh "
            "and set it to the URL the script prints"
        )
    return url


def _with_bucket(url: str, bucket: str) -> str:
    parts = urlsplit(url)
    query = parts.query if "presign=" in parts.query else f"{parts.query}&presign=true"
    return urlunsplit(parts._replace(path=f"/{bucket}", query=query.lstrip("&")))


def _fresh_bucket(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _empty_and_remove(store: S3Store) -> None:
    client: Minio = store._client
    names = [
        o.object_name or "" for o in client.list_objects(store.bucket, recursive=True)
    ]
    errors = list(client.remove_objects(store.bucket, [DeleteObject(n) for n in names]))
    assert not errors, errors
    client.remove_bucket(store.bucket)


# -- the parametrised fixture ----------------------------------------------------------


@pytest.fixture(
    params=["local", "nanio", pytest.param("swift", marks=pytest.mark.swift)]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        store = open_store(f"file://{tmp_path / 'store'}", home=tmp_path)
        store.check()
        yield Backend("local", store)
        return

    if request.param == "nanio":
        server: NanioServer = request.getfixturevalue("nanio_server")
        url = server.url(_fresh_bucket("kejian-test"))
        gaps = NANIO_GAPS
    else:
        base = request.getfixturevalue("swift_url")
        url = _with_bucket(base, _fresh_bucket(urlsplit(base).path.strip("/")))
        gaps = {}

    store = open_store(url, home=tmp_path)
    assert isinstance(store, S3Store)
    store.check()
    yield Backend(request.param, store, gaps)
    _empty_and_remove(store)


# -- generated content -----------------------------------------------------------------


class ClientGone(Exception):
    """What a request body raises when the uploading client disconnects."""


class GeneratedStream:
    """*size* pseudo-random bytes, produced on demand so no test holds them whole.

    Reads return at most 256 KiB + 13 bytes, as a network body does, so stores must
    cope with short reads. With *fail_after*, reading past that many bytes raises
    :class:`ClientGone`.
    """

    BLOCK = random.Random(20261203).randbytes(1024 * 1024 + 7)
    MAX_READ = 256 * 1024 + 13

    def __init__(
        self, size: int, *, seed: int = 0, fail_after: int | None = None
    ) -> None:
        self.size = size
        self.position = 0
        self.fail_after = fail_after
        self._offset = seed * 7919 % len(self.BLOCK)

    def read(self, n: int = -1) -> bytes:
        if self.fail_after is not None and self.position >= self.fail_after:
            raise ClientGone("the client closed the connection")

        n = self.MAX_READ if n < 0 else min(n, self.MAX_READ)
        n = min(n, self.size - self.position)
        start = (self._offset + self.position) % len(self.BLOCK)
        piece = self.BLOCK[start : start + n]
        piece += self.BLOCK[: n - len(piece)]
        self.position += len(piece)
        return piece


class Content:
    """Test content: generated streams, their digests, and the disconnect error."""

    ClientGone = ClientGone

    def stream(
        self, size: int, *, seed: int = 0, fail_after: int | None = None
    ) -> BinaryIO:
        # Stores only call read(), which is all GeneratedStream offers.
        return cast(BinaryIO, GeneratedStream(size, seed=seed, fail_after=fail_after))

    def digest(self, size: int, *, seed: int = 0) -> str:
        digest = hashlib.sha256()
        stream = self.stream(size, seed=seed)
        while piece := stream.read():
            digest.update(piece)
        return digest.hexdigest()

    def read(self, size: int, *, seed: int = 0) -> bytes:
        """The whole content, for sizes small enough to compare in memory."""
        stream = self.stream(size, seed=seed)
        return b"".join(iter(stream.read, b""))


@pytest.fixture(scope="session")
def content() -> Content:
    return Content()
