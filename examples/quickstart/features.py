"""The feature step of the quickstart: a DataPipeline transform, run once per datum.

A datum is one CSV batch of the `cancer` repo (glob `/*`), found under
`$FLOWYARD_INPUT/cancer/`. The transform keeps the measurements, adds three derived features
and writes the batch under the same name in `$FLOWYARD_OUTPUT`. Nothing here looks at other
batches, which is what makes the pipeline incremental: a new batch is the only datum run.

scikit-learn's label is 0 = malignant; the quickstart stores `malignant` = 1 for a malignant
tumour, so the positive class is the one a screening test looks for.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path


def run(inputs: Path, output: Path) -> None:
    for src in sorted(inputs.rglob("*.csv")):
        with src.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
        if "malignant" not in fields:
            raise SystemExit(f"{src.name}: no 'malignant' column; columns: {fields}")
        derived = ["log_mean_area", "worst_to_mean_radius", "concavity_x_points"]
        out = output / src.name
        with out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=[*fields[:-1], *derived, "malignant"])
            writer.writeheader()
            for row in rows:
                row["malignant"] = "1" if row["malignant"] == "0" else "0"
                row["log_mean_area"] = f"{math.log1p(float(row['mean_area'])):.6g}"
                row["worst_to_mean_radius"] = (
                    f"{float(row['worst_radius']) / max(float(row['mean_radius']), 1e-9):.6g}")
                row["concavity_x_points"] = (
                    f"{float(row['mean_concavity']) * float(row['mean_concave_points']):.6g}")
                writer.writerow(row)
        print(f"{src.name}: {len(rows)} rows -> {out.name}")
