"""Prepackaged routers and combiners: RANDOM_ABTEST, EPSILON_GREEDY, THOMPSON_SAMPLING,
AVERAGE_COMBINER.

Bandit feedback follows Seldon's components: a reward in [0, 1] is the mean reward over the
routed batch, so a batch of n rows counts as int(reward * n) successes and the rest failures
for the branch that served it. Rewards outside [0, 1] are clipped.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from flowyard.resources.inference_graph import Node
from flowyard.serving.errors import ModelError
from flowyard.serving.runtimes.base import Runtime, RuntimeContext


def batch_outcome(X: Any, reward: float) -> tuple[int, int]:
    """(successes, failures) for a batch, Seldon's `n_success_failures`."""
    n = int(X.shape[0]) if isinstance(X, np.ndarray) and X.ndim >= 1 else (
        len(X) if isinstance(X, list) else 1)
    n = max(n, 1)
    success = int(min(max(float(reward), 0.0), 1.0) * n)
    return success, n - success


class _Router(Runtime):
    def __init__(self, node: Node, ctx: RuntimeContext) -> None:
        super().__init__(node, ctx)
        self.n = len(node.children)
        seed = self.params.get("seed")
        self.rng = random.Random(int(seed) if seed is not None else None)

    def describe(self) -> str:
        return self.node.impl.value


class RandomABTest(_Router):
    def route(self, X: Any, names: list[str]) -> int:
        return 0 if self.rng.random() < float(self.params.get("ratioA", 0.5)) else 1


class EpsilonGreedy(_Router):
    """Best branch (highest success rate so far) with probability 1-epsilon, else another."""

    def __init__(self, node: Node, ctx: RuntimeContext) -> None:
        super().__init__(node, ctx)
        self.epsilon = float(self.params.get("epsilon", 0.1))
        self.success = [0] * self.n
        self.tries = [0] * self.n
        self.best = int(self.params.get("best_branch", 0)) % self.n

    def route(self, X: Any, names: list[str]) -> int:
        if self.n > 1 and self.rng.random() < self.epsilon:
            return self.rng.choice([i for i in range(self.n) if i != self.best])
        return self.best

    def send_feedback(self, X: Any, names: list[str], reward: float, truth: Any,
                      routing: int | None) -> None:
        if routing is None or not 0 <= routing < self.n:
            return
        ok, bad = batch_outcome(X, reward)
        self.success[routing] += ok
        self.tries[routing] += ok + bad
        rates = [s / t if t else 0.0 for s, t in zip(self.success, self.tries, strict=True)]
        self.best = max(range(self.n), key=lambda i: rates[i])

    def get_state(self) -> dict[str, Any]:
        return {"success": self.success, "tries": self.tries, "best": self.best}

    def set_state(self, state: dict[str, Any]) -> None:
        if len(state.get("success", [])) == self.n and len(state.get("tries", [])) == self.n:
            self.success = [int(v) for v in state["success"]]
            self.tries = [int(v) for v in state["tries"]]
            self.best = int(state.get("best", 0)) % self.n


class ThompsonSampling(_Router):
    """Sample each branch's Beta(successes+1, failures+1) and route to the highest draw."""

    def __init__(self, node: Node, ctx: RuntimeContext) -> None:
        super().__init__(node, ctx)
        self.alpha = [1.0] * self.n
        self.beta = [1.0] * self.n

    def route(self, X: Any, names: list[str]) -> int:
        draws = [self.rng.betavariate(a, b) for a, b in zip(self.alpha, self.beta, strict=True)]
        return max(range(self.n), key=lambda i: draws[i])

    def send_feedback(self, X: Any, names: list[str], reward: float, truth: Any,
                      routing: int | None) -> None:
        if routing is None or not 0 <= routing < self.n:
            return
        ok, bad = batch_outcome(X, reward)
        self.alpha[routing] += ok
        self.beta[routing] += bad

    def get_state(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta}

    def set_state(self, state: dict[str, Any]) -> None:
        if len(state.get("alpha", [])) == self.n and len(state.get("beta", [])) == self.n:
            self.alpha = [float(v) for v in state["alpha"]]
            self.beta = [float(v) for v in state["beta"]]


class AverageCombiner(Runtime):
    """Element-wise mean of the children's outputs (an ensemble)."""

    def describe(self) -> str:
        return self.node.impl.value

    def aggregate(self, Xs: list[Any], names_list: list[list[str]]) -> Any:
        try:
            return np.mean(np.stack([np.asarray(x, dtype=np.float64) for x in Xs]), axis=0)
        except ValueError as exc:
            shapes = [list(np.shape(x)) for x in Xs]
            raise ModelError(f"node {self.name!r}: cannot average children outputs of shapes "
                             f"{shapes}: {exc}") from exc
