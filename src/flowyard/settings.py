"""Typed settings, read from `FLOWYARD_*` environment variables.

Every field has a docstring because `flowyard settings` and docs/configuration.md show them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from flowyard.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWYARD_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".flowyard")
    """Folder for the embedded runtime: the SQLite database, the local object store, logs."""

    database_url: str | None = None
    """SQLAlchemy URL of the metadata store; default `sqlite:///$FLOWYARD_HOME/flowyard.db`.
    PostgreSQL: `postgresql+psycopg://user@host:5432/db`."""

    object_store_url: str | None = None
    """fsspec URL of the content-addressed object store; default `$FLOWYARD_HOME/objects`.
    S3: `s3://bucket/prefix` (endpoint via `FLOWYARD_S3_ENDPOINT_URL`)."""

    s3_endpoint_url: str | None = None
    """Endpoint for S3-compatible stores (MinIO, moto, Ceph); empty means AWS."""

    namespace: str = "default"
    """Profile (namespace) used when a resource or command names none."""

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'flowyard.db'}"

    def resolved_object_store_url(self) -> str:
        return self.object_store_url or str(self.home / "objects")

    def ensure_home(self) -> Path:
        """Create the home folder and prove it is writable, or say how to fix it."""
        home = self.home.expanduser()
        try:
            home.mkdir(parents=True, exist_ok=True)
            probe = home / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"Flowyard home {home} is not writable: {exc.strerror or exc}",
                hint="set FLOWYARD_HOME to a folder you can write, e.g. "
                "`export FLOWYARD_HOME=$HOME/.flowyard`",
            ) from exc
        return home
