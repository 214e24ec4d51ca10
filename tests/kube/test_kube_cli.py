"""The CLI front door: env, param, render and validate-kube, run as a user would."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flowyard.cli.main import main
from flowyard.pipelines.engine.executor import StepError
from flowyard.pipelines.kube_step import run_component


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_env_param_render_round_trip(tmp_path: Path, schemas: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    repo = Path(__file__).resolve().parents[2]
    project = tmp_path / "flowyard.yaml"
    project.write_text(yaml.safe_dump({
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "Project", "metadata": {"name": "p"},
        "components": [str(repo / "examples" / "pipelines" / "train.yaml")]}))
    p = ["--project", str(project)]
    code, _, err = _cli(["env", "add", "dev", "--context", "kind", "--namespace", "ml",
                         "--bucket", "art", "--s3-endpoint", "minio:9000", *p], capsys)
    assert code == 0, err
    code, _, err = _cli(["env", "add", "broken", "--context", "kind", *p], capsys)
    assert code == 2 and "needs namespace" in err
    code, out, _ = _cli(["env", "list", *p], capsys)
    assert out.splitlines() == ["dev\tkind\tml\tkserve\tgateway-api"]
    code, _, err = _cli(["param", "set", "seed", "3", "--env", "dev", *p], capsys)
    assert code == 0, err
    code, _, err = _cli(["param", "set", "seed", "many", *p], capsys)
    assert code == 2 and "params.global.seed" in err and "'many' is not a int" in err
    code, out, _ = _cli(["param", "diff", "--env", "dev", *p], capsys)
    assert out.strip() == "train-breast-cancer\tseed\tbase=0\tdev=3"
    out_dir = tmp_path / "out"
    code, out, err = _cli(["render", "--env", "dev", "-o", str(out_dir), *p], capsys)
    assert code == 0, err
    assert (out_dir / "workflow-train-breast-cancer.yaml").is_file()
    code, _, err = _cli(["validate-kube", str(out_dir)], capsys)
    assert code == 0 and "2 manifest(s) valid" in err
    code, _, err = _cli(["render", "--env", "prod", *p], capsys)
    assert code == 2 and "unknown environment 'prod'" in err and "known environments: dev" in err
    code, _, _ = _cli(["env", "rm", "dev", *p], capsys)
    assert code == 0 and "dev" not in yaml.safe_load(project.read_text()).get("environments", {})


def test_kube_step_runs_a_component_with_real_files(tmp_path: Path) -> None:
    source = ("def f(data: Input[Dataset], n: int, tags: list, out: Output[Model]) -> float:\n"
              "    text = open(data.path).read()\n"
              "    open(out.path, 'w').write(text * n + ','.join(tags))\n"
              "    return 0.5\n")
    component = {"inputs": {"parameters": [{"name": "n", "type": "int"},
                                           {"name": "tags", "type": "list"}],
                            "artifacts": [{"name": "data", "type": "Dataset"}]},
                 "outputs": {"parameters": [{"name": "Output", "type": "float"}],
                             "artifacts": [{"name": "out", "type": "Model"}]},
                 "python": {"function": "f", "source": source}}
    (tmp_path / "in-data").write_text("ab")
    values = run_component(component, {"n": "2", "tags": '["x", "y"]'},
                           inputs=str(tmp_path / "in"), out_artifacts=str(tmp_path / "art"),
                           out_parameters=str(tmp_path / "par"))
    assert values == {"Output": 0.5}
    assert (tmp_path / "art-out").read_text() == "ababx,y"
    assert (tmp_path / "par-Output").read_text() == "0.5"


def test_kube_step_writes_logged_metrics_and_checks_outputs(tmp_path: Path) -> None:
    def component(body: str) -> dict[str, object]:
        return {"outputs": {"artifacts": [{"name": "m", "type": "Metrics"}]},
                "python": {"function": "f", "source": f"def f(m: Output[Metrics]) -> None:\n"
                                                      f"    {body}\n"}}

    paths = {"inputs": str(tmp_path / "in"), "out_artifacts": str(tmp_path / "art"),
             "out_parameters": str(tmp_path / "par")}
    run_component(component("m.log_metric('accuracy', 0.9)"), {}, **paths)
    assert json.loads((tmp_path / "art-m").read_text()) == {"accuracy": 0.9}
    plain = component("pass")
    plain["outputs"] = {"artifacts": [{"name": "m", "type": "Model"}]}
    with pytest.raises(StepError, match="output artifact 'm' was not written"):
        run_component(plain, {}, **{**paths, "out_artifacts": str(tmp_path / "other")})


def test_kube_step_entry_point_reports_bad_parameters() -> None:
    component = {"inputs": {"parameters": [{"name": "n", "type": "int"}]},
                 "python": {"function": "f", "source": "def f(n: int) -> None:\n    pass\n"}}
    encoded = base64.b64encode(json.dumps(component).encode()).decode()
    proc = subprocess.run([sys.executable, "-m", "flowyard.pipelines.kube_step", "--component",
                           encoded, "--param", "n=three"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 1
    assert "parameter 'n': 'three' is not a int" in proc.stderr


def test_validate_kube_refuses_a_folder_with_nothing_to_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(["validate-kube", str(tmp_path / "rendered" / "typo")], capsys)
    assert code == 2 and "no manifests to validate" in err and "(no such folder)" in err
    assert "flowyard render --env ENV -o DIR" in err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "kustomization.yaml").write_text("resources: []\n")
    code, _, err = _cli(["validate-kube", str(tmp_path / "empty")], capsys)
    assert code == 2 and "no manifests to validate" in err and "no such folder" not in err


def test_without_the_kube_extra_validation_names_the_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # A None entry in sys.modules is how Python marks a module as not importable: it stands
    # for a virtualenv without `flowyard[kube]` (find_spec and import both fail on it).
    repo = Path(__file__).resolve().parents[2]
    project = tmp_path / "flowyard.yaml"
    project.write_text(yaml.safe_dump({
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "Project", "metadata": {"name": "p"},
        "components": [str(repo / "examples" / "pipelines" / "train.yaml")],
        "environments": {"dev": {"context": "kind", "namespace": "ml",
                                 "artifactRepository": {"s3": {"bucket": "art"}}}}}))
    monkeypatch.setitem(sys.modules, "kubernetes_validate", None)
    out_dir = tmp_path / "out"
    code, _, err = _cli(["render", "--env", "dev", "-o", str(out_dir), "--project",
                         str(project)], capsys)
    assert code == 0, err  # rendered, with a warning instead of a traceback
    assert "warning: not validated: validating manifests needs kubernetes_validate" in err
    assert 'pip install "flowyard[kube]"' in err
    assert (out_dir / "workflow-train-breast-cancer.yaml").is_file()
    code, _, err = _cli(["validate-kube", str(out_dir)], capsys)
    assert code == 2 and "Configuration error" in err and "Traceback" not in err
    assert "needs kubernetes_validate, which is not installed" in err
    assert 'pip install "flowyard[kube]"' in err
