#!/bin/sh
# Installs everything afalg-conformance needs on a fresh Debian 12 machine, as root:
#   1. python3-venv where the interpreter cannot make a virtual environment (Debian splits
#      venv/ensurepip out of python3, and PEP 668 forbids pip into the system interpreter);
#   2. the project's virtual environment .venv/ (ignored by git) with the package and its
#      dependencies (pytest, hypothesis, cryptography, virtme-ng, the vector packages, atheris);
#   3. `afalg-conform bootstrap debian-6.12 debian-6.1`: the host tools a guest boot needs
#      (qemu, busybox, file, ...: the list is harness/host/vm.py's HOST_TOOLS, which `doctor`
#      checks too) and Debian's 6.12 and 6.1 kernels, each only where missing.
# Idempotent: a second run installs nothing new (pip is skipped while pyproject.toml is
# unchanged). PYTHON picks the interpreter the venv is made from (default python3);
# AFALG_VENV the venv folder (default .venv).
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${AFALG_VENV:-.venv}
root=0
[ "$(id -u)" -eq 0 ] && root=1

if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$root" = 1 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >&2
    else
        echo "setup.sh: $PY cannot make a virtual environment; as root run: apt-get install python3-venv (or sh scripts/setup.sh)" >&2
        exit 1
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
# pip only when the dependencies may have changed since the last successful install.
stamp="$VENV/.afalg-installed"
want=$(cat pyproject.toml | cksum)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev]"
    echo "$want" > "$stamp"
fi

if [ "$root" = 1 ]; then
    "$VENV/bin/afalg-conform" bootstrap --if-missing debian-6.12 debian-6.1 >&2
else
    # One line: what is missing and the command that installs it as root.
    "$VENV/bin/afalg-conform" bootstrap --if-missing --dry-run debian-6.12 debian-6.1 >&2
fi
