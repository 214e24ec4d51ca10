"""In-image entry point of a Flowyard-served predictor (kube/served_predictor.py).

    python -m flowyard.kube.serve_graph GRAPH.yaml [--host 0.0.0.0] [--port 8080] [--workers N]

The container reaches the platform's data store through its FLOWYARD_* settings, as the data
steps do (kube/data_step.py). Before serving, every `repo@ref:/path` modelUri is resolved and
fetched with the code local serving uses (`serving.sources.resolve_repo`), the commit is
logged, and the graph is served pinned to `repo@<commit>:/path`: the cluster's store cannot be
read at render time, and pinning at start gives every worker, and every reload, the same
model for the container's lifetime. A new commit reaches the cluster when the pod restarts.
Then it serves exactly as `flowyard serve GRAPH.yaml` does.

Exit codes: 0 stopped, 1 the store failed, 2 bad input (and the other Flowyard exit codes).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowyard.kube.datum_step import entry_point
from flowyard.resources.inference_graph import InferenceGraph


def pin_data_refs(graph: InferenceGraph, cache_dir: Path) -> dict[str, str]:
    """Resolve and fetch each data ref once; {modelUri: repo@commit:/path}."""
    from flowyard.serving import sources

    pinned: dict[str, str] = {}
    for pred in graph.spec.predictors:
        for _, node in pred.graph.walk(""):
            uri = node.model_uri
            if not uri or sources.kind_of(uri) != "repo" or uri in pinned:
                continue
            ctx = sources.SourceContext(cache_dir, cache_dir)
            sources.resolve_repo(uri, ctx)  # the commit's files land in the workers' cache
            tgt = sources.parse_repo_uri(uri)
            commit = str(ctx.lineage["commit"])
            pinned[uri] = f"{tgt.repo}@{commit}:/{tgt.path}"
            print(f"modelUri {uri}: commit {commit} of repo {tgt.repo!r} (served until the "
                  "pod restarts)", file=sys.stderr, flush=True)
    return pinned


def pinned_graph(graph: InferenceGraph, pinned: dict[str, str]) -> InferenceGraph:
    """The same graph with each data ref replaced by its pinned form."""
    from flowyard.serving.config import parse_graph

    def walk(node: dict[str, Any]) -> None:
        if node.get("modelUri") in pinned:
            node["modelUri"] = pinned[node["modelUri"]]
        for child in node.get("children", []):
            walk(child)

    body = graph.to_dict()
    for pred in body["spec"]["predictors"]:
        walk(pred["graph"])
    return parse_graph(body)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flowyard.kube.serve_graph")
    parser.add_argument("graph", type=Path, help="the InferenceGraph file (the ConfigMap's)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    return parser


def run(args: argparse.Namespace) -> int:
    import yaml

    from flowyard.cli.serve import serve_command
    from flowyard.serving.config import load_graph
    from flowyard.serving.server import default_dirs

    graph = load_graph(args.graph)
    cache_dir, state_dir = default_dirs(graph)
    pinned = pin_data_refs(graph, cache_dir)
    served = args.graph
    if pinned:  # the ConfigMap's folder is read-only: write the pinned graph next to the cache
        served = cache_dir.parent / f"{graph.name}.pinned.yaml"
        served.parent.mkdir(parents=True, exist_ok=True)
        served.write_text(yaml.safe_dump(pinned_graph(graph, pinned).to_dict(),
                                         sort_keys=False), encoding="utf-8")
    serve_command(served, host=args.host, port=args.port, workers=args.workers,
                  cache_dir=cache_dir, state_dir=state_dir)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return entry_point(_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
