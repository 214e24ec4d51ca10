"""A kfp v2 compiled pipeline (IR YAML) listed in a project renders like a native Pipeline."""

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowyard.cli.main import main
from flowyard.errors import ResourceInvalid
from flowyard.kube.project import load_project
from flowyard.kube.render import Rendered, render_project
from flowyard.kube.validate import validate_manifests

pytest.importorskip("kfp", reason="the kfp SDK is in the `test` extra")

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Output

# No `from __future__ import annotations`: kfp reads the annotations at decoration time.
component = functools.partial(dsl.component, install_kfp_package=False, base_image="python:3.11")


@component
def make_rows(rows: int, data: Output[Dataset]) -> None:
    with open(data.path, "w") as handle:
        handle.write("\n".join(str(i) for i in range(rows)))


@component
def scale_sum(data: Input[Dataset], scale: float) -> float:
    with open(data.path) as handle:
        return scale * sum(int(line) for line in handle)


@dsl.pipeline(name="kfp-small")
def kfp_small(rows: int = 10, scale: float = 1.0) -> float:
    made = make_rows(rows=rows)
    return scale_sum(data=made.outputs["data"], scale=scale).output


STAGING: dict[str, Any] = {
    "context": "kind-test", "namespace": "ml", "image": "ghcr.io/flowyard/flowyard:test",
    "artifactRepository": {"s3": {"bucket": "art", "endpoint": "minio:9000",
                                  "insecure": True, "secret": {"name": "s3"}}},
}


def _project(folder: Path, component: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    project = folder / "flowyard.yaml"
    project.write_text(yaml.safe_dump({
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "Project", "metadata": {"name": "kfp"},
        "components": [component],
        "params": {"global": {"scale": 2.5}},
        "environments": {"local": {"type": "local"}, "staging": {
            **STAGING, "params": {"components": {"kfp-small": {"rows": 7}}}}},
    }, sort_keys=False))
    return project


def _workflow(rendered: Rendered) -> dict[str, Any]:
    [wf] = [o for o in rendered.objects if o["kind"] == "Workflow"]
    return wf


@pytest.fixture
def ir_file(tmp_path: Path) -> Path:
    out = tmp_path / "pipelines" / "kfp-small.yaml"
    out.parent.mkdir()
    compiler.Compiler().compile(kfp_small, str(out))
    return out


def test_kfp_ir_component_renders_a_valid_workflow(ir_file: Path, tmp_path: Path,
                                                  schemas: Path) -> None:
    rendered = render_project(load_project(_project(tmp_path, "pipelines/kfp-small.yaml")),
                              "staging")
    problems = validate_manifests([(o, None) for o in rendered.objects], schemas)
    assert not problems, "\n".join(p.render() for p in problems)
    wf = _workflow(rendered)
    assert wf["metadata"]["namespace"] == "ml"
    args = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    assert args == {"rows": "7", "scale": "2.5"}   # env component override, project global
    tasks = {t["name"]: t for t in wf["spec"]["templates"][0]["dag"]["tasks"]}
    assert set(tasks) == {"make-rows", "scale-sum"}
    assert tasks["scale-sum"]["dependencies"] == ["make-rows"]


def test_kfp_ir_renders_like_its_flowyard_compile(ir_file: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    native = tmp_path / "native" / "pipeline.yaml"
    try:
        main(["compile", str(ir_file), "-o", str(native)])
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err
    assert yaml.safe_load(native.read_text())["kind"] == "Pipeline"
    from_ir = render_project(load_project(_project(tmp_path / "a", str(ir_file))), "staging")
    from_native = render_project(load_project(_project(tmp_path / "b", str(native))), "staging")
    assert _workflow(from_ir) == _workflow(from_native)
    # A folder holding the IR file loads it the same way.
    from_folder = render_project(load_project(_project(tmp_path / "c", str(ir_file.parent))),
                                 "staging")
    assert _workflow(from_folder) == _workflow(from_ir)


def test_kfp_ir_parameter_errors_name_the_project_field(ir_file: Path, tmp_path: Path) -> None:
    project = _project(tmp_path, "pipelines/kfp-small.yaml")
    body = yaml.safe_load(project.read_text())
    body["environments"]["staging"]["params"]["components"]["kfp-small"]["rows"] = "many"
    project.write_text(yaml.safe_dump(body, sort_keys=False))
    with pytest.raises(ResourceInvalid) as info:
        render_project(load_project(project), "staging")
    text = str(info.value)
    assert "kfp-small" in text and "'many'" in text and str(project) in text


def test_broken_kfp_ir_names_the_file(ir_file: Path, tmp_path: Path) -> None:
    ir = yaml.safe_load(ir_file.read_text())
    ir["root"]["dag"]["tasks"]["scale-sum"]["componentRef"]["name"] = "comp-missing"
    ir_file.write_text(yaml.safe_dump(ir))
    with pytest.raises(ResourceInvalid) as info:
        render_project(load_project(_project(tmp_path, "pipelines/kfp-small.yaml")), "staging")
    text = str(info.value)
    assert f"{ir_file}:1" in text and "comp-missing" in text
