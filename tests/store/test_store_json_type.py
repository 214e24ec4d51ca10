"""JSON columns: JSONB on PostgreSQL, JSON on SQLite, and no PostgreSQL imports for SQLite.

(SQLAlchemy itself imports asyncio in sqlalchemy.util.compat, so that one is not checked.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect, select

from flowyard.store.metadata import MetadataStore
from flowyard.store.records import utcnow
from flowyard.store.schema import resources


def test_json_columns_are_jsonb_on_postgresql_and_json_on_sqlite(db_url: str) -> None:
    MetadataStore(db_url).close()
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            column = {c["name"]: c for c in inspect(conn).get_columns("resources")}["body"]
            expected = "JSONB" if conn.dialect.name == "postgresql" else "JSON"
            assert str(column["type"]) == expected
            body = {"spec": {"steps": [1, "two", None, {"x": 1.5}]}, "ü": True}
            now = utcnow()
            conn.execute(
                resources.insert(),
                [
                    {
                        "kind": "Pipeline",
                        "namespace": "ns",
                        "name": "p",
                        "generation": 1,
                        "body": body,
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
            )
            assert conn.execute(select(resources.c.body)).scalar_one() == body
    finally:
        engine.dispose()


def test_a_sqlite_store_imports_neither_the_postgresql_dialect_nor_alembic(
    tmp_path: Path,
) -> None:
    code = (
        "import sys\n"
        "from flowyard.store.metadata import MetadataStore\n"
        f"MetadataStore('sqlite:///{tmp_path / 'm.db'}').close()\n"
        "bad = sorted(m for m in sys.modules if m.startswith("
        "('sqlalchemy.dialects.postgresql', 'alembic', 'psycopg')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "", f"imported for SQLite: {out.stdout.strip()}"
