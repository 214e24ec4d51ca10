"""The OpenAPI 3.1 document, assembled from the resource models' JSON schemas."""

from __future__ import annotations

from functools import cache
from typing import Any

from flowyard import __version__

API = "/api/v1alpha1"


def _error() -> dict[str, Any]:
    return {"description": "error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(name: str, where: str = "path", schema: dict[str, Any] | None = None,
           required: bool | None = None) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path" if required is None
            else required, "schema": schema or {"type": "string"}}


def _op(summary: str, responses: dict[str, Any], params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {
        **responses, "400": _error(), "401": _error(), "403": _error(), "404": _error(),
        "409": _error(), "422": _error(), "503": _error()}}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    return op


@cache
def openapi_document() -> dict[str, Any]:
    from flowyard.resources import KINDS

    schemas: dict[str, Any] = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string"}, "message": {"type": "string"},
                "hint": {"type": ["string", "null"]},
                "problems": {"type": "array", "items": {"type": "object"}}}}}},
        "Record": {"type": "object", "additionalProperties": True},
    }
    paths: dict[str, Any] = {}
    any_obj = {"$ref": "#/components/schemas/Record"}
    listing = [_param("labelSelector", "query"), _param("limit", "query", {"type": "integer"}),
               _param("continue", "query"), _param("watch", "query", {"type": "boolean"})]
    for kind, model in KINDS.items():
        schema = model.model_json_schema(by_alias=True,
                                         ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas[kind] = schema
        ref = {"$ref": f"#/components/schemas/{kind}"}
        plural = kind.lower() + "s"
        list_schema = {"type": "object", "properties": {
            "items": {"type": "array", "items": ref},
            "metadata": {"type": "object", "properties": {
                "continue": {"type": ["string", "null"]}}}}}
        coll = f"{API}/namespaces/{{namespace}}/{plural}"
        ns = _param("namespace")
        paths[f"{API}/{plural}"] = {"get": _op(f"list {kind}s in every namespace",
                                               {"200": _ok(list_schema)}, listing)}
        paths[coll] = {
            "get": _op(f"list or watch {kind}s", {"200": _ok(list_schema)}, [ns, *listing]),
            "post": _op(f"apply a {kind}", {"200": _ok(ref), "201": _ok(ref)}, [ns], ref),
        }
        item = [ns, _param("name")]
        paths[f"{coll}/{{name}}"] = {
            "get": _op(f"read a {kind}", {"200": _ok(ref)}, item),
            "put": _op(f"create or update a {kind}", {"200": _ok(ref), "201": _ok(ref)},
                       item, ref),
            "delete": _op(f"delete a {kind}", {"200": _ok(any_obj)}, item),
        }
    run = [_param("run")]
    items = {"type": "object", "properties": {"items": {"type": "array", "items": any_obj}}}
    paths.update({
        "/healthz": {"get": {"summary": "liveness", "responses": {"200": _ok(any_obj)}}},
        "/readyz": {"get": {"summary": "readiness", "responses": {"200": _ok(any_obj)}}},
        f"{API}/runs": {
            "get": _op("list runs, newest first; pages go on with metadata.continue (the "
                       "pipeline snapshot is left out unless snapshot=true)",
                       {"200": _ok({"type": "object", "properties": {
                           "items": {"type": "array", "items": any_obj},
                           "metadata": {"type": "object", "properties": {
                               "continue": {"type": ["string", "null"]}}}}})}, [
                _param("namespace", "query"), _param("pipeline", "query"),
                _param("state", "query"), _param("limit", "query", {"type": "integer"}),
                _param("offset", "query", {"type": "integer"}), _param("continue", "query"),
                _param("snapshot", "query", {"type": "boolean"})]),
            "post": _op("submit a run", {"201": _ok(any_obj)}, body={
                "type": "object", "required": ["pipeline"], "properties": {
                    "pipeline": {"$ref": "#/components/schemas/Pipeline"},
                    "parameters": {"type": "object"}, "cache": {"type": "boolean"},
                    "namespace": {"type": ["string", "null"]},
                    "labels": {"type": "object"}, "start": {"type": "boolean"}}}),
        },
        f"{API}/runs/{{run}}": {"get": _op("read a run", {"200": _ok(any_obj)}, run)},
        f"{API}/runs/{{run}}/steps": {"get": _op("a run's steps", {"200": _ok(items)}, run)},
        f"{API}/runs/{{run}}/artifacts": {"get": _op("a run's artifacts",
                                                     {"200": _ok(items)}, run)},
        f"{API}/runs/{{run}}/steps/{{step}}/log": {"get": _op(
            "a step's log (bytes from offset; follow=true streams server-sent events)",
            {"200": {"description": "log bytes or an event stream"}},
            [*run, _param("step"), _param("offset", "query", {"type": "integer"}),
             _param("follow", "query", {"type": "boolean"})])},
        f"{API}/runs/{{run}}/{{action}}": {"post": _op(
            "cancel, retry, resume or start (mode=execute|retry|resume) a run",
            {"200": _ok(any_obj), "202": _ok(any_obj)},
            [*run, _param("action", schema={"enum": ["cancel", "retry", "resume", "start"]}),
             _param("mode", "query")])},
        f"{API}/artifacts/{{artifact}}": {"get": _op("an artifact's record",
                                                     {"200": _ok(any_obj)},
                                                     [_param("artifact")])},
        f"{API}/artifacts/{{artifact}}/content": {"get": _op(
            "a file artifact's bytes, or a folder artifact as a tar",
            {"200": {"description": "bytes"}}, [_param("artifact")])},
    })
    paths.update(_account_paths(any_obj, items))
    paths.update(_data_paths(any_obj, items))
    paths.update(_view_paths(any_obj))
    public = {"/healthz", "/readyz", f"{API}/login"}
    for path, item in paths.items():
        if path in public:
            for op in item.values():
                op["security"] = []
    return {"openapi": "3.1.0",
            "info": {"title": "Flowyard platform API", "version": __version__},
            "paths": paths,
            "security": [{"bearer": []}, {"session": []}],
            "components": {"schemas": schemas, "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "flowyard_session"}}}}


def _account_paths(any_obj: dict[str, Any], items: dict[str, Any]) -> dict[str, Any]:
    """Login, tokens, users, profiles and the gateway's route table (auth.py, profiles.py)."""
    def body(*fields: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"type": "object", "required": list(required),
                "properties": {f: {"type": "string"} for f in fields}}

    member = [_param("profile"), _param("user")]
    return {
        f"{API}/login": {"post": _op("trade a user name and password for a new API token",
                                     {"201": _ok(any_obj)},
                                     body=body("user", "password", "description",
                                               required=("user", "password")))},
        f"{API}/whoami": {"get": _op("the caller: name, admin flag, profiles and roles",
                                     {"200": _ok(any_obj)})},
        f"{API}/tokens": {"post": _op("a new API token (shown once) for the caller, or for "
                                      "`user` (admins)", {"201": _ok(any_obj)},
                                      body=body("description", "user"))},
        f"{API}/tokens/{{token}}": {"delete": _op(
            "revoke a token by its id (own tokens; admins: any)", {"200": _ok(any_obj)},
            [_param("token")])},
        f"{API}/users": {
            "get": _op("list users (admins)", {"200": _ok(items)}),
            "post": _op("create a user (admins)", {"201": _ok(any_obj)},
                        body=body("name", "password", required=("name",))),
        },
        f"{API}/users/{{user}}": {"delete": _op(
            "delete a user and its tokens; its profiles pass to the deleting admin (admins)",
            {"200": _ok(any_obj)}, [_param("user")])},
        f"{API}/users/{{user}}/password": {"put": _op(
            "set a password: admins for anyone, a user for itself with currentPassword",
            {"200": _ok(any_obj)}, [_param("user")],
            body=body("password", "currentPassword", required=("password",)))},
        f"{API}/profiles": {
            "get": _op("the caller's profiles with roles and contributors",
                       {"200": _ok(items)}),
            "post": _op("create a profile (admins)", {"201": _ok(any_obj)},
                        body=body("name", "owner", required=("name",))),
        },
        f"{API}/profiles/{{profile}}/contributors/{{user}}": {
            "put": _op("give a user the edit or view role (owner or admins)",
                       {"200": _ok(any_obj)}, member, body=body("role", required=("role",))),
            "delete": _op("remove a contributor (owner or admins)", {"200": _ok(any_obj)},
                          member),
        },
        f"{API}/gateway/routes": {"get": _op("the gateway's routes the caller may use",
                                             {"200": _ok(items)})},
    }


def _data_paths(any_obj: dict[str, Any], items: dict[str, Any]) -> dict[str, Any]:
    """Versioned data per profile (data_api.py), snapshots into it (volume_api.py) and
    serving statistics (serving_stats.py)."""
    ns = _param("namespace")
    repo = [ns, _param("repo")]
    ref = _param("ref", "query")
    path = _param("path", "query")
    base = f"{API}/namespaces/{{namespace}}/data/repos"
    item = f"{base}/{{repo}}"
    name_body = {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "description": {"type": "string"}}}
    graph = {"type": "object", "required": ["root", "nodes", "edges"], "properties": {
        "root": {"type": "string"},
        "nodes": {"type": "array", "items": {"type": "object", "required": ["id", "type"],
                                             "properties": {"id": {"type": "string"},
                                                            "type": {"enum": ["commit",
                                                                              "run"]}}}},
        "edges": {"type": "array", "items": {"type": "object",
                                             "required": ["from", "to", "type"],
                                             "properties": {
                                                 "from": {"type": "string"},
                                                 "to": {"type": "string"},
                                                 "type": {"enum": ["provenance", "wrote",
                                                                   "read"]}}}}}}
    upload = _op("put the body as the file `path` on `branch`, or a tar "
                 "(Content-Type: application/x-tar) as files under `path`; one commit",
                 {"201": _ok(any_obj)}, [*repo, _param("branch", "query"), path,
                                         _param("message", "query"),
                                         _param("sync", "query", {"type": "boolean"})])
    upload["requestBody"] = {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "application/x-tar": {"schema": {"type": "string", "format": "binary"}}}}
    return {
        base: {"get": _op("the profile's data repos", {"200": _ok(items)}, [ns]),
               "post": _op("create a data repo (names are unique across profiles)",
                           {"201": _ok(any_obj)}, [ns], name_body)},
        item: {"get": _op("a data repo", {"200": _ok(any_obj)}, repo),
               "delete": _op("delete a data repo", {"200": _ok(any_obj)},
                             [*repo, _param("force", "query", {"type": "boolean"})])},
        f"{item}/branches": {
            "get": _op("a repo's branches", {"200": _ok(items)}, repo),
            "post": _op("create a branch, empty or at `head` (a ref)", {"201": _ok(any_obj)},
                        repo, {"type": "object", "required": ["name"], "properties": {
                            "name": {"type": "string"},
                            "head": {"type": ["string", "null"]}}})},
        f"{item}/branches/{{branch}}": {"delete": _op(
            "delete a branch", {"200": _ok(any_obj)}, [*repo, _param("branch")])},
        f"{item}/commits": {"get": _op(
            "commits from `ref` (default master) back through first parents, newest first",
            {"200": _ok(items)}, [*repo, ref, _param("limit", "query", {"type": "integer"})])},
        f"{item}/commits/{{ref}}": {"get": _op(
            "one commit (a branch, a commit id or prefix, e.g. master^)",
            {"200": _ok(any_obj)}, [*repo, _param("ref")])},
        f"{item}/files": {"get": _op(
            "files and folders at `path` of `ref`", {"200": _ok(items)},
            [*repo, ref, path, _param("recursive", "query", {"type": "boolean"})])},
        f"{item}/content": {
            "get": _op("a file's bytes (streamed), or a file or folder as a tar with "
                       "format=tar", {"200": {"description": "bytes or a tar"}},
                       [*repo, ref, path, _param("format", "query",
                                                 {"enum": ["raw", "tar"]})]),
            "put": upload},
        f"{item}/diff": {"get": _op(
            "files added, removed and modified from `old` to `new` (refs), under `path`",
            {"200": _ok(items)},
            [*repo, _param("old", "query", required=True),
             _param("new", "query", required=True), path])},
        f"{item}/lineage": {"get": _op(
            "provenance (up) and subvenance (down) of `ref` as a graph of commits and runs",
            {"200": _ok(graph)},
            [*repo, ref, _param("direction", "query", {"enum": ["up", "down", "both"]}),
             _param("transitive", "query", {"type": "boolean"})])},
        f"{API}/namespaces/{{namespace}}/volumesnapshots/{{name}}/commit": {"post": _op(
            "commit a Ready VolumeSnapshot's files at `target` (a repo of the same profile; "
            "no bytes copied, provenance = the snapshot's commit); 200 with changed=false "
            "when the target holds them already", {"201": _ok(any_obj), "200": _ok(any_obj)},
            [ns, _param("name")], {"type": "object", "required": ["target"], "properties": {
                "target": {"type": "string"}, "message": {"type": "string"}}})},
        f"{API}/namespaces/{{namespace}}/inferencegraphs/{{name}}/stats": {"get": _op(
            "statistics of a running InferenceGraph: requests, rate, latency, traffic split, "
            "router arms", {"200": _ok(any_obj)}, [ns, _param("name")])},
    }


def _view_paths(any_obj: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's read views (views.py)."""
    graph = {"type": "object", "required": ["nodes", "edges"], "properties": {
        "nodes": {"type": "array", "items": any_obj},
        "edges": {"type": "array", "items": any_obj}}}
    return {
        f"{API}/runs/{{run}}/graph": {"get": _op(
            "the step graph of a run's pipeline: nodes (steps) and edges (data or order)",
            {"200": _ok(graph)}, [_param("run")])},
        f"{API}/namespaces/{{namespace}}/pipelines/{{name}}/graph": {"get": _op(
            "the step graph of a stored Pipeline", {"200": _ok(graph)},
            [_param("namespace"), _param("name")])},
        f"{API}/metrics": {"get": _op(
            "scalar metrics (Metrics artifacts) of a pipeline's recent runs, newest first",
            {"200": _ok(any_obj)},
            [_param("pipeline", "query", required=True), _param("namespace", "query"),
             _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 200})])},
        f"{API}/artifacts/{{artifact}}/preview": {"get": _op(
            "a file artifact for display: HTML as text/html, images as themselves, else "
            "text; always under a sandbox Content-Security-Policy",
            {"200": {"description": "bytes"}}, [_param("artifact")])},
    }
