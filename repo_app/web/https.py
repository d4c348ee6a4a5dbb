"""Serving the pages over HTTPS (``KEJIAN_HTTPS=1``).

With the setting on, the session, remember-me and language cookies carry ``Secure``
(browsers send them over HTTPS only), every response asks browsers to come back over
HTTPS only for a year (``Strict-Transport-Security``), and addresses made for use
outside Kejian (the link to use in a course, a shared collection's link, JSON-LD)
start with ``https://`` even when a TLS proxy in front forwards plain HTTP.

Off by default: ``kejian run`` on a laptop serves plain HTTP, where Secure cookies
would never come back.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, url_for

#: A year, as browsers' HSTS preload lists ask for.
HSTS_MAX_AGE = 365 * 24 * 3600


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute address of *endpoint*, for use outside Kejian."""
    return url_for(
        endpoint,
        _external=True,
        _scheme=current_app.config["PREFERRED_URL_SCHEME"],
        **values,
    )


def cookies_secure() -> bool:
    """Whether the pages' own cookies (the language) must carry ``Secure``."""
    return bool(current_app.config["SESSION_COOKIE_SECURE"])


def init_https(app: Flask, https: bool) -> None:
    app.config.update(
        SESSION_COOKIE_SECURE=https,
        REMEMBER_COOKIE_SECURE=https,
        PREFERRED_URL_SCHEME="https" if https else "http",
    )
    if not https:
        return

    @app.after_request
    def _hsts(response: Response) -> Response:
        response.headers.setdefault(
            "Strict-Transport-Security", f"max-age={HSTS_MAX_AGE}"
        )
        return response
