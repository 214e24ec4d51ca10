"""The Notebook kind and the environment catalog: defaults and located errors."""

from __future__ import annotations

import pytest

from flowyard.errors import ConfigError, NotFound, ResourceInvalid
from flowyard.notebooks.environments import (
    CATALOG,
    Environment,
    get_environment,
    local_interpreter,
)
from flowyard.resources import KINDS
from flowyard.resources.loader import load_string
from flowyard.resources.notebook import Notebook

GOOD = """\
apiVersion: flowyard.dev/v1alpha1
kind: Notebook
metadata: {name: explore, namespace: team-a}
spec:
  environment: scientific
  resources: {cpu: 2, memory: 4Gi, gpu: 1}
  volumes:
    - {name: datasets, mountPath: /data, readOnly: true}
  idleTimeout: 30m
  workspace: explore-ws
"""


def load(text: str) -> Notebook:
    (loaded,) = load_string(text, file="nb.yaml")
    resource = loaded.resource
    assert isinstance(resource, Notebook)
    return resource


def test_registered_kind() -> None:
    assert KINDS["Notebook"] is Notebook


def test_full_spec() -> None:
    nb = load(GOOD)
    assert nb.spec.environment == "scientific"
    assert nb.spec.resources.cpu == "2" and nb.spec.resources.memory == "4Gi"
    assert nb.spec.resources.gpu == 1
    assert nb.spec.volumes[0].mount_path == "/data" and nb.spec.volumes[0].read_only
    assert nb.spec.idle_timeout == 1800.0
    assert nb.spec.workspace == "explore-ws"
    assert nb.to_dict()["spec"]["volumes"][0]["mountPath"] == "/data"


def test_defaults() -> None:
    nb = load("apiVersion: flowyard.dev/v1alpha1\nkind: Notebook\nmetadata: {name: n}\n")
    assert nb.spec.environment == "python"
    assert nb.spec.idle_timeout == 3600.0
    assert nb.spec.volumes == [] and nb.spec.workspace is None


@pytest.mark.parametrize(
    ("old", "new", "field", "shown"),
    [
        ("environment: scientific", "environment: cobol", "spec.environment", "cobol"),
        ("idleTimeout: 30m", "idleTimeout: soon", "spec.idleTimeout", "soon"),
        ("cpu: 2", "cpu: lots", "spec.resources.cpu", "lots"),
        ("memory: 4Gi", "memory: 4 gigs", "spec.resources.memory", "4 gigs"),
        ("gpu: 1", "gpu: -1", "spec.resources.gpu", "-1"),
        ("mountPath: /data", "mountPath: data", "spec.volumes[0].mountPath", "data"),
        ("readOnly: true", "readonly: true", "spec.volumes[0].readonly", "readonly"),
        ("workspace: explore-ws", "workspace: My_WS", "spec.workspace", "My_WS"),
    ],
)
def test_errors_name_the_field(old: str, new: str, field: str, shown: str) -> None:
    with pytest.raises(ResourceInvalid) as info:
        load(GOOD.replace(old, new))
    text = str(info.value)
    assert field in text and shown in text and "nb.yaml:" in text


def test_unknown_environment_lists_available() -> None:
    with pytest.raises(ResourceInvalid) as info:
        load(GOOD.replace("environment: scientific", "environment: cobol"))
    for name in CATALOG:
        assert name in str(info.value)
    with pytest.raises(NotFound) as nf:
        get_environment("cobol")
    assert "'cobol'" in str(nf.value) and "python, pytorch, scientific, tensorflow" in str(nf.value)


def test_catalog_entries() -> None:
    assert get_environment("python").image.startswith("kubeflownotebookswg/jupyter:")
    assert "cuda" in (get_environment("pytorch").gpu_image or "")
    assert "cuda" in (get_environment("tensorflow").gpu_image or "")
    assert local_interpreter(get_environment("scientific"))  # numpy/scipy/sklearn installed


def test_missing_modules_is_a_clear_error() -> None:
    env = Environment("exotic", "needs a module nobody has", ("no_such_module_xyz",), "img")
    with pytest.raises(ConfigError) as info:
        local_interpreter(env)
    assert "'exotic'" in str(info.value) and "no_such_module_xyz" in str(info.value)
