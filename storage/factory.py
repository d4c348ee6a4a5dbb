"""Choose the object store from ``KEJIAN_STORAGE_URL``.

One URL says everything about where files go, so that a deployment switches from
local disk to S3 by changing one setting:

* unset or empty: the local store in ``KEJIAN_HOME/objects``;
* ``file:///absolute/path`` or ``file://relative/path`` (relative to ``KEJIAN_HOME``);
* ``s3://ACCESS_KEY:SECRET@HOST[:PORT]/BUCKET[?secure=false&region=R&presign=true]``.

In the S3 form the key and secret are percent-encoded, as anything in a URL's user
part must be: Swift's ``test:tester`` is written ``test%3Atester``, a ``/`` in an AWS
secret ``%2F``. ``secure`` defaults to true (HTTPS), ``presign`` to false. Mistakes
raise :class:`StorageConfigError` with one line that names the setting; the message
never repeats the URL, which may hold a secret.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from storage.base import ObjectStore
from storage.errors import StorageConfigError
from storage.local import LocalStore

if TYPE_CHECKING:
    from storage.s3 import S3Store

_FORMS = (
    "file:///absolute/path, file://path/under/KEJIAN_HOME or "
    "s3://ACCESS_KEY:SECRET@HOST[:PORT]/BUCKET"
    "[?secure=false&region=REGION&presign=true]"
)

# S3 bucket naming rules, simplified: 3-63 lowercase letters, digits, dots, hyphens.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def open_store(url: str | None, *, home: Path) -> ObjectStore:
    """Build the object store that *url* (``KEJIAN_STORAGE_URL``) describes.

    Nothing is contacted here; call :meth:`ObjectStore.check` to find out whether the
    store can be used.

    :param home: ``KEJIAN_HOME``; the default store and relative ``file://`` paths
        live under it.
    :raises StorageConfigError: when *url* is not one of the accepted forms.
    """
    url = (url or "").strip()
    if not url:
        return LocalStore(home / "objects")

    scheme, colon, _ = url.partition(":")
    scheme = scheme.lower()
    if not colon:
        raise _config_error("has no scheme")
    if scheme == "file":
        return _file_store(url, home)
    if scheme == "s3":
        return _s3_store(url)

    raise _config_error(f"has the unsupported scheme {scheme!r}")


def _file_store(url: str, home: Path) -> LocalStore:
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise _config_error("is a file:// URL, which takes no ?options or #fragment")

    # file://relative/path puts "relative" in the host part; join it back.
    path = unquote(parts.netloc + parts.path)
    if not path.strip("/"):
        raise _config_error("is a file:// URL without a path")

    root = Path(path)
    return LocalStore(root if root.is_absolute() else home / root)


def _s3_store(url: str) -> S3Store:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _config_error("is an s3:// URL whose host or port is malformed") from None

    if not parts.hostname:
        raise _config_error("is an s3:// URL without a host")
    if parts.username is None or parts.password is None:
        raise _config_error(
            "is an s3:// URL without ACCESS_KEY:SECRET@ before the host"
        )

    bucket = parts.path.strip("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise _config_error(
            "needs one valid bucket name as its path (3-63 lowercase letters, digits, "
            "dots or hyphens)"
        )
    if parts.fragment:
        raise _config_error("is an s3:// URL, which takes no #fragment")

    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - {"secure", "region", "presign"})
    if unknown:
        raise _config_error(f"has unknown options {', '.join(unknown)}")

    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets next to a port
    endpoint = host if port is None else f"{host}:{port}"

    # The minio client is imported only by instances that store on S3.
    from storage.s3 import S3Store

    return S3Store(
        endpoint,
        unquote(parts.username),
        unquote(parts.password),
        bucket,
        secure=_flag(options, "secure", default=True),
        region=options.get("region") or None,
        presign=_flag(options, "presign", default=False),
    )


def _flag(options: dict[str, str], name: str, *, default: bool) -> bool:
    value = options.get(name)
    if value is None:
        return default

    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False

    raise _config_error(f"has {name}={value!r}; use true or false")


def _config_error(problem: str) -> StorageConfigError:
    return StorageConfigError(f"KEJIAN_STORAGE_URL {problem}; expected {_FORMS}")
