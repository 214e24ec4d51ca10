"""Typed settings, read from `FLOWYARD_*` environment variables.

Every field has a docstring because `flowyard settings` and docs/configuration.md show them.

A plain pydantic model that fills unset fields from `FLOWYARD_<FIELD>` (case-insensitive,
explicit arguments win) rather than pydantic-settings' BaseSettings: importing
pydantic-settings (its dotenv/CLI/cloud sources and asyncio) cost ~20 ms of every
`flowyard run`, and these flat str/Path fields need none of it. Bad values still raise
pydantic's ValidationError with the field name as `loc`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flowyard.errors import ConfigError
from flowyard.pydantic_plugins import skipped as _no_plugin_scan

ENV_PREFIX = "FLOWYARD_"


class Settings(BaseModel):
    # Built just below, without pydantic's plugin scan (see pydantic_plugins.py).
    model_config = ConfigDict(extra="ignore", validate_default=True, defer_build=True)

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

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        env = {
            key[len(ENV_PREFIX) :].lower(): value
            for key, value in os.environ.items()
            if key.upper().startswith(ENV_PREFIX)
        }
        merged = {name: env[name] for name in cls.model_fields if name in env}
        merged.update(data)
        return merged

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


with _no_plugin_scan():
    Settings.model_rebuild(force=True)
