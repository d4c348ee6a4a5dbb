"""Settings read from ``KEJIAN_*`` environment variables.

Every setting has a default that runs Kejian on one machine with no servers: SQLite,
a local-disk object store and an embedded tantivy index, all inside ``KEJIAN_HOME``.
A wrong value stops start-up with :class:`SettingsError`, whose message is one line
naming the variable and what it accepts.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SettingsError(Exception):
    """A setting cannot be used; the message names the variable to fix."""


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    storage_url: str | None
    search_url: str | None
    queue_url: str | None
    secret_key: str
    max_upload_bytes: int
    #: Files up to this size are checked and extracted while the upload request waits,
    #: so a broken file is refused at once; larger ones are extracted by a job.
    sync_extract_bytes: int
    demo_dir: Path | None
    log_level: str = "INFO"
    #: With ``search_url``: the Elasticsearch API key, CA bundle, Chinese analyzer
    #: and alias; ``None`` takes the engine's default.
    search_api_key: str | None = None
    search_ca_certs: Path | None = None
    search_analyzer: str | None = None
    search_index: str | None = None
    #: Served over HTTPS only (directly or behind a TLS proxy): cookies are sent
    #: over HTTPS only, pages ask browsers for HTTPS (HSTS), links made for use
    #: elsewhere start with https://.
    https: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def embedded_queue(self) -> bool:
        """True when background jobs run inline after commit (no worker process)."""
        return not self.queue_url


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(
            f"{name} must be a whole number of megabytes, got {raw!r}"
        ) from None
    if value <= 0:
        raise SettingsError(f"{name} must be greater than 0, got {raw!r}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1 (on) or 0 (off), got {raw!r}")


def _database_url(env: Mapping[str, str], home: Path) -> str:
    url = env.get("KEJIAN_DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{home / 'kejian.db'}"
    scheme = urlsplit(url).scheme
    if scheme.startswith("postgres") and not scheme.startswith("postgresql+"):
        # SQLAlchemy needs the driver named; psycopg 3 is the one we install.
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    elif not (scheme.startswith("sqlite") or scheme.startswith("postgresql+")):
        raise SettingsError(
            "KEJIAN_DATABASE_URL must be sqlite:///PATH or "
            f"postgresql://USER@HOST:PORT/DB, got scheme {scheme!r}"
        )
    return url


def _optional_url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    url = env.get(name, "").strip()
    if not url:
        return None
    scheme = urlsplit(url).scheme
    if scheme not in schemes:
        accepted = ", ".join(f"{s}://" for s in schemes)
        raise SettingsError(f"{name} must start with one of {accepted}; got {url!r}")
    return url


def _search_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """``KEJIAN_SEARCH_URL`` and, when it names a cluster, the settings that go
    with it, checked by the Elasticsearch engine's own rules."""
    url = _optional_url(env, "KEJIAN_SEARCH_URL", ("http", "https"))
    if url is None:
        return {"search_url": None}

    # Imported only for a cluster: the embedded default needs none of it.
    from indexer.engines.elasticsearch_engine import check_settings

    def value(name: str) -> str | None:
        return env.get(name, "").strip() or None

    ca_certs = value("KEJIAN_SEARCH_CA_CERTS")
    try:
        checked = check_settings(
            url,
            index=value("KEJIAN_SEARCH_INDEX"),
            api_key=value("KEJIAN_SEARCH_API_KEY"),
            ca_certs=Path(ca_certs).expanduser().resolve() if ca_certs else None,
            analyzer=(value("KEJIAN_SEARCH_ANALYZER") or "cjk").lower(),
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    return {
        "search_url": url,
        "search_api_key": checked.api_key,
        "search_ca_certs": checked.ca_certs,
        "search_analyzer": checked.analyzer,
        "search_index": checked.index,
    }


def _secret_key(env: Mapping[str, str], home: Path) -> str:
    key = env.get("KEJIAN_SECRET_KEY", "").strip()
    if key:
        if len(key) < 16:
            raise SettingsError("KEJIAN_SECRET_KEY must be at least 16 characters long")
        return key

    # First run: generate a key and keep it in the instance folder so that sessions
    # and signed links survive restarts.
    path = home / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _demo_dir(env: Mapping[str, str]) -> Path | None:
    raw = env.get("KEJIAN_DEMO_DIR", "").strip()
    if raw:
        path = Path(raw).expanduser().resolve()
        if not path.is_dir():
            raise SettingsError(f"KEJIAN_DEMO_DIR is not a folder: {raw!r}")
        return path
    default = Path("..", "shared", "corpus").resolve()
    return default if default.is_dir() else None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from *environ* (default: the process environment).

    Creates ``KEJIAN_HOME`` when it does not exist.

    :raises SettingsError: naming the first variable that cannot be used.
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("KEJIAN_HOME", "").strip() or "instance").expanduser().resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"KEJIAN_HOME cannot be created: {home} ({exc.strerror})") from None

    level = env.get("KEJIAN_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError(f"KEJIAN_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")

    mb = 1024 * 1024
    return Settings(
        home=home,
        database_url=_database_url(env, home),
        storage_url=_optional_url(env, "KEJIAN_STORAGE_URL", ("file", "s3")),
        queue_url=_optional_url(env, "KEJIAN_QUEUE_URL", ("redis", "rediss", "sqlite")),
        secret_key=_secret_key(env, home),
        max_upload_bytes=_positive_int(env, "KEJIAN_MAX_UPLOAD_MB", 2048) * mb,
        sync_extract_bytes=_positive_int(env, "KEJIAN_SYNC_EXTRACT_MB", 64) * mb,
        demo_dir=_demo_dir(env),
        log_level=level,
        https=_flag(env, "KEJIAN_HTTPS"),
        **_search_settings(env),
    )
