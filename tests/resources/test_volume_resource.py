"""Volume and VolumeSnapshot: the models, their defaults and the mistakes they reject."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flowyard.resources import KINDS, Volume, VolumeSnapshot


def _volume(spec: dict[str, object]) -> Volume:
    return Volume.model_validate({"kind": "Volume", "metadata": {"name": "ws"}, "spec": spec})


def test_kinds_are_registered() -> None:
    assert KINDS["Volume"] is Volume
    assert KINDS["VolumeSnapshot"] is VolumeSnapshot


def test_defaults_and_round_trip() -> None:
    volume = _volume({"storageClassName": "fast", "source": {"data": "raw@master:/img"}})
    assert volume.spec.size == "10Gi" and volume.spec.shared is False
    again = Volume.model_validate(volume.to_dict())
    assert again == volume
    assert volume.to_dict()["spec"]["storageClassName"] == "fast"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"size": "ten gigs"}, "size is bytes"),
        ({"source": {}}, "exactly one"),
        ({"source": {"snapshot": "a", "data": "r@m"}}, "exactly one"),
        ({"source": {"data": "raw"}}, "repo@ref"),
        ({"source": {"snapshot": "Bad_Name"}}, "DNS-1123"),
        ({"sharde": True}, "Extra inputs"),
    ],
)
def test_bad_specs_are_rejected(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _volume(spec)


def test_snapshot_needs_a_volume() -> None:
    with pytest.raises(ValidationError, match="volume"):
        VolumeSnapshot.model_validate(
            {"kind": "VolumeSnapshot", "metadata": {"name": "s"}, "spec": {}}
        )
    snap = VolumeSnapshot.model_validate(
        {"kind": "VolumeSnapshot", "metadata": {"name": "s"}, "spec": {"volume": "ws"}}
    )
    assert snap.spec.volume == "ws"
