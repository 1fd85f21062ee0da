"""Parallel guest workers (harness/guest/plugin.py's Claims), run on the host: two pytest
processes over one test list run every test exactly once between them, a `serial` test
runs while no other test does, and fixtures still set up and tear down in order."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from afalg_conformance.harness.host.vm import PROJECT_ROOT

DATA = Path(__file__).parent / "data"

SUITE = textwrap.dedent('''\
    import os, time
    import pytest

    LOG = os.environ["WORKERS_LOG"]

    def note(what, name):
        with open(LOG, "a") as f:
            f.write(f"{time.monotonic()} {os.getpid()} {what} {name}\\n")

    @pytest.fixture(scope="module")
    def shared():
        note("setup", "module")
        yield
        note("teardown", "module")

    def work(name, seconds=0.3):
        note("start", name)
        time.sleep(seconds)
        note("end", name)

    @pytest.mark.parametrize("i", range(8))
    def test_parallel(shared, i):
        work(f"p{i}")

    @pytest.mark.serial
    def test_alone():
        work("serial", 0.6)

    @pytest.mark.parametrize("i", range(4))
    def test_after(shared, i):
        work(f"q{i}")
''')


def _assert_serial_ran_alone(log: Path) -> None:
    """From the suite's own log of start/end times: no test overlapped the serial one."""
    spans, opened = {}, {}
    for line in log.read_text().splitlines():
        t, pid, what, name = line.split()
        if what == "start":
            opened[name] = float(t)
        elif what == "end":
            spans[name] = (opened.pop(name), float(t))
    s0, s1 = spans.pop("serial")
    assert all(e <= s0 or b >= s1 for b, e in spans.values()), "a test ran beside the serial one"


