"""Flowyard vs kfp.local, side by side in one benchmark run. Entry point: run.sh.

Every measurement is a whole process timed by wall clock from here (interpreter start-up,
imports, store set-up, the run, shutdown), runs of the peer and of Flowyard interleaved so
that drift of a shared machine hits both alike. Reported: medians, ratios kfp/flowyard, and
PASS/MISS per target of the issue. JSON lines and the markdown report go to
benchmarks/results/ (gitignored).

Environment (defaults in brackets):
  KFP_PYTHON      python of the kfp 2.17.3 venv (required; run.sh sets it)
  PEER_DIR        the peer harness [/work/shared/peers/pipelines]
  RUNS            runs per workload and tool [3]
  WORKLOADS       ["empty w1 w2 w3"]
  WARM_HOME_WLS   also timed with a reused FLOWYARD_HOME, for information ["empty w1"]
  SKIP_PIP=1      skip kfp's default components; PIP_WLS ["empty w1 w2"], PIP_RUNS [1]
  BIG_SHAPES      1,000-step no-op DAGs ["chains:2x500 layers:500x2"]; targets judge the first
  BIG_RUNS [3], BIG_WORKERS [2], BIG_PEER=1 (also the first shape under kfp.local, ~50-80 s)
  QUIET_WAIT_S [3], QUIET_MAX [0.25], NOISE_FRAC [0.25], RETRIES [1], TIMEOUT_S [300]
  FLOWYARD_VIA=engine  drive Engine directly instead of flowyard.Client
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
PEER_DIR = Path(os.environ.get("PEER_DIR", "/work/shared/peers/pipelines"))
HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1

TARGETS = {
    "ratio_w1_nopip": 3.0, "ratio_w2_nopip": 3.0,
    "ratio_w1_pip": 15.0, "ratio_w2_pip": 15.0,
    "big_median_ms": 3.0, "big_p95_ms": 5.0, "big_steps_per_s": 400.0,
}


def compile_package(python: str, package: str, env: dict[str, str]) -> None:
    """Byte-compile an installed (or editable) package in place, quietly."""
    where = subprocess.run(
        [python, "-c", f"import os, {package}; print(os.path.dirname({package}.__file__))"],
        env=env, capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([python, "-m", "compileall", "-q", "-j", "0", where], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def busy_cpu_s() -> float:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / HZ  # all but idle and iowait


def wait_quiet() -> dict[str, Any]:
    """Wait (at most QUIET_WAIT_S) for 1 s of machine CPU use below QUIET_MAX; report load."""
    limit = float(os.environ.get("QUIET_WAIT_S", "3"))
    qmax = float(os.environ.get("QUIET_MAX", "0.25"))
    t0 = time.monotonic()
    frac = 1.0
    while True:
        b0 = busy_cpu_s()
        time.sleep(0.5)
        frac = (busy_cpu_s() - b0) / 0.5 / NCPU
        if frac < qmax or time.monotonic() - t0 >= limit:
            break
    return {"load1": round(os.getloadavg()[0], 2), "busy_frac_before": round(frac, 2),
            "quiet_wait_s": round(time.monotonic() - t0, 1), "started_quiet": frac < qmax}


def _kill_group(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def run_process(label: str, cmd: list[str], env: dict[str, str], attempt: int = 0
                ) -> dict[str, Any]:
    load = wait_quiet()
    busy0 = busy_cpu_s()
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, text=True,
                                start_new_session=True)
        # a hung run must not stall the whole benchmark: kill its process group
        timer = threading.Timer(float(os.environ.get("TIMEOUT_S", "300")),
                                _kill_group, (proc.pid,))
        timer.start()
        # wait4: the rusage of the child includes every descendant it reaped (step processes)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        log = out.read()
    own = usage.ru_utime + usage.ru_stime
    foreign = max(0.0, busy_cpu_s() - busy0 - own)
    bench: dict[str, str] = {}
    lines = re.findall(r"^BENCH (tool=.*)$", log, re.M)
    if lines:
        bench = dict(kv.split("=", 1) for kv in lines[-1].split() if "=" in kv)
    extra = re.findall(r"^BENCHJSON (.*)$", log, re.M)
    rec: dict[str, Any] = {
        "label": label, "rc": proc.returncode, "wall_s": round(wall, 3),
        "own_cpu_s": round(own, 2), "foreign_cpu_s": round(foreign, 2),
        "noisy": foreign > float(os.environ.get("NOISE_FRAC", "0.25")) * wall,
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1), "attempt": attempt,
        "at": datetime.now(UTC).isoformat(timespec="seconds"), **load,
        "bench": bench, "cmd": " ".join(cmd),
    }
    if extra:
        rec["big"] = json.loads(extra[-1])
    if proc.returncode != 0:
        rec["log_tail"] = log[-2000:]
    return rec


class Bench:
    def __init__(self) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.jsonl = RESULTS / f"pipelines-{stamp}.jsonl"
        self.report = RESULTS / f"pipelines-{stamp}.md"
        self.records: list[dict[str, Any]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="fy-pipelines-bench-"))
        # Any value of PYTHONDONTWRITEBYTECODE, "0" too, stops Python writing bytecode: drop
        # it, and compile Flowyard up front as installing a wheel does (pip compiled kfp's
        # venv), or a source checkout recompiles ~50 modules in every measured process.
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env["BENCH_TMP"] = str(self.tmp)
        self.kfp_python = os.environ["KFP_PYTHON"]
        self.ours_python = sys.executable
        compile_package(self.ours_python, "flowyard", self.env)
        self.via = ["--engine"] if os.environ.get("FLOWYARD_VIA") == "engine" else []

    def cmd(self, tool: str, wl: str) -> list[str]:
        if tool == "kfp":
            return [self.kfp_python, str(PEER_DIR / "kfp_bench.py"), wl]
        if tool == "kfp-pip":
            return [self.kfp_python, str(PEER_DIR / "kfp_bench.py"), wl, "--pip"]
        if tool == "kfp-big":
            return [self.kfp_python, str(HERE / "kfp_big.py")]
        return [self.ours_python, str(HERE / "flowyard_workloads.py"), wl, *self.via]

    def measure(self, tool: str, wl: str, *, label: str | None = None,
                env: dict[str, str] | None = None, retries: int | None = None
                ) -> dict[str, Any]:
        label = label or f"{tool}/{wl}"
        if retries is None:
            retries = int(os.environ.get("RETRIES", "1"))
        for attempt in range(retries + 1):
            rec = run_process(label, self.cmd(tool, wl), {**self.env, **(env or {})}, attempt)
            self.records.append(rec)
            with self.jsonl.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            b = rec["bench"]
            print(f"  {label:<18} wall={rec['wall_s']:.3f}s rc={rec['rc']} "
                  f"run_s={b.get('run_s', '-')} cpu={rec['own_cpu_s']} "
                  f"foreign={rec['foreign_cpu_s']}{' NOISY' if rec['noisy'] else ''} "
                  f"load1={rec['load1']}", flush=True)
            if rec["rc"] != 0:
                print(rec.get("log_tail", ""), file=sys.stderr)
                break
            if not rec["noisy"]:
                break
            self.cleanup_tmp()
        self.cleanup_tmp()
        return rec

    def cleanup_tmp(self) -> None:
        # each process leaves its own home / pipeline root (W3: 50 MiB+); keep the disk clean
        for child in self.tmp.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink()

    def used(self, label: str) -> list[dict[str, Any]]:
        """The undisturbed runs when they are at least half, else every run: one lone
        "undisturbed" run is often one that stalled on the disk (fsync) rather than the CPU,
        which the foreign-CPU check cannot see, and a median of one is that stall."""
        recs = [r for r in self.records if r["label"] == label and r["rc"] == 0]
        quiet = [r for r in recs if not r["noisy"]]
        return quiet if len(quiet) * 2 >= len(recs) else recs

    def med(self, label: str, key: str = "wall_s") -> float | None:
        vals = [r[key] for r in self.used(label)]
        return statistics.median(vals) if vals else None


def fmt(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def machine_note() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{NCPU} CPU ({model or platform.machine()}), {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, "
            f"load1 at start {os.getloadavg()[0]:.2f}")


def main() -> None:
    b = Bench()
    runs = int(os.environ.get("RUNS", "3"))
    wls = os.environ.get("WORKLOADS", "empty w1 w2 w3").split()
    skip_pip = os.environ.get("SKIP_PIP", "0") == "1"
    pip_wls = os.environ.get("PIP_WLS", "empty w1 w2").split()
    big_runs = int(os.environ.get("BIG_RUNS", "3"))
    started = datetime.now(UTC)
    note = machine_note()
    print(f"# pipelines benchmark {started:%Y-%m-%d %H:%M} UTC - {note}")
    print(f"# results: {b.jsonl}")

    # warm-up (bytecode, page cache), not recorded
    for tool in ("kfp", "flowyard"):
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(b.cmd(tool, "w1"), env=b.env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False, timeout=120)
    b.cleanup_tmp()

    for wl in wls:
        for i in range(runs):
            # alternate who goes first, so neither always runs right after the other
            order = ("kfp", "flowyard") if i % 2 == 0 else ("flowyard", "kfp")
            for tool in order:
                b.measure(tool, wl)
    # informational: the same Flowyard runs with an existing FLOWYARD_HOME (returning user)
    warm_wls = os.environ.get("WARM_HOME_WLS", "empty w1").split()
    if warm_wls:
        home = b.tmp.parent / f"{b.tmp.name}-home"
        warm = {"BENCH_HOME": str(home)}
        subprocess.run(b.cmd("flowyard", "empty"), env={**b.env, **warm}, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        for wl in warm_wls:
            for _ in range(runs):
                b.measure("flowyard", wl, label=f"flowyard-warm/{wl}", env=warm)
        shutil.rmtree(home, ignore_errors=True)
    if not skip_pip:
        for wl in pip_wls:
            for _ in range(int(os.environ.get("PIP_RUNS", "1"))):
                # slow (seconds) and, in our runs, always flagged noisy (foreign CPU about equal
                # to its own): retrying would only triple the time
                b.measure("kfp-pip", wl, retries=0)
    shapes = os.environ.get("BIG_SHAPES", "chains:2x500 layers:500x2").split()
    workers = os.environ.get("BIG_WORKERS", "2")
    for shape in shapes:
        for _ in range(big_runs):
            b.measure("flowyard", "big", label=f"flowyard/big {shape}",
                      env={"BIG_SHAPE": shape, "BIG_WORKERS": workers})
    if os.environ.get("BIG_PEER", "0") == "1":
        b.measure("kfp-big", "big", label=f"kfp/big {shapes[0]}", env={"BIG_SHAPE": shapes[0]},
                  retries=0)

    text = report(b, started, note, runs, shapes)
    b.report.write_text(text)
    print()
    print(text)
    shutil.rmtree(b.tmp, ignore_errors=True)


def big_table(b: Bench, label: str, judge: bool) -> tuple[list[str], dict[str, float | None]]:
    """Markdown rows for one shape of the no-op DAG, and the figures the targets judge."""
    bigs = [r["big"] for r in b.used(label) if "big" in r]
    if not bigs:
        tail = next((r.get("log_tail", "") for r in b.records
                     if r["label"] == label and r["rc"] != 0), "")
        return [f"`{label}`: no successful run", "```", tail[-1500:], "```"], {}

    def agg(key: str, stat: str) -> float | None:
        vals = [x[key][stat] for x in bigs if x.get(key) and stat in x[key]]
        return statistics.median(vals) if vals else None

    figs: dict[str, float | None] = {
        "sps": statistics.median(x["steps_per_s_run"] for x in bigs),
        "median": agg("records_ready_to_finished_ms", "median"),
        "p95": agg("records_ready_to_finished_ms", "p95"),
        "p99": agg("records_ready_to_finished_ms", "p99"),
    }

    def judged(value: float | None, ok: bool) -> str:
        return verdict(None if value is None else ok) if judge else "(info)"

    sps, med, p95 = figs["sps"], figs["median"], figs["p95"]
    rows = [
        f"Shape `{bigs[0]['shape']}` ({bigs[0]['steps']} steps), workers={bigs[0]['workers']}, "
        f"caching off, {len(bigs)} runs; each figure is the median over runs.\n",
        "| figure | value | target | verdict |",
        "|---|---|---|---|",
        f"| steps/s = steps / (submit + execute) | {fmt(sps, 0)} | >= 400 | "
        f"{judged(sps, (sps or 0) >= TARGETS['big_steps_per_s'])} |",
        f"| steps/s = steps / execute | "
        f"{statistics.median(x['steps_per_s_execute'] for x in bigs):.0f} | | |",
        f"| per-step latency, median | {fmt(med)} ms | <= 3 ms | "
        f"{judged(med, (med or 1e9) <= TARGETS['big_median_ms'])} |",
        f"| per-step latency, p95 | {fmt(p95)} ms | <= 5 ms | "
        f"{judged(p95, (p95 or 1e9) <= TARGETS['big_p95_ms'])} |",
        f"| per-step latency, p99 | {fmt(figs['p99'])} ms | | |",
    ]
    infos = (("records_ready_to_started_ms", "ready -> started (records)"),
             ("records_started_to_finished_ms", "started -> finished (records)"),
             ("events_ready_to_succeeded_ms", "ready -> Succeeded event (driver clock)"))
    for key, name in infos:
        if any(x.get(key) for x in bigs):
            rows.append(f"| {name}, median / p95 / p99 | {fmt(agg(key, 'median'))} / "
                        f"{fmt(agg(key, 'p95'))} / {fmt(agg(key, 'p99'))} ms | | |")
    rows.append(f"| submit (validate + record the steps) | "
                f"{statistics.median(x['submit_s'] for x in bigs):.3f} s | | |")
    rows.append(f"| whole process wall / CPU | {fmt(b.med(label))} s / "
                f"{fmt(b.med(label, 'own_cpu_s'))} s | | |")
    return rows, figs


def report(b: Bench, started: datetime, note: str, runs: int, shapes: list[str]) -> str:
    out: list[str] = []
    w = out.append
    w(f"## Pipelines: Flowyard vs kfp.local 2.17.3 ({started:%Y-%m-%d %H:%M} UTC)\n")
    w(f"Machine: {note}. {runs} interleaved runs per workload (kfp default components: "
      f"{os.environ.get('PIP_RUNS', '1')}). Whole-process wall time in seconds, median "
      "[min-max]; runs disturbed by other jobs (foreign CPU > 25 % of wall) are retried and "
      "dropped when an undisturbed run exists.\n")
    w("| workload | kfp | kfp default components (pip) | flowyard | kfp / flowyard | "
      "kfp-pip / flowyard | flowyard in-process run s |")
    w("|---|---|---|---|---|---|---|")

    def span(label: str) -> str:
        recs = b.used(label)
        if not recs:
            return "-"
        walls = [r["wall_s"] for r in recs]
        noisy = sum(r["noisy"] for r in recs) * 2 > len(recs)   # mostly disturbed runs
        return (f"{statistics.median(walls):.2f} [{min(walls):.2f}-{max(walls):.2f}]"
                f"{' (noisy)' if noisy else ''}")

    ratios: dict[str, float | None] = {}
    for wl in ("empty", "w1", "w2", "w3"):
        ours, kfp, pip = b.med(f"flowyard/{wl}"), b.med(f"kfp/{wl}"), b.med(f"kfp-pip/{wl}")
        if ours is None and kfp is None:
            continue
        r1 = kfp / ours if kfp and ours else None
        r2 = pip / ours if pip and ours else None
        ratios[f"{wl}_nopip"], ratios[f"{wl}_pip"] = r1, r2
        runs_in = [float(r["bench"]["run_s"]) for r in b.used(f"flowyard/{wl}")
                   if "run_s" in r["bench"]]
        w(f"| {wl} | {span(f'kfp/{wl}')} | {span(f'kfp-pip/{wl}')} | "
          f"{span(f'flowyard/{wl}')} | {fmt(r1, 1)}x | {fmt(r2, 1)}x | "
          f"{fmt(statistics.median(runs_in) if runs_in else None, 3)} |")

    for wl in ("empty", "w1", "w2", "w3"):
        warm = b.med(f"flowyard-warm/{wl}")
        if warm is not None:
            kfp = b.med(f"kfp/{wl}")
            pip = b.med(f"kfp-pip/{wl}")
            w(f"| {wl}, Flowyard home reused (info) | | | {span(f'flowyard-warm/{wl}')} | "
              f"{fmt(kfp / warm if kfp else None, 1)}x | {fmt(pip / warm if pip else None, 1)}x "
              f"| |")

    w("\nSame runs, CPU seconds (user+sys of the whole process tree; less sensitive to other "
      "jobs than wall time):\n")
    w("| workload | kfp | kfp-pip | flowyard | kfp / flowyard |")
    w("|---|---|---|---|---|")
    for wl in ("empty", "w1", "w2", "w3"):
        ours, kfp = b.med(f"flowyard/{wl}", "own_cpu_s"), b.med(f"kfp/{wl}", "own_cpu_s")
        if ours is None and kfp is None:
            continue
        w(f"| {wl} | {fmt(kfp)} | {fmt(b.med(f'kfp-pip/{wl}', 'own_cpu_s'))} | {fmt(ours)} | "
          f"{fmt(kfp / ours if kfp and ours else None, 1)}x |")

    w("\nWhere Flowyard's whole-process time goes (medians, seconds): `import` = "
      "flowyard.dsl, `compile` = dsl.compile (loads the pydantic resource models), `open` = "
      "Client(), `run` = Client.run, split by the engine's run events into setup (opening the "
      "metadata store, schema creation in the fresh database, recording the run: until the "
      "run is Running), steps (Running to the final state) and after (reading the run back), "
      "`close` = Client.close (stops the zygote), `outside` = wall minus all of that "
      "(interpreter start, and its exit: module teardown and garbage collection):\n")
    w("| workload | import | compile | open | run | (run: setup / steps / after) | close | "
      "outside | wall |")
    w("|---|---|---|---|---|---|---|---|---|")
    for wl in ("empty", "w1", "w2", "w3"):
        recs = [r for r in b.used(f"flowyard/{wl}") if "main_s" in r["bench"]]
        if not recs:
            continue

        def ph(key: str, recs: list[dict[str, Any]] = recs) -> str:
            vals = [float(r["bench"][key]) for r in recs if key in r["bench"]]
            return fmt(statistics.median(vals), 3) if vals else "-"

        outside = statistics.median(r["wall_s"] - float(r["bench"]["main_s"]) for r in recs)
        w(f"| {wl} | {ph('import_s')} | {ph('compile_s')} | {ph('open_s')} | {ph('run_s')} | "
          f"{ph('run_setup_s')} / {ph('run_steps_s')} / {ph('run_after_s')} | "
          f"{ph('close_s')} | {outside:.3f} | {fmt(b.med(f'flowyard/{wl}'), 3)} |")

    w("\nPer-step overhead from whole processes, (W1 - empty) / 9, wall:")
    for tool in ("kfp", "kfp-pip", "flowyard"):
        e, one = b.med(f"{tool}/empty"), b.med(f"{tool}/w1")
        if e is not None and one is not None:
            w(f"- {tool}: {(one - e) / 9 * 1000:.1f} ms")

    w("\n### 1,000-step no-op DAG (Flowyard alone)\n")
    w("Latency of a step = from ready (its last dependency recorded finished, or the run "
      "started) to its own record finished, from the StepRecord timestamps; `started` is "
      "when the scheduler records the step Running, just before handing it to the zygote. "
      "The driver-clock row times the engine's own events (`on_event`) instead.\n")
    figs: dict[str, float | None] = {}
    for i, shape in enumerate(shapes):
        rows, f = big_table(b, f"flowyard/big {shape}", judge=i == 0)
        if i == 0:
            figs = f
        out.extend(rows)
        w("")
    kb = b.used(f"kfp/big {shapes[0]}")
    if kb:
        kfp_wall = b.med(f"kfp/big {shapes[0]}") or 0.0
        ours_wall = b.med(f"flowyard/big {shapes[0]}")
        kfp_run = statistics.median(float(r["bench"].get("run_s", "nan")) for r in kb)
        per_step = kfp_run / int(kb[0]["bench"].get("steps", "1000")) * 1000
        w(f"kfp.local, shape `{shapes[0]}`: whole process {kfp_wall:.1f} s "
          f"({kfp_run:.1f} s in-process run, {per_step:.0f} ms a step); "
          f"kfp / flowyard = {fmt(kfp_wall / ours_wall if ours_wall else None, 0)}x.\n")

    w("### Targets\n")
    for wl in ("w1", "w2"):
        for kind in ("nopip", "pip"):
            want = TARGETS[f"ratio_{wl}_{kind}"]
            r = ratios.get(f"{wl}_{kind}")
            peer = ("kfp.local, install_kfp_package=False" if kind == "nopip"
                    else "kfp.local, default components")
            tool = "kfp" if kind == "nopip" else "kfp-pip"
            ours_cpu = b.med(f"flowyard/{wl}", "own_cpu_s")
            peer_cpu = b.med(f"{tool}/{wl}", "own_cpu_s")
            cpu = f"; CPU-time ratio {peer_cpu / ours_cpu:.1f}x" if peer_cpu and ours_cpu else ""
            noisy = any(recs and sum(x["noisy"] for x in recs) * 2 > len(recs)
                        for recs in (b.used(f"flowyard/{wl}"), b.used(f"{tool}/{wl}")))
            caveat = "; most runs of one side were disturbed by other jobs" if noisy else ""
            w(f"- {verdict(None if r is None else r >= want)} {wl.upper()} vs {peer}: "
              f"{fmt(r, 1)}x (target >= {want:.0f}x{cpu}{caveat})")
    sps, med, p95 = figs.get("sps"), figs.get("median"), figs.get("p95")
    big_recs = b.used(f"flowyard/big {shapes[0]}")
    if big_recs and sum(r["noisy"] for r in big_recs) * 2 > len(big_recs):
        w("- (most runs of the 1,000-step DAG below were disturbed by other jobs)")
    w(f"- {verdict(None if sps is None else sps >= 400)} 1,000 steps `{shapes[0]}`, "
      f"workers=2: {fmt(sps, 0)} steps/s (target >= 400)")
    w(f"- {verdict(None if med is None else med <= 3.0)} per-step latency median "
      f"{fmt(med)} ms (target <= 3)")
    w(f"- {verdict(None if p95 is None else p95 <= 5.0)} per-step latency p95 "
      f"{fmt(p95)} ms (target <= 5)")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
