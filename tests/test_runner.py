"""Crash, hang and boot-failure handling of the host runner, with a fake vng.

The fake plays the guest: it writes the events the guest runner would write into
the --rwdir folder and then behaves as the scenario says (panics, hangs, never
boots). Nothing is lost and the culprit is named, whatever the guest does.
"""

import io
import json
import sys
import textwrap

import pytest

from afalg_conformance.harness.host import runner
from afalg_conformance.harness.host import vm
from afalg_conformance.harness.results.model import Run
from afalg_conformance.harness.errors import HarnessError

FAKE_VNG = textwrap.dedent('''\
    #!{python}
    import json, os, sys, time
    args = sys.argv[1:]
    rw = args[args.index("--rwdir") + 1]
    cmd = args[args.index("--exec") + 1].split()
    events = os.path.join(rw, cmd[cmd.index("--events") + 1])
    skip = set()
    if "--skip-ids" in cmd:
        skip = set(open(cmd[cmd.index("--skip-ids") + 1]).read().split())
    scenario = os.environ["FAKE_SCENARIO"]
    tests = [t for t in ["t/test_x.py::t1", "t/test_x.py::t2", "t/test_x.py::t3"] if t not in skip]
    def emit(**e):
        with open(events, "a") as f:
            f.write(json.dumps(e) + "\\n")
    print("[    0.1] Linux version 6.0-fake", file=sys.stderr)
    if scenario == "noboot":
        print("[    0.2] Kernel panic - not syncing: VFS: Unable to mount root fs", file=sys.stderr)
        sys.exit(255)
    if scenario == "flaky-boot" and not os.path.exists(os.path.join(rw, "booted-once")):
        open(os.path.join(rw, "booted-once"), "w").close()
        print("[    3.0] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI", file=sys.stderr)
        print("[    3.0] RIP: 0010:sched_clock_cpu+0x10/0x1a0", file=sys.stderr)
        print("[    3.0] Kernel panic - not syncing: Fatal exception", file=sys.stderr)
        sys.exit(255)
    if scenario == "kvm-stuck" and "--disable-kvm" not in args:
        print("KVM internal error. Suberror: 1", file=sys.stderr)
        print("emulation failure", file=sys.stderr)
        sys.stderr.flush()
        time.sleep(60)
    if scenario == "no-busybox":
        print("virtme-run: initramfs is needed, and no busybox was found", file=sys.stderr)
        sys.exit(1)
    print("virtme-ng-init: starting script", file=sys.stderr, flush=True)
    if "--jobs" in cmd:      # two workers, each with its own events file, finishing out of order
        def emitw(i, **e):
            with open(events[:-len(".jsonl")] + f"-w{{i}}.jsonl", "a") as f:
                f.write(json.dumps(e) + "\\n")
        for i in (1, 2):
            emitw(i, event="session", kernel_release="6.0-fake", pid=100 * i, t=time.time())
            emitw(i, event="collected", tests=[{{"id": t, "name": t.split("::")[1], "clauses": []}} for t in tests])
        first = [t for t in tests if t.endswith(("t1", "t2"))]
        for i, t in enumerate(first, 1):
            print(f"[    1.0] afalg-conform: start {{t.split('::')[1]}}", file=sys.stderr)
            emitw(i, event="start", id=t, name=t.split("::")[1], pid=100 * i)
        if scenario.startswith("par-crash") and len(first) == 2:
            print("[    1.1] BUG: kernel NULL pointer dereference, address: 0000000000000008", file=sys.stderr)
            who = "PID: 200 Comm: python3" if scenario == "par-crash" else "PID: 0 Comm: swapper/1"
            print(f"[    1.1] CPU: 1 UID: 0 {{who}} Not tainted 6.0-fake", file=sys.stderr)
            print("[    1.2] Kernel panic - not syncing: Fatal exception", file=sys.stderr)
            sys.exit(255)
        for i, t in reversed(list(enumerate(first, 1))):
            if scenario == "par-vanish" and i == 2:
                continue                # worker 2 stops reporting, yet ends its session
            emitw(i, event="result", id=t, name=t.split("::")[1], outcome="pass", clauses=[])
        for t in tests:
            if t not in first:
                emitw(1, event="start", id=t, name=t.split("::")[1], pid=100)
                emitw(1, event="result", id=t, name=t.split("::")[1], outcome="pass", clauses=[])
        emitw(1, event="end", exitstatus=0)
        if scenario != "par-lost-worker":
            emitw(2, event="end", exitstatus=0)
        sys.exit(0)
    emit(event="session", kernel_release="6.0-fake", t=time.time())
    if scenario == "no-af-alg":
        emit(event="fatal", reason="this kernel has no AF_ALG: socket(AF_ALG): EAFNOSUPPORT", t=time.time())
        sys.exit(0)
    emit(event="collected", tests=[{{"id": t, "name": t.split("::")[1], "clauses": ["X-1"]}} for t in tests])
    for t in tests:
        name = t.split("::")[1]
        print(f"[    1.0] afalg-conform: start {{name}}", file=sys.stderr)
        emit(event="start", id=t, name=name)
        if name == "t2" and scenario in ("crash", "par-crash-anon"):
            print("[    1.1] BUG: kernel NULL pointer dereference, address: 0000000000000008", file=sys.stderr)
            print("[    1.2] Kernel panic - not syncing: Fatal exception", file=sys.stderr)
            sys.exit(255)
        if name == "t2" and scenario == "hang":
            time.sleep(60)
        if name == "t2" and scenario == "stop":     # --stop-after-fail: t2 fails, the guest ends
            emit(event="result", id=t, name=name, outcome="fail", clauses=["X-1"])
            emit(event="stopped", id=t, reason="stopped after the first failure (fail: " + t + ")")
            break
        emit(event="result", id=t, name=name, outcome="pass", clauses=["X-1"])
        print(f"[    1.3] afalg-conform: end {{name}}", file=sys.stderr)
    emit(event="end", exitstatus=0)
''')


