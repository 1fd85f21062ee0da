#!/bin/sh
# The project's own tests: install what is missing, then run tests/ (host-side unit
# tests plus the `vm` tests that boot real Debian kernels under TCG and run real
# AF_ALG tests, the crash/hang self-checks and a fuzz smoke run).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
exec "${PYTHON:-python3}" -m pytest tests -ra "$@"
