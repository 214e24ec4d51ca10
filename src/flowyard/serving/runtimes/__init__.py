"""Node runtimes, declared as data: implementation -> runtime class."""

from __future__ import annotations

from flowyard.resources.inference_graph import Implementation, Node
from flowyard.serving.runtimes.base import Runtime, RuntimeContext
from flowyard.serving.runtimes.python_class import PythonClassRuntime
from flowyard.serving.runtimes.remote import RemoteRuntime
from flowyard.serving.runtimes.routers import (
    AverageCombiner,
    EpsilonGreedy,
    RandomABTest,
    ThompsonSampling,
)
from flowyard.serving.runtimes.tabular import (
    LightGBMRuntime,
    ONNXRuntime,
    SKLearnRuntime,
    XGBoostRuntime,
)

RUNTIMES: dict[Implementation, type[Runtime]] = {
    Implementation.SKLEARN_SERVER: SKLearnRuntime,
    Implementation.XGBOOST_SERVER: XGBoostRuntime,
    Implementation.LIGHTGBM_SERVER: LightGBMRuntime,
    Implementation.ONNX_SERVER: ONNXRuntime,
    Implementation.PYTHON_CLASS: PythonClassRuntime,
    Implementation.REMOTE: RemoteRuntime,
    Implementation.RANDOM_ABTEST: RandomABTest,
    Implementation.EPSILON_GREEDY: EpsilonGreedy,
    Implementation.THOMPSON_SAMPLING: ThompsonSampling,
    Implementation.AVERAGE_COMBINER: AverageCombiner,
}


def build_runtime(node: Node, ctx: RuntimeContext) -> Runtime:
    """The runtime for one node (not loaded yet)."""
    return RUNTIMES[node.impl](node, ctx)


__all__ = ["RUNTIMES", "PythonClassRuntime", "Runtime", "RuntimeContext", "build_runtime"]
