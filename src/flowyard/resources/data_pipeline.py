"""The `DataPipeline` resource: inputs (Pachyderm's pfs/cross/union/join/group), a transform.

```yaml
apiVersion: flowyard.dev/v1alpha1
kind: DataPipeline
metadata: {name: edges}
spec:
  input:
    cross:
      - pfs: {repo: images, glob: "/*"}
      - pfs: {repo: params, glob: "/"}
  transform:
    python: my_pkg.edges:run        # run(inputs: Path, output: Path); or cmd: [sh, -c, ...]
  parallelism: 2
  datumTries: 3
```

A datum sees its files under `$FLOWYARD_INPUT/<input name>/<repo path>` and writes under
`$FLOWYARD_OUTPUT`. The input name defaults to the repo name.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from flowyard.resources.base import FlowModel, Resource


class PfsInput(FlowModel):
    repo: str
    branch: str = "master"
    glob: str = "/"
    name: str | None = None
    join_on: str | None = Field(default=None, description="e.g. '$1': a glob capture group")
    group_by: str | None = Field(default=None, description="e.g. '$1': a glob capture group")

    @property
    def input_name(self) -> str:
        return self.name or self.repo


class Input(FlowModel):
    pfs: PfsInput | None = None
    cross: list[Input] | None = None
    union: list[Input] | None = None
    join: list[Input] | None = None
    group: list[Input] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Input:
        set_ = [k for k in ("pfs", "cross", "union", "join", "group") if getattr(self, k)]
        if len(set_) != 1:
            raise ValueError(
                "an input is exactly one of pfs, cross, union, join or group"
                + (f" (got {', '.join(set_)})" if set_ else " (got none)")
            )
        return self

    def leaves(self) -> list[PfsInput]:
        if self.pfs is not None:
            return [self.pfs]
        return [leaf for child in self.children() for leaf in child.leaves()]

    def children(self) -> list[Input]:
        return list(self.cross or self.union or self.join or self.group or [])


class Transform(FlowModel):
    python: str | None = Field(default=None, description="'module:function' or 'file.py:function'")
    cmd: list[str] | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> Transform:
        if (self.python is None) == (self.cmd is None):
            raise ValueError("a transform has exactly one of python or cmd")
        if self.python is not None and ":" not in self.python:
            raise ValueError(
                f"python transform {self.python!r} must be 'module:function' or 'file.py:function'"
            )
        return self


class DataPipelineSpec(FlowModel):
    input: Input
    transform: Transform
    output_repo: str | None = None
    parallelism: int = Field(default=1, ge=1, le=64)
    datum_tries: int = Field(default=3, ge=1, le=20)
    datum_timeout: float | None = Field(default=None, gt=0)
    reprocess_on_transform_change: bool = True


class DataPipeline(Resource[DataPipelineSpec]):
    KIND: ClassVar[str] = "DataPipeline"

    @property
    def output_repo(self) -> str:
        return self.spec.output_repo or self.metadata.name

    @classmethod
    def build(cls, name: str, spec: dict[str, Any]) -> DataPipeline:
        body = {"kind": "DataPipeline", "metadata": {"name": name}, "spec": spec}
        return cls.model_validate(body)
