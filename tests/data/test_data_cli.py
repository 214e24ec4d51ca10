"""`flowyard data ...` end to end: real stores under FLOWYARD_HOME, the real error contract."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], flowyard_home: Path) -> Callable[..., Result]:
    from flowyard.cli import data as data_cmd
    from flowyard.cli.main import report_error
    from flowyard.errors import FlowyardError

    root = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    root.add_typer(data_cmd.app, name="data")

    @root.callback()
    def _root() -> None:
        """test root"""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        code = 0
        try:
            root(args=["data", *map(str, args)], prog_name="flowyard", standalone_mode=False)
        except FlowyardError as exc:
            report_error(exc)
            code = exc.exit_code
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
        except Exception as exc:  # click usage errors
            import click

            if isinstance(exc, click.ClickException):
                exc.show()
                code = exc.exit_code
            else:
                raise
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return invoke


def test_cli_round_trip(cli: Callable[..., Result], tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("beta")
    assert cli("repo", "create", "raw").code == 0
    repos = json.loads(cli("repo", "list", "-o", "json").out)
    assert [r["name"] for r in repos] == ["raw"]
    put = cli("put", "raw@master:/data", str(src), "-m", "first")
    assert put.code == 0 and "committed" in put.out and "2 files" in put.out
    again = cli("put", "raw@master:/data", str(src))
    assert again.code == 0
    (src / "a.txt").write_text("ALPHA!")
    assert cli("put", "raw@master:/data", str(src), "-m", "second").code == 0
    ls = json.loads(cli("ls", "raw@master:/data", "-o", "json").out)
    assert [(e["path"], e["type"]) for e in ls] == [("/data/a.txt", "file"), ("/data/sub", "dir")]
    assert "/data/sub/" in cli("ls", "raw@master:/data").out
    log = json.loads(cli("log", "raw@master", "-o", "json").out)
    assert [c["message"] for c in log] == ["second", "first"]
    diff = json.loads(cli("diff", "raw@master^", "raw@master", "-o", "json").out)
    assert diff == [{"path": "/data/a.txt", "change": "modified", "old_size": 5, "new_size": 6}]
    assert "/data/a.txt" in cli("diff", "raw@master^", "raw@master").out
    out = tmp_path / "out"
    got = cli("get", "raw@master^:/data", str(out))
    assert got.code == 0 and (out / "a.txt").read_text() == "alpha"
    assert cli("branch", "create", "raw@dev", "--head", "master^").code == 0
    branches = json.loads(cli("branch", "list", "raw", "-o", "json").out)
    assert [b["name"] for b in branches] == ["dev", "master"]
    assert cli("branch", "delete", "raw@dev").code == 0
    inspect = json.loads(cli("inspect", "raw@master", "--provenance", "--subvenance",
                             "-o", "json").out)
    assert inspect["message"] == "second" and inspect["provenance_closure"] == []
    assert "commit" in cli("inspect", "raw@master", "--provenance").out
    fsck = cli("fsck")
    assert fsck.code == 0 and "checked 2 commits" in fsck.out
    assert cli("repo", "delete", "raw").code == 0


def test_cli_get_a_file_to_stdout(cli: Callable[..., Result], tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("hello")
    cli("repo", "create", "r")
    cli("put", "r@master:/f.txt", str(f))
    got = cli("get", "r@master:/f.txt")
    assert got.code == 0 and got.out == "hello"


def test_cli_errors_name_the_value_and_the_fix(cli: Callable[..., Result], tmp_path: Path) -> None:
    cli("repo", "create", "images")
    bad = cli("ls", "imagse@master")
    assert bad.code == 2
    assert "Not found: repo 'imagse' not found" in bad.err
    assert "did you mean 'images'?" in bad.err
    bad = cli("put", "images@master:/../x", str(tmp_path))
    assert bad.code == 2 and "escapes the repo" in bad.err
    bad = cli("log", "images@master")
    assert bad.code == 2 and "has no commits yet" in bad.err and "flowyard data put" in bad.err
    bad = cli("get", "images@master~x:/f")
    assert bad.code == 2 and "Invalid input" in bad.err


def test_cli_data_pipeline(cli: Callable[..., Result], tmp_path: Path) -> None:
    transforms = Path(__file__).parent / "transforms" / "upper.py"
    cli("repo", "create", "raw")
    f = tmp_path / "a.txt"
    f.write_text("hello")
    cli("put", "raw@master:/a.txt", str(f))
    spec = tmp_path / "shout.yaml"
    spec.write_text(
        "apiVersion: flowyard.dev/v1alpha1\nkind: DataPipeline\nmetadata: {name: shout}\n"
        "spec:\n  input: {pfs: {repo: raw, glob: '/*'}}\n"
        f"  transform: {{python: '{transforms}:upper'}}\n"
    )
    assert cli("pipeline", "create", str(spec)).code == 0
    assert "shout" in cli("pipeline", "list").out
    run = cli("pipeline", "run", "shout")
    assert run.code == 0 and "Succeeded" in run.out and "1 processed" in run.out
    assert cli("get", "shout@master:/a.txt").out == "HELLO"
    jobs = json.loads(cli("pipeline", "jobs", "shout", "-o", "json").out)
    assert jobs[0]["state"] == "Succeeded"
    refused = cli("put", "shout@master:/x.txt", str(f))
    assert refused.code == 2 and "output of DataPipeline/shout" in refused.err
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: DataPipeline\nmetadata: {name: bad}\nspec: {input: {pfs: {repo: raw}}}\n")
    created = cli("pipeline", "create", str(bad))
    assert created.code == 2 and "spec.transform" in created.err
    f.write_text("bad")
    spec.write_text(spec.read_text().replace(":upper", ":fails_on_bad") + "  datumTries: 1\n")
    cli("pipeline", "create", str(spec), "--update")
    cli("put", "raw@master:/a.txt", str(f))
    failed = cli("pipeline", "run", "shout")
    assert failed.code == 1 and "Run failed" in failed.err and "it is bad" in failed.err
    assert cli("pipeline", "delete", "shout").code == 0
    assert cli("put", "shout@master:/x.txt", str(f)).code == 0


def test_cli_refuses_changing_a_pipeline_output_repo_by_hand(
        cli: Callable[..., Result], tmp_path: Path) -> None:
    transforms = Path(__file__).parent / "transforms" / "upper.py"
    f = tmp_path / "a.txt"
    f.write_text("hello")
    cli("repo", "create", "images")
    cli("put", "images@master:/a.txt", str(f))
    spec = tmp_path / "pairs.yaml"
    spec.write_text(
        "apiVersion: flowyard.dev/v1alpha1\nkind: DataPipeline\nmetadata: {name: pairs}\n"
        "spec:\n  input: {pfs: {repo: images, glob: '/*'}}\n"
        f"  transform: {{python: '{transforms}:upper'}}\n"
    )
    assert cli("pipeline", "create", str(spec)).code == 0
    assert cli("pipeline", "run", "pairs").code == 0
    head = json.loads(cli("log", "pairs@master", "-o", "json").out)[0]["id"]
    fix = "hint: delete the pipeline first: flowyard data pipeline delete pairs"
    for args in (["repo", "delete", "pairs"], ["repo", "delete", "pairs", "--force"]):
        refused = cli(*args)
        assert refused.code == 2, refused
        assert "Conflict: repo 'pairs' is the output of DataPipeline/pairs; it is not deleted " \
               "while the pipeline exists" in refused.err and fix in refused.err
    for args, what in ((["branch", "delete", "pairs@master"], "deleted"),
                       (["branch", "create", "pairs@master", "--head", head], "created"),
                       (["branch", "create", "pairs@old", "--head", head], "created")):
        refused = cli(*args)
        assert refused.code == 2, refused
        assert f"is not {what} by hand" in refused.err and fix in refused.err
    assert json.loads(cli("branch", "list", "pairs", "-o", "json").out)[0]["head"] == head
    rerun = cli("pipeline", "run", "pairs")
    assert rerun.code == 0 and f"output commit {head}" in rerun.out

    bad = cli("branch", "create", "images@a:b")
    assert bad.code == 2
    assert "Invalid input: 'images@a:b' is not a branch: ':b' names a path" in bad.err
    assert "REPO@BRANCH" in bad.err
    assert [b["name"] for b in json.loads(cli("branch", "list", "images", "-o", "json").out)] \
        == ["master"]

    lost = cli("inspect", head)
    assert lost.code == 2 and f"repo '{head}' not found" in lost.err
    assert f"a commit is named REPO@COMMIT; commit {head} is in repo 'pairs': write " \
           f"pairs@{head}" in lost.err

    assert cli("pipeline", "delete", "pairs").code == 0
    assert cli("branch", "create", "pairs@old", "--head", head).code == 0
    assert cli("repo", "delete", "pairs").code == 0
