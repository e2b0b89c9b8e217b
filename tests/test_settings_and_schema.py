"""Configuration precedence and the migration runner."""
from __future__ import annotations

import asyncpg
import pytest

from node.migrate import apply_migrations, available_migrations, pending_migrations
from node.settings import CONFIG_ENV, Settings


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("DATABASE_URL", "GDI_NODE_DATABASE_URL", "GDI_NODE_PORT", CONFIG_ENV):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_defaults_are_loopback_and_embedded(clean_env):
    settings = Settings()
    assert (settings.host, settings.port, settings.database_url) == ("127.0.0.1", 5050, None)
    assert settings.base_url == "http://127.0.0.1:5050"


def test_prefixed_database_url_wins_over_plain(clean_env):
    clean_env.setenv("DATABASE_URL", "postgresql://plain/db")
    assert Settings().database_url == "postgresql://plain/db"
    clean_env.setenv("GDI_NODE_DATABASE_URL", "postgresql://prefixed/db")
    assert Settings().database_url == "postgresql://prefixed/db"


def test_config_file_is_below_environment(clean_env, tmp_path):
    config = tmp_path / "node.toml"
    config.write_text('port = 6060\nbeacon_id = "org.fi.node"\n'
                      'public_base_url = "https://beacon.example.fi/"\n')
    clean_env.setenv(CONFIG_ENV, str(config))
    settings = Settings()
    assert (settings.port, settings.beacon_id) == (6060, "org.fi.node")
    assert settings.base_url == "https://beacon.example.fi"
    clean_env.setenv("GDI_NODE_PORT", "7070")
    assert Settings().port == 7070


def test_unknown_config_keys_and_missing_file_are_errors(clean_env, tmp_path):
    config = tmp_path / "node.toml"
    config.write_text("prot = 1\n")
    clean_env.setenv(CONFIG_ENV, str(config))
    with pytest.raises(ValueError, match="prot"):
        Settings()
    clean_env.setenv(CONFIG_ENV, str(tmp_path / "absent.toml"))
    with pytest.raises(FileNotFoundError, match="absent.toml"):
        Settings()


def test_count_lanes_leave_the_pool_a_connection(clean_env):
    """Count and wide lanes hold connections while queries keep coming; records need one
    more."""
    assert Settings(count_lanes=2, db_pool_max=4).count_lanes == 2
    with pytest.raises(ValueError, match=r"count_lanes \+ wide_query_lanes \(4\) must be less "
                                         r"than db_pool_max \(4\)"):
        Settings(count_lanes=3, db_pool_max=4)
    with pytest.raises(ValueError, match="wide_query_lanes"):
        Settings(count_lanes=1, wide_query_lanes=3, db_pool_max=4)
    clean_env.setenv("GDI_NODE_DB_POOL_MAX", "2")
    with pytest.raises(ValueError, match="count_lanes"):
        Settings()


async def test_migrations_apply_once_and_record_themselves(db_url):
    conn = await asyncpg.connect(db_url)
    try:
        assert [m.version for m in await pending_migrations(conn)] == [
            m.version for m in available_migrations()]
        first = await apply_migrations(conn)
        assert [m.version for m in first] == [m.version for m in available_migrations()]
        assert await apply_migrations(conn) == []
        assert await pending_migrations(conn) == []
        recorded = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY 1")
        assert [(r["version"], r["name"]) for r in recorded] == [
            (m.version, m.name) for m in available_migrations()]
    finally:
        await conn.close()
