"""Marshmallow schemas of the REST API: what comes in, and what goes out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from flask import Request
from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
)
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import UnsupportedMediaType

from config.vocabularies import FIELD_KINDS
from indexer.engines.base import SORTS
from repo_app.runtime import runtime
from repo_app.services.search import MAX_PREFIX_CHARS, MAX_SUGGESTIONS


class JsonBodyParser(FlaskParser):
    """Reads JSON bodies with orjson, which refuses text UTF-8 cannot hold (a lone
    surrogate such as ``"\\ud800"``) as invalid JSON: a 400 here instead of a
    failure where the text is stored or indexed."""

    def _raw_load_json(self, req: Request) -> Any:
        body = req.get_data(cache=True)
        if not is_json_request(req):
            if body:
                # Otherwise a JSON body sent as text/plain reads as no fields at all.
                raise UnsupportedMediaType(
                    "Send the body as JSON, with Content-Type: application/json."
                )
            return core.missing
        return orjson.loads(body)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


#: C0 control characters have no place in metadata, and PostgreSQL cannot store NUL.
#: A description keeps its tabs and line breaks.
NO_CONTROLS = validate.Regexp(
    r"\A[^\x00-\x1f]*\Z",
    error="Control characters (U+0000 to U+001F) are not allowed here.",
)
NO_CONTROLS_BUT_LINES = validate.Regexp(
    r"\A[^\x00-\x08\x0b\x0c\x0e-\x1f]*\Z",
    error="Control characters other than tabs and line breaks are not allowed here.",
)


class ResourceInSchema(StrictSchema):
    """Metadata of a resource. Vocabulary fields take a code or a Chinese or English
    label (``math``, ``数学`` or ``Mathematics``) and are stored as codes."""

    title = fields.String(
        required=True, validate=[validate.Length(min=1, max=300), NO_CONTROLS]
    )
    description = fields.String(
        validate=[validate.Length(max=20_000), NO_CONTROLS_BUT_LINES]
    )
    keywords = fields.List(
        fields.String(validate=[validate.Length(min=1, max=100), NO_CONTROLS]),
        validate=validate.Length(max=50),
    )
    language = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    grade = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    edition = fields.String(allow_none=True)
    volume = fields.String(allow_none=True)
    resource_type = fields.String(allow_none=True)
    licence = fields.String(allow_none=True)
    chapters = fields.List(fields.Integer(strict=True), validate=validate.Length(max=100))
    owner_org = fields.String(validate=[validate.Length(min=1, max=64), NO_CONTROLS])

    @post_load
    def _codes(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        vocab = runtime().vocab
        errors: dict[str, list[str]] = {}
        for name, kind in FIELD_KINDS.items():
            value = data.get(name)
            if value is None or value == "":
                if name in data:
                    data[name] = None
                continue
            code = vocab.resolve(kind, value)
            if code is None:
                errors[name] = [
                    f"Unknown value {value!r}; see GET /api/v1/vocabularies for {kind}."
                ]
            else:
                data[name] = code
        if "title" in data:
            data["title"] = data["title"].strip()
            if not data["title"]:
                errors["title"] = ["The title cannot be blank."]
        if errors:
            raise ValidationError(errors)
        return data


class ResourcePatchSchema(ResourceInSchema):
    title = fields.String(validate=[validate.Length(min=1, max=300), NO_CONTROLS])

    @validates("owner_org")
    def _owner_stays(self, value: Any, **_: Any) -> None:
        # The owner is chosen when the resource is made; a change asked for here
        # would otherwise be dropped without a word.
        raise ValidationError("The owner school of a resource cannot be changed.")


class PublishSchema(StrictSchema):
    visibility = fields.String(
        required=True,
        validate=validate.OneOf(["owner", "school", "district", "city", "public"]),
    )


class ReviewSchema(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    note = fields.String(
        load_default="", validate=[validate.Length(max=2000), NO_CONTROLS_BUT_LINES]
    )


class OrgRefSchema(Schema):
    code = fields.String()
    name = fields.String()
    kind = fields.Function(lambda o: o.kind.value)
    locality = fields.Function(lambda o: o.locality.value if o.locality else None)


class FileSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    size = fields.Function(lambda vf: vf.blob.size)
    mime = fields.Function(lambda vf: vf.blob.mime)
    kind = fields.Function(lambda vf: vf.blob.kind)
    sha256 = fields.String()
    extraction = fields.Function(lambda vf: vf.blob.extraction)
    encrypted = fields.Function(lambda vf: vf.blob.encrypted)
    pages = fields.Function(lambda vf: vf.blob.pages)
    problems = fields.Function(lambda vf: vf.blob.problems)
    package_type = fields.Function(lambda vf: vf.blob.package_type)
    outline = fields.Function(lambda vf: vf.blob.outline)
    content_url = fields.Method("_content_url")

    def _content_url(self, vf: Any) -> str:
        return f"/api/v1/resources/{vf.version.resource_id}/files/{vf.id}/content"


class VersionFileSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    sha256 = fields.String()


class VersionSchema(Schema):
    number = fields.Integer()
    note = fields.String()
    created_at = fields.DateTime()
    files = fields.List(fields.Nested(VersionFileSchema))


class ChapterSchema(Schema):
    id = fields.Integer()
    textbook = fields.String()
    code = fields.String()
    title = fields.String()


class ResourceSummarySchema(Schema):
    id = fields.Integer()
    title = fields.String()
    description = fields.String()
    keywords = fields.List(fields.String())
    language = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    grade = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    edition = fields.String(allow_none=True)
    volume = fields.String(allow_none=True)
    resource_type = fields.String(allow_none=True)
    licence = fields.String(allow_none=True)
    chapters = fields.List(fields.Nested(ChapterSchema))
    owner_org = fields.Nested(OrgRefSchema)
    uploader = fields.Function(
        lambda r: {"id": r.uploader.id, "username": r.uploader.username} if r.uploader else None
    )
    visibility = fields.Function(lambda r: r.visibility.value)
    requested_visibility = fields.Function(
        lambda r: r.requested_visibility.value if r.requested_visibility else None
    )
    status = fields.Function(lambda r: r.status.value)
    review_note = fields.String(allow_none=True)
    downloads = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)
    files = fields.List(fields.Nested(FileSchema))


class ResourceOutSchema(ResourceSummarySchema):
    versions = fields.List(fields.Nested(VersionSchema))


class ResourceListArgs(Schema):
    """Query of ``GET /resources``, read with ``unknown=RAISE``: a filter it does not
    take (``subject``: that is ``GET /search``) is refused rather than ignored."""

    owner_org = fields.String()
    status = fields.String(validate=validate.OneOf(["draft", "pending", "published", "withdrawn"]))
    mine = fields.Boolean(load_default=False)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ResourcePageSchema(Schema):
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    items = fields.List(fields.Nested(ResourceSummarySchema))


class DateOrDateTime(fields.String):
    """An ISO 8601 date (``2026-03-01``) or date and time (``2026-03-01T08:00+08:00``),
    loaded as a :class:`~datetime.date` or a :class:`~datetime.datetime`."""

    INVALID = (
        "Not an ISO date (2026-03-01) or date and time (2026-03-01T08:00:00+08:00)."
    )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **_: Any) -> Any:
        if not isinstance(value, str) or len(value) > 40:
            raise ValidationError(self.INVALID)
        text = value.strip()
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(self.INVALID) from None


class QueryArgsSchema(Schema):
    """Query-string arguments: an empty value is the same as none."""

    class Meta:
        unknown = EXCLUDE

    #: Arguments whose empty value means something of its own.
    KEEP_EMPTY: tuple[str, ...] = ()

    @pre_load
    def _blank_is_absent(self, data: Any, **_: Any) -> Any:
        return {
            key: value
            for key, value in data.items()
            if value != "" or key in self.KEEP_EMPTY
        }


class SearchArgsSchema(QueryArgsSchema):
    """What ``GET /search`` takes besides filters: every other parameter is a
    filter on a facet field."""

    KEEP_EMPTY = ("facets",)

    q = fields.String(
        load_default="", metadata={"description": "words, Chinese or English"}
    )
    sort = fields.String(
        load_default="relevance",
        validate=validate.OneOf(SORTS, error="Unknown sort {input!r}; use {choices}."),
    )
    page = fields.Integer(
        validate=validate.Range(min=1, max=10_000),
        metadata={"description": "from 1, up to 10,000 results deep; not with cursor"},
    )
    per_page = fields.Integer(
        load_default=20, validate=validate.Range(min=1, max=100)
    )
    facets = fields.String(
        metadata={
            "description": "comma-separated facet fields to count (all when absent, "
            "none when empty)"
        }
    )
    date_from = DateOrDateTime(
        data_key="from",
        metadata={
            "description": "resources changed at or after this date (a UTC day) or "
            "date and time (naive is UTC)"
        },
    )
    date_to = DateOrDateTime(
        data_key="to",
        metadata={
            "description": "resources changed before this date and time, or up to "
            "the end of this date (a UTC day)"
        },
    )
    cursor = fields.String(
        validate=validate.Length(max=4000),
        metadata={
            "description": "next_cursor of the page before: pages on without a depth "
            "limit; not with page"
        },
    )


class SuggestArgsSchema(QueryArgsSchema):
    q = fields.String(
        required=True,
        error_messages={"required": "Give q, the beginning of a title."},
        metadata={
            "description": "what the user has typed: the beginning or part of a "
            "title, or its pinyin or pinyin initials (sx for 数学); at most "
            f"{MAX_PREFIX_CHARS} characters"
        },
    )
    limit = fields.Integer(
        load_default=10, validate=validate.Range(min=1, max=MAX_SUGGESTIONS)
    )


class SearchHitSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    score = fields.Float()
    highlights = fields.Dict(keys=fields.String(), values=fields.String())
    subject = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    resource_type = fields.String(allow_none=True)
    owner_org = fields.Nested(OrgRefSchema)
    updated_at = fields.DateTime()


class FacetValueSchema(Schema):
    value = fields.String()
    label = fields.String()
    count = fields.Integer()


class SearchResultSchema(Schema):
    total = fields.Integer()
    page = fields.Integer(
        allow_none=True, metadata={"description": "null when paged by cursor"}
    )
    per_page = fields.Integer()
    next_cursor = fields.String(
        allow_none=True,
        metadata={"description": "pass as cursor for the next page; null on the last"},
    )
    hits = fields.List(fields.Nested(SearchHitSchema))
    facets = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.Nested(FacetValueSchema)),
        metadata={
            "description": "multi-select counts: a filtered field is counted with "
            "the other filters but not its own, so its other values stay on offer"
        },
    )


class SuggestResultSchema(Schema):
    suggestions = fields.List(
        fields.String(), metadata={"description": "titles, best first"}
    )
