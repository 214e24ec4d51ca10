"""Read kfp IR files, and compile kfp SDK pipeline objects through the installed kfp."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from flowyard.errors import InvalidInput
from flowyard.pipelines.kfp.translate import is_kfp_ir, translate
from flowyard.pipelines.target import is_kfp_pipeline as is_kfp_pipeline
from flowyard.resources.pipeline import Pipeline


def read_ir(path: Path) -> dict[str, Any] | None:
    """The kfp PipelineSpec in `path`, or None when the file is not one (cheap to call)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    # The markers are top-level keys; skip parsing files that cannot hold them.
    if "sdkVersion: kfp-" not in text and '"sdkVersion": "kfp-' not in text and not (
            "pipelineInfo" in text and "deploymentSpec" in text):
        return None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return None
    # kfp writes the pipeline first, optionally followed by a platform-spec document.
    if documents and is_kfp_ir(documents[0]):
        first: dict[str, Any] = documents[0]
        return first
    return None


def load_ir_file(path: str | Path, name: str | None = None) -> Pipeline:
    """The Flowyard Pipeline for a kfp-compiled YAML/JSON file."""
    path = Path(path)
    ir = read_ir(path)
    if ir is None:
        raise InvalidInput(f"{path}: not a kfp v2 compiled pipeline",
                           hint="compile it with kfp.compiler.Compiler().compile(...)")
    return translate(ir, origin=str(path), name=name)


def compile_kfp(value: Any, origin: str) -> Pipeline:
    """Compile a kfp pipeline object with the installed kfp SDK, then translate the IR."""
    try:
        from kfp import compiler
    except ImportError as exc:  # pragma: no cover - kfp is imported by the user's module
        raise InvalidInput(f"{origin}: is a kfp pipeline but kfp is not installed",
                           hint="pip install 'flowyard[kfp]'") from exc
    with tempfile.TemporaryDirectory(prefix="flowyard-kfp-") as folder:
        out = Path(folder) / "pipeline.yaml"
        try:
            compiler.Compiler().compile(value, str(out))
        except Exception as exc:
            raise InvalidInput(f"{origin}: the kfp compiler failed: {type(exc).__name__}: "
                               f"{exc}", hint="fix the pipeline so kfp can compile it") from exc
        ir = read_ir(out)
    if ir is None:  # pragma: no cover - kfp always writes a PipelineSpec
        raise InvalidInput(f"{origin}: the kfp compiler wrote no PipelineSpec")
    return translate(ir, origin=origin)
