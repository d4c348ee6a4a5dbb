"""Kejian (课件): a shared courseware repository for a city's schools.

:func:`create_app` builds the Flask application. Each integration is attached by its
own ``init_*`` step, which fails early with a message naming the setting to fix.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from flask import Flask, g, request
from werkzeug.routing import IntegerConverter, Map

from config.settings import Settings, load_settings
from repo_app.extensions import db, migrate
from repo_app.jsonio import OrjsonProvider

if TYPE_CHECKING:
    from indexer.engines.base import SearchEngine

__all__ = ["create_app", "open_search_engine"]

log = logging.getLogger("kejian")


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the application.

    :param settings: settings to use instead of reading ``KEJIAN_*`` variables.
    :param overrides: extra Flask configuration (tests use ``TESTING=True``).
    :raises config.SettingsError: when a setting cannot be used.
    """
    from repo_app.errors import register_error_handlers

    settings = settings or load_settings()
    app = Flask(__name__, instance_path=str(settings.home), instance_relative_config=False)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        # Uploads are streamed by our own code and limited by KEJIAN_MAX_UPLOAD_MB;
        # Werkzeug's limit guards form bodies and multipart parsing alike.
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        JSON_SORT_KEYS=False,
        API_TITLE="Kejian API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    app.config.update(overrides)
    # Keys keep the order the code gives them and Chinese stays Chinese; encoded by
    # orjson, a tenth of the time of a search answer's standard-library encoding.
    app.json = OrjsonProvider(app)
    _init_logging(settings)

    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir())
    _init_runtime(app, settings)
    _init_sqlite(app)
    # Before any route is added: ids in addresses stop where the columns do.
    app.url_map.converters["int"] = _IdConverter

    from repo_app.api import init_api

    init_api(app)
    register_error_handlers(app)
    _init_request_hooks(app)

    from lti import init_lti

    # Before the web pages: LTI's request hooks must run ahead of theirs.
    init_lti(app)

    from repo_app.web import init_web

    init_web(app)

    from repo_app.cli import register_commands

    register_commands(app)
    return app


class _IdConverter(IntegerConverter):
    """``<int:…>`` in routes: a number past the integer columns matches no route, so
    it is a 404 like any other unknown id rather than a database error."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        from repo_app.models import MAX_ID

        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _migrations_dir() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent / "migrations")


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Several threads of one server share the file; wait rather than fail on a lock.
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True}


def _init_sqlite(app: Flask) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from sqlalchemy import event

    with app.app_context():

        @event.listens_for(db.engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # WAL lets readers go on while the import or a job writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()


def _init_logging(settings: Settings) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=settings.log_level,
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
    logging.getLogger("kejian").setLevel(settings.log_level)
    # huey announces every task; in the embedded mode that is every commit.
    logging.getLogger("huey").setLevel(logging.WARNING)
    # The Elasticsearch client logs every request, and a traceback for each retry;
    # the search engine logs what failed in one line of its own.
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    logging.getLogger("elastic_transport.transport").setLevel(logging.ERROR)


def open_search_engine(settings: Settings) -> SearchEngine:
    """The search engine the ``KEJIAN_SEARCH_*`` settings name.

    :raises SearchEngineError: for a setting that cannot be used, naming it.
    """
    from indexer.engines import open_engine

    return open_engine(
        settings.search_url,
        home=settings.home,
        index=settings.search_index,
        api_key=settings.search_api_key,
        ca_certs=settings.search_ca_certs,
        analyzer=settings.search_analyzer,
    )


def _init_runtime(app: Flask, settings: Settings) -> None:
    from config.vocabularies import load_vocabularies
    from repo_app.jobs import make_huey
    from repo_app.runtime import Runtime
    from storage import open_store

    vocab = load_vocabularies()
    store = open_store(settings.storage_url, home=settings.home)
    engine = open_search_engine(settings)
    runtime = Runtime(settings=settings, store=store, engine=engine, vocab=vocab, huey=None)  # type: ignore[arg-type]
    app.extensions["kejian"] = runtime
    make_huey(app, runtime)


def _init_request_hooks(app: Flask) -> None:
    @app.before_request
    def _request_id() -> None:
        # Tests (and CLI-driven requests) may share one app context between requests;
        # the principal belongs to the request alone.
        g.pop("principal", None)
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming[:64] if incoming.isascii() and incoming else uuid.uuid4().hex

    @app.after_request
    def _headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Request-Id", g.get("request_id", ""))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # Pages that state their own frame-ancestors (LTI pages, shown inside an LMS)
        # keep that policy; the rest of the site may not be framed by others.
        if "frame-ancestors" not in response.headers.get("Content-Security-Policy", ""):
            response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response
