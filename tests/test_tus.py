"""Resumable uploads over tus 1.0: create, send in chunks, ask the offset, resume after
a broken request, and the refusals (wrong offset, too large, someone else's, expired).
"""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import timedelta
from typing import Any

import pytest

from repo_app.extensions import db
from repo_app.models import UploadSession, UploadState
from repo_app.services import tus
from repo_app.services.maintenance import collect_garbage
from tests.conftest import CORPUS, Api, World

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
#: A text file of about 300 kB, different in every test module that uses it.
BODY = "".join(
    f"第{i}行：可续传上传的测试文本。line {i}\n" for i in range(9000)
).encode()


def metadata(**values: str) -> str:
    return ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items()
    )


class Tus:
    """A tus client over the Flask test client, as one user."""

    def __init__(self, client: Any, world: World, who: str) -> None:
        self.client = client
        self.headers = {**TUS, **world.headers(who)}

    def create(self, length: int, **meta: str) -> Any:
        return self.client.post(
            "/api/v1/uploads",
            headers={
                **self.headers,
                "Upload-Length": str(length),
                "Upload-Metadata": metadata(**meta),
            },
        )

    def head(self, url: str) -> Any:
        return self.client.head(url, headers=self.headers)

    def patch(self, url: str, offset: int, data: Any, **extra: str) -> Any:
        return self.client.patch(
            url,
            data=data,
            headers={
                **self.headers,
                "Upload-Offset": str(offset),
                "Content-Type": OCTETS,
                **extra,
            },
        )


@pytest.fixture
def resource_id(api: Api) -> int:
    return int(api.create("uploader1", title="续传")["id"])


@pytest.fixture
def alice(client: Any, world: World) -> Tus:
    return Tus(client, world, "uploader1")


def start(alice: Tus, resource_id: int, body: bytes = BODY, name: str = "a.txt") -> str:
    resp = alice.create(len(body), filename=name, resource=str(resource_id))
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Tus-Resumable"] == "1.0.0"
    assert "GMT" in resp.headers["Upload-Expires"]
    return str(resp.headers["Location"])


def test_options_tells_version_extensions_and_limit(client: Any) -> None:
    resp = client.options("/api/v1/uploads")
    assert resp.status_code == 204
    assert resp.headers["Tus-Version"] == "1.0.0"
    assert set(resp.headers["Tus-Extension"].split(",")) == {
        "creation",
        "termination",
        "expiration",
    }
    assert resp.headers["Tus-Max-Size"] == str(64 * 2**20)


def test_chunks_then_head_then_the_file_is_a_new_version(
    alice: Tus, api: Api, resource_id: int
) -> None:
    url = start(alice, resource_id)
    assert alice.head(url).headers["Upload-Offset"] == "0"

    # Three chunks, each from the offset the server reported.
    offset = 0
    for size in (100_000, 100_000, len(BODY) - 200_000):
        resp = alice.patch(url, offset, BODY[offset : offset + size])
        assert resp.status_code == 204, resp.get_json()
        offset = int(resp.headers["Upload-Offset"])
        head = alice.head(url)
        assert head.status_code == 200
        assert head.headers["Upload-Offset"] == str(offset)
        assert head.headers["Upload-Length"] == str(len(BODY))
        assert head.headers["Cache-Control"] == "no-store"
    assert offset == len(BODY)

    status = alice.client.get(url, headers=alice.headers).get_json()
    assert status["state"] == "stored" and status["resource_id"] == resource_id
    resource = api.client.get(
        f"/api/v1/resources/{resource_id}", headers=api.world.headers("uploader1")
    ).get_json()
    (stored,) = resource["files"]
    assert stored["sha256"] == hashlib.sha256(BODY).hexdigest()
    assert stored["name"] == "a.txt"
    # The part file is gone once the bytes are in the store.
    assert not tus.part_path(status["id"]).exists()


def test_a_broken_patch_keeps_what_arrived_and_resumes(
    client: Any, alice: Tus, resource_id: int
) -> None:
    url = start(alice, resource_id)
    # The client said the whole file was coming, and the connection broke at 123,457.
    resp = client.patch(
        url,
        headers={**alice.headers, "Upload-Offset": "0", "Content-Type": OCTETS},
        environ_overrides={
            "CONTENT_LENGTH": str(len(BODY)),
            "wsgi.input": io.BytesIO(BODY[:123_457]),
        },
    )
    assert resp.status_code in (204, 400)
    offset = int(alice.head(url).headers["Upload-Offset"])
    assert offset == 123_457

    resp = alice.patch(url, offset, BODY[offset:])
    assert resp.status_code == 204
    status = client.get(url, headers=alice.headers).get_json()
    assert status["state"] == "stored"
    blob = db.session.get(UploadSession, status["id"])
    assert blob is not None and blob.offset == len(BODY)


def test_wrong_offset_is_409_and_names_the_right_one(
    alice: Tus, resource_id: int
) -> None:
    url = start(alice, resource_id)
    assert alice.patch(url, 0, BODY[:1000]).status_code == 204
    resp = alice.patch(url, 0, BODY[:1000])
    assert resp.status_code == 409
    assert resp.get_json()["error"]["details"]["offset"] == 1000
    assert alice.head(url).headers["Upload-Offset"] == "1000"


