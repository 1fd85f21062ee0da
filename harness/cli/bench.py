"""`afalg-conform bench`: where the time of a run goes, as figures."""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.host import bench, runner, vm


def cmd_bench(a) -> int:
    target = vm.resolve_target(a.kernel)
    if target.is_host:
        raise HarnessError("bench measures guest boots: give a kernel target, not 'host'")
    _, qemu = vm.find_tools()
    use_kvm, why = vm.probe_kvm(qemu, target.image)
    accel = "kvm" if use_kvm else "tcg"
    print(f"# target {target.name} {target.release}, {accel} ({why})", flush=True)
    boot = bench.bare_boot(target, use_kvm, a.memory, a.cpus)
    print(f"bare boot (--exec true):      {boot:7.1f} s", flush=True)
    results = Path(a.results or tempfile.mkdtemp(prefix="afalg-bench-run-"))
    opts = runner.RunOptions(suite=a.suite, memory=a.memory, cpus=a.cpus, jobs=a.jobs, progress=False,
                             ktap_out=io.StringIO())
    t0 = time.monotonic()
    run = runner.execute(target, results, opts)
    wall = time.monotonic() - t0
    if not run.tests:
        raise HarnessError(f"the {a.suite} suite did not run: {run.run.harness_reason}")
    t = run.totals()
    print(f"{a.suite} suite (boot + tests):  {wall:7.1f} s  "
          f"({len(run.tests)} tests, {t['subtests_run']} vectors run, guest reached the suite at "
          f"{run.run.boot_seconds} s)")
    print(f"ratio suite/bare boot:        {wall / boot:7.2f}")
    lost = sum(f.get("seconds") or 0.0 for f in run.run.boot_failures)
    if lost:
        # A boot TCG killed (the emulator, not the kernel under test) is retried by the runner;
        # its time is in the wall above, and shown apart so two runs can be compared.
        n = len(run.run.boot_failures)
        print(f"  of which {n} boot{'s' if n > 1 else ''} that failed and {'were' if n > 1 else 'was'} "
              f"retried: {lost:.1f} s; without: {wall - lost:.1f} s, ratio {(wall - lost) / boot:.2f}")
    print(f"harness+tests beyond boot:    {wall - boot:7.1f} s")
    tl = run.run.extra.get("timeline", {})
    for key, label in [("kernel_booted", "kernel boot to the guest script"),
                       ("interpreter_and_pytest_start", "Python and pytest start"),
                       ("collection", "collection"), ("tests", "tests (wall)")]:
        if key in tl:
            print(f"  {label + ':':29}{tl[key]:7.1f} s")
    by_file: dict[str, float] = {}
    for t in run.tests:
        f = t.id.split("::")[0].rsplit("/", 1)[-1]
        by_file[f] = by_file.get(f, 0.0) + (t.duration or 0.0)
    jobs = runner.worker_count(opts)
    print(f"  test time by file (summed over {jobs} worker{'s' if jobs > 1 else ''}):")
    for f, sec in sorted(by_file.items(), key=lambda kv: -kv[1]):
        print(f"    {f:29}{sec:7.1f} s")
    return 0 if run.run.exit_code == 0 else 1


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="time a bare guest boot beside a suite run (prints figures)")
    p.add_argument("--kernel", default="debian-6.12")
    p.add_argument("--suite", default="smoke", choices=["smoke", "full"])
    p.add_argument("--memory", default="2G")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--jobs", type=int, default=None, help="guest pytest workers (default: --cpus), as run --jobs")
    p.add_argument("--results", default=None)
    p.set_defaults(fn=cmd_bench)
