"""`Client.notebooks`: create, list, open, stop, start, restart and delete notebooks.

Notebooks are Jupyter servers the platform runs and guards, so every method needs a
platform (`Client(server=URL)`, FLOWYARD_SERVER or `flowyard login`); in-process there is
nothing to run them, and the methods say so instead of storing a resource no one serves.
"""

from __future__ import annotations

import builtins
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flowyard.errors import ConfigError, RunFailed

if TYPE_CHECKING:
    from flowyard.client.client import Client
    from flowyard.client.http import HttpTransport
    from flowyard.resources.notebook import Notebook

API = "/api/v1alpha1"
KIND = "Notebook"


class Notebooks:
    def __init__(self, client: Client) -> None:
        self.client = client

    def _platform(self) -> HttpTransport:
        from flowyard.client.http import HttpTransport

        transport = self.client.transport
        if not isinstance(transport, HttpTransport):
            raise ConfigError(
                "notebooks run on a Flowyard platform, and no server is set",
                hint="start one with `flowyard up`, then `flowyard login URL` (or --server "
                     "URL / FLOWYARD_SERVER)")
        return transport

    def _ns(self, namespace: str | None) -> str:
        return namespace or self.client.settings.namespace

    def _parse(self, body: dict[str, Any]) -> Notebook:
        from flowyard.resources.notebook import Notebook

        return Notebook.model_validate(body, context={"stored": True})

    def create(
        self,
        name: str,
        *,
        environment: str = "python",
        namespace: str | None = None,
        idle_timeout: str | float | None = None,
        resources: dict[str, Any] | None = None,
        volumes: builtins.list[dict[str, Any]] | None = None,
        workspace: str | None = None,
    ) -> Notebook:
        """Store a Notebook; the platform starts its server (see `wait`)."""
        self._platform()
        spec: dict[str, Any] = {"environment": environment}
        for key, value in (("idleTimeout", idle_timeout), ("resources", resources),
                           ("volumes", volumes), ("workspace", workspace)):
            if value is not None:
                spec[key] = value
        ns = self._ns(namespace)
        body = {"apiVersion": "flowyard.dev/v1alpha1", "kind": KIND,
                "metadata": {"name": name, "namespace": ns}, "spec": spec}
        # Validated by the platform (422 -> ResourceInvalid naming the field), against its
        # environment catalog, which may list more than this process knows.
        self._platform().put_resource(KIND, ns, name, body)
        return self.get(name, ns)

    def get(self, name: str, namespace: str | None = None) -> Notebook:
        self._platform()
        return self._parse(self.client.transport.get_resource(KIND, self._ns(namespace), name))

    def list(self, namespace: str | None = None) -> builtins.list[Notebook]:
        """The notebooks of a namespace (None: every namespace you can see)."""
        self._platform()
        bodies = self.client.transport.list_resources(KIND, namespace, None)
        return [self._parse(b) for b in bodies]

    def _action(self, name: str, namespace: str | None, action: str) -> Notebook:
        ns = self._ns(namespace)
        body = self._platform()._json(
            "POST", f"{API}/namespaces/{quote(ns, safe='')}/notebooks/"
                    f"{quote(name, safe='')}/{action}")
        return self._parse(body)

    def start(self, name: str, namespace: str | None = None) -> Notebook:
        return self._action(name, namespace, "start")

    def stop(self, name: str, namespace: str | None = None) -> Notebook:
        """Stop the server; the workspace stays."""
        return self._action(name, namespace, "stop")

    def restart(self, name: str, namespace: str | None = None) -> Notebook:
        return self._action(name, namespace, "restart")

    def delete(self, name: str, namespace: str | None = None, *, purge: bool = False) -> None:
        """Delete the notebook (its server stops); `purge` also removes its workspace."""
        ns = self._ns(namespace)
        transport = self._platform()
        transport.delete_resource(KIND, ns, name)
        if purge:
            transport._call("DELETE", f"{API}/namespaces/{quote(ns, safe='')}/notebooks/"
                                      f"{quote(name, safe='')}/workspace")

    def url(self, name: str, namespace: str | None = None) -> str:
        """The notebook's address on this client's platform (JupyterLab when installed)."""
        transport = self._platform()
        ns = self._ns(namespace)
        self.get(name, ns)  # NotFound (also for other profiles' notebooks) before a URL
        return f"{transport.server}/notebook/{ns}/{name}/"

    def wait(self, name: str, namespace: str | None = None, *, phase: str = "Running",
             timeout: float = 300.0, poll: float = 0.5) -> Notebook:
        """Poll until the notebook reaches `phase`; RunFailed with its message if it fails."""
        deadline = time.monotonic() + timeout
        while True:
            notebook = self.get(name, namespace)
            status = notebook.status or {}
            if status.get("phase") == phase:
                return notebook
            if status.get("phase") == "Failed" and phase != "Failed":
                raise RunFailed(f"notebook {notebook.namespace}/{name} failed: "
                                f"{status.get('message')}",
                                hint=f"flowyard notebook list -n {notebook.namespace}")
            if time.monotonic() > deadline:
                raise RunFailed(f"notebook {notebook.namespace}/{name} not {phase} after "
                                f"{timeout:g}s (phase {status.get('phase')}: "
                                f"{status.get('message') or 'no message'})")
            time.sleep(poll)
