"""`flowyard env add|list|rm`: the environments of flowyard.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Environments of the project (flowyard.yaml).", no_args_is_help=True)

ProjectOpt = Annotated[Path | None, typer.Option(
    "--project", help="The project file or its folder (default: flowyard.yaml here or above).",
    show_default=False)]


@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="Environment name (a DNS-1123 label).",
                                        show_default=False)],
    context: Annotated[str | None, typer.Option("--context", help="kubeconfig context.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    local: Annotated[bool, typer.Option("--local", help="A local environment.")] = False,
    image: Annotated[str | None, typer.Option("--image", help="Image for steps and nodes.")
                     ] = None,
    serving: Annotated[str | None, typer.Option("--serving", help="kserve or seldon.")] = None,
    routes: Annotated[str | None, typer.Option("--routes", help="emissary or gateway-api.")
                      ] = None,
    bucket: Annotated[str | None, typer.Option("--bucket", help="S3 artifact bucket.")] = None,
    endpoint: Annotated[str | None, typer.Option("--s3-endpoint", help="S3 host:port.")] = None,
    secret: Annotated[str | None, typer.Option("--s3-secret",
                                               help="Secret with accessKey/secretKey.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing one.")] = False,
    project: ProjectOpt = None,
) -> None:
    """Add an environment (creates flowyard.yaml when there is none here)."""
    from pydantic import ValidationError

    from flowyard.errors import Conflict, InvalidInput, NotFound
    from flowyard.kube.project import PROJECT_FILE, Environment, load_project, new_project

    try:
        pf = load_project(project)
    except NotFound:
        target = project or Path.cwd()
        path = target / PROJECT_FILE if target.is_dir() or project is None else target
        pf = new_project(path, Path.cwd().name.lower().replace("_", "-") or "project")
    if name in pf.project.environments and not force:
        raise Conflict(f"environment {name!r} already exists in {pf.path}",
                       hint="pass --force to replace it, or `flowyard env rm` it first")
    body: dict[str, object] = {"type": "local" if local else "kubernetes"}
    for key, value in (("context", context), ("namespace", namespace), ("image", image),
                       ("serving", serving), ("routes", routes)):
        if value is not None:
            body[key] = value
    if bucket:
        s3: dict[str, object] = {"bucket": bucket}
        if endpoint:
            s3["endpoint"] = endpoint
        if secret:
            s3["secret"] = {"name": secret}
        body["artifactRepository"] = {"s3": s3}
    try:
        env = Environment.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or name
        raise InvalidInput(f"environment {name!r}: {where}: "
                           f"{first['msg'].removeprefix('Value error, ')}",
                           hint="e.g. flowyard env add staging --context kind-flowyard "
                                "--namespace ml") from exc
    pf.project.environments[name] = env
    pf.save()
    typer.echo(f"added environment {name!r} to {pf.path}", err=True)


@app.command("list")
def list_command(project: ProjectOpt = None) -> None:
    """List environments."""
    from flowyard.kube.project import load_project

    pf = load_project(project)
    for name, env in pf.project.environments.items():
        if env.type == "local":
            typer.echo(f"{name}\tlocal")
        else:
            typer.echo(f"{name}\t{env.context}\t{env.namespace}\t{env.serving.value}\t"
                       f"{env.routes.value}")


@app.command("rm")
def rm_command(name: Annotated[str, typer.Argument(show_default=False)],
               project: ProjectOpt = None) -> None:
    """Remove an environment."""
    from flowyard.kube.project import load_project

    pf = load_project(project)
    pf.environment(name)  # NotFound lists the known ones
    del pf.project.environments[name]
    pf.save()
    typer.echo(f"removed environment {name!r} from {pf.path}", err=True)
