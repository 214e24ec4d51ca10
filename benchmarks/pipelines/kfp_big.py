"""kfp.local side of the 1,000-step no-op DAG (only with BIG_PEER=1: it takes ~80 s).

Same shape as flowyard_workloads.py big (BIG_SHAPE, default chains:2x500), components with
install_kfp_package=False, SubprocessRunner(use_venv=False), caching off.
"""

import os
import tempfile
import time

T0 = time.perf_counter()
from kfp import dsl, local  # noqa: E402

T_IMPORT = time.perf_counter() - T0


@dsl.component(install_kfp_package=False)
def noop():  # kfp reads annotations at run time: none here
    pass


kind, _, dims = os.environ.get("BIG_SHAPE", "chains:2x500").partition(":")
a, b = (int(x) for x in dims.split("x"))


@dsl.pipeline(name="big-noop")
def p_big():
    if kind == "chains":
        for _ in range(a):
            prev = None
            for _ in range(b):
                task = noop()
                if prev is not None:
                    task.after(prev)
                prev = task
    else:
        layer = []
        for _ in range(a):
            new = [noop() for _ in range(b)]
            for task in new:
                if layer:
                    task.after(*layer)
            layer = new


root = tempfile.mkdtemp(prefix="kfp-root-", dir=os.environ.get("BENCH_TMP"))
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root,
           enable_caching=False, raise_on_error=True)
t = time.perf_counter()
p_big()
print(f"BENCH tool=kfp wl=big import_s={T_IMPORT:.3f} run_s={time.perf_counter() - t:.3f} "
      f"steps={a * b}")
