"""Shared fixtures: an application on each database, a client, and data factories.

Every test that touches SQL runs twice, on SQLite and on the PostgreSQL server of this
machine (``KEJIAN_TEST_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432``).
Each test session creates its own PostgreSQL database and drops it at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from config.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
POSTGRES_SERVER = os.environ.get("KEJIAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")


def _upgrade(url: str, home: Path) -> None:
    from flask_migrate import upgrade

    from repo_app import create_app

    settings = replace(load_settings({"KEJIAN_HOME": str(home)}), database_url=url)
    app = create_app(settings)
    with app.app_context():
        upgrade()
        from repo_app.extensions import db

        db.engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashes() -> Iterator[None]:
    """Argon2 at its cheapest in every test. Each ``World`` hashes ten passwords and
    each sign-in verifies one; at the production cost (64 MiB, three passes) that is
    about 2.5 s a test on the 2-core machine. Hashing and verifying still go through
    the same code and library."""
    from argon2 import PasswordHasher

    from repo_app import security

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            security,
            "_hasher",
            PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
        )
        yield


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (faster than migrating each time)."""
    home = tmp_path_factory.mktemp("sqlite-template")
    path = home / "template.db"
    _upgrade(f"sqlite:///{path}", home)
    return path


@pytest.fixture(scope="session")
def postgres_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = f"kejian_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_SERVER}: {exc}")
    url = f"{POSTGRES_SERVER}/{name}"
    _upgrade(url, tmp_path_factory.mktemp("pg-migrate"))
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'")
        ).scalars().all()
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "kejian.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    _truncate_postgres(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    home = tmp_path / "instance"
    base = load_settings({"KEJIAN_HOME": str(home), "KEJIAN_MAX_UPLOAD_MB": "64"})
    return replace(base, database_url=database_url, demo_dir=None)


@pytest.fixture
def app(settings):  # type: ignore[no-untyped-def]
    from repo_app import create_app
    from repo_app.extensions import db

    app = create_app(settings, TESTING=True)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    app.extensions["kejian"].engine.close()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


class World:
    """A small city: 1 city, 2 districts, 3 schools, users with each role, and their
    API tokens. Tests reach people by name: ``world.token("uploader1")``."""

    def __init__(self) -> None:
        from repo_app.extensions import db
        from repo_app.services.accounts import add_org, add_user, create_token

        add_org("city", "示范市", "city")
        add_org("d1", "城东区", "district", "city", "urban")
        add_org("d2", "山南县", "district", "city", "rural")
        add_org("s1", "城东一中", "school", "d1", "urban")
        add_org("s2", "城东二中", "school", "d1", "urban")
        add_org("s3", "石门村小", "school", "d2", "rural")
        db.session.flush()
        people = {
            "cityadmin": [("city", "admin")],
            "cityreviewer": [("city", "reviewer")],
            "d1reviewer": [("d1", "reviewer")],
            "uploader1": [("s1", "uploader")],
            "uploader2": [("s2", "uploader")],
            "uploader3": [("s3", "uploader")],
            "teacher1": [("s1", "teacher")],
            "teacher2": [("s2", "teacher")],
            "teacher3": [("s3", "teacher")],
            "s1admin": [("s1", "admin")],
        }
        self.tokens: dict[str, str] = {}
        for name, roles in people.items():
            user = add_user(name, "correct horse battery", roles=roles)
            db.session.flush()
            self.tokens[name] = create_token(user, "tests")
        db.session.commit()

    def token(self, name: str) -> str:
        return self.tokens[name]

    def headers(self, name: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"} if name else {}


@pytest.fixture
def world(app) -> World:  # type: ignore[no-untyped-def]
    return World()


class Api:
    """Action helpers over the test client, one per thing a user does."""

    def __init__(self, client: Any, world: World) -> None:
        self.client = client
        self.world = world

    def create(self, who: str, **fields: Any) -> dict[str, Any]:
        fields.setdefault("title", "测试课件")
        resp = self.client.post("/api/v1/resources", json=fields, headers=self.world.headers(who))
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()

    def upload(self, who: str, rid: int, name: str, data: bytes, **query: str) -> Any:
        return self.client.post(
            f"/api/v1/resources/{rid}/files",
            data=data,
            query_string={"name": name, **query},
            headers={**self.world.headers(who), "Content-Type": "application/octet-stream"},
        )

    def publish(self, who: str, rid: int, visibility: str) -> Any:
        return self.client.post(
            f"/api/v1/resources/{rid}/publish",
            json={"visibility": visibility},
            headers=self.world.headers(who),
        )

    def search(self, who: str | None, **params: Any) -> Any:
        return self.client.get("/api/v1/search", query_string=params, headers=self.world.headers(who))


@pytest.fixture
def api(client, world) -> Api:  # type: ignore[no-untyped-def]
    return Api(client, world)
