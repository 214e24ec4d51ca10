"""Find the pipeline a command names: `file.py[:name]` (compiled) or `file.yaml[:name]`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from flowyard.errors import FlowyardError, InvalidInput, NotFound
from flowyard.resources.pipeline import Pipeline

_PY = (".py",)
_YAML = (".yaml", ".yml", ".json")


def load_target(spec: str) -> Pipeline:
    """The Pipeline named by `path/file.py:pipeline_func`, `path/file.py` (its only pipeline),
    `path/file.yaml` (its only Pipeline) or `path/file.yaml:metadata-name`."""
    path_text, name = _split(spec)
    path = Path(path_text)
    if not path.is_file():
        raise NotFound(f"pipeline file {path_text!r} does not exist",
                       hint="give a .py file with a @dsl.pipeline or a .yaml Pipeline resource, "
                            "optionally followed by ':name'")
    if path.suffix.lower() in _PY:
        return _from_python(path, name)
    if path.suffix.lower() in _YAML:
        from flowyard.pipelines.kfp.loader import read_ir
        from flowyard.pipelines.kfp.translate import translate

        ir = read_ir(path)  # a kfp v2 compiled pipeline runs unchanged
        if ir is not None:
            return translate(ir, origin=str(path))
        return _from_yaml(path, name)
    raise InvalidInput(f"{path_text}: unknown kind of pipeline file ({path.suffix or 'no '}"
                       " suffix)", hint="use a .py file with @dsl.pipeline, or .yaml/.yml")


def _split(spec: str) -> tuple[str, str | None]:
    # The ':' after the suffix separates the name; a Windows drive colon is never after it.
    for suffix in (*_PY, *_YAML):
        marker = suffix + ":"
        at = spec.lower().rfind(marker)
        if at != -1:
            head, name = spec[:at + len(suffix)], spec[at + len(marker):]
            return head, (name or None)
    return spec, None


def is_kfp_pipeline(value: object) -> bool:
    """True for a kfp `@dsl.pipeline` object (a kfp GraphComponent), without importing kfp
    or our kfp translator (PyYAML): most pipeline files hold none."""
    module = type(value).__module__ or ""
    return module.startswith("kfp.") and type(value).__name__ == "GraphComponent"


def _compile_kfp(value: object, origin: str) -> Pipeline:
    from flowyard.pipelines.kfp.loader import compile_kfp

    return compile_kfp(value, origin)


def _from_python(path: Path, name: str | None) -> Pipeline:
    from flowyard.pipelines.compiler import compile_pipeline
    from flowyard.pipelines.sdk_pipeline import PipelineDef

    module = _import(path)
    found = {key: value for key, value in vars(module).items()
             if isinstance(value, PipelineDef) or is_kfp_pipeline(value)}
    if name is None:
        if not found:
            raise NotFound(f"{path}: no @dsl.pipeline function found",
                           hint="decorate the pipeline function with @dsl.pipeline")
        if len(found) > 1:
            raise InvalidInput(f"{path}: holds {len(found)} @dsl.pipeline functions "
                               f"({', '.join(sorted(found))}); say which one",
                               hint=f"write {path}:<name>")
        [(key, only)] = found.items()
        if is_kfp_pipeline(only):
            return _compile_kfp(only, f"{path}:{key}")
        return compile_pipeline(only)
    value = getattr(module, name, None)
    if value is None:
        listed = ", ".join(sorted(found)) or "none"
        raise NotFound(f"{path}: no {name!r} in this file; its pipelines: {listed}")
    if is_kfp_pipeline(value):
        return _compile_kfp(value, f"{path}:{name}")
    if not isinstance(value, PipelineDef):
        raise InvalidInput(f"{path}: {name!r} is a {type(value).__name__}, not a @dsl.pipeline",
                           hint="decorate it with @dsl.pipeline, or name another object")
    return compile_pipeline(value)


def _import(path: Path) -> ModuleType:
    module_name = path.stem
    folder = str(path.resolve().parent)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = module
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except FlowyardError:
        _restore(module_name, previous)
        raise
    except SyntaxError as exc:
        _restore(module_name, previous)
        raise InvalidInput(f"{exc.filename or path}:{exc.lineno}: syntax error: {exc.msg}",
                           hint="fix the pipeline file") from exc
    except Exception as exc:
        _restore(module_name, previous)
        raise InvalidInput(f"{path}: importing it failed: {type(exc).__name__}: {exc}",
                           hint="run `python " + str(path) + "` to see the full traceback"
                           ) from exc
    finally:
        if sys.path and sys.path[0] == folder:
            del sys.path[0]
    return module


def _restore(module_name: str, previous: ModuleType | None) -> None:
    if previous is None:
        sys.modules.pop(module_name, None)
    else:
        sys.modules[module_name] = previous


def _from_yaml(path: Path, name: str | None) -> Pipeline:
    from flowyard.resources.loader import load_path

    pipelines = [item.resource for item in load_path(path) if isinstance(item.resource, Pipeline)]
    if name is not None:
        chosen = [p for p in pipelines if p.metadata.name == name]
        if not chosen:
            listed = ", ".join(p.metadata.name for p in pipelines) or "none"
            raise NotFound(f"{path}: no Pipeline named {name!r}; its pipelines: {listed}")
        return chosen[0]
    if len(pipelines) != 1:
        listed = ", ".join(p.metadata.name for p in pipelines) or "none"
        if not pipelines:
            raise NotFound(f"{path}: holds no Pipeline resource")
        raise InvalidInput(f"{path}: holds {len(pipelines)} Pipelines ({listed}); say which one",
                           hint=f"write {path}:<name>")
    return pipelines[0]
