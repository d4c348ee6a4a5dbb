"""Resumable uploads over the tus 1.0 protocol (core, creation, termination,
expiration); the protocol and its storage are in :mod:`repo_app.services.tus`.

``POST /uploads`` with ``Upload-Length`` and ``Upload-Metadata`` (``filename`` and
``batch`` or ``resource``, base64) creates an upload at ``Location``; ``PATCH`` sends
bytes from ``Upload-Offset`` (``Content-Type: application/offset+octet-stream``),
``HEAD`` reports the offset, ``DELETE`` cancels. ``GET`` on an upload (not part of
tus) tells what became of the file: ``receiving``, ``stored`` (with the resource) or
``refused`` (with the reason).
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from repo_app.auth import require_user
from repo_app.errors import BadRequest, KejianError
from repo_app.extensions import db
from repo_app.models import UploadSession
from repo_app.runtime import runtime
from repo_app.services import tus

blp = Blueprint("uploads", __name__, description="Resumable uploads (tus 1.0)")

#: Headers a browser script may read on our answers (tus-js-client reads these).
_EXPOSED = "Location, Upload-Offset, Upload-Length, Upload-Expires, Tus-Resumable"


@blp.after_request
def _tus_headers(response: Response) -> Response:
    response.headers["Tus-Resumable"] = tus.VERSION
    response.headers["Access-Control-Expose-Headers"] = _EXPOSED
    response.headers["Cache-Control"] = "no-store"
    return response


def _check_version() -> None:
    given = request.headers.get("Tus-Resumable")
    if given != tus.VERSION:
        raise _VersionMismatch(
            f"Send 'Tus-Resumable: {tus.VERSION}'; this server speaks tus {tus.VERSION}."
        )


class _VersionMismatch(KejianError):
    status = 412
    code = "tus_version"


def _number(name: str) -> int:
    raw = request.headers.get(name, "")
    if not raw.isascii() or not raw.isdigit():
        raise BadRequest(f"{name} must be a whole number of bytes.")
    number = int(raw)
    # The columns (and the JSON of an answer) hold 64-bit numbers.
    if number >= 2**63:
        raise BadRequest(f"{name} is larger than any file can be.")
    return number


def _http_date(upload: UploadSession) -> str:
    return tus.expires_at(upload).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _status(upload: UploadSession) -> dict[str, Any]:
    return {
        "id": upload.id,
        "filename": upload.filename,
        "length": upload.length,
        "offset": upload.offset,
        "state": upload.state.value,
        "error": upload.error,
        "resource_id": upload.resource_id,
    }


@blp.route("/uploads", methods=["POST", "OPTIONS"], provide_automatic_options=False)
@blp.doc(
    description="Create a resumable upload (tus creation): headers `Tus-Resumable: "
    "1.0.0`, `Upload-Length` and `Upload-Metadata` with `filename` and `batch` or "
    "`resource`. `OPTIONS` tells the version, extensions and largest size."
)
def create() -> Response:
    if request.method == "OPTIONS":
        response = Response(status=204)
        response.headers["Tus-Version"] = tus.VERSION
        response.headers["Tus-Extension"] = ",".join(tus.EXTENSIONS)
        response.headers["Tus-Max-Size"] = str(runtime().settings.max_upload_bytes)
        return response
    _check_version()
    principal = require_user()
    if request.headers.get("Upload-Defer-Length"):
        raise BadRequest("Upload-Defer-Length is not supported; send Upload-Length.")
    length = _number("Upload-Length")
    metadata = tus.parse_metadata(request.headers.get("Upload-Metadata"))
    upload = tus.create(principal, length, metadata)
    db.session.commit()
    response = Response(status=201)
    response.headers["Location"] = f"{request.path.rstrip('/')}/{upload.id}"
    response.headers["Upload-Expires"] = _http_date(upload)
    return response


@blp.route("/uploads/<upload_id>")
class Upload(MethodView):
    def head(self, upload_id: str) -> Response:
        """The offset to resume from (tus core)."""
        _check_version()
        upload = tus.get(require_user(), upload_id)
        response = Response(status=200)
        response.headers["Upload-Offset"] = str(upload.offset)
        response.headers["Upload-Length"] = str(upload.length)
        if upload.state is upload.state.RECEIVING:
            response.headers["Upload-Expires"] = _http_date(upload)
        return response

    def patch(self, upload_id: str) -> Response:
        """Bytes from `Upload-Offset` on (tus core)."""
        _check_version()
        principal = require_user()
        if request.mimetype != "application/offset+octet-stream":
            raise _WrongType("Send the bytes as application/offset+octet-stream.")
        offset = _number("Upload-Offset")
        result = tus.append(
            principal, upload_id, offset, request.stream, request.content_length
        )
        response = Response(status=204)
        response.headers["Upload-Offset"] = str(result.upload.offset)
        if not result.finished:
            response.headers["Upload-Expires"] = _http_date(result.upload)
        return response

    def delete(self, upload_id: str) -> Response:
        """Cancel the upload and drop its bytes (tus termination)."""
        _check_version()
        tus.terminate(require_user(), upload_id)
        return Response(status=204)

    def get(self, upload_id: str) -> dict[str, Any]:
        """What became of the file: `receiving`, `stored` or `refused` (`error`)."""
        return _status(tus.get(require_user(), upload_id))


class _WrongType(KejianError):
    status = 415
    code = "unsupported_media_type"
