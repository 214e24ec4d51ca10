"""The catalog of notebook environments: data, one entry per environment.

Locally an environment is an interpreter that runs the kernel (for now always the current
one, checked for the modules it promises); on Kubernetes it is a container image. Creating a
separate virtualenv per environment on first use (TensorFlow, PyTorch) comes later.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass

from flowyard.errors import NotFound


@dataclass(frozen=True)
class Environment:
    name: str
    description: str
    requires: tuple[str, ...]  # modules the local interpreter must import
    image: str  # CPU container image for Kubernetes
    gpu_image: str | None = None  # GPU variant, Kubernetes only
    local: bool = True  # False: no local interpreter yet (Kubernetes only for now)


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
        ),
        Environment(
            name="pytorch",
            description="PyTorch (CPU locally, CUDA on Kubernetes)",
            requires=("ipykernel", "torch"),
            image=f"{_KF}/jupyter-pytorch-full:{_TAG}",
            gpu_image=f"{_KF}/jupyter-pytorch-cuda-full:{_TAG}",
        ),
        Environment(
            name="tensorflow",
            description="TensorFlow (CPU locally, CUDA on Kubernetes)",
            requires=("ipykernel", "tensorflow"),
            image=f"{_KF}/jupyter-tensorflow-full:{_TAG}",
            gpu_image=f"{_KF}/jupyter-tensorflow-cuda-full:{_TAG}",
        ),
    )
}


def available() -> list[str]:
    return sorted(CATALOG)


def get_environment(name: str) -> Environment:
    """The catalog entry, or NotFound listing the names that exist."""
    try:
        return CATALOG[name]
    except KeyError:
        raise NotFound(
            f"unknown notebook environment {name!r}; available: {', '.join(available())}",
            hint="set spec.environment to one of the available environments",
        ) from None


def missing_modules(env: Environment) -> list[str]:
    """Modules the environment promises that the current interpreter cannot import."""
    return [m for m in env.requires if importlib.util.find_spec(m) is None]


def local_interpreter(env: Environment) -> str:
    """The interpreter that runs this environment's kernels locally, checked to be usable."""
    from flowyard.errors import ConfigError

    missing = missing_modules(env)
    if missing:
        raise ConfigError(
            f"notebook environment {env.name!r} needs {', '.join(missing)}, "
            f"which {sys.executable} cannot import",
            hint=f"pip install {' '.join(missing)} (per-environment virtualenvs come later)",
        )
    return sys.executable
