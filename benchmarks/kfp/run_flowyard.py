"""One whole-process run of a compiled kfp IR file by Flowyard (fresh FLOWYARD_HOME).

Usage: python run_flowyard.py PIPELINE.yaml [name=value ...]; prints `RESULT <json>`.
"""

import json
import os
import sys
import tempfile


def main() -> None:
    path, *pairs = sys.argv[1:]
    args = {k: json.loads(v) for k, v in (p.split("=", 1) for p in pairs)}
    os.environ["FLOWYARD_HOME"] = tempfile.mkdtemp(prefix="flowyard-bench-")
    from flowyard import Client

    with Client() as client:
        run = client.run(path, args, cache=False)
    if run.state != "Succeeded":
        raise SystemExit(f"run {run.id} ended {run.state}")
    outputs = {k: v for k, v in run.outputs.items() if isinstance(v, int | float | str)}
    print("RESULT " + json.dumps(outputs, sort_keys=True))


if __name__ == "__main__":
    main()
