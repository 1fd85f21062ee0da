"""`afalg-conform`: the command line.

Exit status for `run`: 0 all passed (skips allowed), 1 a test failed or the
kernel reported a problem, 2 the harness could not run (one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from . import validate, vm
from .vm import HarnessError


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
    p.add_argument("paths", nargs="*", help="test files or node ids (default: conformance/)")


def check_run_options(a) -> None:
    """Every option of `run` checked before anything boots (one line, exit 2)."""
    validate.shard(a.shard)
    validate.memory(a.memory)
    validate.cpus(a.cpus)
    for opt in ("test_timeout", "boot_timeout", "run_timeout"):
        validate.positive("--" + opt.replace("_", "-"), getattr(a, opt))
    if a.max_restarts < 0:
        raise HarnessError(f"--max-restarts {a.max_restarts}: expected 0 or more")
    validate.test_paths(a.paths)
    if a.preload_modules and not Path(a.preload_modules).is_dir():
        raise HarnessError(f"--preload-modules {a.preload_modules}: not a folder")


def cmd_run(a) -> int:
    from . import runner
    check_run_options(a)
    kernels = a.kernel or ["debian-6.12"]
    if len(kernels) > 1:
        from . import matrix
        return matrix.run_many(kernels, a)
    target = vm.resolve_target(kernels[0])
    if target.is_host:
        from .afalg import afalg_available
        ok, why = afalg_available()
        if not ok:
            raise HarnessError(f"--kernel host: the running kernel ({target.release}) has no AF_ALG: {why}")
        if a.allow_crash_tests and not a.i_know_this_is_the_host:
            raise HarnessError("refusing to run crash tests on the host kernel; "
                               "add --i-know-this-is-the-host if you really mean it")
    from .doctor import preflight
    preflight(target)
    results = validate.results_dir(Path(a.results) if a.results else runner.default_results_dir(target.name),
                                   fresh=True)
    opts = runner.RunOptions(suite=a.suite, boot_timeout=a.boot_timeout, run_timeout=a.run_timeout,
                             test_timeout=a.test_timeout, memory=a.memory, cpus=a.cpus,
                             max_restarts=a.max_restarts, keyword=a.keyword, shard=a.shard,
                             allow_crash=a.allow_crash_tests, paths=a.paths, append=a.append,
                             preload_modules=str(Path(a.preload_modules).resolve()) if a.preload_modules else None)
    run = runner.execute(target, results, opts)
    t = run.totals()
    print(f"afalg-conform: {target.name} {run.run.kernel_release}: {t['pass']} passed, {t['fail']} failed, "
          f"{t['skip']} skipped, {t['xfail']} xfail, {t['error'] + t['crash'] + t['timeout']} errors "
          f"({t['subtests']} vectors); results in {results}", file=sys.stderr)
    if run.run.harness_status in ("boot-failure", "harness-error") and not run.tests:
        raise HarnessError(run.run.harness_reason)
    return run.run.exit_code


def cmd_targets(a) -> int:
    for name, t in sorted(vm.load_targets().items()):
        try:
            r = vm.resolve_target(name)
            where = f"{r.image} ({r.release})"
        except HarnessError:
            where = "not installed (afalg-conform bootstrap " + name + ")"
        print(f"{name:14} {t.get('kind', ''):7} {where}\n{'':23}{t.get('notes', '')}")
    return 0


def cmd_bootstrap(a) -> int:
    return vm.bootstrap(a.targets or ["debian-6.12"], dry_run=a.dry_run, if_missing=a.if_missing)


def cmd_spec(a) -> int:
    from conformance import catalogue
    text = catalogue.render_markdown()
    if a.check:
        current = Path(a.output).read_text() if Path(a.output).exists() else ""
        if current != text:
            print(f"{a.output} is out of date: run afalg-conform spec", file=sys.stderr)
            return 1
        return 0
    Path(a.output).write_text(text)
    print(f"wrote {a.output} ({len(catalogue.load())} clauses)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="afalg-conform", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("run", help="boot a kernel and run the conformance suite (KTAP on stdout)")
    _add_run_options(p)
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("targets", help="list kernel targets and whether they are installed")
    p.set_defaults(fn=cmd_targets)

    p = sub.add_parser("bootstrap", help="install qemu and the kernel packages targets need (root)")
    p.add_argument("targets", nargs="*")
    p.add_argument("--dry-run", action="store_true", help="print the command only")
    p.add_argument("--if-missing", action="store_true",
                   help="install only the tools and kernels not installed yet (nothing, not even apt-get update, "
                        "when all are)")
    p.set_defaults(fn=cmd_bootstrap)

    p = sub.add_parser("spec", help="regenerate conformance/SPEC.md from the clause catalogue")
    p.add_argument("--output", default=str(vm.PROJECT_ROOT / "conformance" / "SPEC.md"))
    p.add_argument("--check", action="store_true", help="exit 1 if SPEC.md is out of date")
    p.set_defaults(fn=cmd_spec)

    from . import bench, doctor
    bench.add_parser(sub)
    doctor.add_parser(sub)

    for mod_name in ("report", "matrix", "fuzzcli", "fuzzreport", "mutants"):
        try:
            mod = __import__(f"harness.{mod_name}", fromlist=["add_parser"])
        except ModuleNotFoundError as e:
            if e.name != f"harness.{mod_name}":
                raise
            continue
        mod.add_parser(sub)

    a = ap.parse_args(argv)
    # Tools beside this interpreter (a venv's vng) come first, for us and for what we start,
    # so .venv/bin/afalg-conform works without activating the venv.
    os.environ["PATH"] = vm.tool_path()
    from . import guests
    old_term = _sigterm_is_interrupt()
    try:
        return a.fn(a)
    except HarnessError as e:
        print(f"afalg-conform: error: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, guests.Interrupted):
        n = guests.stop_all()
        print(f"afalg-conform: interrupted; stopped {n} running guest{'s' if n != 1 else ''}. "
              "Results streamed so far are kept in the results folder (events*.jsonl, console logs).",
              file=sys.stderr)
        return 130
    finally:
        guests.stop_all()       # no guest outlives the command, whatever ended it
        guests.reset()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _sigterm_is_interrupt():
    """A CI job's timeout sends SIGTERM: treat it as Ctrl-C, so the guests are stopped too.
    Only in the main thread (signal handlers cannot be set elsewhere)."""
    import threading
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt
    return signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(main())
