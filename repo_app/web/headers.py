"""Security headers of the pages.

Every response outside ``/api/`` gets a strict Content-Security-Policy: scripts, styles,
images, fonts, media and connections from our own origin only (nothing from a CDN),
no inline script or style except an element carrying this request's nonce
(``{{ csp_nonce() }}``; prefer files under ``static/``), no plugins, forms posting only
to us, and no framing. A view that must be framed (the LTI pages) relaxes
``frame-ancestors`` with :func:`allow_framing`, or sets a whole policy of its own on
its response, which is then left as it is.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, g, request

F = TypeVar("F", bound=Callable[..., Any])


def csp_nonce() -> str:
    """This request's nonce for the rare ``<script nonce=…>`` that cannot be a file."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce  # type: ignore[no-any-return]


def allow_framing(*ancestors: str) -> Callable[[F], F]:
    """Let the pages of the decorated view be framed by *ancestors* (CSP sources,
    such as ``https://lms.example``) instead of by nobody."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.frame_ancestors = " ".join(ancestors) or "'none'"
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def content_security_policy() -> str:
    nonce = f" 'nonce-{g.csp_nonce}'" if g.get("csp_nonce") else ""
    directives = {
        "default-src": "'self'",
        # pdf.js decodes some images with WebAssembly; nothing else compiles code.
        "script-src": f"'self' 'wasm-unsafe-eval'{nonce}",
        "style-src": f"'self'{nonce}",
        # data: and blob: for images and media the pages' scripts make (PDF pages,
        # thumbnails), never fetched from elsewhere.
        "img-src": "'self' data: blob:",
        "media-src": "'self' blob:",
        "worker-src": "'self' blob:",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": g.get("frame_ancestors", "'none'"),
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def init_headers(app: Flask) -> None:
    @app.after_request
    def _page_headers(response: Response) -> Response:
        if request.path.startswith("/api/"):
            return response
        # A view that sets a policy of its own (LTI launches) keeps it.
        csp = response.headers.setdefault(
            "Content-Security-Policy", content_security_policy()
        )
        # Nothing of a page's address (paths carry search words) leaves our origin.
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Content-Type-Options"] = "nosniff"
        if "frame-ancestors 'none'" in csp:
            response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = (
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
        )
        return response

    app.jinja_env.globals["csp_nonce"] = csp_nonce
