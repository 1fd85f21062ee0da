#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kselftest wrapper for the AF_ALG conformance suite (afalg-conformance).
#
# Runs the suite on the kernel that is running now: inside a guest or on a
# board that kselftest, LAVA or KernelCI has already booted. Output is KTAP
# (the suite's own), so kselftest's runner nests it under this test.
#
# Exit status, as kselftest expects: 0 pass, 1 fail, 4 skip (KSFT_SKIP):
#   4 when afalg-conform is not installed, the kernel has no AF_ALG, or every
#   test was skipped (nothing this kernel offers could be checked).
#
# Environment:
#   AFALG_CONFORM  the command (default: afalg-conform on PATH)
#   AFALG_SUITE    full | smoke (default: full)
#   AFALG_RESULTS  results folder (default: a new folder under ${TMPDIR:-/tmp})
#   AFALG_ARGS     extra arguments for `afalg-conform run` (e.g. "-k gcm")

ksft_pass=0
ksft_fail=1
ksft_skip=4

conform=${AFALG_CONFORM:-afalg-conform}
suite=${AFALG_SUITE:-full}

skip() {
	echo "KTAP version 1"
	echo "1..0 # SKIP $*"
	exit $ksft_skip
}

# The harness failed before any KTAP: print one failed test so the output stays KTAP.
fail_empty() {
	if [ ! -s "$ktap" ]; then
		echo "KTAP version 1"
		echo "1..1"
		echo "not ok 1 afalg-conformance # ERROR $(echo "$*" | tr -d '#\n')"
	else
		echo "# $*"
	fi
	exit $ksft_fail
}

command -v "$conform" >/dev/null 2>&1 ||
	skip "afalg-conform is not installed (pip install afalg-conformance)"

results=${AFALG_RESULTS:-$(mktemp -d "${TMPDIR:-/tmp}/afalg-kselftest.XXXXXX")}
mkdir -p "$results" || exit $ksft_fail
ktap="$results/stdout.ktap"
errors="$results/stderr.txt"

# shellcheck disable=SC2086  # AFALG_ARGS is a list of arguments on purpose
"$conform" run --kernel host --suite "$suite" --results "$results" ${AFALG_ARGS:-} \
	2>"$errors" | tee "$ktap"
rc=${PIPESTATUS[0]}
sed 's/^/# /' "$errors" >&2

case $rc in
0)
	# All passed or skipped; all skipped means nothing was checked.
	totals=$(grep -E '^# Totals: ' "$ktap" | tail -n 1)
	if [[ $totals =~ pass:0\ fail:0\ xfail:0\ xpass:0\ skip:[1-9] ]]; then
		exit $ksft_skip
	fi
	exit $ksft_pass
	;;
1)
	exit $ksft_fail
	;;
2)
	# The harness could not run. A kernel without AF_ALG is a skip, anything else a failure.
	if grep -q "no AF_ALG" "$errors"; then
		skip "the running kernel has no AF_ALG (CONFIG_CRYPTO_USER_API)"
	fi
	fail_empty "afalg-conform could not run: $(tail -n 1 "$errors")"
	;;
*)
	fail_empty "afalg-conform exited with status $rc"
	;;
esac
