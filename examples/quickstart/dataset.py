"""The quickstart's data set: scikit-learn's breast-cancer table, as CSV shards.

Real data (569 tumour measurements from the Wisconsin diagnostic study, shipped inside
scikit-learn, so nothing is downloaded), cut into shards the way data usually arrives: in
batches. Each shard is one datum of the feature pipeline, so a new shard is processed alone.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

SHARDS = 5


def shard_rows(shards: int = SHARDS) -> list[list[list[str]]]:
    """Header-less rows per shard; row i goes to shard i % shards (stable across runs)."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    out: list[list[list[str]]] = [[] for _ in range(shards)]
    for i, (features, target) in enumerate(zip(bunch.data, bunch.target, strict=True)):
        out[i % shards].append([f"{v:.6g}" for v in features] + [str(int(target))])
    return out


def header() -> list[str]:
    from sklearn.datasets import load_breast_cancer

    names = [str(n).replace(" ", "_") for n in load_breast_cancer().feature_names]
    return [*names, "malignant"]


def write_shards(folder: Path, which: range | None = None) -> list[Path]:
    """Shards (all, or the indices in `which`) as folder/batch-<i>.csv; a file that already
    holds the same bytes is left alone, so its mtime (and a stat cache) stays valid."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = shard_rows()
    written = []
    for i in which if which is not None else range(len(rows)):
        path = folder / f"batch-{i}.csv"
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header())
        writer.writerows(rows[i])
        data = text.getvalue().encode()
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        written.append(path)
    return written
