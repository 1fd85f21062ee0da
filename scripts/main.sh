#!/bin/sh
# The main job: install what is missing (scripts/setup.sh: apt packages, .venv/, kernels),
# boot Debian's 6.12 kernel under virtme-ng (KVM if it works, TCG otherwise) and run the
# whole conformance suite in it. KTAP on stdout; results (KTAP, JUnit, JSON, console)
# under results/. Extra arguments go to `afalg-conform run` (e.g. --kernel debian-6.1,
# --suite smoke).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh >&2
exec "${AFALG_VENV:-.venv}/bin/afalg-conform" run --kernel debian-6.12 "$@"
