"""Fuzz every operation of the platform's own OpenAPI document (schemathesis): no 500s.

A real platform on loopback, called as the admin (the widest access); the generated
requests are valid and invalid ones (positive and negative modes). Operations that start
processes (runs, actions, notebooks, the gateway's proxied paths) are left out: they are
covered by their own tests, and a fuzzer starting drivers would only load the machine.
Bounded: a few examples per operation, well under a minute.
"""

from __future__ import annotations

import re
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from platform_helpers import LivePlatform

from flowyard.platform.openapi import openapi_document

EXAMPLES = 1
SKIP = re.compile(r"^(post|put|delete) .*/(runs|notebooks)(/|$)|/runs/\{run\}/\{action\}|"
                  r"^delete /api/v1alpha1/(users|tokens)/|/login$")


def test_no_operation_answers_500(live: LivePlatform) -> None:
    schema = schemathesis.openapi.from_dict(openapi_document())
    operations = [result.ok() for result in schema.get_all_operations()]
    chosen = [op for op in operations if not SKIP.search(f"{op.method.lower()} {op.path}")]
    assert len(chosen) >= 40, [f"{op.method} {op.path}" for op in chosen]
    failures: list[str] = []
    calls = 0
    started = time.monotonic()

    def check(case: schemathesis.Case) -> None:
        nonlocal calls
        calls += 1
        if isinstance(case.query, dict):
            # event streams (watch, follow) never end by themselves: tested elsewhere
            case.query.pop("watch", None)
            case.query.pop("follow", None)
        response = case.call(base_url=live.url, headers=live.headers, timeout=30)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                            f"{response.text[:300]}")

    # Every operation, with valid and with invalid requests, EXAMPLES of each.
    for op in chosen:
        for mode in (schemathesis.GenerationMode.POSITIVE,
                     schemathesis.GenerationMode.NEGATIVE):
            run = settings(max_examples=EXAMPLES, deadline=None, database=None,
                           phases=[Phase.generate], derandomize=True,
                           suppress_health_check=list(HealthCheck))(
                given(case=op.as_strategy(generation_mode=mode))(check))
            try:
                run()
            except Unsatisfiable:
                assert mode is schemathesis.GenerationMode.NEGATIVE  # nothing to break
    elapsed = time.monotonic() - started
    print(f"{calls} fuzzed calls over {len(chosen)} operations in {elapsed:.1f} s")
    assert not failures, "\n".join(sorted(set(failures))[:20])
    assert calls >= len(chosen)
    assert live.proc.poll() is None  # the server survived it all


@pytest.mark.parametrize("path", ["/api/v1alpha1/namespaces/{namespace}/data/repos/{repo}/"
                                  "content",
                                  "/api/v1alpha1/namespaces/{namespace}/inferencegraphs/"
                                  "{name}/stats"])
def test_the_document_describes_the_data_and_stats_routes(path: str) -> None:
    assert path in openapi_document()["paths"]
