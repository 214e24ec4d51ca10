"""Alembic migrations: applied to an empty database, idempotent, matching schema.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, create_engine, inspect

from flowyard.errors import ConfigError, StoreError
from flowyard.settings import Settings
from flowyard.store import metadata as metadata_module
from flowyard.store.metadata import HEAD_REVISION, KNOWN_REVISIONS, MetadataStore
from flowyard.store.schema import metadata as schema_metadata

TABLES = {"runs", "steps", "step_inputs", "artifacts", "cache_entries", "resources"}
MIGRATIONS = Path(metadata_module.__file__).parent / "migrations"


@pytest.fixture(
    params=["sqlite", "sqlite+pysqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """sqlite: the schema comes from sqlite_schema.py; sqlite+pysqlite: from create_all."""
    if request.param.startswith("sqlite"):
        return f"{request.param}:///{tmp_path / 'empty.db'}"
    make: Callable[[], URL] = request.getfixturevalue("pg_database")
    return make().render_as_string(hide_password=False)


def test_head_revision_constant_matches_the_scripts() -> None:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(cfg)
    assert scripts.get_current_head() == HEAD_REVISION
    assert {s.revision for s in scripts.walk_revisions()} == set(KNOWN_REVISIONS)


def test_migrations_create_every_table_and_match_the_schema(empty_url: str) -> None:
    MetadataStore(empty_url).close()
    engine = create_engine(empty_url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= TABLES
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert ctx.get_current_revision() == HEAD_REVISION
            assert compare_metadata(ctx, schema_metadata) == []
    finally:
        engine.dispose()


def _migrate_with_alembic(url: str) -> None:
    store = MetadataStore(url, migrate=False)
    try:
        with store._tx(write=True) as conn:
            metadata_module.upgrade_to_head(conn)
    finally:
        store.close()


def _schema_dump(url: str) -> dict[str, object]:
    """Everything an inspector sees of every table, in a comparable form."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            dump: dict[str, object] = {}
            for table in sorted(insp.get_table_names()):
                dump[table] = {
                    "columns": [
                        (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                        for c in insp.get_columns(table)
                    ],
                    "pk": insp.get_pk_constraint(table),
                    "fks": sorted(map(repr, insp.get_foreign_keys(table))),
                    "indexes": sorted(map(repr, insp.get_indexes(table))),
                    "uniques": sorted(map(repr, insp.get_unique_constraints(table))),
                }
            dump["alembic_version"] = conn.exec_driver_sql(
                "SELECT version_num FROM alembic_version"
            ).all()
            return dump
    finally:
        engine.dispose()


def test_alembic_migrations_match_the_schema(empty_url: str) -> None:
    _migrate_with_alembic(empty_url)
    engine = create_engine(empty_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert ctx.get_current_revision() == HEAD_REVISION
            assert compare_metadata(ctx, schema_metadata) == []
    finally:
        engine.dispose()


def test_fresh_database_fast_path_equals_alembic(
    empty_url: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if empty_url.startswith("sqlite"):
        other = f"sqlite+pysqlite:///{tmp_path / 'alembic.db'}"
    else:
        other = request.getfixturevalue("pg_database")().render_as_string(hide_password=False)
    _migrate_with_alembic(other)

    def refuse(*_: object) -> None:
        raise AssertionError("an empty database went through Alembic")

    monkeypatch.setattr(metadata_module, "upgrade_to_head", refuse)
    MetadataStore(empty_url).close()  # the fast path: create_all and stamp
    assert _schema_dump(empty_url) == _schema_dump(other)


def test_a_database_with_foreign_tables_goes_through_alembic(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE someone_elses (x INTEGER)")
    calls: list[object] = []
    real = metadata_module.upgrade_to_head

    def spy(conn: object) -> None:
        calls.append(conn)
        real(conn)  # type: ignore[arg-type]

    mp = pytest.MonkeyPatch()
    mp.setattr(metadata_module, "upgrade_to_head", spy)
    try:
        MetadataStore(f"sqlite:///{db}").close()
    finally:
        mp.undo()
    assert len(calls) == 1


def test_reopening_is_idempotent_and_skips_alembic(
    empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    MetadataStore(empty_url).close()

    def refuse(*_: object) -> None:
        raise AssertionError("upgrade ran on a database already at head")

    monkeypatch.setattr(metadata_module, "upgrade_to_head", refuse)
    for _ in range(2):
        MetadataStore(empty_url).close()


def test_migrate_false_leaves_the_database_alone(tmp_path: Path) -> None:
    db = tmp_path / "raw.db"
    MetadataStore(f"sqlite:///{db}", migrate=False).close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_unknown_newer_revision_is_a_config_error(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    MetadataStore(f"sqlite:///{db}").close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(ConfigError, match=r"revision '9999'.*does not know"):
        MetadataStore(f"sqlite:///{db}")


def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        with store._engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
    finally:
        store.close()
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "busy_timeout": 30000,
        "foreign_keys": 1,
    }


def test_in_memory_sqlite_works() -> None:
    from flowyard.store.records import RunRecord

    store = MetadataStore("sqlite://")
    store.create_run(RunRecord("r", "default", "p", {}, {}))
    assert store.get_run("r").id == "r"
    store.close()


def test_sqlite_in_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    with pytest.raises(ConfigError, match=f"folder {missing} .* does not exist"):
        MetadataStore(f"sqlite:///{missing / 'x.db'}")


def test_bad_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'not a url' is not a valid SQLAlchemy URL"):
        MetadataStore("not a url")
    with pytest.raises(ConfigError, match=r"mysql.* is not supported"):
        MetadataStore("mysql+pymysql://u@127.0.0.1/x")


def test_unreachable_postgres_is_a_store_error_naming_the_url() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://flowyard:secret@127.0.0.1:{port}/nowhere"
    with pytest.raises(StoreError) as info:
        MetadataStore(url)
    message = str(info.value)
    assert f"postgresql+psycopg://flowyard:***@127.0.0.1:{port}/nowhere" in message
    assert "secret" not in message


def test_from_settings_defaults_to_sqlite_in_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = MetadataStore.from_settings(Settings(home=home))
    store.close()
    assert (home / "flowyard.db").is_file()
    assert store.url == f"sqlite:///{home / 'flowyard.db'}"
