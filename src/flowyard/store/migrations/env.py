"""Alembic environment: migrate the connection that MetadataStore puts in the Config.

There is no alembic.ini; to migrate a database by hand run
`python -c "from flowyard.store.metadata import MetadataStore as M; M('URL').close()"`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from flowyard.store.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "flowyard migrations run through MetadataStore(url), which passes a connection"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite can only ALTER a little; batch mode rebuilds tables when a migration needs more.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
