"""pytest plugin that runs inside the guest (or on `--kernel host`).

It streams one JSON event per line to --afalg-events (flushed and fsynced, so a
kernel panic loses nothing already reported), marks the start and end of every
test in the kernel log (so a splat on the console is attributed to its test),
reads /dev/kmsg after each test for oopses/WARNs/KASAN reports, and bounds each
test with a watchdog: a hung test is reported as a timeout and the run goes on.
With --afalg-kcov N (`afalg-conform coverage`) each result also carries the KCOV PCs the
test reached inside af_alg.c and algif_*.c (TestKcov below).
"""

from __future__ import annotations

import contextlib
import faulthandler
import fcntl
import hashlib
import json
import os
import platform
import signal
import sys
import threading
import time
from typing import Callable

import pytest
from _pytest.runner import runtestprotocol

from afalg_conformance.harness.afalg import client as afalg_client
from afalg_conformance.harness.afalg.kcov import AfalgText, Kcov, Symbols, kcov_available
from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.results import klog
from afalg_conformance.harness.results.order import canonical_order_key, read_ids, shard_of
from afalg_conformance.harness.results.model import FAILING, ktap_name

RECORDER_KEY = pytest.StashKey["Recorder"]()


# Exceptions that mean the test's code is wrong or the harness cannot go on, not that the kernel
# is: a kernel's answer reaches a test as a value, an OSError or a timeout, never as one of these
# (TypeError is not here: a None where a kernel's bytes were expected raises it).
HARNESS_BUGS = (AttributeError, NameError, ImportError, SyntaxError, NotImplementedError, HarnessError)


class TestTimeout(BaseException):
    """Raised in the main thread by the watchdog; BaseException so tests cannot swallow it."""


class Recorder:
    """Evidence and nested sub-results a test collects for the report."""

    def __init__(self):
        self.evidence: list[dict] = []
        self.subtests: list[dict] = []
        self.clauses: set[str] = set()
        self.binds: list[dict] = []          # run --driver: what each bind asked for and bound
        # kernel reports the test explains (the known defect its XFAIL names logs them):
        # (does this klog.Problem belong to it, why); kept in the result, no FAIL of their own
        self.explained: list[tuple[Callable[[klog.Problem], bool], str]] = []
        # finish(stopped) of the test's spec/kat: raises the verdict they hold (see settle)
        self.finishers: list[Callable[[bool], None]] = []

    def add_evidence(self, **ev) -> dict:
        if ev.get("clause"):
            self.clauses.add(ev["clause"])
        self.evidence.append(ev)
        return ev

    def add_bind(self, **bind) -> None:
        if bind not in self.binds:
            self.binds.append(bind)

    def explain(self, belongs: Callable[[klog.Problem], bool], why: str) -> None:
        self.explained.append((belongs, why))

    def explanation(self, problem: klog.Problem) -> str | None:
        return next((why for belongs, why in self.explained if belongs(problem)), None)

    def add_subtest(self, name: str, outcome: str, reason: str = "", **detail) -> None:
        self.subtests.append({"name": name, "outcome": outcome, "reason": reason, "detail": detail})


def recorder_for(item) -> Recorder:
    rec = item.stash.get(RECORDER_KEY, None)
    if rec is None:
        rec = Recorder()
        item.stash[RECORDER_KEY] = rec
    return rec


@pytest.fixture
def recorder(request) -> Recorder:
    return recorder_for(request.node)


