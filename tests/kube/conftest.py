"""Fixtures for rendering tests: a project folder written from dicts, the CRD schemas, and a
fake cluster (moto S3 on loopback, a SQLite database) for running in-image steps."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_pods import BUCKET

from s3_helpers import fresh_bucket

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def schemas() -> Path:
    """The shared CRD schemas (never copied into the repo); skip when this checkout has none."""
    env = os.environ.get("FLOWYARD_SCHEMAS")
    path = Path(env) if env else REPO.parent / "shared" / "schemas"
    if not (path / "argo-workflows").is_dir():
        pytest.skip(f"CRD schemas not found at {path} (set FLOWYARD_SCHEMAS)")
    return path


STAGING: dict[str, Any] = {
    "context": "kind-test", "namespace": "ml",
    "image": "ghcr.io/flowyard/flowyard:test",
    "artifactRepository": {"s3": {"bucket": "art", "endpoint": "minio:9000",
                                  "insecure": True, "secret": {"name": "s3"}}},
}


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Write resources and a flowyard.yaml into tmp_path; return the project file."""

    def make(resources: list[dict[str, Any]], environments: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None, text: str | None = None) -> Path:
        (tmp_path / "res").mkdir(exist_ok=True)
        for i, res in enumerate(resources):
            (tmp_path / "res" / f"{i:02d}.yaml").write_text(yaml.safe_dump(res))
        project_file = tmp_path / "flowyard.yaml"
        if text is not None:
            project_file.write_text(text)
            return project_file
        body: dict[str, Any] = {
            "apiVersion": "flowyard.dev/v1alpha1", "kind": "Project",
            "metadata": {"name": "test"}, "components": ["res"],
            "environments": environments if environments is not None else {
                "local": {"type": "local"}, "staging": STAGING,
                "seldon": {**STAGING, "serving": "seldon"}},
        }
        if params is not None:
            body["params"] = params
        project_file.write_text(yaml.safe_dump(body, sort_keys=False))
        return project_file

    return make


@pytest.fixture(scope="session")
def s3_endpoint(s3_endpoint: str) -> str:
    """The session's moto server (tests/conftest.py) as "host:port", the form of an Argo
    artifact repository's endpoint."""
    return s3_endpoint.removeprefix("http://")


@pytest.fixture
def cluster(s3_endpoint: str, tmp_path: Path) -> dict[str, Any]:
    """The Secrets an operator created, and an empty bucket."""
    fresh_bucket(f"http://{s3_endpoint}", BUCKET)
    return {"secrets": {
        "flowyard-database": {"url": f"sqlite:///{tmp_path / 'platform.db'}"},
        "s3-credentials": {"accessKey": "testing", "secretKey": "testing"}}}
