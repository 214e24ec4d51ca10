"""Migration 0004: repos made before it belong to the 'default' namespace afterwards."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text

from flowyard.data.catalog import Catalog
from flowyard.store import metadata as metadata_module
from flowyard.store.metadata import MetadataStore

MIGRATIONS = Path(metadata_module.__file__).parent / "migrations"


def test_upgrading_from_0003_keeps_repos_and_puts_them_in_default(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(text("INSERT INTO data_repos (name, description, owner, labels, "
                          "created_at) VALUES ('old', '', NULL, '{}', '2026-01-01')"))
        conn.execute(text("INSERT INTO data_branches (repo, name, head, created_at, "
                          "updated_at) VALUES ('old', 'master', NULL, '2026-01-01', "
                          "'2026-01-01')"))
    engine.dispose()
    store = MetadataStore(url)  # upgrades to head
    try:
        catalog = Catalog(store)
        repo = catalog.get_repo("old")
        assert repo.namespace == "default" and repo.branches == ["master"]
        assert [r.name for r in catalog.list_repos("default")] == ["old"]
        assert catalog.list_repos("team-a") == []
        made = catalog.create_repo("new", "", None, "team-a")
        assert made.namespace == "team-a"
        assert [r.name for r in catalog.list_repos("team-a")] == ["new"]
    finally:
        store.close()
    engine = create_engine(url)
    with engine.connect() as conn:
        names = {i["name"] for i in inspect(conn).get_indexes("data_repos")}
        assert "ix_data_repos_namespace_name" in names
        assert "ix_runs_created_at_id" in {i["name"] for i in inspect(conn).get_indexes("runs")}
    engine.dispose()