@pytest.fixture
def fake(tmp_path, monkeypatch):
    exe = tmp_path / "vng"
    exe.write_text(FAKE_VNG.format(python=sys.executable))
    exe.chmod(0o755)
    monkeypatch.setattr(vm, "find_tools", lambda: (str(exe), "qemu-system-x86_64"))
    monkeypatch.setattr(vm, "probe_kvm", lambda qemu, image=None: (False, "KVM unusable: test"))

    def run(scenario, kvm=False, **opts):
        if kvm:
            monkeypatch.setattr(vm, "probe_kvm", lambda qemu, image=None: (True, "KVM usable"))
        monkeypatch.setenv("FAKE_SCENARIO", scenario)
        opts.setdefault("jobs", 1)
        out = io.StringIO()
        o = runner.RunOptions(progress=False, ktap_out=out, **opts)
        res = tmp_path / f"res-{scenario}"
        r = runner.execute(vm.Target("fake", "/nonexistent/bzImage", "6.0-fake"), res, o)
        return r, out.getvalue(), res
    return run


def outcomes(run: Run):
    return {t.name: t.outcome for t in run.tests}


def test_clean_run(fake):
    run, ktap, res = fake("ok")
    assert outcomes(run) == {"t1": "pass", "t2": "pass", "t3": "pass"}
    assert run.run.exit_code == 0 and run.run.accel == "tcg"
    assert ktap.splitlines()[:3][0] == "KTAP version 1" and "1..3" in ktap
    assert json.loads((res / "results.json").read_text())["totals"]["pass"] == 3


def test_panic_keeps_earlier_results_names_culprit_and_resumes(fake):
    run, ktap, res = fake("crash")
    assert outcomes(run) == {"t1": "pass", "t2": "crash", "t3": "pass"}
    t2 = next(t for t in run.tests if t.name == "t2")
    assert "Kernel panic" in t2.reason or "NULL pointer" in t2.reason
    assert t2.kernel_log and t2.kernel_log[0]["kind"] == "oops"
    assert run.run.restarts == 1 and run.run.exit_code == 1
    assert "not ok 2 t2 # ERROR" in ktap
    saved = Run.load(str(res / "results.json"))
    assert outcomes(saved) == outcomes(run)
    assert (res / "junit.xml").exists() and (res / "results.ktap").exists()


def test_a_run_stopped_at_its_first_failure_reports_the_rest_as_not_run_on_purpose(fake):
    run, ktap, res = fake("stop", stop_after_fail="-")
    assert outcomes(run) == {"t1": "pass", "t2": "fail", "t3": "skip"}
    t3 = next(t for t in run.tests if t.name == "t3")
    assert t3.reason.startswith("not-run:stopped-after-first-failure")
    assert run.run.harness_status == "ok" and run.run.exit_code == 1     # the failure, not the machinery
    assert "stopped" in run.run.extra


def test_a_crash_in_a_stop_at_first_failure_run_ends_it_without_a_restart(fake):
    run, ktap, res = fake("crash", stop_after_fail="-")
    assert outcomes(run) == {"t1": "pass", "t2": "crash", "t3": "skip"}
    assert run.run.restarts == 0
    assert next(t for t in run.tests if t.name == "t3").reason.startswith("not-run:stopped-after-first-failure")