def test_too_large_is_413(alice: Tus, resource_id: int) -> None:
    resp = alice.create(64 * 2**20 + 1, filename="big.mp4", resource=str(resource_id))
    assert resp.status_code == 413
    assert resp.headers["Tus-Resumable"] == "1.0.0"
    # More bytes than the upload's length.
    url = start(alice, resource_id, b"0123456789")
    assert alice.patch(url, 0, b"0123456789!").status_code == 413
    assert alice.head(url).headers["Upload-Offset"] == "0"


def test_someone_elses_upload_does_not_exist_for_them(
    client: Any, world: World, alice: Tus, resource_id: int
) -> None:
    url = start(alice, resource_id)
    bob = Tus(client, world, "uploader2")
    assert bob.head(url).status_code == 404
    assert bob.patch(url, 0, BODY[:10]).status_code == 404
    assert client.delete(url, headers=bob.headers).status_code == 404
    assert alice.head(url).headers["Upload-Offset"] == "0"
    # Nor may anyone send a file to a resource they may not change.
    resp = bob.create(10, filename="x.txt", resource=str(resource_id))
    assert resp.status_code in (403, 404)


def test_expired_upload_is_410_and_gc_removes_it(alice: Tus, resource_id: int) -> None:
    url = start(alice, resource_id)
    alice.patch(url, 0, BODY[:5000])
    upload_id = url.rsplit("/", 1)[1]
    upload = db.session.get(UploadSession, upload_id)
    assert upload is not None
    upload.expires_at = upload.expires_at - tus.EXPIRY - timedelta(minutes=1)
    db.session.commit()

    assert alice.head(url).status_code == 410
    assert alice.patch(url, 5000, BODY[5000:6000]).status_code == 410
    assert tus.remove_expired(dry_run=True) == (1, 5000)
    report = collect_garbage(dry_run=False)  # kejian gc
    assert report.expired_uploads == 1 and report.leftover_bytes >= 5000
    assert not tus.part_path(upload_id).exists()
    assert alice.head(url).status_code == 404


def test_termination_removes_the_upload(alice: Tus, resource_id: int) -> None:
    url = start(alice, resource_id)
    alice.patch(url, 0, BODY[:5000])
    resp = alice.client.delete(url, headers=alice.headers)
    assert resp.status_code == 204
    assert alice.head(url).status_code == 404
    assert not tus.part_path(url.rsplit("/", 1)[1]).exists()


def test_protocol_mistakes_are_refused(
    client: Any, world: World, alice: Tus, resource_id: int
) -> None:
    # No version header: 412, with the version the server speaks.
    resp = client.post(
        "/api/v1/uploads",
        headers={**world.headers("uploader1"), "Upload-Length": "10"},
    )
    assert resp.status_code == 412
    url = start(alice, resource_id)
    assert (
        alice.patch(url, 0, b"x", **{"Content-Type": "text/plain"}).status_code == 415
    )
    # No destination, or a bad length.
    assert alice.create(10, filename="a.txt").status_code == 422
    bad = client.post(
        "/api/v1/uploads",
        headers={**alice.headers, "Upload-Length": "-1", "Upload-Metadata": ""},
    )
    assert bad.status_code == 400
    for huge in ("9" * 25, str(2**63)):
        resp = alice.create(int(huge), filename="a.txt", resource=str(resource_id))
        assert resp.status_code == 400
        assert resp.get_json()["error"]["code"] == "bad_request"
        assert alice.patch(url, int(huge), b"x").status_code == 400
    assert alice.head(url).headers["Upload-Offset"] == "0"
    # Destinations that no row can be: 422 like a missing one, never a 500.
    for odd in ("99999999999999999999", "²", "-1"):
        assert alice.create(10, filename="a.txt", resource=odd).status_code == 422
        assert alice.create(10, filename="a.txt", batch=odd).status_code == 422
    # A key given twice: which file name was meant cannot be known.
    twice = client.post(
        "/api/v1/uploads",
        headers={
            **alice.headers,
            "Upload-Length": "10",
            "Upload-Metadata": metadata(filename="a.txt", resource=str(resource_id))
            + ","
            + metadata(filename="b.txt"),
        },
    )
    assert twice.status_code == 422
    assert "'filename' twice" in twice.get_json()["error"]["message"]
    # Anonymous visitors upload nothing.
    assert client.post("/api/v1/uploads", headers=TUS).status_code == 401


def test_a_broken_file_is_refused_with_the_reason(alice: Tus, resource_id: int) -> None:
    broken = CORPUS / "broken" / "invalid.pdf"
    if not broken.exists():
        pytest.skip("no corpus")
    body = broken.read_bytes()
    url = start(alice, resource_id, body, "invalid.pdf")
    assert alice.patch(url, 0, body).status_code == 204
    status = alice.client.get(url, headers=alice.headers).get_json()
    assert status["state"] == UploadState.REFUSED.value
    assert status["error"]
    assert status["resource_id"] == resource_id  # the destination, left unchanged
