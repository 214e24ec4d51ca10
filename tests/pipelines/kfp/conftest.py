"""kfp tests: pipelines compiled by the real kfp SDK, run by a real embedded Flowyard."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowyard import Client

HERE = Path(__file__).parent
pytest.importorskip("kfp", reason="the kfp SDK is in the `test` extra")


@pytest.fixture(scope="session")
def kfp_modules() -> list[object]:
    sys.path.insert(0, str(HERE))
    try:
        import kfp_bad_pipelines
        import kfp_pipelines
    finally:
        sys.path.remove(str(HERE))
    return [kfp_pipelines, kfp_bad_pipelines]


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory,
             kfp_modules: list[object]) -> Callable[[str], Path]:
    """compiled("w2") -> the path of that pipeline's IR YAML, written by kfp's Compiler."""
    from kfp import compiler

    folder = tmp_path_factory.mktemp("kfp-ir")
    done: dict[str, Path] = {}

    def compile_one(name: str) -> Path:
        if name not in done:
            out = folder / f"{name}.yaml"
            function = next(getattr(m, name) for m in kfp_modules if hasattr(m, name))
            compiler.Compiler().compile(function, str(out))
            done[name] = out
        return done[name]

    return compile_one


@pytest.fixture
def client(flowyard_home: Path) -> Iterator[Client]:
    with Client() as c:
        yield c