def settle(rec: Recorder, stopped: bool) -> None:
    """Raise, as one failure, every pending verdict of the test's finishers.

    stopped: the test ended early (a skip), so only failures already recorded count,
    not the checks that never ran."""
    problems, skip = [], None
    finishers, rec.finishers = rec.finishers, []
    for finish in finishers:
        try:
            finish(stopped)
        except pytest.skip.Exception as e:
            skip = skip or e
        except (AssertionError, pytest.fail.Exception) as e:
            problems.append(str(e))
    if problems:
        pytest.fail("; ".join(problems)[:2000], pytrace=False)
    if skip is not None:
        raise skip


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Soft checks, vector runs and missing evidence are verdicts on the kernel, so they
    are decided here, in the call phase: raised from a fixture teardown instead, pytest
    would report them as an ERROR of the harness."""
    rec = recorder_for(item)
    try:
        result = yield
    except pytest.skip.Exception:
        settle(rec, stopped=True)      # a check that failed before the skip is still a FAIL
        raise
    except BaseException:
        # The test's own failure is the verdict; the soft ones stay in its evidence.
        with contextlib.suppress(Exception, pytest.fail.Exception, pytest.skip.Exception):
            settle(rec, stopped=True)
        raise
    settle(rec, stopped=False)
    declared = clauses_of(item)
    if declared and not rec.evidence:
        pytest.fail(f"no evidence recorded for {', '.join(declared)}: the test checked nothing",
                    pytrace=False)
    return result


def pytest_addoption(parser):
    g = parser.getgroup("afalg")
    g.addoption("--afalg-events", default=None, help="stream results as JSON lines to this file")
    g.addoption("--afalg-test-timeout", type=float, default=120.0, help="seconds before a test is stopped")
    g.addoption("--afalg-skip-ids", default=None, help="file of test ids already run (resume after a crash)")
    g.addoption("--afalg-shard", default=None, help="I/N: run a stable slice of the tests")
    g.addoption("--afalg-allow-crash", action="store_true", help="run tests that crash the kernel on purpose")
    g.addoption("--afalg-worker", default=None, help="I/N: this process is worker I of N sharing the tests")
    g.addoption("--afalg-claims", default=None, help="the workers' shared folder of claimed tests")
    g.addoption("--afalg-stop-after-fail", default=None, metavar="IGNORE",
                help="stop at the first failing test (every worker), except the ids listed in the file "
                     "IGNORE ('-' for none): afalg-conform mutants run --whole")
    g.addoption("--afalg-kcov", type=int, default=0, metavar="ENTRIES",
                help="record each test's KCOV PCs in af_alg/algif (a trace buffer of ENTRIES PCs)")


def pytest_configure(config):
    config.addinivalue_line("markers", "clause(*ids): spec clauses this test checks")
    config.addinivalue_line("markers", "crash: deliberately crashes or hangs the kernel (opt-in)")
    config.addinivalue_line("markers", "serial: runs while no other worker runs a test (global kernel "
                                       "state, timing, crashes)")
    path = config.getoption("--afalg-events")
    if path:
        config.pluginmanager.register(EventStream(config, path), "afalg-events")
    claims = config.getoption("--afalg-claims")
    if claims:
        config.pluginmanager.register(Claims(claims, config.getoption("--afalg-worker")), "afalg-claims")


class Claims:
    """Workers share the tests: each collects the same sorted list and runs a test only
    when it is the first to create that test's claim file (O_EXCL in the guest's tmpfs).
    Every test holds the claim folder's lock shared; a `serial` test holds it exclusive,
    so it runs alone (it changes kernel-wide state, times itself, or crashes the kernel
    on purpose)."""

    def __init__(self, folder: str, worker: str | None):
        self.folder = folder
        self.lock = -1
        self.become(worker or "1/1")

    def become(self, worker: str) -> None:
        """This process is worker I/N: its own open of the lock file (flock belongs to the open
        file, which a forked worker would otherwise share with its parent: no exclusion at
        all), and its pid where the other workers look for it."""
        if self.lock >= 0:
            os.close(self.lock)
        self.worker = worker
        self.lock = os.open(os.path.join(self.folder, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
        with open(os.path.join(self.folder, f"pid-{self.worker.split('/')[0]}"), "w") as f:
            f.write(str(os.getpid()))

    STOP = "stop"       # written by the worker whose test failed first (--afalg-stop-after-fail)

    def stop(self) -> None:
        with contextlib.suppress(FileExistsError):
            os.close(os.open(os.path.join(self.folder, self.STOP), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

    def stopped(self) -> bool:
        return os.path.exists(os.path.join(self.folder, self.STOP))

    def claim(self, nodeid: str) -> bool:
        name = hashlib.sha1(nodeid.encode()).hexdigest()
        try:
            fd = os.open(os.path.join(self.folder, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        os.write(fd, f"{self.worker} {nodeid}\n".encode())
        os.close(fd)
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if self.stopped():
            # The other worker's test failed first: end this session too (the host reports
            # the tests left as not run, stopped after the first failure).
            item.session.shouldstop = "another worker's test failed (--afalg-stop-after-fail)"
            return True
        if not self.claim(item.nodeid):
            return True            # another worker runs it: no report from this one
        serial = item.get_closest_marker("serial") is not None
        fcntl.flock(self.lock, fcntl.LOCK_EX if serial else fcntl.LOCK_SH)
        try:
            # The previous test of this worker was torn down for the item after it, which the
            # other worker may have taken: finish tearing down what this item does not share.
            # A finalizer that fails here must not take the worker down with the test unreported:
            # the item then runs and its setup reports the stale state as its own ERROR.
            with contextlib.suppress(Exception):
                item.session._setupstate.teardown_exact(item)
            item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            runtestprotocol(item, nextitem=nextitem)
            item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        finally:
            fcntl.flock(self.lock, fcntl.LOCK_UN)
        return True


class ForkWorkers:
    """N workers from one collection: the process that collected the suite forks N workers
    once it has the test list, and waits for them (the guest runner's --jobs N).

    Every worker inherits the interpreter, pytest, the imported tests and the collected
    items: under TCG a second interpreter start and collection is no help (the two
    processes that did both side by side reached their first test 7 s later than one
    alone, measured). Each child becomes worker I/N (its own events file, log, /dev/kmsg
    reader, KCOV, claims lock and pid file: EventStream.become, Claims.become) and runs
    the default test loop, taking the tests it claims first; the collector runs none.
    Nothing may run beside the fork: no thread exists before the first test (the watchdog
    is armed per test) and the collector's files are flushed first."""

    def __init__(self, n: int, events_for: Callable[[int], str], log_for: Callable[[int], str | None], log=None):
        self.n = n
        self.events_for = events_for        # worker I's events file
        self.log_for = log_for              # worker I's pytest log (None: keep the collector's)
        self.log = log                      # the open file pytest's output goes to (the runner's log)
        self.worker: int | None = None      # in a forked worker: I
        self.children: list[int] = []
        self.codes: list[int] = []          # the workers' exit codes, in the collector

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        cfg = session.config
        if (session.testsfailed and not cfg.option.continue_on_collection_errors) or cfg.option.collectonly \
                or not session.items:
            return None                     # pytest's own loop: a collection error ends the run there
        others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        if others:
            raise pytest.UsageError(f"cannot fork test workers beside running threads: {', '.join(others)}")
        events = cfg.pluginmanager.get_plugin("afalg-events")
        claims = cfg.pluginmanager.get_plugin("afalg-claims")
        if events is None or claims is None:
            raise pytest.UsageError("forked workers need --afalg-events and --afalg-claims")
        for i in range(1, self.n + 1):
            if self.log is not None:
                self.log.flush()
            events.f.flush()
            pid = os.fork()
            if pid == 0:
                self._become(i, events, claims)
                return None                 # this worker's share: pytest's loop, through Claims
            self.children.append(pid)
        for pid in self.children:
            _, status = os.waitpid(pid, 0)
            self.codes.append(os.waitstatus_to_exitcode(status))
        return True

    def _become(self, i: int, events: "EventStream", claims: Claims) -> None:
        import random   # imported here: only a forked worker reseeds (each draws its own values)
        self.worker = i
        self.children = []
        random.seed()
        path = self.log_for(i)
        if path is not None and self.log is not None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, self.log.fileno())  # the same file object, this worker's file
            os.close(fd)
        worker = f"{i}/{self.n}"
        claims.become(worker)
        events.become(self.events_for(i), worker)

    def exit_code(self, own: int, stopping: bool = False) -> int:
        """The run's exit code from the collector's and its workers' (pytest's codes: 0 passed,
        1 failed, 5 nothing collected, which a worker that found every test claimed by the
        others also says; 2 interrupted, which --afalg-stop-after-fail makes every worker
        say on purpose). Anything else is the worst news and wins."""
        if not self.codes:
            return own
        fine = (0, 1, 5) + ((2,) if stopping else ())
        bad = [rc for rc in self.codes if rc not in fine]
        if bad:
            return bad[0]
        return 1 if 1 in self.codes or 2 in self.codes else 0 if 0 in self.codes else 5


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda it: canonical_order_key(it.nodeid))
    keep, drop = [], []
    done = read_ids(config.getoption("--afalg-skip-ids"))
    shard = config.getoption("--afalg-shard")
    si, sn = (int(x) for x in shard.split("/")) if shard else (1, 1)
    allow_crash = config.getoption("--afalg-allow-crash")
    for item in items:
        if item.nodeid in done or (sn > 1 and shard_of(item.nodeid, sn) != si - 1):
            drop.append(item)
        elif item.get_closest_marker("crash") and not allow_crash:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def clauses_of(item) -> list[str]:
    out: list[str] = []
    for m in item.iter_markers("clause"):
        out.extend(a for a in m.args if a not in out)
    return out


