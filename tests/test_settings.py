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


def test_search_cluster_settings(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        "KEJIAN_HOME": str(tmp_path),
        "KEJIAN_SEARCH_URL": "https://es1:9200,es2",
        "KEJIAN_SEARCH_API_KEY": "a2VqaWFuOmtleQ==",
        "KEJIAN_SEARCH_CA_CERTS": str(bundle),
        "KEJIAN_SEARCH_ANALYZER": "IK",
        "KEJIAN_SEARCH_INDEX": "city-resources",
    }

    s = load_settings(env)

    assert s.search_url == "https://es1:9200,es2"
    assert (s.search_api_key, s.search_ca_certs) == ("a2VqaWFuOmtleQ==", bundle)
    assert (s.search_analyzer, s.search_index) == ("ik", "city-resources")
    defaults = load_settings({"KEJIAN_HOME": str(tmp_path), "KEJIAN_SEARCH_URL": "http://es:9200"})
    assert (defaults.search_analyzer, defaults.search_index) == ("cjk", "kejian-resources")


@pytest.mark.parametrize(
    ("name", "value", "url"),
    [
        ("KEJIAN_SEARCH_URL", "http://es1:9200,,es2", None),
        ("KEJIAN_SEARCH_URL", "http://es1:port", None),
        ("KEJIAN_SEARCH_API_KEY", "a2V5", "https://kejian:secret@es1:9200"),
        ("KEJIAN_SEARCH_CA_CERTS", "/no/such/ca.pem", "https://es1:9200"),
        ("KEJIAN_SEARCH_CA_CERTS", __file__, "http://es1:9200"),
        ("KEJIAN_SEARCH_ANALYZER", "jieba", "http://es1:9200"),
        ("KEJIAN_SEARCH_INDEX", "Kejian Resources", "http://es1:9200"),
    ],
)
def test_wrong_search_setting_names_the_variable(
    tmp_path: Path, name: str, value: str, url: str | None
) -> None:
    env = {"KEJIAN_HOME": str(tmp_path), name: value}
    if url:
        env["KEJIAN_SEARCH_URL"] = url

    with pytest.raises(SettingsError) as info:
        load_settings(env)

    message = str(info.value)
    assert name in message and "\n" not in message and "secret" not in message
