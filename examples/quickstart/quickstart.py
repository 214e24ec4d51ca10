"""Flowyard's quickstart: every part working together on this machine, in one command.

    ./scripts/quickstart                 # from a fresh clone (makes .venv, then runs this)
    python examples/quickstart/quickstart.py [--port 8470] [--requests 400]

1. starts the platform (`flowyard up --detach`) unless it already runs for FLOWYARD_HOME;
2. puts a real data set (scikit-learn's breast-cancer table, in CSV batches) into the
   versioned repo `cancer`;
3. applies the DataPipeline `features` (features.yaml): the platform runs it on the new
   commit, one datum per batch; then one more batch arrives and only it is processed;
4. runs the training pipeline (train.py): two models trained on the feature commit,
   committed into the repo `models` with provenance back to the raw data;
5. applies the InferenceGraph `cancer` (graph.yaml): both models behind an epsilon-greedy
   router, served by the platform and reached through its gateway;
6. sends a stream of prediction requests with feedback, so traffic moves to the better model;
7. prints the dashboard's address, a login link, and what to look at on each page.

Run it again: the data is unchanged (no new commit), the data pipeline has nothing to do,
the training steps are cache hits and the endpoint is already up, so it is much faster.
Every step uses only `flowyard.Client`, so the same script works against a remote platform
with FLOWYARD_SERVER and FLOWYARD_TOKEN set.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dataset import SHARDS, write_shards  # noqa: E402

from flowyard import Client  # noqa: E402
from flowyard.errors import Conflict, FlowyardError  # noqa: E402
from flowyard.settings import Settings  # noqa: E402

T = TypeVar("T")
FIRST_BATCHES = range(SHARDS - 1)  # the last batch "arrives later" to show incremental work


def say(step: str, text: str = "") -> None:
    print(f"\n==> {step}" + (f"\n    {text}" if text else ""), flush=True)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120.0) -> T:
    """Poll until probe() returns something; fail with what we waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(0.2)
    raise SystemExit(f"quickstart: timed out after {timeout:.0f}s waiting for {what}")


def start_platform(settings: Settings, port: int) -> tuple[str, str]:
    """The running platform's URL and an admin token (starting the platform if needed)."""
    from flowyard.platform.server import initial_token_file, read_state

    state = read_state(settings)
    if state is None:
        say("flowyard up --detach", f"FLOWYARD_HOME={settings.home}")
        flowyard = Path(sys.executable).with_name("flowyard")  # the CLI beside this Python
        started = subprocess.run([str(flowyard), "up", "--detach", "--port", str(port)],
                                 env={**os.environ, "FLOWYARD_HOME": str(settings.home)})
        if started.returncode != 0:  # `flowyard up` printed why (e.g. the port is taken)
            raise SystemExit(f"quickstart: the platform did not start (exit "
                             f"{started.returncode}); fix the above, or pick another port: "
                             "./scripts/quickstart --port PORT")
        state = wait_for("the platform's state file", lambda: read_state(settings), 30)
    else:
        say("platform already running", f"{state['url']} (pid {state['pid']})")
    url = str(state["url"])
    token = os.environ.get("FLOWYARD_TOKEN")
    token_file = initial_token_file(settings)
    if not token and token_file.exists():
        token = token_file.read_text(encoding="utf-8").strip()
    if not token:
        raise SystemExit(f"quickstart: no admin token: {token_file} is gone; set FLOWYARD_TOKEN "
                         "to a token of a user who may edit the profile")
    return url, token


def put_batches(client: Client, batches: range, folder: Path) -> tuple[str, bool]:
    """(cancer@master's head, whether this put made a new commit)."""
    files = write_shards(folder, batches)
    with client.data as data:
        result = data.put("cancer@master:/", [str(f) for f in files],
                          message=f"breast-cancer batches {list(batches)}")
        head = data.resolve("cancer@master").id
    what = (f"new commit, {result.files_unchanged} unchanged" if result.changed
            else "all unchanged: no new commit")
    print(f"    cancer@master = {head[:12]} ({len(files)} batch files; {what})")
    return head, result.changed


