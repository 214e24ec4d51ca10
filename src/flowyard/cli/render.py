"""`flowyard render [platform] --env E [-o DIR] [--template] [--no-validate]`"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ProjectOpt = Annotated[Path | None, typer.Option(
    "--project", help="The project file or its folder (default: flowyard.yaml here or above).",
    show_default=False)]


def render_command(
    env: Annotated[str, typer.Option("--env", "-e", help="The environment to render for.",
                                     show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Folder to write (default: rendered/ENV next to the project).",
        show_default=False)] = None,
    template: Annotated[bool, typer.Option(
        "--template", help="Pipelines as WorkflowTemplates instead of Workflows.")] = False,
    validate: Annotated[bool, typer.Option(
        "--validate/--no-validate", help="Check every manifest against its schema.")] = True,
    project: ProjectOpt = None,
    what: Annotated[str | None, typer.Argument(
        help="`platform` renders the Flowyard server itself and its Dockerfile.",
        show_default=False, metavar="[platform]")] = None,
) -> None:
    """Render the project's components as Kubernetes manifests plus kustomization.yaml."""
    from flowyard.errors import ResourceInvalid
    from flowyard.kube.project import load_project
    from flowyard.kube.render import render_platform, render_project, write_folder

    if what not in (None, "platform"):
        from flowyard.errors import InvalidInput

        raise InvalidInput(f"unknown render target {what!r}; the only one is 'platform'",
                           hint="`flowyard render --env E` renders the project's components")
    pf = load_project(project)
    rendered = (render_platform(pf, env) if what == "platform"
                else render_project(pf, env, template=template))
    for warning in rendered.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if validate:
        from flowyard.errors import ConfigError
        from flowyard.kube.validate import require_validators, schemas_dir, validate_manifests

        try:
            require_validators()
            schemas = schemas_dir()
        except ConfigError as exc:
            typer.echo(f"warning: not validated: {exc.message}"
                       + (f"; {exc.hint}" if exc.hint else ""), err=True)
            validate = False
    if validate:
        problems = validate_manifests([(o, None) for o in rendered.objects], schemas)
        if problems:
            raise ResourceInvalid(problems, hint="this is a rendering bug or an unsupported "
                                                 "value; the field path says where")
    folder = output or pf.root / "rendered" / (f"{env}-platform" if what else env)
    paths = write_folder(rendered, folder)
    if what == "platform":
        from flowyard.kube.render import write_dockerfile

        paths.append(write_dockerfile(folder))
    for path in paths:
        typer.echo(str(path))
    typer.echo(f"wrote {len(paths)} object(s) and kustomization.yaml to {folder}", err=True)


def validate_kube_command(
    folder: Annotated[Path, typer.Argument(help="A rendered folder.", show_default=False,
                                           metavar="DIR")],
) -> None:
    """Check rendered manifests: CRD schemas, Kubernetes schemas, names and wiring."""
    from flowyard.errors import InvalidInput, ResourceInvalid
    from flowyard.kube.validate import read_folder, validate_manifests

    # "0 manifest(s) valid" for a mistyped path would pass a CI step that checks nothing.
    objects = read_folder(folder) if folder.is_dir() else []
    if not objects:
        raise InvalidInput(f"no manifests to validate in {folder}"
                           + ("" if folder.is_dir() else " (no such folder)"),
                           hint="render them first: flowyard render --env ENV -o DIR")
    problems = validate_manifests(objects)
    if problems:
        raise ResourceInvalid(problems)
    typer.echo(f"{len(objects)} manifest(s) valid", err=True)
