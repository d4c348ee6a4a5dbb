"""A minimal WSGI receiver: the least any server must do with an upload.

It reads the request body in 1 MiB blocks, hashes it with SHA-256 and writes it to a
temporary file in ``$BENCH_SPOOL_DIR``, which it then removes. ``bench/upload.py``
serves it with the same gunicorn settings as Kejian, so that the time of the
transport and of one hashed write can be told apart from Kejian's own steps.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

BLOCK = 1024 * 1024


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] != "POST":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    stream = environ["wsgi.input"]
    left = int(environ.get("CONTENT_LENGTH") or 0)
    digest = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile(dir=os.environ.get("BENCH_SPOOL_DIR")) as out:
        while left > 0:
            chunk = stream.read(min(BLOCK, left))
            if not chunk:
                break
            left -= len(chunk)
            size += len(chunk)
            digest.update(chunk)
            out.write(chunk)
    body = json.dumps({"size": size, "sha256": digest.hexdigest()}).encode()
    start_response(
        "201 Created",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
