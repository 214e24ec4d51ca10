"""The route table on its own: longest prefix, hosts, providers, weights."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from flowyard.platform.routes_table import Backend, GatewayRoute, RouteTable, notebook_route


def route(prefix: str, *, host: str | None = None, name: str = "g") -> GatewayRoute:
    return GatewayRoute(prefix, (Backend("http://127.0.0.1:9"),), "InferenceGraph", "p", name,
                        host=host)


def test_longest_prefix_and_host_win() -> None:
    table = RouteTable()
    short, deep = route("/serving/p/g/", name="short"), route("/serving/p/g/v2/", name="deep")
    hosted = route("/serving/p/g/", host="models.example", name="hosted")
    table.register(lambda: (short, deep, hosted))
    assert table.match("/serving/p/g/v2/models/x/infer", None) is deep
    assert table.match("/serving/p/g/v1/predictions", None) is short
    assert table.match("/serving/p/g/v1/predictions", "models.example") is hosted
    assert table.match("/serving/p/g", None) is short          # the prefix without its slash
    assert table.match("/serving/p/gg/x", None) is None
    assert table.match("/serving/p/", None) is None
    assert [r.name for r in table.routes()] == ["short", "hosted", "deep"]


def test_providers_are_reindexed_only_when_their_answer_changes() -> None:
    table = RouteTable()
    current: list[Sequence[GatewayRoute]] = [(route("/serving/p/a/", name="a"),)]
    table.register(lambda: current[0])
    assert table.match("/serving/p/a/x", None) is not None
    index = table._index
    table.match("/serving/p/a/y", None)
    assert table._index is index                                # same object: no rebuild
    current[0] = (route("/serving/p/b/", name="b"),)
    assert table.match("/serving/p/a/x", None) is None
    assert table.match("/serving/p/b/x", None) is not None


def test_weights_are_honoured() -> None:
    split = GatewayRoute("/serving/p/g/", (Backend("http://a:1", 90), Backend("http://b:1", 10),
                                           Backend("http://c:1", 0)),
                         "InferenceGraph", "p", "g")
    rng = random.Random(1)
    counts = Counter(split.pick(rng).url for _ in range(20_000))
    assert counts["http://c:1"] == 0
    assert abs(counts["http://a:1"] / 20_000 - 0.9) < 0.01


def test_rewrite_and_pass_through_paths() -> None:
    assert route("/serving/p/g/").upstream_path("/serving/p/g/v2/x") == "/v2/x"
    assert route("/serving/p/g/").upstream_path("/serving/p/g") == "/"
    notebook = notebook_route("p", "nb", 8888, "t0k")
    assert notebook.upstream_path("/notebook/p/nb/lab") == "/notebook/p/nb/lab"
    assert notebook.raw_request_headers == ((b"authorization", b"token t0k"),)
    assert "t0k" not in repr(notebook.describe())
