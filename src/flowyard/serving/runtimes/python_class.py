"""A user's Python class as a node: `module:Class`, `file.py:Class` or Seldon's bare `Class`.

Node parameters become constructor keyword arguments (as in Seldon); `model_uri` is passed
as a local path when the constructor accepts it. Each contract method is used only if the
class defines it (`hasattr`), otherwise the base default applies.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from flowyard.errors import ConfigError, FlowyardError, NotFound
from flowyard.resources.inference_graph import Node
from flowyard.serving.errors import ModelError
from flowyard.serving.runtimes.base import Runtime, RuntimeContext


def load_class(spec: str, base_dir: Path) -> type[Any]:
    """Import the class named by `spec`, relative files resolved against `base_dir`."""
    module_part, sep, cls_name = spec.rpartition(":")
    if not sep:
        module_part, cls_name = spec, spec.rsplit(".", 1)[-1]
    if module_part.endswith(".py"):
        path = Path(module_part)
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():
            raise NotFound(f"className {spec!r}: file {str(path)!r} does not exist",
                           hint="file paths are relative to the graph file's folder")
        mod_name = f"flowyard_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
        module = sys.modules.get(mod_name) or _imported_from(path)
        if module is None:
            loader_spec = importlib.util.spec_from_file_location(mod_name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise ConfigError(f"className {spec!r}: cannot import {str(path)!r}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[mod_name] = module
            try:
                loader_spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[mod_name]
                raise ConfigError(f"className {spec!r}: importing {str(path)!r} failed: "
                                  f"{type(exc).__name__}: {exc}") from exc
    else:
        if str(base_dir) not in sys.path:
            sys.path.insert(0, str(base_dir))
        try:
            module = importlib.import_module(module_part)
        except ImportError as exc:
            raise NotFound(f"className {spec!r}: cannot import module {module_part!r}: {exc}",
                           hint="use 'module:Class' with the module on PYTHONPATH or next to "
                           "the graph file, or 'file.py:Class'") from exc
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, type)
                       and getattr(v, "__module__", None) == module.__name__)
        raise NotFound(f"className {spec!r}: module {module_part!r} has no class {cls_name!r}",
                       hint=f"classes defined there: {', '.join(found) or 'none'}")
    return cls


def _imported_from(path: Path) -> Any:
    """A module already imported from `path` (e.g. by the application), so classes and
    their class-level state are shared rather than loaded twice."""
    target, name = str(path.resolve()), path.name
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith(name) and str(Path(file).resolve()) == target:
            return module
    return None


def _wants_meta(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "meta" or p.kind is p.VAR_KEYWORD for p in params)


class PythonClassRuntime(Runtime):
    def __init__(self, node: Node, ctx: RuntimeContext) -> None:
        super().__init__(node, ctx)
        self.user: Any = None
        self._meta_kw: dict[str, bool] = {}

    def load(self) -> None:
        cls = load_class(self.node.class_name or "", self.ctx.base_dir)
        kwargs = dict(self.params)
        if self.node.model_uri:
            try:
                sig = list(inspect.signature(cls).parameters.values())
            except (TypeError, ValueError):
                sig = []
            if any(p.name == "model_uri" or p.kind is p.VAR_KEYWORD for p in sig):
                kwargs["model_uri"] = str(self.model_path())
        try:
            self.user = cls(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"node {self.name!r}: {cls.__name__}(**parameters) failed: {exc}",
                              hint="node parameters are passed as constructor keyword "
                              "arguments; check their names") from exc
        if hasattr(self.user, "load"):
            self.user.load()
        for method in ("predict", "transform_input", "transform_output"):
            fn = getattr(self.user, method, None)
            if fn is not None:
                self._meta_kw[method] = _wants_meta(fn)
        if hasattr(self.user, "output_name"):
            self.output_name = str(self.user.output_name)

    def _call(self, method: str, X: Any, names: list[str], meta: dict[str, Any]) -> Any:
        fn = getattr(self.user, method)
        try:
            if self._meta_kw.get(method):
                return fn(X, names, meta=meta)
            return fn(X, names)
        except FlowyardError:
            raise
        except Exception as exc:
            raise ModelError(f"node {self.name!r}: {method}() raised "
                             f"{type(exc).__name__}: {exc}") from exc

    def predict(self, X: Any, names: list[str], meta: dict[str, Any]) -> Any:
        if not hasattr(self.user, "predict"):
            return X
        return self._call("predict", X, names, meta)

    def transform_input(self, X: Any, names: list[str], meta: dict[str, Any]) -> Any:
        if not hasattr(self.user, "transform_input"):
            return X
        return self._call("transform_input", X, names, meta)

    def transform_output(self, X: Any, names: list[str], meta: dict[str, Any]) -> Any:
        if not hasattr(self.user, "transform_output"):
            return X
        return self._call("transform_output", X, names, meta)

    def route(self, X: Any, names: list[str]) -> int:
        if not hasattr(self.user, "route"):
            return super().route(X, names)
        try:
            choice = self.user.route(X, names)
        except Exception as exc:
            raise ModelError(f"node {self.name!r}: route() raised "
                             f"{type(exc).__name__}: {exc}") from exc
        if isinstance(choice, np.integer):
            choice = int(choice)
        if not isinstance(choice, int) or isinstance(choice, bool):
            raise ModelError(f"node {self.name!r}: route() returned {choice!r}; "
                             "it must return a child index (int)")
        return choice

    def aggregate(self, Xs: list[Any], names_list: list[list[str]]) -> Any:
        if not hasattr(self.user, "aggregate"):
            return super().aggregate(Xs, names_list)
        try:
            return self.user.aggregate(Xs, names_list)
        except Exception as exc:
            raise ModelError(f"node {self.name!r}: aggregate() raised "
                             f"{type(exc).__name__}: {exc}") from exc

    def output_names(self, names: list[str]) -> list[str]:
        cls_names = getattr(self.user, "class_names", None)
        if isinstance(cls_names, list | tuple):
            return [str(n) for n in cls_names]
        feat = getattr(self.user, "feature_names", None)
        return [str(n) for n in feat] if isinstance(feat, list | tuple) else names

    def send_feedback(self, X: Any, names: list[str], reward: float, truth: Any,
                      routing: int | None) -> None:
        if hasattr(self.user, "send_feedback"):
            try:
                self.user.send_feedback(X, names, reward, truth, routing=routing)
            except Exception as exc:
                raise ModelError(f"node {self.name!r}: send_feedback() raised "
                                 f"{type(exc).__name__}: {exc}") from exc

    def metrics(self) -> list[dict[str, Any]]:
        if hasattr(self.user, "metrics"):
            found = self.user.metrics()
            return list(found) if isinstance(found, list | tuple) else []
        return []

    def tags(self) -> dict[str, Any]:
        if hasattr(self.user, "tags"):
            found = self.user.tags()
            return dict(found) if isinstance(found, dict) else {}
        return {}

    def health_status(self) -> Any:
        return self.user.health_status() if hasattr(self.user, "health_status") else None

    def init_metadata(self) -> dict[str, Any]:
        if hasattr(self.user, "init_metadata"):
            found = self.user.init_metadata()
            return dict(found) if isinstance(found, dict) else {}
        return {}

    def get_state(self) -> dict[str, Any] | None:
        if hasattr(self.user, "get_state"):
            state = self.user.get_state()
            return dict(state) if isinstance(state, dict) else None
        return None

    def set_state(self, state: dict[str, Any]) -> None:
        if hasattr(self.user, "set_state"):
            self.user.set_state(state)
