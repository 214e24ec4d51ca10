"""Versioned-data wiring (`{data}` inputs, `outputsTo`) has no Argo equivalent yet: say so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowyard.kube.errors import Unsupported
from flowyard.kube.project import load_project
from flowyard.kube.render import render_project

SOURCE = "def train(data, model):\n    pass\n"


def lineage_pipeline(**step: Any) -> dict[str, Any]:
    return {
        "apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline",
        "metadata": {"name": "lineage"},
        "spec": {
            "components": {"train": {
                "inputs": {"artifacts": [{"name": "data", "type": "Dataset"}]},
                "outputs": {"artifacts": [{"name": "model", "type": "Model"}]},
                "python": {"function": "train", "source": SOURCE}}},
            "steps": [{"name": "train", "component": "train", **step}],
        },
    }


def test_data_input_is_refused_with_its_place(make_project: Callable[..., Path]) -> None:
    pipeline = lineage_pipeline(arguments={"data": {"data": "raw@master:/iris.csv"}})
    with pytest.raises(Unsupported) as err:
        render_project(load_project(make_project([pipeline])), "staging")
    assert "spec.steps[0] (train).arguments.data" in err.value.message
    assert "an artifact input given as data" in err.value.message


def test_outputs_to_is_refused_not_dropped(make_project: Callable[..., Path]) -> None:
    pipeline = lineage_pipeline(arguments={"data": {"data": "raw@master:/iris.csv"}},
                                outputsTo={"model": "models@master:/iris"})
    with pytest.raises(Unsupported) as err:
        render_project(load_project(make_project([pipeline])), "staging")
    assert "spec.steps[0] (train).outputsTo" in err.value.message
    assert "outputsTo" in err.value.message and "'staging'" in err.value.message
