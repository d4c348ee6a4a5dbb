"""Pieces of the S3 store that need no server."""

from __future__ import annotations

import pytest

from storage.s3 import S3Store, content_disposition


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("notes.pdf", "attachment; filename=\"notes.pdf\"; filename*=UTF-8''notes.pdf"),
        (
            "课件.pptx",
            'attachment; filename="__.pptx"; '
            "filename*=UTF-8''%E8%AF%BE%E4%BB%B6.pptx",
        ),
        (
            'a"b\\c\r\nd.txt',
            'attachment; filename="a_b_c__d.txt"; '
            "filename*=UTF-8''a%22b%5Cc%0D%0Ad.txt",
        ),
        ("", "attachment; filename=\"download\"; filename*=UTF-8''"),
    ],
    ids=["ascii", "chinese", "quotes-and-newlines", "empty"],
)
def test_content_disposition(filename: str, expected: str) -> None:
    assert content_disposition(filename) == expected


def test_content_type_with_control_characters_is_refused() -> None:
    store = S3Store("127.0.0.1:9", "k", "s", "kejian", secure=False, presign=True)

    with pytest.raises(ValueError, match="control characters"):
        store.presigned_url(
            "ab" * 32, filename="a", content_type="text/html\r\nSet-Cookie: x=1"
        )


def test_repr_hides_the_keys() -> None:
    store = S3Store("s3.example.org", "AKIAEXAMPLE", "very-secret", "kejian")

    assert "AKIAEXAMPLE" not in repr(store)
    assert "very-secret" not in repr(store)
