"""Invariants of the zygote that keep forks cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_zygote_preloads_no_threading() -> None:
    # `threading` registers an at-fork hook that doubles the cost of every fork.
    code = ("import sys; import flowyard.pipelines.engine.zygote as z; z._preload(); "
            "import flowyard.store.objects; "
            "assert 'threading' not in sys.modules, 'threading imported'; "
            "assert 'sqlalchemy' not in sys.modules and 'pydantic' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _exit_probe(env_value: str | None) -> str:
    # atexit runs hooks last-in first-out: this one, registered before the Engine exists,
    # runs after the engine's and sees what it did.
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: sys.stdout.write(f'frozen={gc.get_freeze_count() > 0}'))\n"
        "from flowyard.pipelines.engine.heap import install_fast_exit\n"
        "install_fast_exit(); install_fast_exit()\n"
        "sys.stdout.write('unflushed ')\n"
    )
    import os

    env = {k: v for k, v in os.environ.items() if k != "FLOWYARD_GC_FREEZE"}
    if env_value is not None:
        env["FLOWYARD_GC_FREEZE"] = env_value
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60, env=env)
    return done.stdout


def test_fast_exit_freezes_the_heap_at_exit_and_still_flushes_output() -> None:
    assert _exit_probe(None) == "unflushed frozen=True"


def test_fast_exit_can_be_turned_off() -> None:
    assert _exit_probe("0") == "unflushed frozen=False"


def _first_run_freeze_count(tmp_path: Path, env_value: str | None) -> int:
    import os

    code = (
        "import gc, sys\n"
        "from engine_helpers import pipeline, py\n"
        "from flowyard.pipelines.engine import Engine\n"
        "from flowyard.settings import Settings\n"
        "from flowyard.store.metadata import MetadataStore\n"
        "from flowyard.store.objects import ObjectStore\n"
        "s = Settings(home=sys.argv[1])\n"
        "md = MetadataStore.from_settings(s)\n"
        "with Engine(md, ObjectStore.from_settings(s), s, workers=1) as e:\n"
        "    assert gc.get_freeze_count() == 0\n"
        "    comp = py('def f() -> None:\\n    pass\\n')\n"
        "    run = e.run(pipeline('p', {'f': comp}, [{'name': 'a', 'component': 'f'}]))\n"
        "    assert run.state == 'Succeeded', run.error\n"
        "print(gc.get_freeze_count())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "FLOWYARD_GC_FREEZE"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent), *filter(None, [env.get("PYTHONPATH")])])
    if env_value is not None:
        env["FLOWYARD_GC_FREEZE"] = env_value
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "home")],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_the_first_run_freezes_the_startup_heap(tmp_path: Path) -> None:
    # Full collections during the run then skip the ~80,000 objects of the imports.
    assert _first_run_freeze_count(tmp_path, None) > 10_000
    assert _first_run_freeze_count(tmp_path, "0") == 0


def test_a_first_embedded_run_loads_no_alembic_http_or_terminal_ui(tmp_path: Path) -> None:
    # Start-up budget of `python pipeline.py` (docs/engine.md): a fresh database is created
    # without Alembic, and the embedded Client needs neither httpx nor rich.
    import os

    code = (
        "import sys\n"
        "from flowyard import Client, dsl\n"
        "@dsl.component\n"
        "def one() -> int:\n"
        "    return 1\n"
        "@dsl.pipeline(name='p')\n"
        "def p() -> None:\n"
        "    one()\n"
        "with Client() as c:\n"
        "    assert c.run(dsl.compile(p)).state == 'Succeeded'\n"
        "loaded = [m for m in ('alembic', 'httpx', 'rich', 'sqlalchemy.orm') if m in sys.modules]\n"
        "print(loaded)\n"
    )
    env = {**os.environ, "FLOWYARD_HOME": str(tmp_path / "home")}
    env.pop("FLOWYARD_SERVER", None)
    env.pop("FLOWYARD_DATABASE_URL", None)
    script = tmp_path / "driver.py"   # a file: components need their source
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