def test_a_crash_of_a_test_the_control_also_loses_does_not_stop_the_run(fake, tmp_path):
    ignore = tmp_path / "control-failures.txt"
    ignore.write_text("t/test_x.py::t2\n")
    run, ktap, res = fake("crash", stop_after_fail=str(ignore))
    assert outcomes(run) == {"t1": "pass", "t2": "crash", "t3": "pass"} and run.run.restarts == 1


def test_parallel_workers_are_folded_into_one_run_in_the_canonical_order(fake):
    run, ktap, res = fake("ok", jobs=2)
    assert [t.name for t in run.tests] == ["t1", "t2", "t3"] and run.run.exit_code == 0
    assert outcomes(Run.load(str(res / "results.json"))) == {"t1": "pass", "t2": "pass", "t3": "pass"}
    body = (res / "results.ktap").read_text()
    assert body.index("ok 1 t1") < body.index("ok 2 t2") < body.index("ok 3 t3")


def test_the_run_records_where_the_first_guests_time_went(fake):
    run, ktap, res = fake("ok")
    tl = run.run.extra["timeline"]
    assert 0 <= tl["kernel_booted"] <= tl["suite_started"]
    assert tl["interpreter_and_pytest_start"] == round(tl["suite_started"] - tl["kernel_booted"], 1)


def test_a_worker_that_never_ends_its_session_is_not_a_complete_run(fake):
    run, ktap, res = fake("par-lost-worker", jobs=2, max_restarts=0)
    assert run.run.harness_status == "crashed"     # not "ok": one worker's session never ended


def test_a_planned_test_that_never_reports_makes_the_run_a_harness_error_not_a_skip(fake):
    run, ktap, res = fake("par-vanish", jobs=2)
    assert run.run.harness_status == "harness-error" and "never reported" in run.run.harness_reason
    assert outcomes(run)["t2"] == "skip" and run.run.exit_code != 0


def test_a_parallel_crash_is_blamed_on_the_test_whose_process_the_kernel_names(fake):
    run, ktap, res = fake("par-crash", jobs=2)
    assert outcomes(run) == {"t1": "pass", "t2": "crash", "t3": "pass"}   # t1 rerun after the restart
    assert run.run.restarts == 1


def test_a_parallel_crash_naming_no_worker_is_rerun_one_test_at_a_time(fake):
    run, ktap, res = fake("par-crash-anon", jobs=2)
    # No guess: the first death blames nobody, the serial rerun dies in t2 and blames it alone.
    assert outcomes(run) == {"t1": "pass", "t2": "crash", "t3": "pass"}
    assert run.run.restarts == 2


def test_hang_is_a_timeout_and_the_rest_is_not_lost(fake):
    run, ktap, res = fake("hang", run_timeout=2, max_restarts=0)
    assert outcomes(run) == {"t1": "pass", "t2": "timeout", "t3": "skip"}
    t3 = next(t for t in run.tests if t.name == "t3")
    assert t3.reason.startswith("not run: guest hung during t/test_x.py::t2")
    assert "# TIMEOUT" in ktap and run.run.exit_code == 1


def test_guest_that_never_boots_is_a_harness_failure(fake):
    run, ktap, res = fake("noboot", boot_retries=1)
    assert run.tests == [] and run.run.harness_status == "boot-failure"
    assert run.run.harness_reason.startswith("kernel panicked during boot: panic: Kernel panic")
    assert "VFS: Unable to mount root fs" in run.run.harness_reason
    assert [f["kind"] for f in run.run.boot_failures] == ["panic", "panic"]     # retried once, bounded
    assert run.run.exit_code == 2


def test_a_panic_during_boot_is_retried_and_the_run_completes(fake):
    """The emulator's flake (seen: Oops: int3 in sched_clock_cpu at 3 s under load): boot again."""
    run, ktap, res = fake("flaky-boot")
    assert outcomes(run) == {"t1": "pass", "t2": "pass", "t3": "pass"}
    assert run.run.exit_code == 0 and run.run.harness_status == "ok"
    (f,) = run.run.boot_failures
    assert f["kind"] == "panic" and "Oops: int3" in f["reason"] and "sched_clock_cpu" in f["reason"]
    assert 0 <= f["seconds"] < 60                   # what the lost boot cost (bench shows it apart)
    tl = run.run.extra["timeline"]                  # the figures are the guest's that ran the suite
    assert {"kernel_booted", "suite_started", "interpreter_and_pytest_start"} <= set(tl)
    assert json.loads((res / "results.json").read_text())["run"]["boot_failures"][0]["attempt"] == 0


def test_kvm_that_stops_the_guest_falls_back_to_tcg_at_once(fake):
    import time
    t0 = time.monotonic()
    run, ktap, res = fake("kvm-stuck", kvm=True, boot_timeout=300)
    assert time.monotonic() - t0 < 30             # not the boot timeout
    assert outcomes(run) == {"t1": "pass", "t2": "pass", "t3": "pass"}
    assert run.run.accel == "tcg" and run.run.boot_failures[0]["kind"] == "kvm"


