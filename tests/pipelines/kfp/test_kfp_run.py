"""Pipelines compiled by kfp 2.17, run unchanged by Flowyard; outputs checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from flowyard import Client
from flowyard.pipelines.target import load_target

PEER_W2 = Path("/work/shared/peers/pipelines/w2.yaml")
Compiled = Callable[[str], Path]


def states(client: Client, run_id: str) -> dict[str, str]:
    return {s.id: s.state for s in client.steps(run_id)}


def test_w1_chain_parameters(client: Client, compiled: Compiled) -> None:
    path = compiled("w1")
    run = client.run(str(path))
    assert run.state == "Succeeded", run
    assert run.outputs == {"Output": 10}
    assert client.run(str(path), {"start": "5"}).outputs == {"Output": 15}


def test_w2_fan_out_collects(client: Client, compiled: Compiled) -> None:
    run = client.run(str(compiled("w2")))
    assert run.state == "Succeeded"
    assert run.outputs == {"Output": sum(i * i for i in range(20))}


@pytest.mark.skipif(not PEER_W2.is_file(), reason="the peer W2 file is not on this machine")
def test_peer_w2_file_with_pip_install_command(client: Client) -> None:
    pipeline = load_target(str(PEER_W2))
    produce = pipeline.spec.components["produce"]
    assert produce.python is not None and "import kfp" not in produce.python.source
    run = client.run(str(PEER_W2))
    assert run.state == "Succeeded"
    assert run.outputs == {"Output": 2470}


def test_artifacts_metadata_and_metrics(client: Client, compiled: Compiled) -> None:
    run = client.run(str(compiled("artifacts")), {"rows": 4, "scale": 2.0})
    assert run.state == "Succeeded", client.steps(run.id)
    assert run.outputs == {"Output": "toy:12.0"}
    arts = {a.name: a for a in client.artifacts(run.id)}
    assert arts["data"].type == "Dataset" and arts["data"].metadata == {"rows": 4,
                                                                "uri_is_path": True}
    assert arts["model"].type == "Model" and arts["model"].metadata["framework"] == "toy"
    assert arts["metrics"].metadata == {"weight": 12.0}
    assert client.read_artifact(arts["model"].id) == b"12.0"
    report = arts["report"].metadata
    assert report["confusionMatrix"] == {"categories": ["a", "b"], "matrix": [[1, 2], [3, 4]]}
    assert report["roc"] == {"fpr": [0.1], "tpr": [0.9], "thresholds": [0.5]}
    train = next(s for s in client.steps(run.id) if s.name == "train")
    assert train.outputs == {"score": 12.0, "n": 4}


@pytest.mark.parametrize(("choice", "n", "ran"), [
    ("heads", 3, {"say", "say-4"}),
    ("tails", 1, {"say-2"}),
    ("edge", 5, {"say-3", "say-4"}),
])
def test_if_elif_else(client: Client, compiled: Compiled, choice: str, n: int,
                      ran: set[str]) -> None:
    run = client.run(str(compiled("branches")), {"choice": choice, "n": n})
    assert run.state == "Succeeded"
    got = states(client, run.id)
    assert {s for s, state in got.items() if state == "Succeeded"} == {"flip", *ran}
    assert {s for s, state in got.items() if state == "Skipped"} == (
        {"say", "say-2", "say-3", "say-4"} - ran)


def test_parallel_for_with_parallelism_and_struct_items(client: Client,
                                                        compiled: Compiled) -> None:
    pipeline = load_target(str(compiled("loops")))
    steps = {s.name: s for s in pipeline.spec.steps}
    assert steps["add-one"].parallelism == 2 and steps["square"].parallelism == 2
    assert steps["add-one-2"].arguments["x"].item == "b"
    run = client.run(pipeline)
    assert run.state == "Succeeded"
    assert run.outputs == {"Output": 4 + 9 + 16 + 25}
    pairs = sorted(s.outputs["Output"] for s in client.steps(run.id)
                   if s.name == "add-one-2" and s.iteration is not None)
    assert pairs == [11, 21]
    assert client.run(pipeline, {"xs": "[10]"}).outputs == {"Output": 121}


def test_collected_artifacts(client: Client, compiled: Compiled) -> None:
    run = client.run(str(compiled("collect_artifacts")))
    assert run.state == "Succeeded"
    assert run.outputs == {"Output": "10,20,30"}


def test_exit_handler_runs_after_success_and_failure(client: Client,
                                                     compiled: Compiled) -> None:
    path = str(compiled("exit_handler"))
    pipeline = load_target(path)
    assert pipeline.spec.on_exit is not None and pipeline.spec.on_exit.name == "notify"
    ok = client.run(path)
    assert ok.state == "Succeeded"
    assert "exit bye SUCCEEDED notify 0" in "\n".join(client.logs(ok.id, "notify"))
    bad = client.run(path, {"should_fail": True})
    assert bad.state == "Failed"
    got = states(client, bad.id)
    assert got["fail"] == "Failed" and got["notify"] == "Succeeded"
    assert "exit bye FAILED notify 1" in "\n".join(client.logs(bad.id, "notify"))


def test_retries_and_caching_options(client: Client, compiled: Compiled,
                                     tmp_path: Path) -> None:
    path = str(compiled("retries"))
    pipeline = load_target(path)
    steps = {s.name: s for s in pipeline.spec.steps}
    assert steps["flaky"].retry is not None and steps["flaky"].retry.limit == 3
    assert steps["flaky"].retry.backoff is None and steps["flaky"].cache is True
    second = steps["flaky-2"]
    assert second.cache is False and second.retry is not None
    assert second.retry.backoff is not None
    assert (second.retry.backoff.duration, second.retry.backoff.factor,
            second.retry.backoff.max_duration) == (1.0, 1.5, 2.0)
    params = {"marker": str(tmp_path / "a"), "marker2": str(tmp_path / "b")}
    run = client.run(pipeline, params)
    assert run.state == "Succeeded"
    assert run.outputs == {"Output": 3}
    attempts = {s.name: s.attempt for s in client.steps(run.id)}
    assert attempts["flaky"] == 3
    again = client.run(pipeline, params)
    by_name = {s.name: s for s in client.steps(again.id)}
    assert by_name["flaky"].state == "Cached" and again.outputs == {"Output": 3}
    assert by_name["flaky-2"].state == "Succeeded"  # caching off: it ran again


def test_container_component_placeholders(client: Client, compiled: Compiled) -> None:
    pipeline = load_target(str(compiled("containers")))
    container = pipeline.spec.components["echo-container"].container
    assert container is not None
    assert container.args == ["{{inputs.parameters.text}}", "{{outputs.parameters.out.path}}",
                              "{{outputs.artifacts.blob.path}}"]
    run = client.run(pipeline, {"text": "yo"})
    assert run.state == "Succeeded"
    assert run.outputs == {"Output": "yo|yo!"}


def test_python_target_compiles_through_kfp(client: Client, tmp_path: Path) -> None:
    module = tmp_path / "my_kfp_pipeline.py"
    module.write_text(
        "from kfp import dsl\n\n"
        "@dsl.component(install_kfp_package=False, base_image='python:3.11')\n"
        "def double(x: int) -> int:\n"
        "    return 2 * x\n\n"
        "@dsl.pipeline(name='doubler')\n"
        "def pipeline(x: int = 2) -> int:\n"
        "    return double(x=double(x=x).output).output\n")
    by_name = load_target(f"{module}:pipeline")
    assert by_name.metadata.name == "doubler"
    assert load_target(str(module)).spec == by_name.spec
    run = client.run(f"{module}:pipeline", {"x": 5})
    assert run.outputs == {"Output": 20}


def test_cli_runs_a_compiled_file(flowyard_home: Path, compiled: Compiled,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from flowyard.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["run", str(compiled("w1")), "-p", "start=3"])
    out, err = capsys.readouterr()
    assert info.value.code in (0, None), err
    assert "13" in out


def test_pipeline_as_component_is_inlined(client: Client, compiled: Compiled) -> None:
    pipeline = load_target(str(compiled("outer")))
    names = sorted(s.name for s in pipeline.spec.steps)
    assert len(names) == len(set(names)) == 4  # inner tasks renamed where names collide
    run = client.run(pipeline, {"x": 1})
    assert run.state == "Succeeded"
    assert run.outputs == {"Output": 5}
