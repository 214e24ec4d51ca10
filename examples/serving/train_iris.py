"""Train the two tiny iris models the example graph serves.

Usage: python train_iris.py [OUT_DIR]     (default: this folder)
Writes lr.joblib (LogisticRegression) and tree.joblib (DecisionTreeClassifier).
"""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier


def main(out: Path) -> None:
    X, y = load_iris(return_X_y=True)
    out.mkdir(parents=True, exist_ok=True)
    for name, model in (("lr", LogisticRegression(max_iter=1000, random_state=0)),
                        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))):
        model.fit(X, y)
        joblib.dump(model, out / f"{name}.joblib")
        print(f"{out / (name + '.joblib')}: train accuracy {model.score(X, y):.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
