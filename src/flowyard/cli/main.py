"""`flowyard` entry point: assembles the commands and owns the error contract.

Known errors (`FlowyardError`) print `headline: message` and a hint on stderr, no
traceback, and exit with the error's `exit_code`. Anything else is a bug: "Internal error"
with the traceback, exit 1. `FLOWYARD_DEBUG=1` shows tracebacks for every error.

Typer and the command modules load only when a command line needs them: a plain
`flowyard run TARGET ...` starts without them (see cli/running.py). No `from __future__
import annotations` here: the root options' `Annotated[...]` are built inside build_app,
where typer is imported, and typer reads them as built.
"""

import errno
import os
import sys
import traceback
from typing import TYPE_CHECKING, Annotated, Any

from flowyard import __version__
from flowyard.errors import FlowyardError

if TYPE_CHECKING:
    import typer

    from flowyard.cli.running import RunArgs

ISSUES_URL = "https://github.com/flowyard/flowyard/issues"


def _version_callback(value: bool) -> None:
    import typer

    if value:
        typer.echo(f"flowyard {__version__}")
        raise typer.Exit()


def build_app() -> "typer.Typer":
    import typer

    from flowyard.cli import account as account_cmd
    from flowyard.cli import apply as apply_cmd
    from flowyard.cli import compile as compile_cmd
    from flowyard.cli import data as data_cmd
    from flowyard.cli import deploy as deploy_cmd
    from flowyard.cli import env as env_cmd
    from flowyard.cli import login as login_cmd
    from flowyard.cli import notebook as notebook_cmd
    from flowyard.cli import param as param_cmd
    from flowyard.cli import predict as predict_cmd
    from flowyard.cli import profile as profile_cmd
    from flowyard.cli import render as render_cmd
    from flowyard.cli import run as run_cmd
    from flowyard.cli import runs as runs_cmd
    from flowyard.cli import serve as serve_cmd
    from flowyard.cli import up as up_cmd
    from flowyard.cli import validate as validate_cmd
    from flowyard.cli import volume as volume_cmd

    app = typer.Typer(
        name="flowyard",
        help="Flowyard: ML pipelines in Python, on a laptop first.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        version: Annotated[
            bool,
            typer.Option("--version", callback=_version_callback, is_eager=True,
                         help="Show the version and exit."),
        ] = False,
        server: Annotated[
            str | None,
            typer.Option("--server", envvar="FLOWYARD_SERVER",
                         help="Talk to the Flowyard platform at this URL instead of running "
                              "in-process."),
        ] = None,
    ) -> None:
        """Flowyard: ML pipelines in Python, on a laptop first."""
        if server:
            # Every Client() of the command picks it up; restored afterwards so that an
            # in-process caller (tests) keeps its own environment.
            previous = os.environ.get("FLOWYARD_SERVER")
            os.environ["FLOWYARD_SERVER"] = server
            ctx.call_on_close(lambda: _restore_env("FLOWYARD_SERVER", previous))

    @app.command("version")
    def version_command() -> None:
        """Show the Flowyard and Python versions."""
        typer.echo(f"flowyard {__version__} (Python {sys.version.split()[0]})")

    app.command("run")(run_cmd.run_command)
    app.command("compile")(compile_cmd.compile_command)
    app.command("validate")(validate_cmd.validate_command)
    app.add_typer(runs_cmd.app, name="runs")
    app.add_typer(data_cmd.app, name="data")
    app.add_typer(volume_cmd.app, name="volume")
    app.command("serve")(serve_cmd.serve_command)
    app.command("predict")(predict_cmd.predict_command)
    app.add_typer(env_cmd.app, name="env")
    app.add_typer(param_cmd.app, name="param")
    app.command("render")(render_cmd.render_command)
    app.command("validate-kube")(render_cmd.validate_kube_command)
    app.command("deploy")(deploy_cmd.deploy_command)
    app.command("diff")(deploy_cmd.diff_command)
    app.command("undeploy")(deploy_cmd.undeploy_command)
    app.command("up")(up_cmd.up_command)
    app.command("down")(up_cmd.down_command)
    app.command("status")(up_cmd.status_command)
    app.command("login")(login_cmd.login_command)
    app.add_typer(profile_cmd.app, name="profile")
    app.add_typer(account_cmd.user_app, name="user")
    app.add_typer(account_cmd.token_app, name="token")
    app.add_typer(notebook_cmd.app, name="notebook")
    app.command("apply")(apply_cmd.apply_command)
    app.command("delete")(apply_cmd.delete_command)
    app.command("get")(apply_cmd.get_command)
    app.command("describe")(apply_cmd.describe_command)
    return app


_APP: list["typer.Typer"] = []


def __getattr__(name: str) -> Any:
    if name == "app":   # the typer app, built on first use
        return _typer_app()
    raise AttributeError(f"module 'flowyard.cli.main' has no attribute {name!r}")


def _typer_app() -> "typer.Typer":
    if not _APP:
        _APP.append(build_app())
    return _APP[0]


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _debug() -> bool:
    return os.environ.get("FLOWYARD_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def report_error(exc: FlowyardError) -> None:
    """`headline: message` and the hint, on stderr."""
    lines = exc.message.splitlines() or [""]
    sys.stderr.write(f"{exc.headline}: {lines[0]}\n")
    for line in lines[1:]:
        sys.stderr.write(f"  {line}\n")
    if exc.hint:
        sys.stderr.write(f"  hint: {exc.hint}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; exits the process with the command's exit code."""
    from flowyard.cli.running import quick_run_args

    quick = quick_run_args(sys.argv[1:] if argv is None else list(argv))
    try:
        if quick is not None:
            sys.exit(_quick_run(quick))
        _typer_app()(args=argv, prog_name="flowyard")
    except FlowyardError as exc:
        if _debug():
            traceback.print_exc()
        report_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted\n")
        sys.exit(130)
    except Exception as exc:
        sys.stderr.write(f"Internal error: {type(exc).__name__}: {exc}\n")
        traceback.print_exc()
        sys.stderr.write(f"This is a bug in Flowyard; please report it at {ISSUES_URL}\n")
        sys.exit(1)


def _quick_run(args: "RunArgs") -> int:
    """`flowyard run` without typer, ending as typer's standalone mode would: Ctrl-C that
    got through the run's own handler exits 130, a closed stdout pipe exits 1 quietly."""
    from flowyard.cli.running import run_pipeline

    try:
        return run_pipeline(args)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())   # the exit's flush must not fail again
        return 1


if __name__ == "__main__":
    main()
