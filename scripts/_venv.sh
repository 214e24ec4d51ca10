# Shared by scripts/quickstart and scripts/test: make .venv (or $VENV) and install into it.
# Usage: . scripts/_venv.sh; ensure_venv "EXTRAS"
# Set SKIP_INSTALL=1 to reuse an existing virtualenv as it is (fast re-runs).

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

ensure_venv() {
    local extras=$1
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "error: $PYTHON not found; install Python 3.11 or newer (or set PYTHON=...)" >&2
        exit 2
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
        echo "error: Flowyard needs Python 3.11+, $PYTHON is $("$PYTHON" -V 2>&1)" >&2
        echo "  hint: PYTHON=python3.11 $0" >&2
        exit 2
    fi
    local fresh=0
    if [ ! -x "$VENV/bin/python" ]; then
        fresh=1
        echo "==> creating $VENV ($("$PYTHON" -V 2>&1))" >&2
        if ! "$PYTHON" -m venv "$VENV"; then
            echo "error: could not create a virtualenv with $PYTHON -m venv" >&2
            echo "  hint: on Debian/Ubuntu: sudo apt-get install python3-venv" >&2
            exit 2
        fi
    fi
    # What the install depends on: the extras, this checkout's path (the editable install
    # points here) and pyproject.toml. Unchanged since the last install: pip would only
    # re-check everything (~10 s), so skip it.
    local stamp want
    stamp="$VENV/.flowyard-install"
    want=$({ echo "$extras"; pwd; cat pyproject.toml; } | sha256sum | cut -c1-32)
    if [ "${SKIP_INSTALL:-0}" != "1" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "==> installing flowyard[$extras] into $VENV" >&2
        if [ "$fresh" = 1 ]; then  # a new venv's pip is Python's bundled, older one
            "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        fi
        rm -f "$stamp"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
        echo "$want" > "$stamp"
    fi
    # Byte-compile this checkout's sources (pip does so for the dependencies, not for an
    # editable install). Where PYTHONDONTWRITEBYTECODE is set, Python never writes them
    # itself, and every `flowyard` command, step executor and server would compile its
    # modules again at start (~80 ms each). Up-to-date files are only checked.
    "$VENV/bin/python" -m compileall -q src >/dev/null || true
}