class TestKcov:
    """KCOV (KCOV_TRACE_PC) on this worker's main thread, enabled once for the session; each
    test's trace runs from its start event to its result, setup and teardown included.
    Only the test's own thread is traced: threads it starts, children it forks and kernel
    work done in other contexts (workqueues, interrupts) are not.

    A test running thousands of vectors fills any buffer: so at any Python audit event of
    the main thread (socket.__new__, socket.sendmsg, open, ctypes calls...) with the buffer
    over half full, its af_alg/algif PCs are set aside and the buffer reset. The drain runs
    in the traced thread itself, so nothing the kernel writes is lost; a test is `truncated`
    only when one stretch between two events filled the rest of the buffer (one system call
    can: a recvmsg of a large ccm(aes) request traces the generic cipher block by block)."""

    def __init__(self, entries: int):
        self.kcov: Kcov | None = None
        self.range: tuple[int, int] | None = None
        self.text: AfalgText | None = None
        self.status: dict = {"entries": entries, "pid": os.getpid()}
        self.kept: set[int] = set()
        self.distinct: set[int] = set()
        self.drains = 0
        self.full = False
        self.active = False
        self.busy = False
        self.thread = threading.get_ident()
        ok, why = kcov_available()
        if not ok:
            self.status["error"] = why
            return
        syms = Symbols()
        self.text = AfalgText(syms) if syms.ok else None
        self.range = self.text.range if self.text is not None else None
        if self.range is None:
            self.status["error"] = "no af_alg/algif symbols in /proc/kallsyms (kptr_restrict, or AF_ALG not built in)"
            return
        try:
            self.kcov = Kcov(entries)
        except OSError as e:
            self.status["error"] = f"KCOV: {e}"
            return
        self.status["range"] = [hex(self.range[0]), hex(self.range[1])]
        self.half = entries // 2
        sys.addaudithook(self._audit)

    def _audit(self, event: str, args) -> None:
        # busy: the drain must not drain again if anything it calls raises an audit event
        if self.active and not self.busy and self.kcov.area[0] > self.half and threading.get_ident() == self.thread:
            self.busy = True
            try:
                self._drain()
                self.drains += 1
            finally:
                self.busy = False

    def _drain(self) -> None:
        pcs, full = self.kcov.distinct()
        self.kcov.reset()
        # a PC of an interface built as a module counts at its slot (AfalgText)
        self.kept.update(c for c in map(self.text.canon, pcs) if c is not None)
        self.distinct |= pcs
        self.full = self.full or full

    def begin(self) -> None:
        if self.kcov is not None:
            self.kept, self.distinct, self.drains, self.full = set(), set(), 0, False
            self.kcov.reset()
            self.active = True

    def end(self) -> dict:
        """{pcs: af_alg/algif PCs as hex (KASLR-canonical: System.map's addresses), truncated:
        the buffer filled and PCs were lost, distinct: kernel PCs of any function, drains}."""
        if self.kcov is None:
            return {}
        self.active = False
        self._drain()
        return {"pcs": [hex(pc) for pc in sorted(self.kept)], "truncated": self.full,
                "distinct": len(self.distinct), "drains": self.drains}


