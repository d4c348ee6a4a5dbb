"""The S3 object store, for MinIO, OpenStack Swift's ``s3api``, AWS and the like.

Objects live at ``objects/ab/cd/<sha256>`` in one bucket. The digest is only known once
the last byte has arrived, so an upload cannot go straight to its final key. Two ways
out were weighed:

* **Stream to a temporary key, then copy server-side** (what this store does). The
  bytes go to S3 as they arrive, in multipart parts, so a web worker holds one part in
  memory and needs no scratch disk; the upload to S3 ends moments after the client's.
  The price: the server writes the bytes twice (temporary key, then the copy), and a
  duplicate still travels to S3 once before it is recognised and dropped.
* **Spool to a local temporary file, then upload to the final key.** One write on the
  server, and nothing is sent for a duplicate, but every web node needs scratch disk
  as large as the biggest upload times the concurrent uploads, and the client waits
  for a second full transfer after its own.

Kejian's uploads are courseware (mostly a few MB, rarely past a few hundred), written
once and read many times, so the extra server-side copy is the cheaper cost. The copy
is also what makes the object appear atomically: S3 publishes a PUT or copy whole or
not at all, and readers never see a partial object at the final key.

A caller that has already spooled the file and knows its digest (the web upload does,
to check the file before storing it) calls :meth:`S3Store.put_file`, which takes the
second way at no extra cost: the file goes straight to its final key with its length
known, and a duplicate is not sent at all.

Temporary keys are ``incoming/<uuid>``. They are removed on success and on failure;
only a process killed mid-upload leaves one behind, which ``kejian gc`` removes once
it is old, and with multipart an incomplete upload, which a bucket lifecycle rule on
``incoming/`` can expire.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Generator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, NoReturn, TypeVar, cast
from urllib.parse import quote

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import ComposeSource, CopySource
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import MAX_PART_SIZE
from urllib3.exceptions import HTTPError as Urllib3Error

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
    StorageError,
    StorageUnavailable,
)

log = logging.getLogger("kejian.storage")

T = TypeVar("T")

#: Multipart part size. Each upload holds about two parts in memory at its peak; with
#: S3's limit of 10,000 parts, 16 MiB parts allow objects up to 160 GiB.
PART_SIZE = 16 * 1024 * 1024

_OBJECTS = "objects/"
_INCOMING = "incoming/"
_INCOMING_KEY = re.compile(r"incoming/[0-9a-f]{32}")

# S3 error codes that mean the request was understood and refused for a reason the
# operator must fix: wrong keys, wrong clock, no permission.
_REFUSED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "RequestTimeTooSkewed",
    "AuthorizationHeaderMalformed",
}


class S3Store(ObjectStore):
    """Objects in one S3 bucket, reached through the official ``minio`` client.

    :param endpoint: ``host`` or ``host:port`` of the S3 server.
    :param presign: when true, :meth:`presigned_url` returns URLs that browsers
        download from directly; the endpoint must then be reachable by them.
    :param part_size: multipart part size in bytes (at least 5 MiB for real servers).
    """

    name = "s3"

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = True,
        region: str | None = None,
        presign: bool = False,
        part_size: int = PART_SIZE,
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.secure = secure
        self.presign = presign
        self.part_size = part_size
        self._client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=_http_client(),
        )

    def __repr__(self) -> str:
        # The keys stay out of reprs and therefore out of logs and tracebacks.
        return f"S3Store({self.endpoint!r}, bucket={self.bucket!r})"

    def put_stream(
        self, stream: BinaryIO, *, max_size: int | None = None
    ) -> StoredObject:
        temp_key = f"{_INCOMING}{uuid.uuid4().hex}"
        reader = _HashingReader(stream, max_size)
        try:
            # Unknown length: the client sends one PUT when the stream fits in a part,
            # otherwise a multipart upload that it aborts itself if reading fails.
            # Parts go one at a time, so memory stays bounded by the part size.
            self._call(
                lambda: self._client.put_object(
                    self.bucket,
                    temp_key,
                    # The client only ever calls read() on its data argument.
                    cast(BinaryIO, reader),
                    length=-1,
                    part_size=self.part_size,
                    num_parallel_uploads=1,
                )
            )
            # Two uploads of the same bytes may both miss here and both copy; the
            # copies are identical, so the later one rewrites the object unchanged.
            sha256 = reader.hexdigest()
            created = not self.exists(sha256)
            if created:
                self._copy(temp_key, _key(sha256), reader.size)
        except BaseException:
            self._remove_quietly(temp_key)
            raise

        try:
            self._call(lambda: self._client.remove_object(self.bucket, temp_key))
        except StorageError as exc:
            log.warning("temporary key left behind key=%s error=%s", temp_key, exc)

        return StoredObject(sha256=sha256, size=reader.size, created=created)

    def put_file(
        self, path: Path, sha256: str, size: int, *, max_size: int | None = None
    ) -> StoredObject:
        """Upload the caller's complete file straight to its final key.

        With the digest known up front there is no temporary key and no server-side
        copy, and an object already stored is not sent again. The PUT (or multipart
        upload, which the client aborts on failure) publishes the object whole or not
        at all, as the copy does in :meth:`put_stream`. Two uploads of the same bytes
        may both write the key; the second rewrites identical bytes.

        The bytes are hashed on their way out, which costs little next to the network.
        Should they not match *sha256* after all, the object is removed again: it
        would be visible under a name that lies about its content.
        """
        if not is_digest(sha256):
            raise ValueError(f"not a SHA-256 digest: {sha256[:80]!r}")
        if max_size is not None and size > max_size:
            raise ObjectTooLarge(max_size)

        key = _key(sha256)
        with Path(path).open("rb") as source:
            actual = os.fstat(source.fileno()).st_size
            if actual != size:
                raise DigestMismatch(sha256, f"holds {actual} bytes, not {size}")
            if self.exists(sha256):
                return StoredObject(sha256=sha256, size=size, created=False)

            reader = _HashingReader(source, max_size)
            self._call(
                lambda: self._client.put_object(
                    self.bucket,
                    key,
                    cast(BinaryIO, reader),
                    length=size,
                    part_size=self.part_size,
                    num_parallel_uploads=1,
                )
            )

        actual_sha256 = reader.hexdigest()
        if reader.size != size or actual_sha256 != sha256:
            self._remove_quietly(key)
            raise DigestMismatch(sha256, f"holds bytes with digest {actual_sha256}")

        return StoredObject(sha256=sha256, size=size, created=True)

    def stat(self, sha256: str) -> ObjectInfo:
        key = _key(require_digest(sha256))
        result = self._call(lambda: self._client.stat_object(self.bucket, key), sha256)
        return ObjectInfo(
            sha256=sha256, size=result.size or 0, modified=result.last_modified
        )

    def iter_bytes(
        self, sha256: str, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        check_range(start, end)
        key = _key(require_digest(sha256))
        length = 0 if end is None else end - start + 1
        response = self._call(
            lambda: self._client.get_object(
                self.bucket, key, offset=start, length=length
            ),
            sha256,
        )

        finished = False

        def chunks() -> Generator[bytes, None, None]:
            nonlocal finished
            try:
                yield from response.stream(CHUNK_SIZE)
            except (MinioException, Urllib3Error) as exc:
                self._translate(exc, sha256)
            finished = True

        def release() -> None:
            # A fully read connection goes back to the pool for reuse; one closed
            # half-way still has unread body bytes and must be dropped.
            if not finished:
                response.close()
            response.release_conn()

        return ByteStream(chunks(), release)

    def delete(self, sha256: str) -> None:
        if not is_digest(sha256):
            raise ValueError(f"not a SHA-256 digest: {sha256[:80]!r}")

        # S3 answers 204 for a missing key too, which makes deletion idempotent.
        self._call(lambda: self._client.remove_object(self.bucket, _key(sha256)))

    def iter_digests(self) -> Iterator[str]:
        objects = self._client.list_objects(
            self.bucket, prefix=_OBJECTS, recursive=True
        )
        try:
            for item in objects:
                name = item.object_name or ""
                sha256 = name.rpartition("/")[2]
                if is_digest(sha256) and name == _key(sha256):
                    yield sha256
        except (MinioException, Urllib3Error) as exc:
            self._translate(exc)

    def iter_leftovers(self) -> Iterator[Leftover]:
        """Temporary ``incoming/`` keys of uploads whose process died.

        Incomplete multipart uploads are not listed: the client has no public call
        for them, and a bucket lifecycle rule on ``incoming/`` expires them.
        """
        objects = self._client.list_objects(
            self.bucket, prefix=_INCOMING, recursive=True
        )
        try:
            for item in objects:
                name = item.object_name or ""
                if _INCOMING_KEY.fullmatch(name) and item.last_modified is not None:
                    yield Leftover(
                        name=name, size=item.size or 0, modified=item.last_modified
                    )
        except (MinioException, Urllib3Error) as exc:
            self._translate(exc)

    def remove_leftover(self, name: str) -> None:
        if not _INCOMING_KEY.fullmatch(name):
            raise ValueError(f"not a temporary key of the store: {name[:80]!r}")

        self._call(lambda: self._client.remove_object(self.bucket, name))

    def presigned_url(
        self,
        sha256: str,
        *,
        filename: str,
        content_type: str,
        expires_seconds: int = 300,
    ) -> str | None:
        """A signed GET URL that names the file for the browser, when presign is on.

        The response headers are part of the signature, so the URL cannot be edited
        into serving another filename or type. The object's existence is not checked.
        """
        if not self.presign:
            return None

        key = _key(require_digest(sha256))
        if any(ord(c) < 32 or ord(c) == 127 for c in content_type):
            raise ValueError("content_type must not contain control characters")

        headers: dict[str, str | list[str] | tuple[str]] = {
            "response-content-disposition": content_disposition(filename),
            "response-content-type": content_type,
        }
        return self._call(
            lambda: self._client.get_presigned_url(
                "GET",
                self.bucket,
                key,
                expires=timedelta(seconds=expires_seconds),
                response_headers=headers,
            )
        )

    def check(self) -> None:
        """Create the bucket when it is missing; fails when the server is unusable."""
        if self._call(lambda: self._client.bucket_exists(self.bucket)):
            return

        try:
            self._call(lambda: self._client.make_bucket(self.bucket))
        except StorageError as exc:
            # Another process created it between the two calls.
            cause = exc.__cause__
            if not (isinstance(cause, S3Error) and cause.code in _ALREADY_EXISTS):
                raise

    # -- internals ---------------------------------------------------------------

    def _copy(self, source: str, target: str, size: int) -> None:
        if size > MAX_PART_SIZE:
            # A single copy is limited to 5 GiB; larger objects are assembled from
            # ranged part copies (UploadPartCopy) of the temporary key.
            self._call(
                lambda: self._client.compose_object(
                    self.bucket, target, [ComposeSource(self.bucket, source)]
                )
            )
        else:
            self._call(
                lambda: self._client.copy_object(
                    self.bucket, target, CopySource(self.bucket, source)
                )
            )

    def _remove_quietly(self, key: str) -> None:
        """Remove a key during cleanup, without hiding the first error."""
        try:
            self._call(lambda: self._client.remove_object(self.bucket, key))
        except StorageError as exc:
            log.warning("key left behind key=%s error=%s", key, exc)

    def _call(self, operation: Callable[[], T], sha256: str | None = None) -> T:
        """Run one client call, turning the client's errors into storage errors.

        :param sha256: the digest the call is about; a missing key then raises
            :class:`ObjectNotFound` for it.
        """
        try:
            return operation()
        except (MinioException, Urllib3Error) as exc:
            self._translate(exc, sha256)

    def _translate(
        self, exc: MinioException | Urllib3Error, sha256: str | None = None
    ) -> NoReturn:
        where = f"the S3 server at {self.endpoint} (bucket {self.bucket})"
        if isinstance(exc, S3Error):
            if exc.code == "NoSuchKey" and sha256 is not None:
                raise ObjectNotFound(sha256) from exc

            if exc.code == "InvalidRange":
                raise ValueError("the requested range starts past the object") from exc

            if exc.code == "NoSuchBucket":
                raise StorageError(
                    f"{where}: the bucket does not exist; create it or let the "
                    "store's check() create it"
                ) from exc

            if exc.code in _REFUSED:
                raise StorageError(
                    f"{where} refused the request ({exc.code}): check the access key, "
                    "secret and region in KEJIAN_STORAGE_URL and the clock"
                ) from exc

            if exc.response is not None and exc.response.status >= 500:
                raise StorageUnavailable(
                    f"{where} failed ({exc.code}: {exc.message})"
                ) from exc

            raise StorageError(f"{where} answered {exc.code}: {exc.message}") from exc

        if isinstance(exc, (ServerError, InvalidResponseError)):
            raise StorageUnavailable(f"{where} gave a broken answer: {exc}") from exc

        # urllib3 errors: refused or reset connections, timeouts, exhausted retries.
        raise StorageUnavailable(f"{where} cannot be reached: {_reason(exc)}") from exc


_ALREADY_EXISTS = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}


def _key(sha256: str) -> str:
    return _OBJECTS + shard_path(sha256)


def _reason(exc: Exception) -> str:
    """The innermost cause of a urllib3 error, e.g. 'Connection refused'."""
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def _http_client() -> urllib3.PoolManager:
    """The connection pool the minio client uses, tuned to fail fast.

    The client's default retries five times with backoff and waits five minutes to
    connect; a web request would hang on a dead server. Two retries (for connection
    resets and 5xx answers) and a short connect timeout let the store report
    :class:`StorageUnavailable` within a second or two instead.
    """
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=60),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(
            total=2,
            backoff_factor=0.1,
            status_forcelist=[500, 502, 503, 504],
        ),
    )


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A Content-Disposition value for *filename* as RFC 6266 describes.

    ``filename*`` carries the exact name in UTF-8 (Chinese names included) for every
    current browser; ``filename`` carries an ASCII stand-in for older clients, with
    anything that could break the quoted string replaced by ``_``.
    """
    fallback = "".join(
        c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename
    )
    fallback = fallback or "download"
    encoded = quote(filename, safe="!#$&+^`|")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


class _HashingReader:
    """A file-like wrapper that hashes and counts what the client reads for upload.

    It enforces the size limit while the bytes flow, so an oversized upload stops at
    the first part past the limit instead of after the whole file.
    """

    def __init__(self, stream: BinaryIO, max_size: int | None) -> None:
        self._stream = stream
        self._max_size = max_size
        self._digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        # The client asks for a whole part and joins what it gets with +=, which is
        # quadratic in the number of reads; gathering the part here keeps it linear.
        wanted = size if size >= 0 else CHUNK_SIZE
        pieces: list[bytes] = []
        got = 0
        while got < wanted:
            piece = self._stream.read(min(wanted - got, CHUNK_SIZE))
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
            self._count(piece)

        return b"".join(pieces)

    def _count(self, piece: bytes) -> None:
        self.size += len(piece)
        if self._max_size is not None and self.size > self._max_size:
            raise ObjectTooLarge(self._max_size)
        self._digest.update(piece)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
