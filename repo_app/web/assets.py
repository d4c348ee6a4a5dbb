"""Links to static files that browsers may cache for a year.

``asset_url("css/kejian.css")`` adds ``?v=`` with a digest of the file's content, so a
changed file gets a new address and the old one can be cached for good: a slow school
link fetches each file once. Vendor files built from npm (``static/vendor/``, see
``frontend/``) are linked the same way.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Flask, Response, current_app, request, url_for


@lru_cache(maxsize=256)
def _digest(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def asset_url(filename: str) -> str:
    """The address of ``static/<filename>`` with its content digest.

    :raises FileNotFoundError: when the file is missing (for a vendor file: run
        ``make assets``).
    """
    path = Path(current_app.static_folder or "", filename)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"static/{filename} is missing; for vendor files run 'make assets'."
        ) from None
    return url_for("static", filename=filename, v=_digest(path, stat.st_mtime_ns))


def init_assets(app: Flask) -> None:
    app.jinja_env.globals["asset_url"] = asset_url

    @app.after_request
    def _cache_versioned(response: Response) -> Response:
        # Only addresses made by asset_url carry ?v=; a bare /static/ address may
        # change under the same name and is revalidated as Flask does by default.
        if (
            request.endpoint == "static"
            and request.args.get("v")
            and response.status_code == 200
        ):
            response.cache_control.public = True
            response.cache_control.max_age = 365 * 24 * 3600
            response.cache_control.immutable = True
            response.cache_control.no_cache = None
        return response
