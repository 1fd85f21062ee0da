"""`afalg-conform run --kernel A --kernel B ...`: several kernels at once, then a matrix.

Each kernel runs through runner.execute in its own worker thread (the work is in the
guest; the thread only tails its events), at most --kernels-at-once / AFALG_JOBS / the
number of CPUs at a time (--jobs is each guest's pytest workers, not this), each into its own folder under one parent results folder. Their KTAP
is kept off stdout while they run; stdout carries one KTAP document with one
top-level test per kernel and that kernel's results nested under it, printed kernel
by kernel in command-line order as each finishes. The combined verdict and the
clause matrix go to stderr and into the parent folder (matrix.txt, matrix.md,
report.html; matrix.ktap is a copy of stdout). Exit status: the worst of the kernels' (2 > 1 > 0).

This module also registers `merge` (merge.py).
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import os
import sys
import time
from pathlib import Path

from afalg_conformance.harness.host import processes as guests
from afalg_conformance.harness.results import ktap
from afalg_conformance.harness.host import runner
from afalg_conformance.harness.host import validate
from afalg_conformance.harness.host import vm
from afalg_conformance.harness.results.model import Run, RunInfo
from afalg_conformance.harness.errors import HarnessError


def jobs_for(n_kernels: int, requested: int | None = None) -> int:
    env = os.environ.get("AFALG_JOBS", "")
    want = requested or (int(env) if env.isdigit() and int(env) > 0 else None) or os.cpu_count() or 1
    return max(1, min(n_kernels, want))


def folder_names(targets: list[vm.Target]) -> list[str]:
    out: list[str] = []
    for t in targets:
        base = "".join(c if c.isalnum() or c in "-_." else "_" for c in t.name) or "kernel"
        name, k = base, 2
        while name in out:
            name, k = f"{base}-{k}", k + 1
        out.append(name)
    return out


def kernel_outcome(run: Run) -> tuple[str, str]:
    """The top-level KTAP result for one kernel: (outcome, reason)."""
    v = run.verdict()
    if v == 2:
        return "error", run.run.harness_reason or run.run.harness_status
    if v == 1:
        return "fail", run.run.harness_reason
    if run.tests and all(t.outcome == "skip" for t in run.tests):
        return "skip", "every test skipped"
    return "pass", ""


def kernel_block(n: int, name: str, run: Run) -> str:
    inner = ktap.render(run, [f"afalg-conformance on {run.run.kernel_release} ({run.run.target}, {run.run.accel})"])
    lines = ["  " + line if line else line for line in inner.splitlines()]
    outcome, reason = kernel_outcome(run)
    if outcome == "fail" and reason:
        lines.append(f"# {ktap._clean(name)}: {ktap._clean(reason)}"[:400])
    lines.append(ktap.result_line(n, name, outcome, reason if outcome != "fail" else ""))
    return "\n".join(lines) + "\n"


def failed_run(target: vm.Target, error: str, opts: runner.RunOptions) -> Run:
    return Run(run=RunInfo(target=target.name, kernel_release=target.release, harness_status="harness-error",
                           harness_reason=error[:300], shard=opts.shard or "", exit_code=2))


def _one(target: vm.Target, folder: Path, opts: runner.RunOptions) -> Run:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        run = runner.execute(target, folder, opts)
    except HarnessError as e:
        run = failed_run(target, str(e), opts)
        runner.write_outputs(run, folder)
    except Exception as e:        # a bug in one worker must not lose the other kernels
        run = failed_run(target, f"{type(e).__name__}: {e}", opts)
        runner.write_outputs(run, folder)
    return run


def resolve_all(kernels: list[str], a) -> list[vm.Target]:
    targets = [vm.resolve_target(k) for k in kernels]
    for t in targets:
        if t.is_host and getattr(a, "allow_crash_tests", False) and not getattr(a, "i_know_this_is_the_host", False):
            raise HarnessError("refusing to run crash tests on the host kernel; "
                               "add --i-know-this-is-the-host if you really mean it")
    return targets


class Tee:
    """Writes to stdout (or a given stream) and keeps a copy for matrix.ktap."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> None:
        self.stream.write(text)
        self.copy.write(text)

    def flush(self) -> None:
        self.stream.flush()


def run_many(kernels: list[str], a, out=None, summarise=None) -> int:
    """summarise(runs, parent): the report layer's matrix files and summary (the CLI passes it)."""
    out = Tee(out or sys.stdout)
    targets = resolve_all(kernels, a)
    parent = validate.results_dir(Path(a.results) if a.results else runner.default_results_dir("matrix"),
                                  fresh=True)
    names = folder_names(targets)
    jobs = jobs_for(len(targets), getattr(a, "kernels_at_once", None))
    runner.say(f"{len(targets)} kernels, {jobs} at a time, results under {parent}")

    out.write("KTAP version 1\n")
    out.write(f"# afalg-conformance matrix: {', '.join(t.name for t in targets)}\n")
    out.write(f"1..{len(targets)}\n")
    out.flush()

    t0 = time.monotonic()
    runs: list[Run] = []
    with cf.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="kernel") as pool:
        futures = []
        for t, name in zip(targets, names):
            opts = runner.options_from(a, progress=False)
            opts.ktap_out = io.StringIO()     # each kernel's live KTAP stays off stdout
            futures.append(pool.submit(_one, t, parent / name, opts))
        try:
            for n, (t, fut) in enumerate(zip(targets, futures), 1):
                run = fut.result()
                runs.append(run)
                out.write(kernel_block(n, t.name, run))
                out.flush()
        except BaseException:
            # before the pool's exit waits for its workers: their guests must die first
            guests.stop_all()
            for f in futures:
                f.cancel()
            raise
    wall = time.monotonic() - t0

    outcomes = [kernel_outcome(r)[0] for r in runs]
    out.write(f"# Totals: pass:{outcomes.count('pass')} fail:{outcomes.count('fail')} xfail:0 xpass:0 "
              f"skip:{outcomes.count('skip')} error:{outcomes.count('error')}\n")
    out.flush()
    (parent / "matrix.ktap").write_text(out.copy.getvalue())
    if summarise:
        summarise(runs, parent)
    worst = max(r.verdict() for r in runs)
    summary = sys.stderr
    own = sum(r.run.duration for r in runs)
    summary.write(f"afalg-conform: {len(runs)} kernels in {wall:.0f} s wall ({jobs} at a time; "
                  f"the runs' own durations add up to {own:.0f} s); results in {parent}\n")
    return worst
