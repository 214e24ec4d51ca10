"""The complete example in docs/resources.md is the tested example file, and it is valid."""

from __future__ import annotations

from pathlib import Path

from flowyard.pipelines.validate import validate_pipeline
from flowyard.resources.loader import load_string

DOC = Path(__file__).parents[2] / "docs" / "resources.md"


def doc_example() -> str:
    text = DOC.read_text()
    section = text.split("## A complete example", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_docs_example_matches_the_tested_file(example_text: str) -> None:
    without_comment = example_text.split("\n", 1)[1]
    assert doc_example() == without_comment


def test_docs_example_is_valid() -> None:
    [loaded] = load_string(doc_example(), file="docs/resources.md")
    validate_pipeline(loaded.resource, loaded.origin)
