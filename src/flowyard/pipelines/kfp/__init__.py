"""Run Kubeflow Pipelines v2 pipelines (compiled IR YAML, or kfp SDK objects) on Flowyard."""

from flowyard.pipelines.kfp.loader import compile_kfp, is_kfp_pipeline, load_ir_file, read_ir
from flowyard.pipelines.kfp.translate import is_kfp_ir, translate

__all__ = ["compile_kfp", "is_kfp_ir", "is_kfp_pipeline", "load_ir_file", "read_ir",
           "translate"]
