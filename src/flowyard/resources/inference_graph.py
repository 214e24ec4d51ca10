"""The `InferenceGraph` kind: predictors, each a tree of inference nodes (a SeldonDeployment).

    apiVersion: flowyard.dev/v1alpha1
    kind: InferenceGraph
    metadata: {name: iris}
    spec:
      predictors:
        - name: main
          traffic: 90
          graph:
            name: scale
            type: TRANSFORMER
            className: steps.py:Scale
            children:
              - name: classifier
                type: MODEL
                implementation: SKLEARN_SERVER
                modelUri: ./model.joblib
                parameters: [{name: method, value: predict_proba}]
        - name: canary
          traffic: 10
          graph: {name: classifier-v2, implementation: SKLEARN_SERVER, modelUri: s3://models/v2}
        - name: mirror
          shadow: true
          graph: {name: candidate, implementation: SKLEARN_SERVER, modelUri: ./candidate.joblib}

A node runs `transform_input` (TRANSFORMER) or `predict` (MODEL), then its children (a
ROUTER picks one, a COMBINER aggregates all, any other node has at most one child), then
`transform_output` (OUTPUT_TRANSFORMER). Semantic errors name their field path, e.g.
`predictors[0].graph.children[1].className`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from flowyard.errors import Problem
from flowyard.resources.base import FlowModel, Resource

NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class NodeType(StrEnum):
    MODEL = "MODEL"
    TRANSFORMER = "TRANSFORMER"
    OUTPUT_TRANSFORMER = "OUTPUT_TRANSFORMER"
    ROUTER = "ROUTER"
    COMBINER = "COMBINER"


class Implementation(StrEnum):
    SKLEARN_SERVER = "SKLEARN_SERVER"
    XGBOOST_SERVER = "XGBOOST_SERVER"
    LIGHTGBM_SERVER = "LIGHTGBM_SERVER"
    ONNX_SERVER = "ONNX_SERVER"
    PYTHON_CLASS = "PYTHON_CLASS"
    REMOTE = "REMOTE"
    RANDOM_ABTEST = "RANDOM_ABTEST"
    EPSILON_GREEDY = "EPSILON_GREEDY"
    THOMPSON_SAMPLING = "THOMPSON_SAMPLING"
    AVERAGE_COMBINER = "AVERAGE_COMBINER"


MODEL_SERVERS = frozenset({
    Implementation.SKLEARN_SERVER, Implementation.XGBOOST_SERVER,
    Implementation.LIGHTGBM_SERVER, Implementation.ONNX_SERVER,
})
ROUTERS = frozenset({
    Implementation.RANDOM_ABTEST, Implementation.EPSILON_GREEDY, Implementation.THOMPSON_SAMPLING,
})
# The node type an implementation implies when `type` is left out.
IMPLIED_TYPE: dict[Implementation, NodeType] = {
    **{impl: NodeType.MODEL for impl in MODEL_SERVERS},
    **{impl: NodeType.ROUTER for impl in ROUTERS},
    Implementation.AVERAGE_COMBINER: NodeType.COMBINER,
}


class ParameterType(StrEnum):
    STRING = "STRING"
    INT = "INT"
    FLOAT = "FLOAT"
    DOUBLE = "DOUBLE"
    BOOL = "BOOL"
    JSON = "JSON"


class Parameter(FlowModel):
    """A typed constructor argument, Seldon style: values are strings in YAML, or native."""

    name: str
    value: Any
    type: ParameterType = ParameterType.STRING

    @field_validator("name")
    @classmethod
    def _ident(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError("a parameter name is a Python identifier (letters, digits, '_')")
        return value

    @model_validator(mode="after")
    def _typed(self) -> Parameter:
        self.typed_value()  # convert once now so a bad value fails at load time
        return self

    def typed_value(self) -> Any:
        value, kind = self.value, self.type
        try:
            if kind is ParameterType.INT:
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError
                return int(value)
            if kind in (ParameterType.FLOAT, ParameterType.DOUBLE):
                if isinstance(value, bool):
                    raise ValueError
                return float(value)
            if kind is ParameterType.BOOL:
                if isinstance(value, bool):
                    return value
                text = str(value).strip().lower()
                if text in ("true", "1", "yes"):
                    return True
                if text in ("false", "0", "no"):
                    return False
                raise ValueError
            if kind is ParameterType.JSON:
                return json.loads(value) if isinstance(value, str) else value
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"parameter {self.name!r}: value {value!r} is not a valid {kind.value}"
            ) from exc
        if isinstance(value, dict | list):
            return json.dumps(value)
        return value if isinstance(value, str) else str(value)


class EndpointProtocol(StrEnum):
    V2 = "v2"
    SELDON = "seldon"
    GRPC = "grpc"
    """V2 over gRPC; the url is grpc://host:port."""


