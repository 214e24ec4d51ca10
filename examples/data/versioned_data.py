"""Versioned data in a few lines: put, change, diff, go back in time, provenance, a pipeline.

    python examples/data/versioned_data.py        # uses a throwaway FLOWYARD_HOME
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from flowyard.data import DataStore
from flowyard.data.pipelines import DataPipelines
from flowyard.resources.data_pipeline import DataPipeline
from flowyard.settings import Settings


def count_words(inputs: Path, output: Path) -> None:
    """A data-pipeline transform: one count file per input file."""
    for path in inputs.rglob("*.txt"):
        (output / f"{path.stem}.count").write_text(str(len(path.read_text().split())))


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="flowyard-example-"))
    src = home / "docs"
    src.mkdir()
    (src / "a.txt").write_text("one two three")
    (src / "b.txt").write_text("four five")
    with DataStore.from_settings(Settings(home=home)) as ds:
        ds.create_repo("docs")
        print("first put:", ds.put("docs@master", [src]).to_dict())
        print("re-put:   ", ds.put("docs@master", [src]).to_dict())
        (src / "b.txt").write_text("four five six")
        ds.put("docs@master", [src], message="longer b")
        print("diff:", [d.to_dict() for d in ds.diff("docs@master^", "docs@master")])
        print("b.txt one commit ago:", ds.read_bytes("docs@master^:/b.txt"))

        pipes = DataPipelines(ds)
        pipes.create(DataPipeline.build("counts", {
            "input": {"pfs": {"repo": "docs", "glob": "/*"}},
            "transform": {"python": f"{Path(__file__).resolve()}:count_words"},
        }))
        job = pipes.run("counts")
        print("job:", job.state, job.stats)
        print("counts:", [e.path for e in ds.ls("counts@master")])
        print("computed from:", ds.inspect("counts@master").provenance)
        print("fsck ok:", ds.fsck().ok)


if __name__ == "__main__":
    main()
