"""Paste into a cell of a Flowyard notebook: the client there needs no setup.

The platform gives the notebook's kernels FLOWYARD_SERVER, FLOWYARD_NAMESPACE (the
notebook's profile) and FLOWYARD_TOKEN (a token of the notebook's service user, with the
`edit` role in that profile only), so `flowyard.Client()` talks to the platform as the
profile: runs, data and resources are the profile's.

Outside a notebook, run it with the same variables set (e.g. after `flowyard login`).
"""

from __future__ import annotations

from pathlib import Path

import flowyard

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
TRAIN = HERE.parent / "pipelines" / "train.py"


def main() -> None:
    client = flowyard.Client()
    print("platform:", client.server, "profile:", client.settings.namespace)
    for notebook in client.notebooks.list(client.settings.namespace):
        print("notebook", notebook.name, (notebook.status or {}).get("phase"))
    if TRAIN.is_file():  # the repository's example pipeline, run by the platform
        run = client.run(f"{TRAIN}:train_pipeline", {"test_size": 0.3, "seed": 1})
        print("run", run.id, run.state)


if __name__ == "__main__":
    main()
