"""Fixtures for the resource loader tests: the example pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def example_path() -> Path:
    return DATA / "train-iris.yaml"


@pytest.fixture
def example_text(example_path: Path) -> str:
    return example_path.read_text()
