"""Uploading files to a resource and downloading them.

Uploads are streamed: a multipart form (field ``file``, repeatable) or a raw body whose
name comes from ``?name=`` or a ``Content-Disposition`` header. Downloads answer
``Range`` with 206, ``If-None-Match`` with 304 (the ETag is the SHA-256), and name the
file with RFC 6266 ``filename*``.
"""

from __future__ import annotations

from email.message import Message
from urllib.parse import quote

from flask import Response, redirect, request
from flask_smorest import Blueprint
from sqlalchemy import update
from werkzeug.datastructures import Range

from repo_app.api.schemas import ResourceOutSchema
from repo_app.auth import current_principal, require_user
from repo_app.errors import BadRequest, NotFound, PayloadTooLarge, ValidationError
from repo_app.extensions import db
from repo_app.models import Resource, VersionFile
from repo_app.runtime import runtime
from repo_app.services import files, indexing, resources, workspace

blp = Blueprint("files", __name__, description="Files of resources")


def _raw_name() -> str | None:
    if request.args.get("name"):
        return request.args["name"]
    header = request.headers.get("Content-Disposition")
    if header:
        msg = Message()
        msg["content-disposition"] = header
        return msg.get_filename()
    return None


@blp.route("/resources/<int:resource_id>/files", methods=["POST"])
@blp.response(201, ResourceOutSchema)
@blp.doc(
    description="Upload one or more files. Send multipart/form-data with field "
    "`file` (repeatable), or the raw bytes with `?name=lesson.pdf`. `?version=current` "
    "adds to the current version instead of making a new one."
)
def upload(resource_id: int):  # type: ignore[no-untyped-def]
    principal = require_user()
    resource = resources.get_for_edit(principal, resource_id)
    limit = runtime().settings.max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 1024 * 1024:
        raise PayloadTooLarge(f"The upload is larger than the limit of {limit // 2**20} MB.")
    new_version = request.args.get("version", "new") != "current"
    note = request.args.get("note", "")[:500]
    to_extract: list[str] = []

    if request.mimetype == "multipart/form-data":
        uploads = request.files.getlist("file")
        if not uploads:
            raise ValidationError("Send the file in the form field 'file'.", details={"field": "file"})
        for i, storage in enumerate(uploads):
            name = files.clean_filename(storage.filename)
            blob, pending = files.ingest(storage.stream, name)
            files.add_file(resource, blob, name, user_id=principal.user_id,
                           new_version=new_version and i == 0, note=note)
            if pending:
                to_extract.append(blob.sha256)
    else:
        name = files.clean_filename(_raw_name())
        blob, pending = files.ingest(request.stream, name)
        files.add_file(resource, blob, name, user_id=principal.user_id,
                       new_version=new_version, note=note)
        if pending:
            to_extract.append(blob.sha256)

    indexing.mark(resource.id)
    db.session.commit()
    # Large files are read by a job once their rows exist; it re-indexes when done.
    for sha256 in to_extract:
        runtime().tasks["extract_file"](sha256)
    indexing.after_commit()
    return resource


def _find_file(resource: Resource, file_id: int) -> VersionFile:
    for version in reversed(resource.versions):
        for vf in version.files:
            if vf.id == file_id:
                return vf
    raise NotFound(f"Resource {resource.id} has no file {file_id}.")


def content_disposition(name: str, inline: bool) -> str:
    kind = "inline" if inline else "attachment"
    fallback = name.encode("ascii", "replace").decode("ascii").replace('"', "_").replace("?", "_")
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in "\\" else "_" for ch in fallback)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@blp.route("/resources/<int:resource_id>/files/<int:file_id>/content", methods=["GET", "HEAD"])
@blp.doc(description="The file's bytes. Supports Range (206) and If-None-Match (304).")
def content(resource_id: int, file_id: int) -> Response:
    resource = resources.get(current_principal(), resource_id)
    vf = _find_file(resource, file_id)
    blob = vf.blob
    rt = runtime()
    etag = blob.sha256
    inline = request.args.get("inline") == "1" and blob.mime.startswith(files.INLINE_SAFE_PREFIXES)

    if request.if_none_match.contains(etag):
        response = Response(status=304)
        response.set_etag(etag)
        return response

    url = rt.store.presigned_url(
        blob.sha256,
        filename=vf.name,
        content_type=blob.mime,
        expires_seconds=300,
    )
    if url is not None and request.method == "GET":
        return redirect(url, code=302)

    size = blob.size
    start, end = 0, size - 1
    status = 200
    rng: Range | None = request.range
    # If-Range names the version the client holds; a range of another version would
    # splice two files together, so the whole file is sent instead.
    if_range_ok = "If-Range" not in request.headers or request.if_range.etag == etag
    if rng is not None and if_range_ok:
        span = rng.range_for_length(size) if rng.units == "bytes" else None
        if span is None:
            response = Response(status=416)
            response.headers["Content-Range"] = f"bytes */{size}"
            return response
        start, stop = span
        end = stop - 1
        status = 206
    elif request.headers.get("Range") and rng is None:
        raise BadRequest("The Range header cannot be understood; use bytes=START-END.")

    length = end - start + 1 if size else 0
    if request.method == "GET" and start == 0:
        # Opened (previewed or downloaded): it shows in the user's recently viewed.
        workspace.record_view(current_principal(), resource.id)
        _count_download(resource.id)

    body = (
        rt.store.iter_bytes(blob.sha256, start, end)
        if request.method == "GET" and length
        else b""
    )
    response = Response(body, status=status, mimetype=None)
    response.headers["Content-Type"] = blob.mime if inline else _download_type(blob.mime)
    response.headers["Content-Length"] = str(length)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Content-Disposition"] = content_disposition(vf.name, inline)
    # Even if a browser ignored the disposition, nothing served here may run script
    # with our origin.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=0, must-revalidate"
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    response.set_etag(etag)
    return response


def _is_milestone(count: int) -> bool:
    """1, 2, 5, 10, 20, 50, 100, …: the counts at which popularity is re-indexed."""
    while count >= 10 and count % 10 == 0:
        count //= 10
    return count in (1, 2, 5)


def _count_download(resource_id: int) -> None:
    # Re-indexing on every download would cost an index commit per request; at the
    # milestones the "popular" order follows within a factor of 2.5 of the true count.
    count = db.session.execute(
        update(Resource)
        .where(Resource.id == resource_id)
        .values(downloads=Resource.downloads + 1)
        .returning(Resource.downloads)
    ).scalar_one()
    if _is_milestone(count):
        indexing.mark(resource_id)
    db.session.commit()
    if _is_milestone(count):
        indexing.after_commit()


def _download_type(mime: str) -> str:
    # Markup types are sent as plain bytes so no browser renders them from our origin.
    if mime in ("text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/xml"):
        return "application/octet-stream"
    return mime
