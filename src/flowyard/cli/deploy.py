"""`flowyard deploy|diff|undeploy --env E`: the environment's objects on its cluster."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from flowyard.kube.deploy import Cluster

EnvOpt = Annotated[str, typer.Option("--env", "-e", help="The environment to deploy.",
                                     show_default=False)]
ProjectOpt = Annotated[Path | None, typer.Option(
    "--project", help="The project file or its folder (default: flowyard.yaml here or above).",
    show_default=False)]
TemplateOpt = Annotated[bool, typer.Option(
    "--template", help="Pipelines as WorkflowTemplates instead of Workflows (runs).")]
KubeconfigOpt = Annotated[Path | None, typer.Option(
    "--kubeconfig", envvar="KUBECONFIG",
    help="Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).", show_default=False)]


def _objects(env: str, project: Path | None, validate: bool,
             template: bool) -> list[dict[str, Any]]:
    """The project's components plus the platform, rendered and validated."""
    from flowyard.errors import ConfigError, ResourceInvalid
    from flowyard.kube.project import load_project
    from flowyard.kube.render import render_platform, render_project

    pf = load_project(project)
    objects = render_project(pf, env, template=template).objects + render_platform(pf, env).objects
    if validate:
        from flowyard.kube.validate import require_validators, schemas_dir, validate_manifests

        try:
            require_validators()
            schemas = schemas_dir()
        except ConfigError as exc:
            typer.echo(f"warning: not validated: {exc.message}"
                       + (f"; {exc.hint}" if exc.hint else ""), err=True)
            return objects
        problems = validate_manifests([(o, None) for o in objects], schemas)
        if problems:
            raise ResourceInvalid(problems, hint="nothing was sent to the cluster")
    return objects


def _cluster(env: str, project: Path | None, kubeconfig: Path | None) -> Cluster:
    from flowyard.kube.deploy import Cluster
    from flowyard.kube.project import load_project

    environment = load_project(project).environment(env)
    if environment.type == "local":
        from flowyard.errors import ConfigError

        raise ConfigError(f"environment {env!r} is local: there is no cluster to deploy to",
                          hint="`flowyard up` runs the platform on this machine")
    assert environment.context and environment.namespace  # the model requires both
    return Cluster.connect(environment.context, environment.namespace, kubeconfig)


def deploy_command(
    env: EnvOpt,
    prune: Annotated[bool, typer.Option(
        "--prune/--no-prune", help="Delete objects of this environment it no longer "
                                   "declares.")] = True,
    validate: Annotated[bool, typer.Option("--validate/--no-validate")] = True,
    template: TemplateOpt = False,
    kubeconfig: KubeconfigOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Server-side apply the environment's objects (components and platform), then prune."""
    from flowyard.kube.deploy import deploy

    objects = _objects(env, project, validate, template)
    cluster = _cluster(env, project, kubeconfig)
    for change in deploy(cluster, objects, env, prune=prune):
        typer.echo(change.line())


def diff_command(
    env: EnvOpt,
    validate: Annotated[bool, typer.Option("--validate/--no-validate")] = True,
    template: TemplateOpt = False,
    kubeconfig: KubeconfigOpt = None,
    project: ProjectOpt = None,
) -> None:
    """What deploy would change: a server-side dry-run apply against the live objects."""
    from flowyard.kube.deploy import diff

    objects = _objects(env, project, validate, template)
    cluster = _cluster(env, project, kubeconfig)
    for change in diff(cluster, objects, env):
        typer.echo(change.line())
        if change.diff:
            typer.echo(change.diff.rstrip("\n"))


def undeploy_command(
    env: EnvOpt,
    kubeconfig: KubeconfigOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Delete every object labelled for this environment from its namespace."""
    from flowyard.kube.deploy import delete_all

    cluster = _cluster(env, project, kubeconfig)
    changes = delete_all(cluster, env)
    for change in changes:
        typer.echo(change.line())
    typer.echo(f"deleted {len(changes)} object(s)", err=True)