def wait_job(client: Client, input_head: str) -> dict[str, Any]:
    """The DataPipeline's status once its job for `input_head` finished."""

    def done() -> dict[str, Any] | None:
        status = client.get("DataPipeline", "features").status
        inputs = json.dumps(status.get("inputs") or {})
        if input_head[:12] in inputs and status.get("state") in ("Succeeded", "Failed"):
            return status
        return None

    status = wait_for("the features job", done)
    if status["state"] != "Succeeded":
        raise SystemExit(f"quickstart: the features job failed: {status.get('error')}")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8470, help="platform port (default 8470)")
    parser.add_argument("--requests", type=int, default=400, help="prediction requests to send")
    args = parser.parse_args(argv)
    started = time.monotonic()
    settings = Settings()
    url, token = start_platform(settings, args.port)
    client = Client(server=url, token=token)
    profile = client.settings.namespace
    # Kept between runs: rewriting the same bytes would defeat the stat cache's quick check.
    work = settings.home / "quickstart"

    say("versioned data: repo 'cancer'", "the breast-cancer table as CSV batches")
    with client.data as data:
        for repo in ("cancer", "models"):
            with contextlib.suppress(Conflict):  # a second run: the repo is there
                data.create_repo(repo)
    head, _ = put_batches(client, FIRST_BATCHES, work)

    say("data pipeline 'features' (features.yaml)", "one datum per batch; runs on new commits")
    client.apply(client.validate([HERE / "features.yaml"]))
    status = wait_job(client, head)
    print(f"    job {status['lastJob'][:12]}: {status['state']}, "
          f"output features@{str(status['outputCommit'])[:12]}")
    say("one more batch arrives", "only the new datum is processed")
    head, changed = put_batches(client, range(SHARDS), work)
    status = wait_job(client, head)
    print(f"    job {status['lastJob'][:12]}: {status['state']}, "
          f"output features@{str(status['outputCommit'])[:12]}"
          + ("" if changed else " (an earlier run's job: nothing new to process)"))

    say("training pipeline 'train-cancer' (train.py)", "logreg and texture-only, in parallel")
    run = client.run(str(HERE / "train.py") + ":train_pipeline")
    print(f"    run {run.id}: {run.state}")
    if run.state != "Succeeded":
        raise SystemExit(f"quickstart: the training run failed; flowyard runs logs {run.id}")
    for step in client.steps(run.id):
        print(f"    {step.name:<14} {step.state:<10} outputs {step.outputs}")

    say("inference graph 'cancer' (graph.yaml)", "both models behind an epsilon-greedy router")
    client.apply(client.validate([HERE / "graph.yaml"]))

    def ready() -> bool | None:
        return True if client.get("InferenceGraph", "cancer").status.get("ready") else None

    wait_for("the endpoint to be ready", ready, 90)
    endpoint = f"{url}/serving/{profile}/cancer"
    print(f"    {endpoint}/api/v1.0/predictions   (Seldon) and {endpoint}/v2/... (V2)")

    say(f"{args.requests} predictions with feedback", "reward 1 when the answer was right")
    block = max(args.requests // 10, 1)
    shifts = stream(endpoint, token, work, args.requests, block)
    for i, (texture, logreg) in enumerate(shifts):
        width = round(30 * texture / max(texture + logreg, 1))
        print(f"    requests {i * block:>4}-{i * block + block - 1:<4} "
              f"[{'t' * width}{'L' * (30 - width)}]  texture {texture:>3}  logreg {logreg:>3}")
    stats = httpx.get(f"{url}/api/v1alpha1/namespaces/{profile}/inferencegraphs/cancer/stats",
                      headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    served = {"texture": sum(t for t, _ in shifts), "logreg": sum(g for _, g in shifts)}
    for router in stats.get("routers", []):
        for arm in router["arms"]:
            # `feedback` and `mean` are the router's learned state, kept across runs and
            # restarts; the requests served are this run's own.
            print(f"    arm {arm['child']:<8} served {served.get(arm['child'], 0):>4}, "
                  f"right {arm['mean']:.1%} of the time "
                  f"({int(arm['feedback'])} answers with feedback, all runs)")

    elapsed = time.monotonic() - started
    say(f"done in {elapsed:.0f} s", "the platform keeps running")
    # The CLI finds the platform through FLOWYARD_HOME (./.flowyard here, not the default
    # ~/.flowyard), and sends commands to it once logged in (docs/quickstart.md).
    cli = Path(sys.executable).with_name("flowyard")
    with contextlib.suppress(ValueError):
        cli = cli.relative_to(Path.cwd())
    home = f"export FLOWYARD_HOME={settings.home}"
    print(f"""
    Dashboard   {url}/
    Log in      {url}/login?token={token}

    CLI         {home}
                {cli} login {url} --token {token}
    Stop        {cli} down      (with FLOWYARD_HOME as above)

    Home        what runs now and what happened last
    Runs        run {run.id}: the DAG, each step's log, the metrics of both models
    Data        repo 'models': provenance from the model back to the cancer@{head[:12]} commit
    Serving     endpoint 'cancer': request rate, latency and the router's arm statistics
    Notebooks   start one in your profile and use flowyard.Client() there with no setup
""")
    return 0


def stream(endpoint: str, token: str, work: Path, count: int,
           block: int) -> list[tuple[int, int]]:
    """Send labelled rows one by one with feedback; requests per arm in blocks."""
    import csv

    from features import run as make_features

    raw, out = work / "stream-in", work / "stream-out"
    out.mkdir(parents=True, exist_ok=True)
    write_shards(raw, range(SHARDS))
    with contextlib.redirect_stdout(io.StringIO()):  # the transform reports per batch
        make_features(raw, out)
    rows = [r for f in sorted(out.glob("*.csv")) for r in list(csv.reader(f.open()))[1:]]
    blocks: list[list[int]] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers, timeout=30) as http:
        for i in range(count):
            row = rows[i % len(rows)]
            x, truth = [float(v) for v in row[:-1]], int(row[-1])
            request = {"data": {"ndarray": [x]}}
            answer = http.post(f"{endpoint}/api/v1.0/predictions", json=request)
            answer.raise_for_status()
            body = answer.json()
            arm = int(body["meta"]["routing"]["router"])
            predicted = int(float(body["data"]["ndarray"][0]))
            http.post(f"{endpoint}/api/v1.0/feedback",
                      json={"request": request, "response": body,
                            "reward": 1.0 if predicted == truth else 0.0}
                      ).raise_for_status()
            if i % block == 0:
                blocks.append([0, 0])
            blocks[-1][arm] += 1
    return [(a, b) for a, b in blocks]


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FlowyardError as exc:
        print(f"quickstart: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
