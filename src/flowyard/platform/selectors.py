"""Kubernetes-style label selectors (`a=b,c!=d,e,!f`) and list pagination tokens."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from flowyard.errors import InvalidInput

Matcher = Callable[[dict[str, str]], bool]


def parse_selector(text: str) -> list[Matcher]:
    """Matchers for each comma-separated term; a malformed term is `InvalidInput`."""
    matchers: list[Matcher] = []
    for raw in text.split(","):
        term = raw.strip()
        if not term:
            continue
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            matchers.append(_differs(key, value))
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=", 1).split("=", 1))
            matchers.append(_equals(key, value))
        elif term.startswith("!"):
            key = term[1:].strip()
            matchers.append(_exists(key, negate=True))
        else:
            key = term
            matchers.append(_exists(key, negate=False))
        if not key or any(c in key for c in "=! "):
            raise InvalidInput(
                f"labelSelector term {term!r} is not valid",
                hint="use key=value, key!=value, key or !key, separated by commas",
            )
    return matchers


def _equals(key: str, value: str) -> Matcher:
    return lambda labels: labels.get(key) == value


def _differs(key: str, value: str) -> Matcher:
    return lambda labels: labels.get(key) != value


def _exists(key: str, *, negate: bool) -> Matcher:
    return lambda labels: (key in labels) != negate


def matches(body: dict[str, Any], matchers: list[Matcher]) -> bool:
    labels = (body.get("metadata") or {}).get("labels") or {}
    return all(m(labels) for m in matchers)


def encode_continue(namespace: str, name: str) -> str:
    return base64.urlsafe_b64encode(f"{namespace}/{name}".encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        namespace, name = raw.split("/", 1)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"continue token {token!r} is not valid",
                           hint="pass the metadata.continue value of the previous page") from exc
    return namespace, name
