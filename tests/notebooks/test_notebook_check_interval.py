"""FLOWYARD_NOTEBOOK_CHECK_INTERVAL: how often the platform looks at a notebook's activity
(idle culling) and retries one whose volume another writer holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowyard.errors import ConfigError
from flowyard.platform.controllers.notebooks import CHECK_INTERVAL_ENV, check_interval
from flowyard.platform.runtime import Platform
from flowyard.settings import Settings


def test_default_and_a_chosen_interval(flowyard_home: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CHECK_INTERVAL_ENV, raising=False)
    assert check_interval() == 5.0
    monkeypatch.setenv(CHECK_INTERVAL_ENV, " 0.5 ")
    assert check_interval() == 0.5
    assert Platform(Settings(), controllers=False).notebooks.activity_interval == 0.5


@pytest.mark.parametrize("value", ["banana", "0", "-1", "nan", "7200"])
def test_a_bad_interval_stops_the_platform_naming_it(
        value: str, flowyard_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHECK_INTERVAL_ENV, value)
    with pytest.raises(ConfigError) as info:
        Platform(Settings(), controllers=False)
    assert f"{CHECK_INTERVAL_ENV}={value!r}" in info.value.message
    assert "number of seconds" in info.value.message
    assert info.value.hint is not None and f"set {CHECK_INTERVAL_ENV} to" in info.value.hint
