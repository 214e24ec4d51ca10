"""`python -m flowyard.serving GRAPH.yaml --port 8080`: serve an InferenceGraph file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flowyard.errors import FlowyardError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flowyard.serving",
                                     description="Serve an InferenceGraph (V2 + Seldon REST).")
    parser.add_argument("graph", type=Path, help="InferenceGraph YAML file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--grpc-port", type=int, default=None,
                        help="also serve V2 over gRPC on this port (needs flowyard[grpc])")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="router state folder (default $FLOWYARD_HOME/serving/state)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="downloaded models (default $FLOWYARD_HOME/serving/cache)")
    parser.add_argument("--max-request-bytes", type=int, default=16 * 1024 * 1024)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    from flowyard.serving.config import load_graph
    from flowyard.serving.server import serve

    try:
        graph = load_graph(args.graph)
        serve(graph, args.host, args.port, args.workers,
              base_dir=args.graph.resolve().parent, state_dir=args.state_dir,
              cache_dir=args.cache_dir, max_request_bytes=args.max_request_bytes,
              log_level=args.log_level, grpc_port=args.grpc_port)
    except FlowyardError as exc:
        print(f"{exc.headline}: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
