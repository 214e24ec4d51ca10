"""The catalog of notebook environments: data, one entry per environment.

Locally an environment is the interpreter that runs a notebook's kernels; on Kubernetes it
is a container image. An environment the platform's own interpreter satisfies (every module
in `requires` imports) runs there. Otherwise it gets its own virtualenv under
`$FLOWYARD_HOME/notebook-environments/<name>/`, created on first use (never at install):
the venv is layered over the platform's site-packages (so flowyard and ipykernel are there
without a second copy) and `packages` are pip-installed into it, shadowing the base.

Operators add entries with a YAML file named by `FLOWYARD_NOTEBOOK_ENVIRONMENTS`:

    - name: lightgbm
      description: LightGBM on top of the base
      requires: [ipykernel, lightgbm]
      packages: [lightgbm]
      image: example.com/jupyter-lightgbm:1
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowyard.errors import ConfigError, NotFound

CATALOG_ENV = "FLOWYARD_NOTEBOOK_ENVIRONMENTS"
READY_MARKER = ".flowyard-ready"


@dataclass(frozen=True)
class Environment:
    name: str
    description: str
    requires: tuple[str, ...]  # modules the kernel's interpreter must import
    image: str  # CPU container image for Kubernetes
    gpu_image: str | None = None  # GPU variant, Kubernetes only
    local: bool = True  # False: Kubernetes only
    packages: tuple[str, ...] = ()  # pip requirements for the local virtualenv
    isolated: bool = False  # always its own virtualenv, even if the base would do


_KF = "kubeflownotebookswg"
_TAG = "v1.9.2"

CATALOG: dict[str, Environment] = {
    env.name: env
    for env in (
        Environment(
            name="python",
            description="Plain Python with ipykernel (the interpreter Flowyard runs in)",
            requires=("ipykernel",),
            image=f"{_KF}/jupyter:{_TAG}",
        ),
        Environment(
            name="scientific",
            description="Python with NumPy, SciPy and scikit-learn",
            requires=("ipykernel", "numpy", "scipy", "sklearn"),
            image=f"{_KF}/jupyter-scipy:{_TAG}",
            packages=("numpy", "scipy", "scikit-learn"),
        ),
        Environment(
            name="pytorch",
            description="PyTorch (CPU locally, CUDA on Kubernetes)",
            requires=("ipykernel", "torch"),
            image=f"{_KF}/jupyter-pytorch-full:{_TAG}",
            gpu_image=f"{_KF}/jupyter-pytorch-cuda-full:{_TAG}",
            packages=("torch",),
        ),
        Environment(
            name="tensorflow",
            description="TensorFlow (CPU locally, CUDA on Kubernetes)",
            requires=("ipykernel", "tensorflow"),
            image=f"{_KF}/jupyter-tensorflow-full:{_TAG}",
            gpu_image=f"{_KF}/jupyter-tensorflow-cuda-full:{_TAG}",
            packages=("tensorflow-cpu",),
        ),
    )
}

_extra_cache: tuple[tuple[str, float], dict[str, Environment]] | None = None


def _strings(where: str, field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {field} must be a list of strings, got {value!r}")
    return tuple(value)


def _load_extra(path: Path) -> dict[str, Environment]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read notebook environments from {path}: {exc}",
                          hint=f"fix the file or unset {CATALOG_ENV}") from exc
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a list of environments, got "
                          f"{type(data).__name__}", hint="see docs/notebooks.md#environments")
    out: dict[str, Environment] = {}
    for i, item in enumerate(data):
        where = f"{path}: [{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigError(f"{where}: each environment needs a 'name' (a string)")
        unknown = set(item) - {"name", "description", "requires", "packages", "image",
                               "gpuImage", "isolated"}
        if unknown:
            raise ConfigError(f"{where} ({item['name']}): unknown field(s) "
                              f"{', '.join(sorted(unknown))}",
                              hint="fields: name, description, requires, packages, image, "
                                   "gpuImage, isolated")
        requires = _strings(where, "requires", item.get("requires")) or ("ipykernel",)
        out[item["name"]] = Environment(
            name=item["name"], description=str(item.get("description", "")),
            requires=requires, image=str(item.get("image", f"{_KF}/jupyter:{_TAG}")),
            gpu_image=item.get("gpuImage"),
            packages=_strings(where, "packages", item.get("packages")),
            isolated=bool(item.get("isolated", False)))
    return out


def catalog() -> dict[str, Environment]:
    """The built-in entries plus the operator's file (`FLOWYARD_NOTEBOOK_ENVIRONMENTS`)."""
    global _extra_cache
    name = os.environ.get(CATALOG_ENV)
    if not name:
        return CATALOG
    path = Path(name)
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError as exc:
        raise ConfigError(f"{CATALOG_ENV}={name}: {exc.strerror or exc}",
                          hint=f"point {CATALOG_ENV} at a YAML file, or unset it") from exc
    if _extra_cache is None or _extra_cache[0] != key:
        _extra_cache = (key, _load_extra(path))
    return {**CATALOG, **_extra_cache[1]}