class Endpoint(FlowModel):
    """Where a REMOTE node's server answers."""

    url: str = Field(description="http://10.0.0.5:8080, or grpc://10.0.0.5:8081 for gRPC")
    protocol: EndpointProtocol | None = None
    model_name: str | None = Field(default=None, description="V2 model; default the node name")
    timeout: float = Field(default=10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^(https?|grpc)://[^/\s]+", value):
            raise ValueError("an endpoint url is http://host:port, https://host:port or "
                             "grpc://host:port")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _protocol_fits(self) -> Endpoint:
        grpc_url = self.url.startswith("grpc://")
        if self.protocol is None:
            self.protocol = EndpointProtocol.GRPC if grpc_url else EndpointProtocol.V2
        elif grpc_url != (self.protocol is EndpointProtocol.GRPC):
            raise ValueError(f"protocol {self.protocol.value!r} does not fit url {self.url!r}: "
                             "grpc:// urls use protocol grpc, http(s):// urls v2 or seldon")
        return self


class Batching(FlowModel):
    """Adaptive batching: concurrent requests to one MODEL node merged into one call."""

    max_batch_size: int = Field(default=32, ge=1)
    max_latency_ms: float = Field(default=2.0, ge=0)


class Node(FlowModel):
    name: str
    type: NodeType | None = None
    implementation: Implementation | None = None
    model_uri: str | None = None
    class_name: str | None = None
    endpoint: Endpoint | None = None
    parameters: list[Parameter] = Field(default_factory=list)
    children: list[Node] = Field(default_factory=list)
    batching: Batching | None = None

    @property
    def node_type(self) -> NodeType:
        if self.type is not None:
            return self.type
        impl = self.impl
        return IMPLIED_TYPE.get(impl, NodeType.MODEL)

    @property
    def impl(self) -> Implementation:
        if self.implementation is not None:
            return self.implementation
        if self.endpoint is not None:
            return Implementation.REMOTE
        return Implementation.PYTHON_CLASS

    def params(self) -> dict[str, Any]:
        return {p.name: p.typed_value() for p in self.parameters}

    def walk(self, path: str) -> Iterator[tuple[str, Node]]:
        yield path, self
        for i, child in enumerate(self.children):
            yield from child.walk(f"{path}.children[{i}]")


class Predictor(FlowModel):
    name: str
    traffic: int = Field(default=0, ge=0, le=100)
    shadow: bool = False
    graph: Node
    labels: dict[str, str] = Field(default_factory=dict)


class InferenceGraphSpec(FlowModel):
    predictors: list[Predictor] = Field(min_length=1)
    description: str | None = None

    @model_validator(mode="after")
    def _semantics(self) -> InferenceGraphSpec:
        problems = self.problems()
        if problems:
            raise GraphProblems(problems)
        return self

    def problems(self) -> list[Problem]:
        """Every semantic problem, each located by its field path under `spec`."""
        out: list[Problem] = []
        seen_pred: set[str] = set()
        for i, pred in enumerate(self.predictors):
            where = f"predictors[{i}]"
            if not NODE_NAME.match(pred.name):
                out.append(Problem("a predictor name is 1-63 letters, digits, '_', '.' or '-'",
                                   f"{where}.name", value=pred.name))
            if pred.name in seen_pred:
                out.append(Problem("duplicate predictor name", f"{where}.name", value=pred.name,
                                   allowed="predictor names are unique in a graph"))
            seen_pred.add(pred.name)
            if pred.shadow and "traffic" in pred.model_fields_set and pred.traffic:
                out.append(Problem("a shadow predictor gets a copy of all traffic; leave "
                                   "`traffic` out", f"{where}.traffic", value=pred.traffic))
            seen_nodes: dict[str, str] = {}
            for path, node in pred.graph.walk(f"{where}.graph"):
                out.extend(_node_problems(path, node, seen_nodes))
        live = [p for p in self.predictors if not p.shadow]
        if not live:
            out.append(Problem("at least one predictor must not be a shadow", "predictors"))
        elif len(live) == 1 and "traffic" not in live[0].model_fields_set:
            pass  # a lone predictor takes all traffic without saying so
        else:
            total = sum(p.traffic for p in live)
            if total != 100:
                shares = ", ".join(f"{p.name}={p.traffic}" for p in live)
                out.append(Problem(f"traffic over non-shadow predictors sums to {total} "
                                   f"({shares})", "predictors[*].traffic",
                                   allowed="it must sum to 100"))
        return out

    def traffic_of(self, predictor: Predictor) -> int:
        live = [p for p in self.predictors if not p.shadow]
        if len(live) == 1 and predictor is live[0]:
            return 100
        return 0 if predictor.shadow else predictor.traffic


def _node_problems(path: str, node: Node, seen: dict[str, str]) -> list[Problem]:
    out: list[Problem] = []
    if not NODE_NAME.match(node.name):
        out.append(Problem("a node name is 1-63 letters, digits, '_', '.' or '-', starting with "
                           "a letter or digit", f"{path}.name", value=node.name))
    if node.name in seen:
        out.append(Problem(f"duplicate node name (also at {seen[node.name]})", f"{path}.name",
                           value=node.name, allowed="node names are unique in a predictor"))
    seen.setdefault(node.name, path)
    ntype, impl, n = node.node_type, node.impl, len(node.children)
    if ntype in (NodeType.ROUTER, NodeType.COMBINER) and n == 0:
        out.append(Problem(f"a {ntype.value} needs children to route to or combine",
                           f"{path}.children"))
    if ntype not in (NodeType.ROUTER, NodeType.COMBINER) and n > 1:
        out.append(Problem(f"a {ntype.value} node has at most one child ({n} given)",
                           f"{path}.children",
                           allowed="use a ROUTER or COMBINER node to fan out"))
    if impl in ROUTERS and ntype is not NodeType.ROUTER:
        out.append(Problem(f"implementation {impl.value} is a router", f"{path}.type",
                           value=ntype.value, allowed="use type: ROUTER or leave type out"))
    if impl in MODEL_SERVERS and ntype is not NodeType.MODEL:
        out.append(Problem(f"implementation {impl.value} serves a model", f"{path}.type",
                           value=ntype.value, allowed="use type: MODEL or leave type out"))
    if impl is Implementation.AVERAGE_COMBINER and ntype is not NodeType.COMBINER:
        out.append(Problem("AVERAGE_COMBINER is a combiner", f"{path}.type", value=ntype.value))
    if impl in MODEL_SERVERS and not node.model_uri:
        out.append(Problem(f"{impl.value} needs the model's location", f"{path}.modelUri",
                           allowed="a path, an fsspec URL (s3://...) or run:<id>/<artifact>"))
    if impl is Implementation.PYTHON_CLASS and not node.class_name:
        out.append(Problem("a PYTHON_CLASS node needs the class to load", f"{path}.className",
                           allowed="'module:Class' or 'file.py:Class'"))
    if node.class_name and impl is not Implementation.PYTHON_CLASS:
        out.append(Problem(f"className only applies to PYTHON_CLASS, not {impl.value}",
                           f"{path}.className", value=node.class_name))
    if impl is Implementation.REMOTE and node.endpoint is None:
        out.append(Problem("a REMOTE node needs `endpoint: {url: http://host:port}`",
                           f"{path}.endpoint"))
    if node.endpoint is not None and impl is not Implementation.REMOTE:
        out.append(Problem(f"endpoint only applies to REMOTE, not {impl.value}",
                           f"{path}.endpoint"))
    if node.batching is not None and ntype is not NodeType.MODEL:
        out.append(Problem("batching only applies to MODEL nodes", f"{path}.batching"))
    names = [p.name for p in node.parameters]
    for i, pname in enumerate(names):
        if pname in names[:i]:
            out.append(Problem("duplicate parameter", f"{path}.parameters[{i}].name", value=pname))
    if impl is Implementation.RANDOM_ABTEST:
        if n != 2:
            out.append(Problem(f"RANDOM_ABTEST routes between exactly 2 children ({n} given)",
                               f"{path}.children"))
        ratio = node.params().get("ratioA", 0.5)
        if not _unit_interval(ratio):
            out.append(Problem("ratioA is the share of traffic for the first child",
                               f"{path}.parameters.ratioA", value=ratio,
                               allowed="a FLOAT between 0 and 1"))
    if impl is Implementation.EPSILON_GREEDY:
        eps = node.params().get("epsilon", 0.1)
        if not _unit_interval(eps):
            out.append(Problem("epsilon is the exploration probability",
                               f"{path}.parameters.epsilon", value=eps,
                               allowed="a FLOAT between 0 and 1"))
    return out


def _unit_interval(value: Any) -> bool:
    """A number (or numeric string, as Seldon writes parameters) between 0 and 1."""
    if isinstance(value, bool):
        return False
    try:
        return 0.0 <= float(value) <= 1.0
    except (TypeError, ValueError):
        return False


class GraphProblems(ValueError):
    """Raised inside validation; carries located problems so a loader can list each one.

    A loader finds it as `error["ctx"]["error"]` of the pydantic error at `spec`, and
    `located()` gives each problem's path below `spec` as a loc tuple.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.render() for p in problems))

    def located(self) -> list[tuple[tuple[str | int, ...], Problem]]:
        out: list[tuple[tuple[str | int, ...], Problem]] = []
        for problem in self.problems:
            loc: list[str | int] = []
            for name, index in _FIELD_STEP.findall(problem.field):
                if index == "*":
                    break  # a problem about all items: report it at the list
                loc.append(int(index) if index else name)
            out.append((tuple(loc), problem))
        return out


_FIELD_STEP = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]")


class InferenceGraph(Resource[InferenceGraphSpec]):
    KIND: ClassVar[str] = "InferenceGraph"
    kind: str = "InferenceGraph"
