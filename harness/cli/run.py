"""`afalg-conform run`: boot a kernel (or several, as a matrix) and run the suite.

Exit status: 0 all passed (skips allowed), 1 a test failed or the kernel reported a
problem, 2 the harness could not run (one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from afalg_conformance.harness.afalg.client import afalg_available
from afalg_conformance.harness.cli.doctor import preflight
from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.host import matrix, runner, validate, vm
from afalg_conformance.harness.report import text as report
from afalg_conformance.harness.results.model import vector_counts


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernel", action="append", default=None, metavar="TARGET",
                   help="target name from vms/targets.toml, path to a bzImage or kernel tree, or 'host' "
                        "(default: debian-6.12)")
    p.add_argument("--suite", default="full", choices=["full", "smoke"])
    p.add_argument("--results", default=None, help="results folder (default: a new folder under results/)")
    p.add_argument("-k", dest="keyword", default=None, help="pytest -k expression to select tests")
    p.add_argument("--shard", default=None, metavar="I/N", help="run the I-th of N stable slices")
    p.add_argument("--test-timeout", type=float, default=120.0, help="seconds per test (default 120)")
    p.add_argument("--boot-timeout", type=float, default=600.0,
                   help="seconds for the guest to boot, and again for the suite to start (default 600)")
    p.add_argument("--run-timeout", type=float, default=3600.0, help="seconds the suite may run in one guest, after boot (default 3600)")
    p.add_argument("--max-restarts", type=int, default=2, help="fresh guests after a crash (default 2)")
    p.add_argument("--memory", default="2G")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--append", action="append", default=[], help="extra kernel command line")
    p.add_argument("--allow-crash-tests", action="store_true",
                   help="also run the tests that crash or hang the kernel on purpose (guests only)")
    p.add_argument("--i-know-this-is-the-host", action="store_true",
                   help="permit --allow-crash-tests with --kernel host")
    p.add_argument("--preload-modules", default=None, metavar="DIR",
                   help="guest insmods af_alg.ko then algif_*.ko from DIR first (afalg-conform mutants)")
    p.add_argument("--quick", action="store_true",
                   help=f"run an evenly spread {runner.QUICK_KAT_BUDGET} of each CAVP GCM file's vectors "
                        f"and {runner.QUICK_MCT_BUDGET} of each CAVP Monte Carlo file's checkpoints (the rest: "
                        "not-run:sampled) instead of all of them")
    p.add_argument("--restrict", default="auto", choices=["auto", "0", "1"],
                   help="/proc/sys/crypto/af_alg_restrict for the run on kernels that have it (7.3+): "
                        "auto (default) runs the catalogue unrestricted and each restriction clause under "
                        "its own mode (mode 2, no AF_ALG at all, is RESTRICT-6's); 0/1 run everything under "
                        "that mode, as a distribution ships it "
                        "(a test of a disallowed algorithm then skips: unsupported:restricted=NAME)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="pytest workers in the guest, sharing the tests (default: --cpus; TCG runs each "
                        "vCPU on its own host core). Tests marked serial run alone")
    p.add_argument("--kernels-at-once", type=int, default=None, metavar="N",
                   help="with several --kernel: how many guests boot at a time (default: AFALG_JOBS, else "
                        "the host's CPUs); --jobs stays the workers inside each guest")
    p.add_argument("--sweep-budget", type=int, default=None, metavar="N",
                   help="vectors per vector file and driver in the every-driver sweep (default 50, evenly "
                        "spread; 0: every vector through every driver, ten times the sweep's time). Under "
                        "--driver the focused drivers get every vector regardless")
    p.add_argument("--shrink", action="store_true",
                   help="let Hypothesis shrink a failing property example to the smallest (slow under TCG; "
                        "default: the first failing example is reported as found)")
    p.add_argument("--real-modprobe", action="store_true",
                   help="in the guest, let every module request of the kernel run /sbin/modprobe (default: "
                        "crypto names nothing can load, builtins and loaded modules are answered by a script "
                        "built from the kernel's module indexes, 2-4 s less per template instance under TCG; "
                        "harness/afalg/modprobe.py)")
    p.add_argument("--driver", action="append", default=[], metavar="NAME",
                   help="driver focus (repeatable): every test and vector file that binds an algorithm one of "
                        "whose /proc/crypto drivers matches NAME (a driver name, or a glob such as '*-aesni') "
                        "binds that driver instead of the generic name; a NAME matching no driver of the "
                        "kernel skips the run (unsupported:driver-missing=NAME)")
    p.add_argument("paths", nargs="*", help="test files or node ids (default: conformance/)")


def check_run_options(a) -> None:
    """Every option of `run` checked before anything boots (one line, exit 2)."""
    validate.shard(a.shard)
    validate.memory(a.memory)
    validate.cpus(a.cpus)
    if a.jobs is not None:
        validate.cpus(a.jobs, "--jobs")
    if getattr(a, "kernels_at_once", None) is not None:
        validate.cpus(a.kernels_at_once, "--kernels-at-once")
    if a.sweep_budget is not None and a.sweep_budget < 0:
        raise HarnessError(f"--sweep-budget {a.sweep_budget}: expected 0 (every vector) or more")
    for opt in ("test_timeout", "boot_timeout", "run_timeout"):
        validate.positive("--" + opt.replace("_", "-"), getattr(a, opt))
    if a.max_restarts < 0:
        raise HarnessError(f"--max-restarts {a.max_restarts}: expected 0 or more")
    validate.test_paths(a.paths)
    for d in getattr(a, "driver", None) or []:
        validate.driver_pattern(d)
    if a.preload_modules and not Path(a.preload_modules).is_dir():
        raise HarnessError(f"--preload-modules {a.preload_modules}: not a folder")


def cmd_run(a) -> int:
    check_run_options(a)
    kernels = a.kernel or ["debian-6.12"]
    if len(kernels) > 1:
        for k in kernels:            # what every kernel's guest needs, before any boots
            preflight(vm.resolve_target(k))
        return matrix.run_many(kernels, a, summarise=report.write_matrix)
    target = vm.resolve_target(kernels[0])
    if target.is_host:
        ok, why = afalg_available()
        if not ok:
            raise HarnessError(f"--kernel host: the running kernel ({target.release}) has no AF_ALG: {why}")
        if a.allow_crash_tests and not a.i_know_this_is_the_host:
            raise HarnessError("refusing to run crash tests on the host kernel; "
                               "add --i-know-this-is-the-host if you really mean it")
    preflight(target)
    results = validate.results_dir(Path(a.results) if a.results else runner.default_results_dir(target.name),
                                   fresh=True)
    opts = runner.options_from(a, preload_modules=str(Path(a.preload_modules).resolve())
                               if a.preload_modules else None)
    run = runner.execute(target, results, opts)
    t = run.totals()
    print(f"afalg-conform: {target.name} {run.run.kernel_release}: {t['pass']} passed, {t['fail']} failed, "
          f"{t['skip']} skipped, {t['xfail']} xfail, {t['error'] + t['crash'] + t['timeout']} errors "
          f"({vector_counts(t)}); results in {results}", file=sys.stderr)
    if opts.drivers:
        print(f"afalg-conform: {run.focus_line()}", file=sys.stderr)
    if run.run.harness_status in ("boot-failure", "harness-error") and not run.tests:
        raise HarnessError(run.run.harness_reason)
    return run.run.exit_code


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="boot a kernel and run the conformance suite (KTAP on stdout)")
    _add_run_options(p)
    p.set_defaults(fn=cmd_run)
