"""Helpers for the notebook tests: Notebook resources and kernel messages over the websocket."""

from __future__ import annotations

import json
import uuid
from typing import Any

import requests
import websocket  # websocket-client

from flowyard.notebooks.spawner import NotebookServer
from flowyard.resources.notebook import Notebook


def make_notebook(name: str, profile: str = "team-a", **spec: object) -> Notebook:
    return Notebook.model_validate(
        {"kind": "Notebook", "metadata": {"name": name, "namespace": profile}, "spec": spec}
    )


def auth(server: NotebookServer) -> dict[str, str]:
    return {"Authorization": f"token {server.token}"}


def start_kernel(server: NotebookServer) -> str:
    response = requests.post(f"{server.url}api/kernels", json={"name": "python3"},
                             headers=auth(server), timeout=30)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def open_channels(server: NotebookServer, kid: str) -> Any:
    return websocket.create_connection(
        f"ws://{server.url[len('http://'):]}api/kernels/{kid}/channels",
        header=[f"Authorization: token {server.token}"], timeout=30,
    )


def send_execute(ws: Any, code: str) -> str:
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "channel": "shell", "parent_header": {}, "metadata": {},
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "t",
                   "session": uuid.uuid4().hex, "date": "", "version": "5.3"},
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False},
    }))
    return msg_id


def execute(target: NotebookServer | str, code: str,
            headers: dict[str, str] | None = None) -> str:
    """Start a kernel over REST, run `code` over the websocket, return its text/plain.

    `target` is a server (its own URL and Jupyter token) or any Jupyter base URL, such as
    the gateway's, reached with `headers` (the platform's login)."""
    if isinstance(target, str):
        base, headers = target, headers or {}
    else:
        base, headers = target.url, auth(target)
    kernel = requests.post(f"{base}api/kernels", json={"name": "python3"}, headers=headers,
                           timeout=60)
    assert kernel.status_code == 201, kernel.text
    kid = kernel.json()["id"]
    ws = websocket.create_connection(
        f"ws://{base[len('http://'):]}api/kernels/{kid}/channels",
        header=[f"{k}: {v}" for k, v in headers.items()], timeout=60)
    try:
        msg_id = send_execute(ws, code)
        while True:  # the websocket timeout bounds each recv()
            msg = json.loads(ws.recv())
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "execute_result":
                return str(msg["content"]["data"]["text/plain"])
            if msg["msg_type"] == "error":
                raise AssertionError(msg["content"])
    finally:
        ws.close()
        requests.delete(f"{base}api/kernels/{kid}", headers=headers, timeout=10)
