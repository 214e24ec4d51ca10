"""`flowyard compile FILE.py:PIPELINE -o pipeline.yaml`"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def compile_command(
    target: Annotated[str, typer.Argument(
        help="FILE.py:PIPELINE or FILE.py (its only pipeline).", show_default=False,
        metavar="TARGET")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the YAML here instead of stdout."),
    ] = None,
) -> None:
    """Compile a @dsl.pipeline to a Pipeline resource (YAML)."""
    import sys

    from flowyard.client import Client
    from flowyard.errors import ConfigError

    pipeline = Client.load(target)
    text = Client.compile(pipeline)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}",
                          hint="choose a writable path with -o") from exc
    sys.stderr.write(f"wrote {output} (Pipeline {pipeline.name!r}, "
                     f"{len(pipeline.spec.steps)} steps)\n")