class EventStream:
    def __init__(self, config, path: str):
        self.config = config
        self.f = open(path, "a", buffering=1)
        self.kmsg = klog.KmsgReader()
        self.timeout = config.getoption("--afalg-test-timeout")
        self.current: dict | None = None
        self.reports: dict[str, dict] = {}
        self.started_at: dict[str, float] = {}
        self._watchdog: threading.Timer | None = None
        self._timed_out = False
        self._recorder_by_id: dict[str, Recorder] = {}
        self._clauses: dict[str, list[str]] = {}
        self.kcov_entries = config.getoption("--afalg-kcov")
        collector = (config.getoption("--afalg-worker") or "").startswith("0/")     # runs no test
        # on the main thread: KCOV is per task (a forked worker opens its own: become)
        self.kcov = TestKcov(self.kcov_entries) if self.kcov_entries and not collector else None
        signal.signal(signal.SIGUSR1, self._on_timeout_signal)
        self.session = None
        ignore = config.getoption("--afalg-stop-after-fail")
        self.stop_after_fail = ignore is not None
        self.stop_ignore = read_ids(ignore)
        self.claims_dir = config.getoption("--afalg-claims")
        self.bound_now: set[str] = set()      # the names the running test asked to bind
        afalg_client.bind_observers.append(self._on_bind)

    def become(self, path: str, worker: str) -> None:
        """A forked worker's own stream: its events file, its /dev/kmsg reader (each open
        reads every record once: shared, the two workers would split the kernel's log
        between them), its KCOV (per task), then the session and collected events the
        host counts per worker. The parent flushed everything before the fork."""
        self.f.close()
        self.f = open(path, "a", buffering=1)
        if self.kmsg.fd is not None:
            os.close(self.kmsg.fd)
        self.kmsg = klog.KmsgReader()
        if self.kcov_entries:
            self.kcov = TestKcov(self.kcov_entries)
        self.config.option.afalg_worker = worker
        self.pytest_sessionstart(self.session)
        self.pytest_collection_finish(self.session)

    # -- output ---------------------------------------------------------------------------
    def emit(self, **event) -> None:
        event.setdefault("t", time.time())
        self.f.write(json.dumps(event, default=str) + "\n")
        self.f.flush()
        try:
            os.fsync(self.f.fileno())
        except OSError:
            pass

    # -- session --------------------------------------------------------------------------
    def pytest_sessionstart(self, session):
        self.session = session
        self.emit(event="session", kernel_release=platform.release(), machine=platform.machine(),
                  python=sys.version.split()[0], pid=os.getpid(),
                  worker=self.config.getoption("--afalg-worker") or "1/1",
                  **({"kcov": self.kcov.status} if self.kcov else {}))

    def pytest_collection_finish(self, session):
        self.emit(event="collected", tests=[
            {"id": it.nodeid, "name": ktap_name(it.nodeid), "clauses": clauses_of(it)}
            for it in session.items])

    def pytest_sessionfinish(self, session, exitstatus):
        self.emit(event="end", exitstatus=int(exitstatus))
        self.f.close()

    # -- per test -------------------------------------------------------------------------
    def pytest_runtest_logstart(self, nodeid, location):
        name = ktap_name(nodeid)
        self.kmsg.read()   # drop anything logged between tests
        self._binds_reset()
        klog.KmsgReader.mark(f"start {name}")
        self.emit(event="start", id=nodeid, name=name, pid=os.getpid())
        self.started_at[nodeid] = time.monotonic()
        self.reports[nodeid] = {"outcome": "pass", "reason": "", "longrepr": ""}
        self._arm(nodeid)
        if self.kcov:
            self.kcov.begin()

    def _arm(self, nodeid: str) -> None:
        self._disarm()
        self._timed_out = False
        main = threading.main_thread().ident

        def fire():
            self._timed_out = True
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            signal.pthread_kill(main, signal.SIGUSR1)
            # If the main thread is stuck where no signal reaches it, leave a record and go:
            # the host sees the timeout event and restarts the guest for the rest.
            time.sleep(10)
            self.emit(event="result", id=nodeid, name=ktap_name(nodeid), outcome="timeout",
                      reason=f"no progress {self.timeout:g} s after the watchdog fired",
                      duration=self.timeout + 10)
            os._exit(3)
        self._watchdog = threading.Timer(self.timeout, fire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _on_timeout_signal(self, signum, frame):
        raise TestTimeout(f"test exceeded {self.timeout:g} s")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        rep = outcome.get_result()
        st = self.reports.setdefault(item.nodeid, {"outcome": "pass", "reason": "", "longrepr": ""})
        if call.excinfo is not None and call.excinfo.errisinstance(TestTimeout):
            st["outcome"], st["reason"] = "timeout", str(call.excinfo.value)
            st["longrepr"] = str(rep.longrepr)[-4000:]
            return
        if rep.skipped and hasattr(rep, "wasxfail"):
            st["outcome"], st["reason"] = "xfail", rep.wasxfail or "expected failure"
        elif rep.skipped and st["outcome"] == "pass":
            st["outcome"] = "skip"
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            st["reason"] = reason.removeprefix("Skipped: ")
        elif rep.failed:
            bug = rep.when == "call" and call.excinfo is not None and call.excinfo.errisinstance(HARNESS_BUGS)
            if bug:
                broke = f"harness: {call.excinfo.exconly().strip().splitlines()[-1]}"
                failed = next((e for e in recorder_for(item).evidence if not e.get("ok", True)), None)
                if failed is None:
                    # the test's own code broke (a missing name or attribute, the harness unable
                    # to go on): no clause was judged, so the kernel is not blamed; ERROR fails
                    # the run all the same
                    st["outcome"], st["reason"] = "error", broke[:300]
                else:
                    # a check had already failed: that is the verdict, the breakage came after it
                    st["outcome"] = "fail"
                    st["reason"] = (f"{failed.get('clause')}: {failed.get('sent')}: expected "
                                    f"{str(failed.get('expected'))[:60]}, seen {str(failed.get('seen'))[:60]}; "
                                    f"then {broke}")[:300]
            elif rep.when == "call" and not hasattr(rep, "wasxfail"):
                st["outcome"] = "fail"
            elif st["outcome"] not in ("fail", "timeout"):
                st["outcome"] = "error"
            if not st["reason"]:
                msg = call.excinfo.exconly() if call.excinfo else str(rep.longrepr)
                st["reason"] = msg.strip().splitlines()[-1][:300] if msg.strip() else "failed"
            st["longrepr"] = (st["longrepr"] + "\n" + str(rep.longrepr))[-8000:]
        elif rep.passed and hasattr(rep, "wasxfail"):
            # xpass: a deviation the test expected has gone away; the clause needs updating.
            st["outcome"], st["reason"] = "fail", f"XPASS: {rep.wasxfail}"

    def pytest_runtest_logfinish(self, nodeid, location):
        cover = self.kcov.end() if self.kcov else None      # first: the plugin's own work is not the test's
        self._disarm()
        item_rec = self._recorder_by_id.pop(nodeid, None)
        st = self.reports.pop(nodeid, {"outcome": "error", "reason": "no report"})
        lines = self.kmsg.read()
        rec = item_rec or Recorder()
        problems, unexplained = [], []
        for p in klog.scan(lines):
            if self._siblings_own(p):
                continue
            problems.append(p.to_json())
            if why := rec.explanation(p):
                problems[-1]["explained"] = why
            else:
                unexplained.append(problems[-1])
        if unexplained and st["outcome"] in ("pass", "skip", "xfail"):
            st["outcome"] = "fail"
            st["reason"] = f"kernel reported {unexplained[0]['kind']}: {unexplained[0]['line']}"[:300]
        klog.KmsgReader.mark(f"end {ktap_name(nodeid)}")
        self.emit(event="result", id=nodeid, name=ktap_name(nodeid), outcome=st["outcome"],
                  reason=st["reason"], longrepr=st.get("longrepr", ""),
                  clauses=sorted(set(self._clauses.get(nodeid, [])) | rec.clauses),
                  evidence=rec.evidence, subtests=rec.subtests, kernel_log=problems,
                  **({"binds": rec.binds} if rec.binds else {}),
                  duration=round(time.monotonic() - self.started_at.get(nodeid, time.monotonic()), 3),
                  **({"kcov": cover} if cover is not None else {}))
        if self.stop_after_fail and st["outcome"] in FAILING and nodeid not in self.stop_ignore:
            self._stop(nodeid, st["outcome"])

    def _stop(self, nodeid: str, outcome: str) -> None:
        """--afalg-stop-after-fail: this worker, and every other, ends after this test. The
        event tells the host that the tests left were not run on purpose (no harness error)."""
        self.emit(event="stopped", id=nodeid, reason=f"stopped after the first failure ({outcome}: {nodeid})")
        claims = self.config.pluginmanager.get_plugin("afalg-claims")
        if claims is not None:
            claims.stop()
        if self.session is not None:
            self.session.shouldstop = f"stopped after the first failure: {nodeid}"

    # -- which worker's test a report belongs to (parallel runs) ----------------------------
    # Each worker lists the names its running test asked to bind in binds-<pid> of the claim
    # folder (the guest's tmpfs), and a worker that keeps a self-test report as its own test's
    # leaves selftest-<digest> there; the other workers then leave that report alone.
    def _binds_path(self) -> str:
        return os.path.join(self.claims_dir, f"binds-{os.getpid()}")

    def _binds_reset(self) -> None:
        self.bound_now = set()
        if self.claims_dir:
            with contextlib.suppress(OSError):
                open(self._binds_path(), "w").close()

    def _on_bind(self, alg_type: str, name: str) -> None:
        if name in self.bound_now or "\n" in name:
            return
        self.bound_now.add(name)
        if self.claims_dir:
            with contextlib.suppress(OSError), open(self._binds_path(), "a") as f:
                f.write(name + "\n")

    @staticmethod
    def _report_digest(problem) -> str:
        return hashlib.sha1("\n".join([problem.line, *problem.context]).encode()).hexdigest()[:20]

    def _selftest_elsewhere(self, problem, tested: tuple[str, str]) -> bool:
        """A failed self-test is the test's whose bind started it (the report's task is
        cryptomgr's kernel thread, so the PID cannot tell): this test's when it asked for a
        related name (and it says so for the others), another worker's when that worker's
        running test asked for one or already took the report; else this test's too."""
        alg, driver = tested
        mine = any(klog.bind_started(b, alg, driver) for b in self.bound_now)
        claim = os.path.join(self.claims_dir, f"selftest-{self._report_digest(problem)}")
        if mine:
            with contextlib.suppress(OSError):
                open(claim, "w").close()
            return False
        if os.path.exists(claim):
            return True
        for name in os.listdir(self.claims_dir):
            if not name.startswith("binds-") or name == os.path.basename(self._binds_path()):
                continue
            with contextlib.suppress(OSError), open(os.path.join(self.claims_dir, name)) as f:
                if any(klog.bind_started(b, alg, driver) for b in f.read().splitlines()):
                    return True
        return False

    def _siblings_own(self, problem) -> bool:
        """A kernel report whose task belongs to another worker (parallel runs) is that
        worker's test's, not this one's; so is a failed self-test that another worker's bind
        started (_selftest_elsewhere). Anything else (no PID, a kworker, an interrupt, a task
        gone) stays with this test too: a report is never dropped."""
        claims = self.claims_dir
        if not claims:
            return False
        tested = klog.selftest_failure(problem)
        if tested is not None:
            return self._selftest_elsewhere(problem, tested)
        pid = klog.task_of(problem)
        if pid is None:
            return False
        siblings = set()
        for name in os.listdir(claims):
            if name.startswith("pid-"):
                with contextlib.suppress(OSError, ValueError):
                    siblings.add(int(open(os.path.join(claims, name)).read()))
        siblings.discard(os.getpid())
        return klog.task_group(pid) in siblings

    # Recorders are per item; keep a map so logfinish (which only gets the node id) finds them.
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        self._recorder_by_id[item.nodeid] = recorder_for(item)
        self._clauses[item.nodeid] = clauses_of(item)
