"""One whole-process run of a compiled kfp IR file by kfp.local (the peer's settings).

Usage: python run_kfp_local.py PIPELINE.yaml [name=value ...]; prints `RESULT <json>`.
"""

import json
import sys
import tempfile

from kfp import components, local


def main() -> None:
    path, *pairs = sys.argv[1:]
    args = {k: json.loads(v) for k, v in (p.split("=", 1) for p in pairs)}
    root = tempfile.mkdtemp(prefix="kfp-root-")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root,
               enable_caching=False, raise_on_error=True)
    task = components.load_component_from_file(path)(**args)
    outputs = {k: v for k, v in task.outputs.items() if isinstance(v, int | float | str)}
    print("RESULT " + json.dumps(outputs, sort_keys=True))


if __name__ == "__main__":
    main()
