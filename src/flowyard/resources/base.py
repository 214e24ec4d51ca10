"""The envelope every Flowyard resource shares: apiVersion, kind, metadata, spec, status."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

API_VERSION: Final = "flowyard.dev/v1alpha1"  # Final: mypy sees the Literal type
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class FlowModel(BaseModel):
    """Base of every resource part: camelCase on the wire, snake_case in Python, no extras.

    Unknown fields are errors rather than ignored, so that a typo (`retires:`) is reported
    with its location instead of silently changing what runs.
    """

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_assignment=False,
        # Non-finite floats (a `float = float("inf")` default) stay floats in to_dict(), so
        # YAML writes .inf/-.inf/.nan and reads them back as floats; in JSON text
        # (model_dump_json) they are the strings "Infinity", "-Infinity", "NaN", the rule of
        # every JSON Flowyard writes (flowyard.platform.codec.json_safe). The default ("null") would
        # turn them into null: a silently different pipeline.
        ser_json_inf_nan="strings",
    )


class ObjectMeta(FlowModel):
    name: str = Field(description="DNS-1123 label: lower-case letters, digits and '-'")
    namespace: str = Field(default="default", description="the profile the resource lives in")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None

    @field_validator("name", "namespace")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if len(value) > 63 or not DNS1123_LABEL.match(value):
            raise ValueError(
                "must be a DNS-1123 label: at most 63 lower-case letters, digits or '-', "
                "starting and ending with a letter or digit (e.g. 'train-iris')"
            )
        return value


SpecT = TypeVar("SpecT", bound=BaseModel)


class Resource(FlowModel, Generic[SpecT]):
    """A declared object. Subclasses fix `kind` and the spec type."""

    KIND: ClassVar[str] = ""

    api_version: Literal["flowyard.dev/v1alpha1"] = API_VERSION
    kind: str
    metadata: ObjectMeta
    spec: SpecT
    status: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _kind_matches(cls, value: str) -> str:
        if cls.KIND and value != cls.KIND:
            raise ValueError(f"must be {cls.KIND!r} for this resource type")
        return value

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    def to_dict(self) -> dict[str, Any]:
        """Plain data for YAML/JSON: what was set, camelCase, envelope keys first."""
        body = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        body.pop("apiVersion", None)
        body.pop("kind", None)
        out: dict[str, Any] = {"apiVersion": self.api_version, "kind": self.kind}
        meta = self.metadata.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        out["metadata"] = meta
        out["metadata"]["name"] = self.metadata.name
        if self.metadata.namespace != "default" or "namespace" in self.metadata.model_fields_set:
            out["metadata"]["namespace"] = self.metadata.namespace
        out["spec"] = body.get("spec", {})
        if self.status:
            out["status"] = self.status
        return out

