"""The `flowyard` command line: one module per noun, all built on `flowyard.Client`.

Modules here import only typer and the standard library at import time; everything heavy
(pydantic, SQLAlchemy, rich, the engine) loads inside the command that needs it, so that
`flowyard --help` answers at once.
"""