def test_two_workers_share_the_tests_once_each_and_serial_runs_alone(tmp_path):
    (tmp_path / "test_w.py").write_text(SUITE)
    claims = tmp_path / "claims"
    claims.mkdir()
    log = tmp_path / "log"
    env = dict(os.environ, WORKERS_LOG=str(log), PYTHONPATH=str(PROJECT_ROOT), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    procs = [subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "afalg_conformance.harness.guest.plugin",
                               "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path / "test_w.py"),
                               "--afalg-events", str(tmp_path / f"ev-{i}.jsonl"),
                               "--afalg-worker", f"{i}/2", "--afalg-claims", str(claims)],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in (1, 2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs

    results = [json.loads(x) for i in (1, 2) for x in (tmp_path / f"ev-{i}.jsonl").read_text().splitlines()]
    ran = [e["id"].split("::")[1] for e in results if e["event"] == "result"]
    assert sorted(ran) == sorted([f"test_parallel[{i}]" for i in range(8)] + ["test_alone"] +
                                 [f"test_after[{i}]" for i in range(4)])     # each exactly once
    assert all(e["outcome"] == "pass" for e in results if e["event"] == "result")
    pids = {e["pid"] for e in results if e["event"] == "start"}
    assert len(pids) == 2                                                    # both workers took tests

    _assert_serial_ran_alone(log)
    # the module fixture is set up and torn down by each worker that used it, in pairs
    setups = log.read_text().count("setup module")
    assert setups == log.read_text().count("teardown module") and 1 <= setups <= 4


def test_a_kernel_report_naming_the_other_workers_process_is_not_this_tests(tmp_path):
    from afalg_conformance.harness.guest.plugin import EventStream
    from afalg_conformance.harness.results import klog
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "pid-1").write_text(str(os.getpid()))
        (tmp_path / "pid-2").write_text(str(other.pid))
        me = EventStream.__new__(EventStream)
        me.claims_dir, me.bound_now = str(tmp_path), set()

        def report(pid_line):
            return klog.Problem("oops", "BUG: kernel NULL pointer dereference, address: 8", None,
                                ["#PF: supervisor read access in kernel mode", pid_line, "Call Trace:"])
        assert EventStream._siblings_own(me, report(f"CPU: 1 UID: 0 PID: {other.pid} Comm: python3"))
        assert not EventStream._siblings_own(me, report(f"CPU: 1 UID: 0 PID: {os.getpid()} Comm: python3"))
        # no task named, or a task of neither worker (a kworker): kept by both, never dropped
        assert not EventStream._siblings_own(me, klog.Problem("oops", "Oops: 0000 [#1]", None, ["RIP: x"]))
        assert not EventStream._siblings_own(me, report("CPU: 0 UID: 0 PID: 1 Comm: init"))
    finally:
        other.kill()


def _stream(claims, *bound):
    from afalg_conformance.harness.guest.plugin import EventStream
    me = EventStream.__new__(EventStream)
    me.claims_dir, me.bound_now = str(claims), set()
    for name in bound:
        me._on_bind("aead", name)
    return me


def test_a_failed_self_test_is_the_test_whose_bind_started_it(tmp_path):
    """debian-6.1, two workers: cryptd(gcm_base(...)) fails its self-test inside one worker's
    bind; cryptomgr's thread logs the WARN, which both workers read. It is the cryptd test's,
    not the authenc test's that ran beside it (seen 2026-12-01: both failed on it)."""
    from afalg_conformance.harness.results import klog
    lines = (DATA / "console-selftest-fail-6.1.txt").read_text().splitlines()
    (report,) = klog.scan(lines)
    cryptd = "cryptd(gcm_base(ctr(aes-generic),ghash-generic))"
    assert klog.selftest_failure(report) == ("gcm(aes)", cryptd)
    assert "corrupted request struct" not in report.line and report.message   # the WARN's own text

    (tmp_path / "binds-999999").write_text(cryptd + "\n")         # the other worker, binding now
    authenc = _stream(tmp_path, "authenc(hmac(sha256),cbc(aes))")
    assert authenc._siblings_own(report)
    # the worker whose test asked for it keeps it and says so; the others then leave it alone
    (tmp_path / "binds-999999").unlink()
    assert not _stream(tmp_path, cryptd)._siblings_own(report)
    assert _stream(tmp_path, "sha256")._siblings_own(report)           # claimed: the sibling has it
    for claim in tmp_path.glob("selftest-*"):
        claim.unlink()
    # nobody asked for it (the harness's own probe, a module's init): every test keeps it
    assert not _stream(tmp_path, "sha256")._siblings_own(report)
    # a bind of a name built on the algorithm started it too (rfc4106(gcm(aes)) tests gcm(aes))
    assert klog.bind_started("rfc4106(gcm(aes))", "gcm(aes)", "gcm_base(ctr(aes-generic),ghash-generic)")
    assert not klog.bind_started("cbc(aes)", "gcm(aes)", cryptd)
    assert not klog.bind_started("", "gcm(aes)", cryptd)          # '' is a substring of every name


def test_the_crasher_among_interleaved_markers_is_the_newest_unfinished_test():
    from afalg_conformance.harness.results import klog
    lines = ["afalg-conform: start a", "afalg-conform: start b", "afalg-conform: end b",
             "afalg-conform: start c", "afalg-conform: end a", "BUG: kernel NULL pointer dereference"]
    assert klog.last_started_test(lines) == "c"
    assert klog.last_started_test(lines[:3]) == "a"
    assert klog.last_started_test(["afalg-conform: start a", "afalg-conform: end a"]) is None


STOPPING = textwrap.dedent('''\
    import time
    import pytest

    @pytest.mark.parametrize("i", range(12))
    def test_a(i):
        time.sleep(0.2)
        assert i not in (3, 5)
''')


@pytest.mark.parametrize("ignored", [False, True])
def test_stop_after_fail_ends_every_worker_after_the_first_failure_not_in_the_control(tmp_path, ignored):
    (tmp_path / "test_s.py").write_text(STOPPING)
    claims = tmp_path / "claims"
    claims.mkdir()
    ignore = tmp_path / "ignore.txt"
    ignore.write_text("test_s.py::test_a[3]\n" if ignored else "")
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    procs = [subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "afalg_conformance.harness.guest.plugin",
                               "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path / "test_s.py"),
                               "--afalg-events", str(tmp_path / f"ev-{i}.jsonl"), "--afalg-stop-after-fail",
                               str(ignore), "--afalg-worker", f"{i}/2", "--afalg-claims", str(claims)],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in (1, 2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 2 for p in procs), outs        # pytest's "interrupted", both workers
    events = [json.loads(x) for i in (1, 2) for x in (tmp_path / f"ev-{i}.jsonl").read_text().splitlines()]
    stopped = sorted((e for e in events if e["event"] == "stopped"), key=lambda e: e["t"])
    first = "test_s.py::test_a[5]" if ignored else "test_s.py::test_a[3]"
    # The first failure stops both; a test the other worker had already claimed finishes
    # (and may fail and say so too: with [3] ignored, only [5] can).
    assert stopped and stopped[0]["id"] == first and len(stopped) <= 2
    assert {e["id"] for e in stopped} <= {"test_s.py::test_a[3]", "test_s.py::test_a[5]"} - \
        ({"test_s.py::test_a[3]"} if ignored else set())
    ran = {e["id"] for e in events if e["event"] == "result"}
    assert first in ran and len(ran) < 12                     # the rest of the list was left
    assert sum(e["event"] == "end" for e in events) == 2      # both sessions ended (no harness error)


FORKING = textwrap.dedent('''\
    import os, sys
    import pytest
    from afalg_conformance.harness.guest import plugin

    tmp, claims = sys.argv[1], sys.argv[2]
    with open(os.path.join(tmp, "pytest.log"), "a") as log:
        workers = plugin.ForkWorkers(2, lambda i: os.path.join(tmp, f"ev-w{i}.jsonl"),
                                     lambda i: None if i == 1 else os.path.join(tmp, f"pytest-{i}.log"), log=log)
        sys.stdout = sys.stderr = log
        rc = int(pytest.main(["-q", "-p", "afalg_conformance.harness.guest.plugin", "-p", "no:cacheprovider",
                              "--rootdir", tmp, os.path.join(tmp, "test_w.py"),
                              "--afalg-events", os.path.join(tmp, "ev-w0.jsonl"),
                              "--afalg-worker", "0/2", "--afalg-claims", claims], plugins=[workers]))
        if workers.worker is not None:
            log.flush()
            os._exit(rc)
    sys.exit(workers.exit_code(rc))
''')


def test_forked_workers_share_one_collection(tmp_path):
    """--jobs N in the guest: one process collects, N forked workers run the tests between
    them (each once, the serial one alone), each with its own events and log; the collector
    runs none and exits with the workers' verdict."""
    (tmp_path / "test_w.py").write_text(SUITE + "\n\ndef test_fails():\n    assert False\n")
    (tmp_path / "fork.py").write_text(FORKING)
    claims = tmp_path / "claims"
    claims.mkdir()
    log = tmp_path / "log"
    env = dict(os.environ, WORKERS_LOG=str(log), PYTHONPATH=str(PROJECT_ROOT), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    p = subprocess.run([sys.executable, str(tmp_path / "fork.py"), str(tmp_path), str(claims)], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, (p.stdout, p.stderr, (tmp_path / "pytest.log").read_text())   # test_fails

    def events(i):
        return [json.loads(x) for x in (tmp_path / f"ev-w{i}.jsonl").read_text().splitlines()]
    collector = events(0)
    assert [e["event"] for e in collector] == ["session", "collected", "end"]
    assert collector[0]["worker"] == "0/2"
    workers = [events(1), events(2)]
    for i, ev in enumerate(workers, 1):
        assert ev[0]["event"] == "session" and ev[0]["worker"] == f"{i}/2" and ev[1]["event"] == "collected"
        assert ev[-1]["event"] == "end"
        assert ev[1]["tests"] == collector[1]["tests"]
    pids = {e["pid"] for ev in workers for e in ev if e["event"] == "start"}
    assert len(pids) == 2 and collector[0]["pid"] not in pids
    assert {ev[0]["pid"] for ev in workers} == pids
    results = {e["id"].split("::")[1]: e["outcome"] for ev in workers for e in ev if e["event"] == "result"}
    ran = [e["id"] for ev in workers for e in ev if e["event"] == "result"]
    assert len(ran) == len(set(ran)) == 14                                    # each exactly once
    assert results.pop("test_fails") == "fail" and set(results.values()) == {"pass"}
    assert {f.name for f in claims.iterdir() if f.name.startswith("pid-")} == {"pid-0", "pid-1", "pid-2"}
    assert "test_fails" in (tmp_path / "pytest.log").read_text() + (tmp_path / "pytest-2.log").read_text()

    _assert_serial_ran_alone(log)
