"""`python -m flowyard.platform [--host H] [--port P]`: what `flowyard up` runs."""

from __future__ import annotations

import argparse
import sys

from flowyard.errors import FlowyardError


def main(argv: list[str] | None = None) -> int:
    from flowyard.platform.server import DEFAULT_PORT, serve
    from flowyard.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m flowyard.platform")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    try:
        serve(Settings(), args.host, args.port, log_level=args.log_level)
    except FlowyardError as exc:
        print(f"{exc.headline}: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