def available() -> list[str]:
    return sorted(catalog())


def get_environment(name: str) -> Environment:
    """The catalog entry, or NotFound listing the names that exist."""
    try:
        return catalog()[name]
    except KeyError:
        raise NotFound(
            f"unknown notebook environment {name!r}; available: {', '.join(available())}",
            hint="set spec.environment to one of the available environments",
        ) from None


def missing_modules(env: Environment) -> list[str]:
    """Modules the environment promises that the current interpreter cannot import."""
    return [m for m in env.requires if importlib.util.find_spec(m) is None]


def local_interpreter(env: Environment) -> str:
    """The current interpreter when it satisfies `env`, or a ConfigError naming the modules."""
    missing = missing_modules(env)
    if missing:
        raise ConfigError(
            f"notebook environment {env.name!r} needs {', '.join(missing)}, "
            f"which {sys.executable} cannot import",
            hint=f"pip install {' '.join(missing)}"
            + (", or let the platform create its virtualenv" if env.packages else ""),
        )
    return sys.executable


def uses_base(env: Environment) -> bool:
    """True when the platform's own interpreter runs this environment's kernels."""
    return not env.isolated and not missing_modules(env)


def venv_folder(home: Path, env: Environment) -> Path:
    # Beside, not inside, notebooks/<profile>/: a profile may be called "environments".
    return home / "notebook-environments" / env.name


def venv_python(folder: Path) -> Path:
    return folder / "bin" / "python"


def is_prepared(home: Path, env: Environment) -> bool:
    return uses_base(env) or (venv_folder(home, env) / READY_MARKER).is_file()


def prepare(home: Path, env: Environment, *, timeout: float = 3600.0) -> str:
    """The interpreter for `env`'s kernels, creating its virtualenv on first use.

    Blocking (pip may take minutes): callers run it off the event loop. The venv is marked
    ready only at the end; an unfinished one (crash, failed pip) is removed and rebuilt on
    the next try, so a half-made environment is never used. Output goes to `<venv>.log`.
    """
    if not env.local:
        raise ConfigError(f"notebook environment {env.name!r} runs on Kubernetes only",
                          hint=f"pick a local one: {', '.join(available())}")
    if uses_base(env):
        return sys.executable
    folder = venv_folder(home, env)
    python = venv_python(folder)
    if (folder / READY_MARKER).is_file():
        return str(python)
    log = folder.with_suffix(".log")
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        out.write(f"creating environment {env.name!r} in {folder}\n")
        out.flush()
        try:
            _run([sys.executable, "-m", "venv", "--without-pip", str(folder)], out, log, env,
                 timeout)
            _layer_over_base(folder)
            if env.packages:
                # The platform's pip installs into the venv: it needs no pip of its own.
                _run([sys.executable, "-m", "pip", "--python", str(python), "install",
                      "--no-input", "--disable-pip-version-check", *env.packages],
                     out, log, env, timeout)
            check = "; ".join(f"import {m}" for m in env.requires) or "pass"
            _run([str(python), "-c", check], out, log, env, timeout)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # the log stays, the half-made venv not
            raise
    (folder / READY_MARKER).write_text("ok\n", encoding="utf-8")
    return str(python)


def _layer_over_base(folder: Path) -> None:
    """A .pth file adding the platform's site-packages after the venv's own."""
    lib = sorted((folder / "lib").glob("python*/site-packages"))
    if not lib:
        raise ConfigError(f"virtualenv {folder} has no lib/python*/site-packages")
    bases = [p for p in site.getsitepackages() if Path(p).is_dir()]
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in bases)
    (lib[0] / "_flowyard_base.pth").write_text(lines, encoding="utf-8")


def _run(command: list[str], out: Any, log: Path, env: Environment, timeout: float) -> None:
    out.write("$ " + " ".join(command) + "\n")
    out.flush()
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"creating notebook environment {env.name!r} failed: {exc}",
                          hint=f"see {log}") from exc
    if done.returncode != 0:
        out.flush()
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ConfigError(
            f"creating notebook environment {env.name!r} failed: `{' '.join(command[:4])} ...` "
            f"exited with code {done.returncode}; last lines of {log}:\n{tail}",
            hint="fix the environment's packages (FLOWYARD_NOTEBOOK_ENVIRONMENTS) or install "
                 "them into the platform's interpreter")


def main(argv: list[str] | None = None) -> int:
    """`python -m flowyard.notebooks.environments NAME`: prepare one environment.

    The platform runs this as its child (dying with it) rather than in a thread: a platform
    that stops or is killed mid-`pip install` takes the install down too, and the next try
    starts over on a clean folder.
    """
    from flowyard.errors import FlowyardError
    from flowyard.settings import Settings

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m flowyard.notebooks.environments NAME", file=sys.stderr)
        return 2
    try:
        print(prepare(Settings().ensure_home(), get_environment(args[0])))
    except FlowyardError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
