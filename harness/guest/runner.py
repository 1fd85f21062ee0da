"""The in-guest runner: `python -m afalg_conformance.harness.guest.runner --results DIR [options] [pytest args]`.

Runs the suite under pytest with the results plugin. Everything it produces
goes to DIR (the one writable host folder): events.jsonl (the stream the host
folds into results), pytest.log (pytest's own output), proc-crypto.txt.
Exit status: pytest's (0 passed, 1 failed, 5 nothing collected), or 2 when the
kernel has no AF_ALG at all.
"""

from __future__ import annotations

from afalg_conformance.harness.guest import imports

imports.from_environment()      # before the imports below: each stat over 9p costs milliseconds

import argparse  # noqa: E402
import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from afalg_conformance.harness.afalg import modprobe   # light: standard library only

SUITES = {
    "smoke": ["-m", "smoke"],
    "full": [],
}
# Files a suite collects when no paths are given. Collecting the whole catalogue only to
# deselect all but the smoke tests costs ~30 s of a TCG guest (vector files parsed at
# collection); tests/test_runner.py checks that every smoke-marked test is in these files.
SUITE_FILES = {
    "smoke": ["test_smoke.py"],
}
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="afalg_conformance.harness.guest.runner")
    ap.add_argument("--results", required=True)
    ap.add_argument("--suite", default="full", choices=sorted(SUITES))
    ap.add_argument("--events", default="events.jsonl", help="file name inside --results")
    ap.add_argument("--test-timeout", type=float, default=120.0)
    ap.add_argument("--skip-ids", default=None)
    ap.add_argument("--shard", default=None)
    ap.add_argument("--allow-crash", action="store_true")
    ap.add_argument("-k", dest="keyword", default=None)
    ap.add_argument("--preload-modules", default=None, metavar="DIR",
                    help="insmod af_alg.ko then algif_*.ko from DIR before anything opens AF_ALG")
    ap.add_argument("--restrict", default="auto", choices=["auto", "keep", "0", "1"],
                    help="af_alg_restrict for the run (auto: 0 where the kernel has it; keep: as found)")
    ap.add_argument("--kat-budget", type=int, default=0,
                    help="vectors per CAVP GCM file (0: all); conformance/test_kat.py reads AFALG_KAT_BUDGET")
    ap.add_argument("--mct-budget", type=int, default=0,
                    help="checkpoints per CAVP Monte Carlo file (0: all); conformance/test_kat.py reads AFALG_MCT_BUDGET")
    ap.add_argument("--jobs", type=int, default=1,
                    help="pytest workers sharing the tests (one per vCPU: TCG runs each vCPU on a host core)")
    ap.add_argument("--shrink", action="store_true",
                    help="let Hypothesis shrink a failing example (slow under TCG; off: the first one is reported)")
    ap.add_argument("--kcov", type=int, default=0, metavar="ENTRIES",
                    help="record each test's KCOV PCs in af_alg/algif (trace buffer of ENTRIES PCs per worker)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)   # I/N, set by the parent runner
    ap.add_argument("--claims", default=None, help=argparse.SUPPRESS)   # the workers' shared claim folder
    modprobe.add_flag(ap)
    ap.add_argument("--driver", action="append", default=[], metavar="NAME",
                    help="driver focus: a driver name or glob; conformance/conftest.py reads AFALG_DRIVERS")
    ap.add_argument("--sweep-budget", type=int, default=None,
                    help="vectors per file and driver in the driver sweep (0: all); test_drivers.py reads "
                         "AFALG_SWEEP_BUDGET")
    ap.add_argument("--stop-after-fail", default=None, metavar="IGNORE",
                    help="end every worker after the first failing test, but for the ids in the file IGNORE "
                         "('-' for none)")
    ap.add_argument("--paths-file", default=None, metavar="FILE",
                    help="more test paths, one a line (the host's way round the kernel command line's length)")
    ap.add_argument("paths", nargs="*")
    a = ap.parse_args(argv)
    if a.paths_file:
        a.paths += [line.strip() for line in Path(a.paths_file).read_text().splitlines() if line.strip()]
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.kat_budget:
        os.environ["AFALG_KAT_BUDGET"] = str(a.kat_budget)
    if a.mct_budget:
        os.environ["AFALG_MCT_BUDGET"] = str(a.mct_budget)
    if a.sweep_budget is not None:
        os.environ["AFALG_SWEEP_BUDGET"] = str(a.sweep_budget)
    if a.shrink:
        os.environ["AFALG_SHRINK"] = "1"

    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    # pytest's plugin autoload reads the metadata of every installed distribution (over 9p in
    # a guest: 9 s of a TCG start-up, measured) and loads plugins the suite does not use; the
    # one it does (Hypothesis') is named explicitly below.
    os.environ.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    os.environ["AFALG_IN_RUNNER"] = "1"
    results = Path(a.results)
    results.mkdir(parents=True, exist_ok=True)
    events = results / a.events
    if a.worker:
        i = a.worker.split("/")[0]
        return run_pytest(a, events, results / ("pytest.log" if i == "1" else f"pytest-{i}.log"))

    if a.preload_modules:
        why = preload_modules(Path(a.preload_modules), results / PRELOAD_RECORD)
        if why:
            with open(events, "a") as f:
                f.write(json.dumps({"event": "fatal", "reason": why, "t": time.time()}) + "\n")
            print(f"afalg_conformance.harness.guest.runner: {why}", file=sys.stderr)
            return 2

    real_modprobe = None
    if a.quick_modprobe:
        real_modprobe = modprobe.install(results / modprobe.RECORD)

    why, put_back = apply_restriction(a.restrict, results / RESTRICT_RECORD)
    if why:
        with open(events, "a") as f:
            f.write(json.dumps({"event": "fatal", "reason": why, "t": time.time()}) + "\n")
        print(f"afalg_conformance.harness.guest.runner: {why}", file=sys.stderr)
        return 2

    from afalg_conformance.harness.afalg.client import afalg_available  # imported late: keeps --help fast
    ok, why = afalg_available()
    if not ok:
        with open(events, "a") as f:
            f.write(json.dumps({"event": "fatal", "reason": f"this kernel has no AF_ALG: {why}",
                                "t": time.time()}) + "\n")
        print(f"afalg_conformance.harness.guest.runner: this kernel has no AF_ALG: {why}", file=sys.stderr)
        return 2
    if a.driver:
        driver_focus(a.driver, results / FOCUS_RECORD)
    with contextlib.suppress(OSError):
        shutil.copyfile("/proc/crypto", results / "proc-crypto.txt")
    try:
        return run_pytest(a, events, results / "pytest.log")
    finally:
        from afalg_conformance.harness.afalg import restrict   # imported late: keeps --help fast
        if put_back is not None:
            with contextlib.suppress(OSError):
                restrict.write(put_back)
        restrict.release()
        if real_modprobe:
            modprobe.restore(real_modprobe)


# pytest's own plugins the suite has no use for (no doctests, no unittest classes, no JUnit from
# the guest: the host writes it, no tmpdir/testdir): each is an import over 9p at every
# worker's start, about a second of TCG together (-X importtime of the smoke suite).
UNUSED_PLUGINS = ["-p", "no:doctest", "-p", "no:unittest", "-p", "no:junitxml", "-p", "no:legacypath",
                  "-p", "no:pastebin", "-p", "no:setuponly", "-p", "no:setupplan", "-p", "no:stepwise"]


def run_pytest(a, events: Path, log_path: Path) -> int:
    default = [str(PROJECT_ROOT / "conformance" / f) for f in SUITE_FILES.get(a.suite, [])] or \
        [str(PROJECT_ROOT / "conformance")]
    # --tb=native: pytest's own traceback rendering (statement ranges parsed from each source
    # file, read over 9p) took 6 s of OPT-28's xfail under TCG (7.1 s, 1.1 s with native
    # tracebacks); the verdict and its reason come from the checks, not the traceback
    args = [*(a.paths or default), *SUITES[a.suite],
            "-p", "afalg_conformance.harness.guest.plugin", "-p", "no:cacheprovider", "-q", "-rN", "--tb=native", "--rootdir", str(PROJECT_ROOT),
            "--afalg-test-timeout", str(a.test_timeout), *UNUSED_PLUGINS]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        if importlib.util.find_spec("_hypothesis_pytestplugin"):
            args += ["-p", "_hypothesis_pytestplugin"]
    if a.skip_ids:
        args += ["--afalg-skip-ids", a.skip_ids]
    if a.shard:
        args += ["--afalg-shard", a.shard]
    if a.allow_crash:
        args += ["--afalg-allow-crash"]
    if a.keyword:
        args += ["-k", a.keyword]
    fork = None
    if a.worker:
        args += ["--afalg-worker", a.worker, "--afalg-claims", a.claims]
    elif a.jobs > 1:
        # One collection, then a.jobs forked workers claiming tests from it (plugin.ForkWorkers):
        # each writes events-A-wI.jsonl beside events-A.jsonl (the host tails them together),
        # worker 1 pytest.log, the others pytest-I.log; the collector's own events go to -w0.
        claims = tempfile.mkdtemp(prefix="afalg-claims-")   # the guest's own tmpfs, not the host
        stem = events.name.removesuffix(".jsonl")
        args += ["--afalg-worker", f"0/{a.jobs}", "--afalg-claims", claims]
        events = events.with_name(f"{stem}-w0.jsonl")
        fork = (a.jobs, lambda i: str(events.with_name(f"{stem}-w{i}.jsonl")),
                lambda i: None if i == 1 else str(log_path.with_name(f"pytest-{i}.log")))
    if a.kcov:
        args += ["--afalg-kcov", str(a.kcov)]
    if a.stop_after_fail is not None:
        args += ["--afalg-stop-after-fail", a.stop_after_fail]

    args += ["--afalg-events", str(events)]

    import pytest   # late: a guest without AF_ALG is reported without waiting for pytest's import over 9p
    from afalg_conformance.harness.guest import plugin   # the module pytest loads by -p above
    # pytest's own report goes to the log; the host prints KTAP, so stdout stays clean.
    with open(log_path, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        workers = plugin.ForkWorkers(*fork, log=log) if fork else None
        rc = int(pytest.main(args, plugins=[workers] if workers else []))
        if workers is not None and workers.worker is not None:
            log.flush()
            os._exit(rc)            # a forked worker: its session is over; the collector reports
    return workers.exit_code(rc, stopping=a.stop_after_fail is not None) if workers else rc


PRELOAD_RECORD = "preload-modules.json"
FOCUS_RECORD = "driver-focus.json"


def driver_focus(patterns: list[str], record: Path) -> dict:
    """run --driver: find the drivers the patterns select and hand them to the suite.

    /proc/crypto lists a module's drivers once the module is loaded and a template instance
    once something has asked for it, so first every algorithm of the registry is bound by
    its generic name, and every pattern without glob characters (cbc(aes-generic),
    hmac(sha256-ssse3)) by that name under each socket type. Then each pattern's matches are
    recorded; the suite (conformance/conftest.py) binds through them (AFALG_DRIVERS) and skips
    every test, `unsupported:driver-missing=NAME`, when a pattern matches nothing
    (AFALG_DRIVERS_MISSING): a run asked for a driver is never a silent run of the generic one."""
    from afalg_conformance.harness.afalg import algorithms, proccrypto   # imported late: keeps --help fast
    from afalg_conformance.harness.afalg.client import AfalgSocket
    tried = [(a.type, a.name) for a in algorithms.ALGORITHMS.values()]
    tried += [(t, p) for p in patterns if not any(c in p for c in proccrypto.GLOB_CHARS)
              for t in proccrypto.BINDABLE]
    for alg_type, name in tried:
        with contextlib.suppress(OSError):
            AfalgSocket.bound(alg_type, name).close()
    entries = proccrypto.read()
    matched = {p: [e.driver for e in proccrypto.focus_matches(entries, p)] for p in patterns}
    out = {"patterns": patterns, "drivers": matched, "missing": [p for p in patterns if not matched[p]],
           "names": {p: sorted({e.name for e in entries if e.driver in matched[p]}) for p in patterns}}
    record.write_text(json.dumps(out, indent=1) + "\n")
    os.environ["AFALG_DRIVERS"] = json.dumps(patterns)
    os.environ["AFALG_DRIVERS_MISSING"] = json.dumps(out["missing"])
    return out


RESTRICT_RECORD = "af-alg-restrict.json"


def apply_restriction(requested: str, record: Path) -> tuple[str | None, int | None]:
    """Set /proc/sys/crypto/af_alg_restrict (Linux 7.3+) for the run and keep af_alg loaded
    so it stays set: `auto` runs the catalogue unrestricted (0), each restriction clause
    then sets its own mode; `keep` leaves it as found (a run on the host itself). The value
    found and the one used go to record and to the tests' environment.
    Returns (a reason when the request cannot be met, the value to put back afterwards)."""
    from afalg_conformance.harness.afalg import restrict   # imported late: keeps --help fast
    restrict.hold_af_alg()              # autoloads af_alg
    found = restrict.read()
    if found is None:
        restrict.release()              # nothing to keep set: do not pin af_alg.ko
        if requested not in ("auto", "keep"):
            return f"--restrict {requested}: this kernel has no /proc/sys/crypto/af_alg_restrict", None
    mode = found if found is None or requested == "keep" else 0 if requested == "auto" else int(requested)
    if mode != found:
        try:
            restrict.write(mode)
        except OSError as e:
            return f"cannot set /proc/sys/crypto/af_alg_restrict to {mode}: {e.strerror or e}", None
    record.write_text(json.dumps({"requested": requested, "found": found, "mode": mode}))
    os.environ["AFALG_RESTRICT_FOUND"] = "" if found is None else str(found)
    return None, found if mode != found else None


def preload_modules(folder: Path, record: Path) -> str | None:
    """Load af_alg.ko, then algif_*.ko (then any other .ko) from folder in place of the
    stock modules, and write what is loaded to record. Returns a reason on failure:
    a run whose modules did not load must not be reported as a run of those modules."""
    kos = sorted(folder.glob("*.ko"), key=lambda p: (p.stem != "af_alg", not p.stem.startswith("algif_"), p.name))
    out = {"dir": str(folder), "modules": []}
    why = None if kos else f"--preload-modules {folder}: no .ko files there"
    names = [p.stem.replace("-", "_") for p in kos]
    for name in reversed(names):    # modules loaded already (autoload, an earlier batch) go first
        for _ in range(20):
            if not Path("/sys/module", name).exists():
                break
            subprocess.run(["rmmod", name], capture_output=True, timeout=60)
            time.sleep(0.5)
    for ko, name in zip(kos, names):
        if why:
            break
        r = subprocess.run(["insmod", str(ko)], capture_output=True, text=True, timeout=120)
        taint = Path("/sys/module", name, "taint")
        m = {"name": name, "path": str(ko), "sha256": hashlib.sha256(ko.read_bytes()).hexdigest(),
             "insmod_rc": r.returncode, "insmod_stderr": r.stderr.strip()[-300:],
             "taint": taint.read_text().strip() if taint.exists() else None}
        out["modules"].append(m)
        if r.returncode != 0:
            why = f"insmod {ko} failed: {m['insmod_stderr'] or r.returncode}"
        elif "O" not in (m["taint"] or ""):
            why = f"{name} is loaded but not out-of-tree (taint {m['taint']!r}): the stock module is in place"
    try:
        out["proc_modules"] = [ln for ln in Path("/proc/modules").read_text().splitlines()
                               if ln.split()[0] in names]
    except OSError:
        pass
    out["error"] = why
    record.write_text(json.dumps(out, indent=1) + "\n")
    return why


if __name__ == "__main__":
    sys.exit(main())
