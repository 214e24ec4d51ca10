"""`flowyard volume ...` in-process (embedded stores), through the CLI's error contract."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from cli_runner import Result


def test_volume_lifecycle(cli: Callable[..., Result], flowyard_home: Path) -> None:
    made = cli("volume", "create", "ws", "--size", "1Gi")
    assert made.code == 0, made.err
    folder = flowyard_home / "volumes" / "default" / "ws"
    assert f"volume ws Ready: 0 files, 0 B at {folder}" in made.out
    (folder / "a.txt").write_text("hello")
    snap = cli("volume", "snapshot", "ws", "--name", "s1", "-o", "json")
    assert snap.code == 0, snap.err
    status = json.loads(snap.out)["status"]
    assert status["files"] == 1 and status["newBytes"] == 5
    again = cli("volume", "snapshot", "ws", "--name", "s2")
    assert "0 B new" in again.out
    listed = cli("volume", "snapshots", "ws")
    assert listed.code == 0 and "s1" in listed.out and "s2" in listed.out
    restored = cli("volume", "restore", "s1", "ws-copy")
    assert restored.code == 0 and "1 files" in restored.out
    assert (flowyard_home / "volumes" / "default" / "ws-copy" / "a.txt").read_text() == "hello"
    assert cli("data", "repo", "create", "datasets").code == 0
    committed = cli("volume", "commit", "s1", "datasets@master:/ws", "-m", "from s1")
    assert committed.code == 0, committed.err
    assert "committed snapshot s1 as datasets@" in committed.out
    from_data = cli("volume", "create", "ws-data", "--from-data", "datasets@master:/ws")
    assert from_data.code == 0, from_data.err
    table = cli("volume", "list")
    assert "ws-copy" in table.out and "snapshot s1" in table.out
    assert "data datasets@master:/ws" in table.out
    assert cli("volume", "delete", "ws-copy").code == 0
    assert not (flowyard_home / "volumes" / "default" / "ws-copy").exists()
    assert cli("volume", "delete-snapshot", "s2").code == 0
    names = [s["metadata"]["name"] for s in json.loads(cli("volume", "snapshots", "-o",
                                                           "json").out)]
    assert names == ["s1"]


def test_bad_input_exits_2_with_the_fix(cli: Callable[..., Result]) -> None:
    bad = cli("volume", "create", "Not_Valid")
    assert bad.code == 2 and "metadata.name" in bad.err and "'Not_Valid'" in bad.err
    both = cli("volume", "create", "x", "--from-snapshot", "a", "--from-data", "r@master")
    assert both.code == 2 and "at most one of --from-snapshot and --from-data" in both.err
    missing = cli("volume", "restore", "nope", "copy")
    assert missing.code == 2 and "VolumeSnapshot 'nope' not found" in missing.err
    assert "hint: there are no snapshots" in missing.err
    assert cli("volume", "snapshot", "ghost").code == 2
    size = cli("volume", "create", "x", "--size", "huge")
    assert size.code == 2 and "spec.size" in size.err
    assert cli("volume", "list", "-o", "json").out.strip() == "[]"    # nothing half-made


def test_delete_refused_while_attached(cli: Callable[..., Result]) -> None:
    from flowyard.settings import Settings
    from flowyard.store.metadata import MetadataStore
    from flowyard.volumes import attach

    assert cli("volume", "create", "ws").code == 0
    settings = Settings()
    with MetadataStore.from_settings(settings) as meta:
        attach(meta, settings.home, "default", "ws", "notebook/explore")
    refused = cli("volume", "delete", "ws")
    assert refused.code == 2
    assert "volume 'ws' in profile 'default' is attached to notebook/explore (rw)" in refused.err
    assert "notebook/explore(rw)" in cli("volume", "list").out


def test_example_runs(tmp_path: Path) -> None:
    import subprocess
    import sys

    example = Path(__file__).parents[2] / "examples" / "volumes" / "workspace.py"
    done = subprocess.run([sys.executable, str(example), "--mb", "8"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "snapshot tuesday: 2 files, 8 MiB, 0 new bytes, 0 files read" in done.stdout
    assert "second writer refused: volume 'explore-ws'" in done.stdout
    assert "pipeline Succeeded: 2 shards" in done.stdout


def test_commit_into_a_missing_repo_names_user_repos_and_the_create_command(
        cli: Callable[..., Result], flowyard_home: Path) -> None:
    assert cli("volume", "create", "ws").code == 0
    (flowyard_home / "volumes" / "default" / "ws" / "a.txt").write_text("hello")
    assert cli("volume", "snapshot", "ws", "--name", "s1").code == 0  # makes volumes.default
    missing = cli("volume", "commit", "s1", "datasets@master")
    assert missing.code == 2
    assert "commit: repo 'datasets' not found" in missing.err
    assert "hint: create it: flowyard data repo create datasets" in missing.err
    assert "volumes." not in missing.err
    assert cli("data", "repo", "create", "dataset").code == 0
    close = cli("volume", "commit", "s1", "datasets@master:/ws")
    assert close.code == 2 and "volumes." not in close.err
    assert "did you mean 'dataset'?" in close.err
    assert "or create it: flowyard data repo create datasets" in close.err
