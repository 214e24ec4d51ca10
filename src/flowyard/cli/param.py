"""`flowyard param set|list|diff`: layered parameters of flowyard.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Parameters: component defaults, then globals, then environment "
                       "overrides.", no_args_is_help=True)

ProjectOpt = Annotated[Path | None, typer.Option(
    "--project", help="The project file or its folder (default: flowyard.yaml here or above).",
    show_default=False)]
EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="An environment's layer.",
                                            show_default=False)]


@app.command("set")
def set_command(
    name: Annotated[str, typer.Argument(help="Parameter name.", show_default=False)],
    value: Annotated[str, typer.Argument(help="Value (YAML: 3, 0.5, true, [a, b]).",
                                         show_default=False)],
    component: Annotated[str | None, typer.Option(
        "--component", "-c", help="Only this component (default: a global).")] = None,
    env: EnvOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Set a parameter globally or for one component, in the base or an environment."""
    import yaml

    from flowyard.errors import InvalidInput
    from flowyard.kube.project import load_project, resolve_params

    pf = load_project(project)
    params = pf.environment(env).params if env else pf.project.params
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"value {value!r} is not YAML", hint="quote strings") from exc
    if component:
        params.components.setdefault(component, {})[name] = parsed
    else:
        params.global_[name] = parsed
    resolved = resolve_params(pf, pf.load_components(), env)  # fails on a bad name or type
    pf.save()
    for warning in resolved.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"set {name}={parsed!r}" + (f" for {component}" if component else " (global)")
               + (f" in {env}" if env else ""), err=True)


@app.command("list")
def list_command(env: EnvOpt = None, project: ProjectOpt = None) -> None:
    """Every component parameter's value and where it came from."""
    from flowyard.kube.project import load_project, resolve_params

    pf = load_project(project)
    resolved = resolve_params(pf, pf.load_components(), env)
    for component, values in resolved.values.items():
        for key, item in values.items():
            typer.echo(f"{component}\t{key}\t{item.value!r}\t{item.source}")
    for warning in resolved.warnings:
        typer.echo(f"warning: {warning}", err=True)


@app.command("diff")
def diff_command(
    env: Annotated[str, typer.Option("--env", "-e", help="The environment to compare.",
                                     show_default=False)],
    against: Annotated[str | None, typer.Option(
        "--against", help="Another environment (default: the base, no environment).")] = None,
    project: ProjectOpt = None,
) -> None:
    """Parameters whose values differ between two environments (or one and the base)."""
    from flowyard.kube.project import load_project, resolve_params

    pf = load_project(project)
    loaded = pf.load_components()
    left = resolve_params(pf, loaded, against)
    right = resolve_params(pf, loaded, env)
    base = against or "base"
    changed = 0
    for component, values in right.values.items():
        for key, item in values.items():
            old = left.values.get(component, {}).get(key)
            if old is None or old.value != item.value:
                changed += 1
                typer.echo(f"{component}\t{key}\t{base}={None if old is None else old.value!r}"
                           f"\t{env}={item.value!r}")
    typer.echo(f"{changed} parameter(s) differ", err=True)
