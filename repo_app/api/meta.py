"""Vocabularies, organisations, chapters and health."""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import request
from flask_smorest import Blueprint
from sqlalchemy import select, text

from repo_app.errors import BadRequest
from repo_app.extensions import db
from repo_app.models import ChapterNode, Organisation
from repo_app.runtime import runtime

blp = Blueprint("meta", __name__, description="Vocabularies, organisations, health")


@blp.route("/vocabularies", methods=["GET"])
@blp.doc(description="Every controlled vocabulary, labelled in `?lang=zh` (default) or `en`.")
def vocabularies() -> dict[str, Any]:
    lang = request.args.get("lang", "zh")
    if lang not in ("zh", "en"):
        raise BadRequest("lang must be zh or en.")
    return runtime().vocab.as_json(lang)


@blp.route("/organisations", methods=["GET"])
def organisations() -> dict[str, Any]:
    orgs = db.session.scalars(select(Organisation).order_by(Organisation.code)).all()
    by_id = {o.id: o for o in orgs}
    return {
        "items": [
            {
                "code": o.code,
                "name": o.name,
                "kind": o.kind.value,
                "locality": o.locality.value if o.locality else None,
                "parent": by_id[o.parent_id].code if o.parent_id in by_id else None,
            }
            for o in orgs
        ]
    }


@blp.route("/chapters", methods=["GET"])
@blp.doc(description="Chapter nodes of one textbook: `?textbook=KEY`.")
def chapters() -> dict[str, Any]:
    textbook = request.args.get("textbook", "")
    nodes = db.session.scalars(
        select(ChapterNode).where(ChapterNode.textbook == textbook).order_by(ChapterNode.position)
    ).all()
    return {
        "textbook": textbook,
        "items": [
            {"id": n.id, "code": n.code, "title": n.title, "parent": n.parent_id} for n in nodes
        ],
    }


@blp.route("/health", methods=["GET"])
def health() -> tuple[dict[str, Any], int]:
    rt = runtime()
    checks: dict[str, str] = {}
    for name, probe in (
        ("database", check_schema),
        ("storage", rt.store.check),
        ("search", rt.engine.check),
    ):
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - health reports every failure as text
            checks[name] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return {"status": "ok" if ok else "degraded", "checks": checks}, 200 if ok else 503


class PendingMigrations(Exception):
    """The database is reachable but behind the code's migrations: run
    ``kejian db upgrade``."""


@cache
def _migration_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    from repo_app import _migrations_dir

    return frozenset(ScriptDirectory(_migrations_dir()).get_heads())


def check_schema() -> None:
    # Reachable is not enough: code newer than the schema fails on the tables it
    # changed, so health says so before the pages do.
    found = frozenset(db.session.scalars(text("SELECT version_num FROM alembic_version")))
    if found != _migration_heads():
        raise PendingMigrations
