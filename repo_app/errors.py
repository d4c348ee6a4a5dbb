"""Kejian's domain errors and the one table that turns them into HTTP answers.

Services raise these; views never build error responses themselves. API requests
(paths under ``/api/``, or clients that prefer JSON) get
``{"error": {"code", "message", "details"}}``; browsers get a short readable page.
No handler ever shows a stack trace: unexpected errors are logged with the request id
and answered with a generic 500.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from indexer.engines.base import QueryError, SearchUnavailable
from storage.errors import ObjectNotFound, ObjectTooLarge, StorageUnavailable

log = logging.getLogger(__name__)


class KejianError(Exception):
    """Base class of errors with an HTTP meaning."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationError(KejianError):
    status = 422
    code = "validation_error"


class BadRequest(KejianError):
    status = 400
    code = "bad_request"


class Unauthorized(KejianError):
    status = 401
    code = "unauthorized"


class Forbidden(KejianError):
    status = 403
    code = "forbidden"


class NotFound(KejianError):
    status = 404
    code = "not_found"


class Conflict(KejianError):
    status = 409
    code = "conflict"


class PayloadTooLarge(KejianError):
    status = 413
    code = "file_too_large"


class UnsupportedFile(KejianError):
    """A file was read and refused: its content is not something Kejian can keep."""

    status = 422
    code = "file_refused"


class ServiceUnavailable(KejianError):
    status = 503
    code = "service_unavailable"


# Errors from the storage and search layers, mapped to what the client should do.
_VENDOR_ERRORS: dict[type[Exception], tuple[int, str, str]] = {
    ObjectNotFound: (404, "not_found", "The file's content is not in the store."),
    ObjectTooLarge: (413, "file_too_large", ""),
    StorageUnavailable: (503, "storage_unavailable", "The file store cannot be reached; try again later."),
    SearchUnavailable: (503, "search_unavailable", "Search is unavailable right now; try again later. Uploads still work."),
    QueryError: (400, "bad_query", ""),
}


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> tuple[Response | str, int]:
    if wants_json():
        body: dict[str, Any] = {"code": code, "message": message}
        body["details"] = details or {}
        rid = g.get("request_id")
        if rid:
            body["request_id"] = rid
        return jsonify(error=body), status
    return render_template("error.html", status=status, code=code, message=message), status


def _http_message(exc: HTTPException) -> tuple[str, dict[str, Any]]:
    # flask-smorest/webargs put field messages in exc.data["messages"].
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if messages:
        flat: dict[str, Any] = {}
        for location in messages.values():
            if isinstance(location, dict):
                flat.update(location)
            elif isinstance(location, list):  # the body as a whole: not JSON at all
                flat.setdefault("_schema", []).extend(location)
        # marshmallow's key for what is wrong with the body as a whole, not a field.
        whole = " ".join(str(m) for m in flat.get("_schema", []))
        fields = ", ".join(sorted(k for k in flat if k != "_schema"))
        if whole and not fields:
            return f"The request body cannot be read: {whole}", {"fields": flat}
        return f"Invalid input in {fields or 'the request'}.", {"fields": flat}
    return exc.description or exc.name, {}


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    411: "length_required",
    413: "file_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_error",
    429: "too_many_requests",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(KejianError)
    def _kejian(exc: KejianError):  # type: ignore[no-untyped-def]
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        message, details = _http_message(exc)
        if status == 422 and details:
            return error_response(422, "validation_error", message, details)
        return error_response(status, _HTTP_CODES.get(status, "http_error"), message, details)

    for vendor, (status, code, default) in _VENDOR_ERRORS.items():

        def _vendor(exc: Exception, status: int = status, code: str = code, default: str = default):  # type: ignore[no-untyped-def]
            if status >= 500:
                log.warning("backend unavailable: %s", exc)
            return error_response(status, code, default or str(exc))

        app.register_error_handler(vendor, _vendor)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            500, "internal_error", "Something went wrong on our side; it has been logged."
        )
