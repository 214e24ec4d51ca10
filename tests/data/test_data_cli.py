"""`flowyard data ...` end to end: real stores under FLOWYARD_HOME, the real error contract."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
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


def _upper_pipeline(cli: Callable[..., Result], tmp_path: Path, name: str,
                    repo: str) -> tuple[Path, Path]:
    """Repo `repo` holding a.txt ("hello"), and the file of a DataPipeline `name` that
    upper-cases it; returns the local a.txt and the pipeline file (not created yet)."""
    transforms = Path(__file__).parent / "transforms" / "upper.py"
    cli("repo", "create", repo)
    f = tmp_path / "a.txt"
    f.write_text("hello")
    cli("put", f"{repo}@master:/a.txt", str(f))
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(
        f"apiVersion: flowyard.dev/v1alpha1\nkind: DataPipeline\nmetadata: {{name: {name}}}\n"
        f"spec:\n  input: {{pfs: {{repo: {repo}, glob: '/*'}}}}\n"
        f"  transform: {{python: '{transforms}:upper'}}\n"
    )
    return f, spec


def test_cli_data_pipeline(cli: Callable[..., Result], tmp_path: Path) -> None:
    f, spec = _upper_pipeline(cli, tmp_path, "shout", "raw")
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
    _, spec = _upper_pipeline(cli, tmp_path, "pairs", "images")
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


def test_cli_put_of_a_link_loop_is_a_clean_error(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    src = tmp_path / "d"
    src.mkdir()
    (src / "f").write_text("x")
    (src / "self").symlink_to(".")
    cli("repo", "create", "loop")
    bad = cli("put", "loop@master", str(src))
    assert bad.code == 2
    assert f"Invalid input: local link '{src / 'self'}' leads back to '{src}'" in bad.err
    assert "remove the link" in bad.err and "Traceback" not in bad.err
    assert "has no commits yet" in cli("log", "loop@master").err


def test_cli_get_into_a_path_a_local_file_blocks(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "x").write_text("x")
    cli("repo", "create", "images")
    assert cli("put", "images@master:/photos", str(src)).code == 0
    local = tmp_path / "exist.txt"
    local.write_text("mine")
    bad = cli("get", "images@master:/photos", str(local))
    assert bad.code == 2
    assert f"Conflict: cannot get 'images@master:/photos' (a folder): the local file '{local}'" \
        in bad.err
    assert f"remove or rename '{local}'" in bad.err
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("mine")
    bad = cli("get", "images@master:/photos", str(out))
    assert bad.code == 2 and f"the local file '{out / 'sub'}' is where a folder" in bad.err
    assert sorted(p.name for p in out.iterdir()) == ["sub"]  # nothing written


def test_cli_fsck_preview_lists_what_collect_removes(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    cli("repo", "create", "big")
    kept = tmp_path / "kept.txt"
    kept.write_text("kept")
    cli("put", "big@master:/kept.txt", str(kept))
    # A writer that dies (a real process, gone for good) after staging packs of an open commit.
    child = textwrap.dedent("""
        import os
        from flowyard.data import DataStore
        from flowyard.settings import Settings
        from flowyard.store.metadata import MetadataStore
        from flowyard.store.objects import ObjectStore
        s = Settings()
        ds = DataStore(MetadataStore.from_settings(s), ObjectStore.from_settings(s), s,
                       pack_size=64 << 10)
        commit = ds.open_commit("big@master")
        for i in range(7):  # a batch is packed once it holds 16 MiB
            commit.put_bytes(f"/f{i}", os.urandom(3 << 20))
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", child], check=True, timeout=120)
    preview = cli("fsck")
    assert preview.code == 0
    line = next(x for x in preview.out.splitlines() if x.startswith("would remove"))
    assert "1 dead open commit(s)" in line and " 0 blob(s)" not in line
    collected = cli("fsck", "--collect")
    done = next(x for x in collected.out.splitlines() if x.startswith("removed"))
    assert done.removeprefix("removed") == line.removeprefix("would remove (pass --collect)")
    # Unreferenced blobs inside the grace period are counted, with the option that takes them.
    assert cli("repo", "delete", "big").code == 0
    held = cli("fsck")
    assert "younger than the grace period (3600 s)" in held.out and "--grace 0" in held.out
    assert "would remove" not in held.out
    assert "would remove (pass --collect): 0 dead open commit(s)" in cli("fsck", "--grace", "0").out
