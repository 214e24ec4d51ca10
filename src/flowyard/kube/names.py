"""Kubernetes names and the labels every rendered object carries."""

from __future__ import annotations

import re

from flowyard.resources.base import DNS1123_LABEL

MANAGED_BY = {"app.kubernetes.io/managed-by": "flowyard"}
_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def dns_label(text: str) -> str:
    """A DNS-1123 label made from a step or node name ('Train_Model.v2' -> 'train-model-v2')."""
    label = _NOT_DNS.sub("-", text.lower()).strip("-")[:63].rstrip("-")
    return label or "x"


def is_dns_label(text: str) -> bool:
    return len(text) <= 63 and bool(DNS1123_LABEL.match(text))


def labels(resource: str, kind: str, environment: str) -> dict[str, str]:
    """Labels that say who owns an object, so deploy/prune can find it later."""
    return {
        **MANAGED_BY,
        "app.kubernetes.io/name": resource,
        "flowyard.dev/kind": kind.lower(),
        "flowyard.dev/environment": environment,
    }
