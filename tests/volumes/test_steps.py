"""Pipeline steps that work in a volume: the folder in FLOWYARD_VOLUME_<NAME>, the run as
one holder, a notebook writing the same volume in the way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flowyard import dsl
from flowyard.errors import InvalidInput, ResourceInvalid
from flowyard.pipelines.engine import Engine
from flowyard.resources.pipeline import Pipeline
from flowyard.settings import Settings
from flowyard.store.metadata import MetadataStore
from flowyard.store.objects import ObjectStore
from flowyard.volumes import Volumes, volume_resource


@dsl.component
def write_note(text: str, name: str) -> str:
    import os

    folder = os.environ["FLOWYARD_VOLUME_TEAM_WS"]
    with open(os.path.join(folder, name), "w") as handle:
        handle.write(text)
    return folder


@dsl.component
def read_notes() -> str:
    import os

    folder = os.environ["FLOWYARD_VOLUME_TEAM_WS"]
    return ",".join(sorted(os.listdir(folder)))


@dsl.pipeline(name="notes")
def notes() -> None:
    with dsl.ParallelFor(["a", "b", "c"], parallelism=3) as item:
        writer = write_note(text=item, name=item).add_volume("team-ws",
                                                             mount_path="/workspace")
    read_notes().add_volume("team-ws", read_only=True).after(writer)


@pytest.fixture
def engine(metadata: MetadataStore, objects: ObjectStore, settings: Settings) -> Iterator[Engine]:
    eng = Engine(metadata, objects, settings, workers=2)
    yield eng
    eng.close()


def test_steps_write_into_the_volume_and_release_it(engine: Engine, vols: Volumes) -> None:
    vols.create(volume_resource("team-ws", "team-a"))
    pipeline = dsl.compile(notes)
    step = next(s for s in pipeline.spec.steps if s.volumes)
    assert step.volumes[0].mount_path == "/workspace" and step.cache is False
    run = engine.run(pipeline, namespace="team-a")
    assert run.state == "Succeeded", run.error
    folder = vols.path("team-a", "team-ws")
    assert sorted(p.read_text() for p in folder.iterdir()) == ["a", "b", "c"]
    steps = {s.id: s for s in engine.metadata.get_steps(run.id)}
    assert steps["read-notes"].outputs["Output"] == "a,b,c"
    assert vols.claims("team-a", "team-ws") == []              # released when it ended


def test_a_notebook_writing_the_volume_fails_the_step(engine: Engine, vols: Volumes) -> None:
    vols.create(volume_resource("team-ws", "team-a"))
    vols.attach("team-a", "team-ws", "notebook/explore")
    run = engine.run(dsl.compile(notes), namespace="team-a")
    assert run.state == "Failed"
    steps = {s.id: s for s in engine.metadata.get_steps(run.id)}
    error = steps["write-note[0]"].error or ""
    assert "volume 'team-ws'" in error and "notebook/explore" in error, error
    assert "shared" in error
    assert [c.holder for c in vols.claims("team-a", "team-ws")] == ["notebook/explore"]

    vols.release("team-a", "team-ws", "notebook/explore")
    vols.attach("team-a", "team-ws", "notebook/explore", "ro")   # a reader is no obstacle
    assert engine.run(dsl.compile(notes), namespace="team-a").state == "Succeeded"


def test_missing_volume_fails_the_step_with_the_name(engine: Engine) -> None:
    run = engine.run(dsl.compile(notes), namespace="team-a")
    assert run.state == "Failed"
    errors = " ".join(s.error or "" for s in engine.metadata.get_steps(run.id))
    assert "Volume 'team-ws' not found in namespace 'team-a'" in errors


def test_bad_step_volumes_are_refused() -> None:
    @dsl.component
    def noop() -> None:
        pass

    def bad(name: str, mount: str | None) -> None:
        @dsl.pipeline(name="bad")
        def pipe() -> None:
            noop().add_volume(name, mount_path=mount)

        dsl.compile(pipe)

    with pytest.raises(InvalidInput, match="volume name 'Team_WS'"):
        bad("Team_WS", None)
    with pytest.raises(InvalidInput, match="mount_path 'workspace' is not an absolute"):
        bad("ws", "workspace")
    body: dict[str, Any] = {"apiVersion": "flowyard.dev/v1alpha1", "kind": "Pipeline",
            "metadata": {"name": "p"},
            "spec": {"components": {"c": {"python": {"function": "f", "source": "def f(): 0"}}},
                     "steps": [{"name": "s", "component": "c",
                                "volumes": [{"name": "ws", "mountPath": "rel"}]}]}}
    from flowyard.resources.loader import parse_resource

    where = r"spec\.steps\[0\]\.volumes\[0\]\.mountPath: .*absolute.*'rel'"
    with pytest.raises(ResourceInvalid, match=where):
        parse_resource(body)
    body["spec"]["steps"][0]["volumes"] = [{"name": "ws", "readOnly": True}]
    parsed = parse_resource(body)
    assert isinstance(parsed, Pipeline) and parsed.spec.steps[0].cache is False
