"""Steps against a remote object store: a moto S3 server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import pipeline, py, step_map

from flowyard.pipelines.engine import Engine
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore
from s3_helpers import fresh_bucket, use_dummy_credentials


@pytest.fixture
def s3_settings(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose object store is a bucket on the session's emptied moto server."""
    pytest.importorskip("s3fs")
    use_dummy_credentials(monkeypatch)
    fresh_bucket(s3_endpoint, "flowyard")
    return Settings(home=tmp_path / "home", object_store_url="s3://flowyard/store",
                    s3_endpoint_url=s3_endpoint)


def test_artifacts_and_logs_go_to_s3(s3_settings: Settings) -> None:
    metadata = MetadataStore.from_settings(s3_settings)
    objects = ObjectStore.from_settings(s3_settings)
    assert not objects.is_local
    write = py("""
        def write(data: Output[Dataset]) -> None:
            print("writing")
            open(data.path, "w").write("remote bytes")
    """, outputs_art={"data": "Dataset"})
    read = py("""
        def read(data: Input[Dataset]) -> str:
            return open(data.path).read()
    """, inputs_art={"data": "Dataset"}, outputs={"Output": "str"})
    p = pipeline("s3", {"write": write, "read": read}, [
        {"name": "w", "component": "write"},
        {"name": "r", "component": "read", "arguments": {"data": {"step": "w", "output": "data"}}},
    ])
    with Engine(metadata, objects, s3_settings, workers=2) as engine:
        run = engine.run(p)
    assert run.state == "Succeeded", run.error
    steps = step_map(metadata, run.id)
    assert steps["r"].outputs == {"Output": "remote bytes"}
    art = metadata.get_artifact(steps["w"].output_artifacts["data"])
    assert objects.get_bytes(art.digest) == b"remote bytes"
    assert art.uri.startswith("s3://flowyard/store/blobs/")
    assert b"writing" in objects.get_bytes(steps["w"].log_digest)
    metadata.close()
