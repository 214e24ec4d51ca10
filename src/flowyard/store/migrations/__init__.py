"""Alembic migrations for the metadata store, run by MetadataStore on open (no alembic.ini)."""
