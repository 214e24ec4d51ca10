"""S3 in tests: one moto server on loopback per session (the `s3_endpoint` fixture in
tests/conftest.py), emptied by each test that uses it."""

from __future__ import annotations

import logging
from typing import Any

import pytest

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def start_moto() -> Any:
    """A started ThreadedMotoServer on 127.0.0.1 with a port the kernel picked."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    return server


def use_dummy_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The AWS_* variables boto3 and s3fs read, set to moto's dummies for this test."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def fresh_bucket(endpoint: str, bucket: str) -> Any:
    """Empty the moto server (state lives for the session) and create `bucket` on it;
    returns a boto3 client for the endpoint."""
    import boto3
    import requests  # type: ignore[import-untyped]

    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **CREDENTIALS)
    client.create_bucket(Bucket=bucket)
    return client


def s3_options(endpoint: str) -> dict[str, Any]:
    """fsspec options for moto; one attempt per call so that failures surface fast."""
    return {
        "client_kwargs": {"endpoint_url": endpoint},
        "skip_instance_cache": True,
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2},
    }
