"""`flowyard.Client` on the embedded transport: runs, views, logs, artifacts, resources."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from flowyard.client import Client, Run
from flowyard.client.parameters import parse_assignments
from flowyard.errors import ConfigError, Conflict, InvalidInput, NotFound, RunFailed

DATA = Path(__file__).resolve().parents[1] / "cli" / "data"


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"client_test_{name}", DATA / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def client(flowyard_home: Path) -> Iterator[Client]:
    with Client() as c:
        yield c


@pytest.fixture(scope="module")
def basic() -> Any:
    return _module("cli_basic").basic


def test_unreachable_server_is_a_config_error_naming_the_url(
    monkeypatch: pytest.MonkeyPatch, flowyard_home: Path
) -> None:
    # Port 9 (discard) has no listener on these machines: the HTTP transport must say
    # which platform it could not reach instead of leaking a connection error.
    with pytest.raises(ConfigError, match=r"http://127\.0\.0\.1:9"):
        Client(server="http://127.0.0.1:9").runs()
    monkeypatch.setenv("FLOWYARD_SERVER", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match=r"http://127\.0\.0\.1:9"):
        Client().runs()


def test_run_a_dsl_function_and_read_the_view(client: Client, basic: Any) -> None:
    run = client.run(basic, {"count": "4", "scale": 2})
    assert isinstance(run, Run)
    assert run.state == "Succeeded" and run.succeeded and run.done
    assert run.pipeline == "basic" and run.namespace == "default"
    assert run.parameters == {"count": 4, "scale": 2.0, "label": "x"}
    assert run.outputs == {"total": 12.0}
    assert [s.id for s in run.steps] == ["make-numbers", "total"]
    assert run.step("total").outputs == {"Output": 12.0}
    assert run.duration is not None and run.duration >= 0
    json.dumps(run.to_dict())  # plain data all the way down
    assert run.wait() is run  # already final: returns at once
    assert run.raise_for_state() is run
    with pytest.raises(NotFound, match=r"'nope'.*make-numbers, total"):
        run.step("nope")


def test_run_accepts_a_target_string_and_a_pipeline(client: Client) -> None:
    pipeline = client.load(f"{DATA / 'cli_basic.py'}:basic")
    assert pipeline.name == "basic"
    assert client.run(pipeline, {"count": 2}).outputs == {"total": 1.0}
    assert client.run(f"{DATA / 'cli_basic.py'}", {"count": 3}).outputs == {"total": 3.0}
    assert client.run(pipeline.to_dict(), {"count": 2}, cache=False).state == "Succeeded"


def test_unknown_parameters_fail_before_anything_is_recorded(client: Client,
                                                             basic: Any) -> None:
    with pytest.raises(InvalidInput, match=r"'nope'.*count, scale, label"):
        client.run(basic, {"nope": 1})
    assert client.runs() == []


def test_a_failed_run_raises_only_when_asked(client: Client) -> None:
    run = client.run(_module("cli_failing").failing, {"message": "kaboom"})
    assert run.state == "Failed"
    assert run.steps[0].state == "Failed" and "kaboom" in (run.steps[0].error or "")
    with pytest.raises(RunFailed, match=r"failed steps: explode") as info:
        run.raise_for_state()
    assert info.value.hint == f"flowyard runs logs {run.id}"


def test_runs_filters_and_get_run(client: Client, basic: Any) -> None:
    first = client.run(basic, {"count": 1})
    second = client.run(_module("cli_failing").failing)
    assert [r.id for r in client.runs()] == [second.id, first.id]  # newest first
    assert [r.id for r in client.runs(state="Failed")] == [second.id]
    assert [r.id for r in client.runs(pipeline="basic")] == [first.id]
    assert len(client.runs(limit=1)) == 1
    assert client.get_run(first.id).outputs == first.outputs
    assert [s.id for s in client.steps(first.id)] == ["make-numbers", "total"]
    with pytest.raises(NotFound, match="no-such-run"):
        client.get_run("no-such-run")
    with pytest.raises(NotFound, match="no-such-run"):
        client.steps("no-such-run")


def test_logs_of_all_steps_and_of_one(client: Client, basic: Any) -> None:
    run = client.run(basic, {"count": 3})
    lines = list(client.logs(run.id))
    assert "[make-numbers] wrote 3 numbers" in lines
    assert "[total] sum 3" in lines
    assert "sum 3" in list(client.logs(run.id, "total"))
    with pytest.raises(NotFound, match="'nope'"):
        list(client.logs(run.id, "nope"))


def test_artifacts_read_and_download(client: Client, basic: Any, tmp_path: Path) -> None:
    run = client.run(basic, {"count": 3})
    (numbers,) = client.artifacts(run.id)
    assert numbers.name == "numbers" and numbers.type == "Dataset"
    assert numbers.step_id == "make-numbers" and numbers.size == 5
    assert numbers.digest.startswith("blake3:")
    assert client.artifact(numbers.id) == numbers
    assert client.read_artifact(numbers.id) == b"0\n1\n2"
    into_dir = client.download_artifact(numbers.id, tmp_path)
    assert into_dir == tmp_path / "numbers" and into_dir.read_bytes() == b"0\n1\n2"
    with pytest.raises(Conflict, match="already exists"):
        client.download_artifact(numbers.id, tmp_path)
    json.dumps(numbers.to_dict())


def test_detached_run_and_wait(client: Client, basic: Any, wait_driver_gone: Any) -> None:
    run = client.run(basic, {"count": 5}, wait=False)
    assert run.state == "Pending"
    run.wait(timeout=120)
    assert run.state == "Succeeded" and run.outputs == {"total": 10.0}
    assert len(run.steps) == 2
    wait_driver_gone(run.id)


def test_resources_apply_get_list_delete(client: Client, basic: Any) -> None:
    pipeline = client.load(basic)
    (applied,) = client.apply(pipeline)
    assert applied.metadata.generation == 1
    assert client.get("Pipeline", "basic").spec == pipeline.spec
    assert [p.name for p in client.list("Pipeline")] == ["basic"]
    changed = pipeline.model_copy(deep=True)
    changed.spec.description = "changed"
    (again,) = client.apply([changed.to_dict()])
    assert again.metadata.generation == 2
    client.delete("Pipeline", "basic")
    with pytest.raises(NotFound):
        client.get("Pipeline", "basic")
    with pytest.raises(InvalidInput, match=r"(?s)'Notebok'.*Pipeline"):
        client.list("Notebok")


def test_reapplying_keeps_what_the_platform_wrote(client: Client, basic: Any) -> None:
    # A controller's status, the creation time and the uid are the platform's: applying the
    # user's file again (no login, so in-process) must keep them, as the server's PUT does.
    from flowyard.client.embedded import EmbeddedTransport

    pipeline = client.load(basic)
    client.apply(pipeline)
    transport = client.transport
    assert isinstance(transport, EmbeddedTransport)
    stored = client.get("Pipeline", "basic")
    created = stored.metadata.creation_timestamp
    assert created
    uid = stored.metadata.uid
    assert uid
    body = stored.to_dict()
    body["metadata"]["uid"] = "3f0c-uid"   # the store's uid is kept, whatever a body says
    body["status"] = {"state": "Ready", "observedGeneration": 1}
    transport.metadata.put_resource("Pipeline", "default", "basic", body)
    (same,) = client.apply(pipeline)
    kept = client.get("Pipeline", "basic")
    assert same.metadata.generation == 1
    assert kept.status == {"state": "Ready", "observedGeneration": 1}
    assert kept.metadata.creation_timestamp == created
    assert kept.metadata.uid == uid
    changed = pipeline.model_copy(deep=True)
    changed.spec.description = "changed"
    (again,) = client.apply(changed)
    kept = client.get("Pipeline", "basic")
    assert again.metadata.generation == kept.metadata.generation == 2
    assert kept.status["state"] == "Ready" and kept.metadata.creation_timestamp == created
    # A status given on purpose replaces the stored one.
    explicit = changed.model_copy(deep=True)
    explicit.status = {"state": "Failed"}
    client.apply(explicit)
    assert client.get("Pipeline", "basic").status == {"state": "Failed"}


def test_a_custom_transport_plugs_in(flowyard_home: Path, basic: Any) -> None:
    from flowyard.client.embedded import EmbeddedTransport
    from flowyard.settings import Settings

    calls: list[str] = []

    class Recording(EmbeddedTransport):
        def submit(self, *args: Any, **kwargs: Any) -> Any:
            calls.append("submit")
            return super().submit(*args, **kwargs)

    with Client(transport=Recording(Settings())) as client:
        assert client.run(basic).state == "Succeeded"
    assert calls == ["submit"]


def test_parse_assignments() -> None:
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(InvalidInput, match="-p 'a': expected KEY=VALUE"):
        parse_assignments(["a"])
    with pytest.raises(InvalidInput, match="'=1'"):
        parse_assignments(["=1"])
    with pytest.raises(InvalidInput, match="given twice"):
        parse_assignments(["a=1", "a=2"])


def test_client_is_exported_lazily_from_the_package() -> None:
    import flowyard

    assert flowyard.Client is Client
    assert "flowyard.client" in sys.modules


def test_public_api_is_pinned() -> None:
    import flowyard.client

    assert flowyard.client.__all__ == sorted(flowyard.client.__all__)
    assert set(flowyard.client.__all__) == {"ArtifactInfo", "Client", "Run", "RunStep",
                                            "Transport"}
    public = {name for name in vars(Client) if not name.startswith("_")}
    assert public == {
        "load", "compile", "validate", "settings", "close",
        "apply", "get", "list", "delete",
        "run", "runs", "get_run", "steps", "retry", "resume", "cancel", "logs",
        "artifacts", "artifact", "read_artifact", "download_artifact",
        "notebooks", "data",
    }


def test_explicit_settings_reach_the_detached_driver(
    tmp_path: Path, flowyard_home: Path, basic: Any, wait_driver_gone: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flowyard.settings import Settings

    other = tmp_path / "explicit-home"
    with Client(settings=Settings(home=other)) as client:
        run = client.run(basic, {"count": 2}, wait=False).wait(timeout=120)
        assert run.state == "Succeeded"
    assert (other / "logs" / run.id).is_dir()
    assert not (flowyard_home / "logs").exists()  # the environment's home was not used
    monkeypatch.setenv("FLOWYARD_HOME", str(other))
    wait_driver_gone(run.id)


def test_resources_without_a_namespace_go_to_the_configured_one(
    monkeypatch: pytest.MonkeyPatch, flowyard_home: Path, basic: Any
) -> None:
    monkeypatch.setenv("FLOWYARD_NAMESPACE", "team-a")
    with Client() as client:
        (applied,) = client.apply(client.load(basic))
        assert applied.namespace == "team-a"
        assert client.get("Pipeline", "basic").namespace == "team-a"
        assert [p.name for p in client.list("Pipeline", namespace="default")] == []


def test_logs_of_a_cache_hit_show_the_original_steps_log(client: Client, basic: Any) -> None:
    first = client.run(basic, {"count": 3})
    second = client.run(basic, {"count": 3})
    assert {s.state for s in second.steps} == {"Cached"}
    lines = list(client.logs(second.id, "total"))
    assert lines[0] == f"--- cache hit: log of run {first.id}, step total ---"
    assert "sum 3" in lines
    assert list(client.logs(second.id, "total", follow=True)) == lines  # no repeats


def test_the_detached_driver_stays_in_process_after_a_login(
    client: Client, basic: Any, flowyard_home: Path, wait_driver_gone: Any,
) -> None:
    # The quickstart's user logs in from the platform's own FLOWYARD_HOME; the platform's
    # run drivers read that home too and must not hand the run back to the server (port 9
    # has no listener: a driver that went over HTTP would fail and leave the run Pending).
    from flowyard.client.http import login_file, save_login

    save_login(flowyard_home, "http://127.0.0.1:9", "fy_not_a_token")
    try:
        run = client.run(basic, {"count": 2}, wait=False).wait(timeout=60)
    finally:
        login_file(flowyard_home).unlink()
    assert run.state == "Succeeded" and run.outputs == {"total": 1.0}
    wait_driver_gone(run.id)
