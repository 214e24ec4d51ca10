"""The sqlite3 way into a SQLite file: no SQLAlchemy on a run's path, and the same database.

`sqlite:///FILE` sends a run's calls through native_sqlite.py; `sqlite+pysqlite:///FILE` sends
every call through SQLAlchemy. Every metadata test runs on both (conftest.SQLITE_PATHS); these
check what only the pairing can show: that each reads exactly what the other wrote.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Boolean

from flowyard.errors import InvalidInput, StoreError
from flowyard.store import native_sqlite, sqlite_schema
from flowyard.store import schema as t
from flowyard.store.metadata import HEAD_REVISION, MetadataStore
from flowyard.store.records import ArtifactRecord, CacheEntry, RunRecord, StepRecord

T0 = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))


def _records() -> tuple[RunRecord, list[StepRecord], ArtifactRecord, CacheEntry]:
    run = RunRecord(
        "r1", "team-a", "train", {"kind": "Pipeline", "spec": {"steps": [{"name": "ü"}]}},
        {"lr": 0.25, "layers": [1, 2, None]}, state="Running", options={"cache": False},
        outputs={"acc": 0.875}, error="line 1\nline 2", created_at=T0,
        started_at=datetime(2026, 3, 4, 7, 0, 0, 1, tzinfo=PLUS2), finished_at=None,
        driver_pid=4242, driver_host="box", labels={"team": "ml"},
    )
    steps = [
        StepRecord("r1", "prep", "prep", None, "prep-c", state="Succeeded", attempt=1,
                   started_at=T0, finished_at=T0 + timedelta(microseconds=1), cache_hit=True,
                   cache_key="k" * 64, outputs={"rows": 10}, output_artifacts={"data": "a1"},
                   exit_code=0, log_path="/logs/prep.log", log_digest="blake3:" + "1" * 64,
                   resources={"cpu": "2"}, pid=77),
        StepRecord("r1", "train[3]", "train", 3, "train-c", state="Failed",
                   inputs={"x": {"nested": [True, False, 1.5]}},
                   input_artifacts={"data": "a1"}, exit_code=137, error="killed"),
    ]
    art = ArtifactRecord("a1", "r1", "prep", "data", "Dataset", "blake3:" + "ab" * 32, 123,
                         is_tree=True, uri="flowyard://a1", metadata={"rows": 10},
                         created_at=T0)
    entry = CacheEntry("k" * 64, "r1", "prep", {"rows": 10}, {"data": "a1"}, created_at=T0)
    return run, steps, art, entry


def _as_utc(run: RunRecord) -> RunRecord:
    assert run.started_at is not None
    run.started_at = run.started_at.astimezone(UTC)
    return run


@pytest.mark.parametrize(("writer", "reader"), [("sqlite", "sqlite+pysqlite"),
                                                ("sqlite+pysqlite", "sqlite")])
def test_each_way_reads_exactly_what_the_other_wrote(
    tmp_path: Path, writer: str, reader: str
) -> None:
    db = tmp_path / "both.db"
    run, steps, art, entry = _records()
    with MetadataStore(f"{writer}:///{db}") as out:
        out.create_run(run, steps[:1])
        out.write_batch(steps, [art], [entry])
    with MetadataStore(f"{reader}:///{db}") as back:
        assert back.get_run("r1") == _as_utc(_records()[0])
        assert back.get_steps("r1") == steps
        assert back.get_step("r1", "train[3]") == steps[1]
        assert back.list_artifacts(run_id="r1") == [art]
        assert back.get_artifact("a1") == art
        assert back.cache_get(entry.key) == entry
        assert back.artifact_consumers("a1") == [("r1", "train[3]")]
        updated = back.update_run("r1", state="Succeeded", finished_at=T0, outputs={})
        assert (updated.state, updated.finished_at, updated.outputs) == ("Succeeded", T0, {})


def test_a_run_through_a_sqlite_file_never_imports_sqlalchemy(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from flowyard.store.metadata import MetadataStore\n"
        "from flowyard.store.records import ArtifactRecord, CacheEntry, RunRecord, StepRecord\n"
        f"s = MetadataStore('sqlite:///{tmp_path / 'run.db'}')\n"
        "s.create_run(RunRecord('r', 'default', 'p', {}, {}),\n"
        "             [StepRecord('r', 'a', 'a', None, 'c')])\n"
        "step = s.get_step('r', 'a'); step.state = 'Succeeded'\n"
        "s.finish_step(step, [ArtifactRecord('x', 'r', 'a', 'o', 'Dataset', 'd', 1)],\n"
        "              CacheEntry('k', 'r', 'a', {}, {'o': 'x'}))\n"
        "s.update_run('r', state='Succeeded')\n"
        "assert s.cache_get('k') is not None and s.get_artifact('x').size == 1\n"
        "assert [x.state for x in s.get_steps('r')] == ['Succeeded']\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))\n"
        "assert [r.id for r in s.list_runs()] == ['r']   # SQLAlchemy now, on the same file\n"
        "print('sqlalchemy' in sys.modules)\n"
        "s.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "True"]


def test_sqlite_schema_module_is_current() -> None:
    hint = "regenerate it: python -m flowyard.store.sqlite_schema --write"
    assert sqlite_schema.REVISION == HEAD_REVISION, hint
    assert sqlite_schema.render() == sqlite_schema.STATEMENTS, hint


@pytest.mark.parametrize("table", [t.runs, t.steps, t.artifacts, t.cache_entries])
def test_native_column_kinds_follow_schema_py(table: t.Table) -> None:
    columns = {
        "runs": native_sqlite.RUN_COLUMNS, "steps": native_sqlite.STEP_COLUMNS,
        "artifacts": native_sqlite.ARTIFACT_COLUMNS,
        "cache_entries": native_sqlite.CACHE_COLUMNS,
    }[table.name]
    assert set(columns) == {c.name for c in table.c} - {"seq"}
    for column in table.c:
        assert (column.name in native_sqlite.JSON_COLUMNS) == isinstance(
            column.type, t.JSONDocument), column.name
        assert (column.name in native_sqlite.DATETIME_COLUMNS) == isinstance(
            column.type, t.UTCDateTime), column.name
        assert (column.name in native_sqlite.BOOL_COLUMNS) == isinstance(
            column.type, Boolean), column.name


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:///flowyard.db", "flowyard.db"),
    ("sqlite:////home/me/.flowyard/flowyard.db", "/home/me/.flowyard/flowyard.db"),
    ("sqlite:////tmp/with%20space.db", "/tmp/with space.db"),
    ("sqlite://", None),
    ("sqlite:///", None),
    ("sqlite:///:memory:", None),
    ("sqlite:///file:x.db?mode=ro&uri=true", None),
    ("sqlite:////tmp/x.db?timeout=5", None),
    ("sqlite+pysqlite:////tmp/x.db", None),
    ("postgresql+psycopg://u@127.0.0.1/db", None),
])
def test_only_plain_file_urls_take_the_sqlite3_way(url: str, path: str | None) -> None:
    assert native_sqlite.file_path(url) == path


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+pysqlite"])
def test_a_file_that_is_not_a_database_is_a_store_error_naming_it(
    tmp_path: Path, scheme: str
) -> None:
    bad = tmp_path / "notes.db"
    bad.write_bytes(b"these are my notes, not a database\n" * 200)
    expected = re.escape(f"metadata store {scheme}:///{bad} failed: file is not a database")
    with pytest.raises(StoreError, match=expected) as info:
        MetadataStore(f"{scheme}:///{bad}")
    assert info.value.hint == "check that the database file is readable and writable"


def test_a_timestamp_that_is_not_a_datetime_is_invalid_input(tmp_path: Path) -> None:
    for scheme in ("sqlite", "sqlite+pysqlite"):
        with MetadataStore(f"{scheme}:///{tmp_path / (scheme + '.db')}") as store:
            store.create_run(RunRecord("r", "default", "p", {}, {}))
            with pytest.raises(InvalidInput, match="timestamp 'yesterday' is a str, not a "
                                                   "datetime"):
                store.update_run("r", started_at="yesterday")
            assert store.get_run("r").started_at is None   # nothing was written
