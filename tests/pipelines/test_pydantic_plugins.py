"""Flowyard builds its own models without pydantic's plugin scan; the user's models keep theirs.

A real plugin: a distribution on the path with a `pydantic` entry point, as logfire installs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLUGIN = '''
seen = []


class Plugin:
    def new_schema_validator(self, schema, schema_type, path, kind, config, settings):
        seen.append(path.name)
        return None, None, None


plugin = Plugin()
'''

SCRIPT = '''
import os
import myplugin
from pydantic import BaseModel
from flowyard import dsl
from flowyard.settings import Settings


@dsl.component
def one() -> int:
    return 1


@dsl.pipeline(name="p")
def p() -> None:
    one()


dsl.compile(p)                 # the resource models
Settings()
print(sorted(myplugin.seen))
print(os.environ.get("PYDANTIC_DISABLE_PLUGINS", "unset"))


class Mine(BaseModel):
    x: int


Mine(x=1)
print(sorted(myplugin.seen))
'''


def test_flowyard_models_skip_the_plugin_scan_and_user_models_keep_plugins(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    info = site / "myplugin-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "myplugin.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pydantic]\nmyplugin = myplugin:plugin\n")
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    env["FLOWYARD_HOME"] = str(tmp_path / "home")
    script = tmp_path / "script.py"   # a file: components need their source
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "unset", "['Mine']"]
