"""`flowyard validate FILE|DIR ...`"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def validate_command(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Resource files (.yaml/.yml/.json), folders (searched "
                            "recursively) or pipeline modules (FILE.py[:PIPELINE]).",
                       show_default=False, metavar="PATH"),
    ],
) -> None:
    """Load and check every resource; report all problems at once (exit 2)."""
    from flowyard.client import Client

    resources = Client.validate(paths)
    for res in resources:
        typer.echo(f"ok  {res.kind}/{res.name}")
    typer.echo(f"{len(resources)} resource(s) valid", err=True)