def test_a_missing_piece_is_not_retried(fake):
    run, ktap, res = fake("no-busybox")
    assert run.run.harness_status == "boot-failure" and len(run.run.boot_failures) == 1
    assert "no busybox was found" in run.run.harness_reason


def test_the_smoke_suite_collects_only_files_that_hold_smoke_tests():
    """The guest runner collects SUITE_FILES for the smoke suite (not the whole catalogue): a
    smoke-marked test anywhere else would silently not run."""
    import re
    from pathlib import Path

    from afalg_conformance.harness.guest import runner as guest
    root = Path(guest.PROJECT_ROOT) / "conformance"
    holders = {p.name for p in root.glob("test_*.py") if re.search(r"mark\.smoke\b", p.read_text())}
    assert holders and holders <= set(guest.SUITE_FILES["smoke"]), holders
    assert all((root / f).exists() for f in guest.SUITE_FILES["smoke"])


def test_results_that_cannot_be_written_are_one_clear_error(fake, monkeypatch):
    import errno
    from afalg_conformance.harness.results.model import Run as R

    def full(self, path):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(R, "save", full)
    with pytest.raises(HarnessError, match=r"cannot write the results to .* \(ENOSPC: No space left on device\)"):
        fake("ok")


def test_a_guest_kernel_without_af_alg_is_a_harness_error_not_a_pass(fake):
    run, ktap, res = fake("no-af-alg")
    assert run.run.harness_status == "harness-error" and run.run.exit_code == 2
    assert "has no AF_ALG" in run.run.harness_reason


def test_boot_failure_kinds():
    warn = ["[ 1.0] WARNING: CPU: 0 PID: 1 at kernel/x.c:1 f+0x1/0x2", "[ 1.1] Call Trace:"]
    assert runner.classify_boot_failure(warn, None)[0] == "timeout"        # a WARNING is no panic
    oops = ["[ 3.0] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI", "[ 3.0] RIP: 0010:sched_clock_cpu+0x10/0x1a0"]
    kind, why = runner.classify_boot_failure(oops, 255)
    assert kind == "panic" and why.startswith("kernel panicked during boot: oops: Oops: int3")


def test_workers_default_to_one_per_vcpu_but_one_for_the_smoke_suite():
    def jobs(**kw):
        args = runner._guest_args(runner.RunOptions(**kw), "events-0.jsonl", None)
        return int(args[args.index("--jobs") + 1]) if "--jobs" in args else 1
    assert jobs(suite="full", cpus=2) == 2
    assert jobs(suite="smoke", cpus=2) == 1
    assert jobs(suite="smoke", cpus=2, jobs=2) == 2          # asked for: as asked


def test_worker_count_is_one_per_vcpu_but_for_smoke_and_the_host():
    """What the guest runner is told (--jobs) and what bench reports the test time is summed over."""
    from afalg_conformance.harness.host.runner import RunOptions, worker_count
    assert worker_count(RunOptions(suite="full", cpus=2)) == 2
    assert worker_count(RunOptions(suite="smoke", cpus=2)) == 1
    assert worker_count(RunOptions(suite="full", cpus=2), host=True) == 1
    assert worker_count(RunOptions(suite="smoke", cpus=2, jobs=2)) == 2


def test_long_path_lists_go_in_a_file(tmp_path):
    """mutants run --whole names every conformance file: inline, the guest command outgrew the
    kernel command line (vm.check_cmdline refused it before any boot)."""
    from afalg_conformance.harness.guest import runner as guest_runner
    from afalg_conformance.harness.host import mutants, vm
    paths = mutants.default_paths([])
    results = tmp_path / ("r" * 60)
    results.mkdir()
    opts = runner.RunOptions(paths=paths, preload_modules=str(results / "modules"))
    inline = runner._guest_args(opts, "events-0.jsonl", None)
    with pytest.raises(Exception, match="would not fit the kernel command line"):
        vm.check_cmdline(vm.guest_python_command(["-m", "x", "--results", str(results), *inline]), str(results))
    args = runner._guest_args(opts, "events-0.jsonl", None, paths_file=runner._paths_file(opts, results))
    vm.check_cmdline(vm.guest_python_command(["-m", "x", "--results", str(results), *args]), str(results))
    assert not set(paths) & set(args)
    assert guest_runner.parse_args(["--results", str(results), *args]).paths == paths   # read back in order
    short = runner.RunOptions(paths=["conformance/test_smoke.py"])
    assert runner._paths_file(short, results) is None
    assert runner._guest_args(short, "e.jsonl", None)[-1] == "conformance/test_smoke.py"
