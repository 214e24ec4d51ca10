#!/usr/bin/env bash
# Flowyard vs kfp.local in one benchmark run. Usage: benchmarks/pipelines/run.sh
# Env: PYTHON (Flowyard's python; default .venv/bin/python at the repo root), KFP_VENV
# (default /tmp/flowyard-bench/venv-kfp, created with kfp==2.17.3 if missing), RUNS (3),
# SKIP_PIP=1, BIG_PEER=1, ... (see bench.py).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
KFP_VER="${KFP_VER:-2.17.3}"
KFP_VENV="${KFP_VENV:-/tmp/flowyard-bench/venv-kfp}"

if [ ! -x "$PYTHON" ]; then
  echo "run.sh: no Flowyard python at $PYTHON; set PYTHON=/path/to/venv/bin/python" >&2
  exit 2
fi
if ! "$KFP_VENV/bin/python" -c "import kfp, sys; sys.exit(kfp.__version__ != '$KFP_VER')" 2>/dev/null; then
  echo "run.sh: creating $KFP_VENV with kfp==$KFP_VER" >&2
  rm -rf "$KFP_VENV"
  mkdir -p "$(dirname "$KFP_VENV")"
  python3 -m venv "$KFP_VENV"
  "$KFP_VENV/bin/pip" install -q "kfp==$KFP_VER"
fi
export KFP_PYTHON="$KFP_VENV/bin/python"
cd "$ROOT"
exec "$PYTHON" "$HERE/bench.py" "$@"
