"""In-image entry point of a rendered Pipeline's data refs: fetch a `{data}` input, commit
an `outputsTo` artifact.

    python -m flowyard.kube.data_step fetch  REPO@REF:/PATH DEST --commit-out FILE
    python -m flowyard.kube.data_step commit SOURCE REPO@BRANCH:/PATH --run UID --step S
                                             --artifact NAME [--provenance REPO@C,REPO@C]

The pod reaches the platform's data store through its FLOWYARD_* settings, as the datum
steps do (kube/datum_step.py). `fetch` resolves the ref once for the whole Workflow run,
writes the file or folder at DEST (Argo's output artifact) and the resolved `repo@commit`
to FILE (an output parameter), so every consumer and every commit task see the same commit.
`commit` puts SOURCE at the target with origin `pipeline`, info {run, step, artifact} and
the fetched commits as provenance, like a local run (pipelines/engine/datarefs.py). The data
layer decides whether that is a new commit: not when the path already holds the artifact's
exact files and the head already records those input commits (a retried pod, the same
model trained on the same data); yes when the inputs are new, even with identical files.

Exit codes: 0 done, 1 the store failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from flowyard.errors import InvalidInput
from flowyard.kube.datum_step import entry_point, write_output

if TYPE_CHECKING:
    from flowyard.data.repo import DataStore


def fetch(ds: DataStore, ref: str, dest: Path) -> str:
    """Write `ref`'s file or folder at dest; return the `repo@commit` it was read from."""
    from flowyard.data.refs import parse_target

    tgt = parse_target(ref)
    commit = ds.resolve(tgt)
    # Read the pinned commit, not the ref again: a branch may move between the two calls.
    got = ds.get(f"{tgt.repo}@{commit.id}:/{tgt.path}", dest)
    print(f"data {ref}: commit {commit.id}, {got.files} file(s), {got.bytes} bytes",
          file=sys.stderr)
    return f"{tgt.repo}@{commit.id}"


def commit(ds: DataStore, source: Path, target: str, *, run: str, step: str, artifact: str,
           provenance: Sequence[str]) -> str:
    """Put source at target; return the id of the branch head that holds it."""
    if not source.exists():
        raise InvalidInput(f"step {step!r} produced no artifact {artifact!r} at {source}",
                           hint="the step's output artifact must be written for outputsTo")
    info = {"run": run, "step": step, "artifact": artifact}
    result = ds.put(target, [source], origin="pipeline", provenance=list(provenance),
                    sync=True, message=f"run {run} step {step}: {artifact}", info=info)
    done = result.commit.id if result.commit is not None else ds.resolve(target).id
    if result.changed:
        print(f"outputsTo {target}: commit {done}", file=sys.stderr)
    else:
        print(f"outputsTo {target}: {artifact!r} unchanged, no new commit (head {done})",
              file=sys.stderr)
    return done


def parse_provenance(text: str) -> list[str]:
    """`repo@commit` items joined by commas (Argo parameters are single strings)."""
    return [item.strip() for item in text.split(",") if item.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flowyard.kube.data_step")
    sub = parser.add_subparsers(dest="action", required=True)
    get = sub.add_parser("fetch", help="resolve a data ref and write its content")
    get.add_argument("ref", help="REPO@REF:/PATH")
    get.add_argument("dest", type=Path, help="where to write it (the output artifact)")
    get.add_argument("--commit-out", type=Path, required=True,
                     help="the output parameter file for the resolved repo@commit")
    put = sub.add_parser("commit", help="commit an artifact into a repo path")
    put.add_argument("source", type=Path, help="the artifact (file or folder)")
    put.add_argument("target", help="REPO@BRANCH:/PATH")
    put.add_argument("--run", required=True, help="the Workflow's uid")
    put.add_argument("--step", required=True, help="the producing step")
    put.add_argument("--artifact", required=True, help="the step's output artifact")
    put.add_argument("--provenance", default="", help="repo@commit,... the run read")
    return parser


def run(args: argparse.Namespace) -> int:
    from flowyard.data.repo import DataStore

    with DataStore.from_settings() as ds:
        if args.action == "fetch":
            write_output(args.commit_out, fetch(ds, args.ref, args.dest))
        else:
            commit(ds, args.source, args.target, run=args.run, step=args.step,
                   artifact=args.artifact, provenance=parse_provenance(args.provenance))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return entry_point(_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
