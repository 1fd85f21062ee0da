#!/bin/sh
# The project's own tests: install what is missing (scripts/setup.sh), then run tests/ in
# the project's venv: host-side unit tests, the `vm` tests that boot real Debian kernels
# under TCG (real AF_ALG tests, the crash/hang self-checks, a fuzz smoke run) and the
# `fresh` test that runs the README's main command in a brand-new Debian 12 root.
# Extra arguments go to pytest (e.g. -m "not vm and not fresh").
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
exec "${AFALG_VENV:-.venv}/bin/python" -m pytest tests -ra "$@"
