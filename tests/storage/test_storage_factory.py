"""How ``KEJIAN_STORAGE_URL`` becomes a store. Nothing here opens a connection."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from storage import StorageConfigError, open_store
from storage.local import LocalStore
from storage.s3 import S3Store

DIGEST = "ab" * 32


@pytest.mark.parametrize("url", [None, "", "  "])
def test_no_url_means_local_store_in_home(url: str | None, tmp_path: Path) -> None:
    store = open_store(url, home=tmp_path)

    assert isinstance(store, LocalStore)
    assert store.root == tmp_path / "objects"


@pytest.mark.parametrize(
    ("url", "relative_root"),
    [
        ("file:///srv/kejian/objects", None),
        ("file:///srv/kejian%20files", None),
        ("file://objects", "objects"),
        ("file://data/objects", "data/objects"),
    ],
)
def test_file_urls(url: str, relative_root: str | None, tmp_path: Path) -> None:
    store = open_store(url, home=tmp_path)

    assert isinstance(store, LocalStore)
    if relative_root is None:
        assert str(store.root) == url.removeprefix("file://").replace("%20", " ")
    else:
        assert store.root == tmp_path / relative_root


def test_s3_url_with_swift_credentials(tmp_path: Path) -> None:
    store = open_store(
        "s3://test%3Atester:testing@127.0.0.1:18080/kejian-test"
        "?secure=false&region=us-east-1&presign=true",
        home=tmp_path,
    )

    assert isinstance(store, S3Store)
    assert (store.endpoint, store.bucket, store.secure) == (
        "127.0.0.1:18080",
        "kejian-test",
        False,
    )
    # With the region given, presigning is local; the credential shows the decoded key.
    url = store.presigned_url(DIGEST, filename="a.pdf", content_type="application/pdf")
    assert url is not None
    assert url.startswith("http://127.0.0.1:18080/kejian-test/objects/ab/ab/")
    credential = parse_qs(urlsplit(url).query)["X-Amz-Credential"][0]
    assert credential.startswith("test:tester/")
    assert "/us-east-1/s3/" in credential


def test_s3_url_defaults(tmp_path: Path) -> None:
    store = open_store("s3://AKIA:abc%2Fdef@s3.example.org/courseware", home=tmp_path)

    assert isinstance(store, S3Store)
    assert store.endpoint == "s3.example.org"
    assert store.secure is True
    assert store.presign is False
    assert store.presigned_url(DIGEST, filename="a", content_type="text/plain") is None


def test_config_error_is_one_line_without_the_secret(tmp_path: Path) -> None:
    with pytest.raises(StorageConfigError) as refused:
        open_store("s3://key:hunter2@host:9000/b", home=tmp_path)

    message = str(refused.value)
    assert message.startswith("KEJIAN_STORAGE_URL ")
    assert "s3://ACCESS_KEY:SECRET@HOST" in message
    assert "hunter2" not in message
    assert "\n" not in message
