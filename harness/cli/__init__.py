"""`afalg-conform`: the command line.

Exit status for `run`: 0 all passed (skips allowed), 1 a test failed or the
kernel reported a problem, 2 the harness could not run (one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from afalg_conformance.fuzz import cli as fuzz
from afalg_conformance.fuzz import report as fuzz_report
from afalg_conformance.harness.cli import bench, coverage, doctor, merge, mutants, report, run, spec, targets
from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.host import processes, vm

# Every subcommand, in the order `afalg-conform --help` lists them; each module's
# add_parser registers its own (fuzz: fuzz, fuzz-bench, build-kernel; report: report,
# diff, kcidb; targets: targets, bootstrap). None imports a third-party package at its top:
# `doctor` and the pre-boot checks run on a machine where nothing is installed yet.
SUBCOMMANDS = (run, targets, doctor, report, merge, bench, mutants, spec, fuzz, fuzz_report, coverage)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="afalg-conform", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for mod in SUBCOMMANDS:
        mod.add_parser(sub)

    # What follows `--` is libFuzzer's (`fuzz NAME [options] -- -seed=1`). argparse would give
    # it to the `libfuzzer` positional only when no option stands between NAME and `--`
    # (the positionals are matched together, at NAME), so it is split off here.
    # Other commands keep argparse's own `--` (`run -- conformance/test_x.py`).
    argv = list(sys.argv[1:] if argv is None else argv)
    a = None
    if "--" in argv:
        i = argv.index("--")
        a = ap.parse_args(argv[:i])
        if hasattr(a, "libfuzzer"):
            a.libfuzzer = [*(a.libfuzzer or []), *argv[i + 1:]]
        else:
            a = None
    if a is None:
        a = ap.parse_args(argv)
    # Tools beside this interpreter (a venv's vng) come first, for us and for what we start,
    # so .venv/bin/afalg-conform works without activating the venv.
    os.environ["PATH"] = vm.tool_path()
    old_term = _sigterm_is_interrupt()
    try:
        return a.fn(a)
    except HarnessError as e:
        print(f"afalg-conform: error: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, processes.Interrupted):
        n = processes.stop_all()
        print(f"afalg-conform: interrupted; stopped {n} running guest{'s' if n != 1 else ''}. "
              "Results streamed so far are kept in the results folder (events*.jsonl, console logs).",
              file=sys.stderr)
        return 130
    finally:
        processes.stop_all()       # no guest outlives the command, whatever ended it
        processes.reset()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _sigterm_is_interrupt():
    """A CI job's timeout sends SIGTERM: treat it as Ctrl-C, so the guests are stopped too.
    Only in the main thread (signal handlers cannot be set elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt
    return signal.signal(signal.SIGTERM, handler)
