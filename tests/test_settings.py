"""Settings: defaults run with no servers; a wrong value names the variable."""

from pathlib import Path

import pytest

from config.settings import SettingsError, load_settings


def test_defaults_are_embedded(tmp_path: Path) -> None:
    s = load_settings({"KEJIAN_HOME": str(tmp_path / "inst")})
    assert s.database_url == f"sqlite:///{tmp_path / 'inst' / 'kejian.db'}"
    assert s.storage_url is None and s.search_url is None and s.queue_url is None
    assert s.embedded_queue
    assert (tmp_path / "inst" / "secret_key").exists()
    # The generated key is kept: a restart signs with the same key.
    assert load_settings({"KEJIAN_HOME": str(tmp_path / "inst")}).secret_key == s.secret_key


def test_postgres_url_gets_the_driver(tmp_path: Path) -> None:
    s = load_settings({"KEJIAN_HOME": str(tmp_path), "KEJIAN_DATABASE_URL": "postgresql://u@h:5432/db"})
    assert s.database_url == "postgresql+psycopg://u@h:5432/db"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KEJIAN_DATABASE_URL", "mysql://x"),
        ("KEJIAN_STORAGE_URL", "ftp://x"),
        ("KEJIAN_SEARCH_URL", "solr://x"),
        ("KEJIAN_QUEUE_URL", "amqp://x"),
        ("KEJIAN_MAX_UPLOAD_MB", "lots"),
        ("KEJIAN_MAX_UPLOAD_MB", "-5"),
        ("KEJIAN_SECRET_KEY", "short"),
        ("KEJIAN_LOG_LEVEL", "LOUD"),
        ("KEJIAN_DEMO_DIR", "/no/such/folder"),
    ],
)
def test_wrong_setting_names_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"KEJIAN_HOME": str(tmp_path), name: value})
    message = str(info.value)
    assert name in message and "\n" not in message
