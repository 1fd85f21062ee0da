"""Host side of a run: boot the guest once, stream its results, survive its death.

The guest writes events.jsonl into the results folder as each test ends. The
host tails that file while vng runs, printing KTAP lines and progress as they
come. If the guest panics or hangs, the test that had started and not finished
is the one that crashed it: it is recorded as `crash` or `timeout` with the
console's evidence, and a fresh guest runs the tests that had not run yet.
Everything already reported is kept whatever happens.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from afalg_conformance.harness.host import launch, processes as guests
from afalg_conformance.harness.results import junit
from afalg_conformance.harness.results import klog
from afalg_conformance.harness.results import ktap
from afalg_conformance.harness.host import vm
from afalg_conformance.harness.results.model import Run, RunInfo, TestResult
from afalg_conformance.harness.results.order import canonical_order_key, read_ids
from afalg_conformance.harness.errors import HarnessError


@dataclass
class RunOptions:
    suite: str = "full"
    boot_timeout: float = 600.0       # to reach the guest script, and again to start the suite
    run_timeout: float = 3600.0       # whole attempt
    test_timeout: float = 120.0
    memory: str = "2G"
    cpus: int = 2
    max_restarts: int = 2
    boot_retries: int = 2             # fresh boots after a kernel died before the suite started
    keyword: str | None = None
    shard: str | None = None
    allow_crash: bool = False
    paths: list[str] = field(default_factory=list)
    append: list[str] = field(default_factory=list)
    preload_modules: str | None = None  # guest insmods af_alg.ko, algif_*.ko from this folder first
    restrict: str = "auto"            # af_alg_restrict for the run (Linux 7.3+): auto = 0, clauses set their own
    kat_budget: int = 0               # vectors per CAVP GCM file (0: all; run --quick: 800)
    mct_budget: int = 0               # checkpoints per CAVP Monte Carlo file (0: all; --quick, coverage: 3)
    jobs: int | None = None           # pytest workers in the guest (None: one per vCPU; 1 on the host)
    shrink: bool = False              # let Hypothesis shrink failing examples in the guest
    real_modprobe: bool = False       # guest: the kernel's module requests all run /sbin/modprobe
    sweep_budget: int | None = None   # vectors per file and driver in the sweep (None: the suite's 50; 0: all)
    drivers: list[str] = field(default_factory=list)   # run --driver: driver names or globs to focus on
    kcov: int = 0                     # record each test's af_alg/algif KCOV PCs (trace buffer entries)
    stop_after_fail: str | None = None  # end at the first failing test but those listed in this file ("-": none)
    progress: bool | None = None      # None: when stderr is a terminal
    ktap_out: object = None           # a text stream for streamed KTAP; None: sys.stdout


QUICK_KAT_BUDGET = 800                # run --quick: vectors per CAVP GCM file
QUICK_MCT_BUDGET = 3                  # run --quick and coverage: checkpoints per CAVP Monte Carlo file


def options_from(a, **overrides) -> RunOptions:
    """RunOptions from `run`'s parsed arguments (single kernel and matrix alike)."""
    opts = RunOptions(suite=a.suite, boot_timeout=a.boot_timeout, run_timeout=a.run_timeout,
                      test_timeout=a.test_timeout, memory=a.memory, cpus=a.cpus,
                      max_restarts=a.max_restarts, keyword=a.keyword, shard=a.shard,
                      allow_crash=a.allow_crash_tests, paths=list(a.paths), append=list(a.append),
                      restrict=getattr(a, "restrict", "auto"),
                      kat_budget=QUICK_KAT_BUDGET if getattr(a, "quick", False) else 0,
                      mct_budget=QUICK_MCT_BUDGET if getattr(a, "quick", False) else 0,
                      jobs=getattr(a, "jobs", None), shrink=getattr(a, "shrink", False),
                      real_modprobe=getattr(a, "real_modprobe", False),
                      sweep_budget=getattr(a, "sweep_budget", None),
                      drivers=list(getattr(a, "driver", None) or []))
    for k, v in overrides.items():
        setattr(opts, k, v)
    return opts


class Progress:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.start = time.monotonic()
        self.total = 0
        self.done = 0
        self.current = ""

    def show(self) -> None:
        if not self.enabled:
            return
        el = int(time.monotonic() - self.start)
        line = f"[{self.done}/{self.total or '?'}] {el // 60}:{el % 60:02d} {self.current}"
        sys.stderr.write("\r\033[K" + line[:160])
        sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def say(msg: str) -> None:
    print(f"afalg-conform: {msg}", file=sys.stderr, flush=True)


class EventTail:
    """Reads complete JSON lines appended to a file since the last call."""

    def __init__(self, path: Path):
        self.path = path
        self.pos = 0
        self.partial = b""

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
                self.pos = f.tell()
        except FileNotFoundError:
            return []
        data = self.partial + data
        *lines, self.partial = data.split(b"\n")
        out = []
        for line in lines:
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass   # a line torn by a crash mid-write: the test is then the crasher
        return out


def header_comments(run: Run, drivers: list[str] = ()) -> list[str]:
    """The KTAP header's comment lines: the kernel, and a driver focus when there is one."""
    out = [f"afalg-conformance on {run.run.kernel_release} ({run.run.target}, {run.run.accel})"]
    if drivers:
        out.append("driver focus: " + " ".join(f"--driver {d}" for d in drivers))
    return out


class Session:
    """Folds events from one or more guest attempts into a Run, streaming KTAP."""

    def __init__(self, run: Run, opts: RunOptions):
        self.run = run
        self.opts = opts
        self.stream = ktap.KtapStream(opts.ktap_out or sys.stdout)
        prog = opts.progress if opts.progress is not None else sys.stderr.isatty()
        self.progress = Progress(prog)
        self.planned: list[dict] = []
        self.done_ids: set[str] = set()
        self.running: dict[str, dict] = {}     # test id -> its start event (one per guest worker)
        self.fatal: str | None = None
        self.stopped: str | None = None        # why the guest ended early on purpose (--stop-after-fail)
        self.sessions = 0
        self.attempt_sessions = 0              # pytest sessions (workers) of the current guest
        self.attempt_ends = 0
        # Where the first guest that reached the suite spent its time (bench prints it; a boot
        # TCG killed before is not it): seconds from the start of the attempt as the host saw
        # them, and the guest's own clock for what happens inside it.
        self.timeline: dict[str, float] = {}
        self.timeline_attempt: int | None = None
        self._guest_t: dict[str, list[float]] = {"session": [], "collected": [], "end": []}
        self.kcov: list[dict] = []             # each worker's KCOV status (run.kcov only)

    @property
    def ended(self) -> bool:
        """Every worker of the current guest finished its pytest session."""
        return self.attempt_sessions > 0 and self.attempt_ends >= self.attempt_sessions

    attempt_no = 0

    def new_attempt(self) -> None:
        self.attempt_no += 1
        self.running.clear()
        self.attempt_sessions = self.attempt_ends = 0

    def handle(self, ev: dict) -> None:
        kind = ev.get("event")
        if kind == "session" and self.timeline_attempt is None:
            self.timeline_attempt = self.attempt_no
        if kind in self._guest_t and "t" in ev and self.attempt_no == self.timeline_attempt:
            self._guest_t[kind].append(ev["t"])
        if kind == "session":
            self.sessions += 1
            self.attempt_sessions += 1
            if self.attempt_no == self.timeline_attempt:
                self.timeline.setdefault("suite_started", round(time.time() - self._attempt_started, 1))
            self.run.run.kernel_release = ev.get("kernel_release", self.run.run.kernel_release)
            if "kcov" in ev:
                self.kcov.append(dict(ev["kcov"], attempt=self.attempt_no))
            if self.run.run.boot_seconds is None and "t" in ev:
                self.run.run.boot_seconds = round(ev["t"] - self._attempt_started, 1)
        elif kind == "collected":
            if not self.planned:
                self.planned = ev["tests"]
                self.progress.total = len(self.planned)
                self.stream.header(len(self.planned), header_comments(self.run, self.opts.drivers))
        elif kind == "start":
            self.running[ev["id"]] = ev
            self.progress.current = " | ".join(r.get("name", "") for r in self.running.values())
            self.progress.show()
        elif kind == "result":
            self.running.pop(ev["id"], None)
            if ev["id"] in self.done_ids:
                return
            t = TestResult.from_json({k: v for k, v in ev.items() if k not in ("event", "t")})
            self.add(t)
        elif kind == "end":
            self.attempt_ends += 1
        elif kind == "fatal":
            self.fatal = ev.get("reason", "guest runner failed")
        elif kind == "stopped":
            self.stopped = self.stopped or ev.get("reason", "stopped after the first failure")

    def add(self, t: TestResult) -> None:
        self.done_ids.add(t.id)
        self.run.tests.append(t)
        self.progress.clear()
        if not self.stream.started:
            self.stream.header(len(self.planned) or 1)
        self.stream.test(t)
        self.progress.done += 1
        self.progress.show()

    def breakdown(self) -> dict:
        """Boot, interpreter and pytest start, collection and tests of the first guest, in
        seconds; collection and tests from the guest's clock (workers: first to last)."""
        out = dict(self.timeline)
        g = self._guest_t
        if g["session"] and g["collected"]:
            out["collection"] = round(max(g["collected"]) - min(g["session"]), 1)
        if g["collected"] and g["end"]:
            out["tests"] = round(max(g["end"]) - min(g["collected"]), 1)
        if "kernel_booted" in out and "suite_started" in out:
            out["interpreter_and_pytest_start"] = round(out["suite_started"] - out["kernel_booted"], 1)
        return out

    def remaining(self) -> list[dict]:
        return [p for p in self.planned if p["id"] not in self.done_ids]

    def culprit(self, lines: list[str], problems: list) -> dict | None:
        """The test that killed or hung the guest: the one running, or, with several workers,
        the one whose process the kernel's report names. None when that cannot be told:
        the caller then reruns the suspects one at a time, so the blame is never a guess."""
        running = list(self.running.values())
        if len(running) == 1:
            return running[0]
        if not running:
            # A torn event line or a crash between tests: trust the kernel-log marker.
            name = klog.last_started_test(lines)
            return next((p for p in self.planned if p["name"] == name), None) if name else None
        # The task of the report that killed the guest: the last death report naming one (the
        # final "Kernel panic" line names none), not an earlier report another test survived.
        pids = set()
        for p in reversed([p for p in problems if p.kind in klog.DEATHS]):
            pid = klog.task_of(p)
            if pid is not None:
                pids = {pid}
                break
        named = [r for r in running if r.get("pid") in pids]
        return named[0] if len(named) == 1 else None

    _attempt_started = 0.0


def worker_count(opts: RunOptions, host: bool = False) -> int:
    """Pytest workers in the guest. One per vCPU, but for the smoke suite: its seven tests take
    seconds (bench --suite smoke, when each worker started its own interpreter and pytest: 50.7 s
    with one, 54.7-64.6 s with two; the workers are forked after one collection since)."""
    return opts.jobs if opts.jobs is not None else (1 if host or opts.suite == "smoke" else opts.cpus)


# virtme-ng carries the guest command on the kernel command line (vm.check_cmdline): a longer
# list of test paths (mutants run --whole names every file) goes in a file in the results folder.
PATHS_INLINE_MAX = 200


def _paths_file(opts: RunOptions, results_dir: Path) -> str | None:
    """The test paths in results_dir/paths.txt when they are too long to pass inline."""
    if len(" ".join(opts.paths)) <= PATHS_INLINE_MAX:
        return None
    path = results_dir / "paths.txt"
    path.write_text("".join(f"{p}\n" for p in opts.paths))
    return str(path)


def _guest_args(opts: RunOptions, events_name: str, skip_file: str | None, host: bool = False,
                paths_file: str | None = None) -> list[str]:
    args = ["--suite", opts.suite, "--events", events_name, "--test-timeout", str(opts.test_timeout)]
    if skip_file:
        args += ["--skip-ids", skip_file]
    if opts.shard:
        args += ["--shard", opts.shard]
    if opts.allow_crash:
        args.append("--allow-crash")
    if opts.keyword:
        args += ["-k", opts.keyword]
    if opts.preload_modules:
        args += ["--preload-modules", opts.preload_modules]
    if opts.restrict != "auto":
        args += ["--restrict", opts.restrict]
    elif host:
        args += ["--restrict", "keep"]      # never loosen the host's own setting by default
    if opts.kat_budget:
        args += ["--kat-budget", str(opts.kat_budget)]
    if opts.mct_budget:
        args += ["--mct-budget", str(opts.mct_budget)]
    jobs = worker_count(opts, host)
    if jobs > 1:
        args += ["--jobs", str(jobs)]
    if opts.shrink:
        args.append("--shrink")
    if not host and not opts.real_modprobe:
        args.append("--quick-modprobe")     # harness/afalg/modprobe.py; never on the host
    if opts.sweep_budget is not None:
        args += ["--sweep-budget", str(opts.sweep_budget)]
    for d in opts.drivers:
        args += ["--driver", d]
    if opts.kcov:
        args += ["--kcov", str(opts.kcov)]
    if opts.stop_after_fail is not None:
        args += ["--stop-after-fail", opts.stop_after_fail]
    if paths_file:
        return args + ["--paths-file", paths_file]
    return args + list(opts.paths)


def _attempt(session: Session, cmd: list[str], events: Path, console: Path, opts: RunOptions,
             env: dict | None = None) -> tuple[str, int]:
    """One guest (or host) process. Returns (status, returncode): status is
    'ok', 'crashed', 'timeout' or 'boot-failure'."""
    tails = {events: EventTail(events)}
    session._attempt_started = time.time()
    session.new_attempt()
    started = time.monotonic()
    before = session.sessions

    def read_events() -> list[dict]:
        # Workers write events-A-wI.jsonl beside events-A.jsonl (harness/guest/runner.py).
        for extra in sorted(events.parent.glob(events.stem + "-w*.jsonl")):
            tails.setdefault(extra, EventTail(extra))
        return [ev for t in tails.values() for ev in t.read()]
    clock = {"suite": 0.0, "booted": 0.0}

    def watch(ended: bool) -> str | None:
        now = time.monotonic()
        if not clock["booted"] and BOOT_DONE in _console_head(console):
            clock["booted"] = now
            if session.timeline_attempt is None:    # until a guest reaches the suite, the latest boot
                session.timeline["kernel_booted"] = round(now - started, 1)
        for ev in read_events():
            session.handle(ev)
        if ended:
            return None
        if session.sessions == before:
            # Two allowances: the kernel and init to reach the script, then the
            # interpreter and pytest to start (both slow under a loaded TCG host).
            # KVM leaves the guest stopped, not dead: without this it waits out the timeout.
            if now - (clock["booted"] or started) > opts.boot_timeout or \
                    (not clock["booted"] and b"KVM internal error" in _console_head(console)):
                return "boot-failure"
        else:
            clock["suite"] = clock["suite"] or now
            if now - clock["suite"] > opts.run_timeout:
                return "timeout"
        return None
    done = launch.launch(cmd, console, env=env, watch=watch)
    status, rc = (done.status if done.status != "exited" else None), done.rc
    if status:
        return status, rc
    if session.ended:
        return "ok", rc
    if session.sessions == before:
        return "boot-failure", rc
    return "crashed", rc


BOOT_DONE = b"virtme-ng-init: starting script"
RETRY_BOOT = ("panic", "kvm")      # boot failures worth another boot; the others will not change


def classify_boot_failure(lines: list[str], rc: int | None) -> tuple[str, str]:
    """(kind, one-line reason) for a guest that never started the suite:
    panic   the kernel died (panic, oops, BUG) before the suite (an emulator flake under TCG,
            or the kernel);
    kvm     KVM stopped the guest ('KVM internal error', nested virtualisation);
    missing vng or qemu said a piece is missing (no retry helps);
    timeout the guest printed no kernel report and never reached the suite."""
    text = [klog.strip_prefix(x) for x in lines]
    if any("KVM internal error" in t for t in text):
        return "kvm", "KVM stopped the guest during boot ('KVM internal error'): run with KVM off"
    problems = klog.scan(lines)
    # Only a kernel that died counts; a WARNING or stall on the way to a timeout is no panic.
    if any(p.kind in klog.DEATHS for p in problems):
        return "panic", f"kernel panicked during boot: {klog.signature(lines)[0]}"
    for t in text:
        if t.startswith(("virtme-run:", "vng:", "qemu-system-x86_64:")) and "fallback to 9p" not in t \
                and "terminating on signal" not in t:
            return "missing", f"the guest never started the suite (vng exit {rc}): {t[:240]}"
    tail = " | ".join(t for t in text[-5:] if t.strip())[-300:]
    return "timeout", f"the guest never started the suite (vng exit {rc}); console ends: {tail}"


def _console_head(console: Path) -> bytes:
    """The console so far (read while the guest boots: it is small until the suite starts)."""
    try:
        with open(console, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def _console_lines(console: Path) -> list[str]:
    try:
        return console.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []


def execute(target: vm.Target, results_dir: Path, opts: RunOptions) -> Run:
    """Run the suite on target, writing results into results_dir. Never raises for a
    guest failure: that becomes part of the Run."""
    results_dir.mkdir(parents=True, exist_ok=True)
    info = RunInfo(target=target.name, kernel_release=target.release,
                   started=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                   shard=opts.shard or "")
    run = Run(run=info)
    session = Session(run, opts)
    t0 = time.monotonic()

    if target.is_host:
        info.accel, info.accel_reason = "host", "running kernel, no VM"
        use_kvm = False
    else:
        _, qemu = vm.find_tools()
        use_kvm, why = vm.probe_kvm(qemu, target.image)
        info.accel = "kvm" if use_kvm else "tcg"
        info.accel_reason = why
        say(f"booting {target.name} ({target.release or target.image}) under "
            f"{'KVM' if use_kvm else 'TCG'}: {why}")

    paths_file = _paths_file(opts, results_dir)     # once: every attempt runs the same paths
    attempt = 0
    boot_retries = 0
    crashed_ids: list[str] = []
    while True:
        events = results_dir / f"events-{attempt}.jsonl"
        console = results_dir / ("console.log" if attempt == 0 else f"console-{attempt}.log")
        skip_file = None
        if attempt:
            skip_file = str(results_dir / f"skip-{attempt}.txt")
            Path(skip_file).write_text("\n".join(sorted(session.done_ids)) + "\n")
        gargs = _guest_args(opts, events.name, skip_file, target.is_host, paths_file)
        cmd, env = launch.command(target, str(results_dir),
                                  ["-m", "afalg_conformance.harness.guest.runner", "--results", str(results_dir), *gargs],
                                  use_kvm=use_kvm, memory=opts.memory, cpus=opts.cpus, append=opts.append)
        info.command = cmd
        started = time.monotonic()
        status, rc = _attempt(session, cmd, events, console, opts, env)
        if session.fatal:
            info.harness_status, info.harness_reason = "harness-error", session.fatal
            break
        if status == "ok":
            break
        if status == "boot-failure":
            kind, reason = classify_boot_failure(_console_lines(console), rc)
            info.boot_failures.append({"attempt": attempt, "console": console.name, "kind": kind, "reason": reason,
                                       "seconds": round(time.monotonic() - started, 1)})
            if kind in RETRY_BOOT and boot_retries < opts.boot_retries and not guests.stopping.is_set():
                # A kernel that dies before init under TCG is the emulator (seen: 'Oops: int3' in
                # sched_clock_cpu at 3 s on a loaded host), not AF_ALG: boot again, bounded.
                boot_retries += 1
                if kind == "kvm":
                    use_kvm = False
                    info.accel, info.accel_reason = "tcg", "KVM stopped the first guest ('KVM internal error')"
                say(f"{reason}; booting again ({boot_retries} of {opts.boot_retries})")
                attempt += 1
                continue
            if not session.sessions:
                info.harness_status, info.harness_reason = "boot-failure", reason
                break
            info.harness_status, info.harness_reason = "crashed", reason
            break
        # The guest died or hung: the running test is the culprit.
        lines = _console_lines(console)
        problems = klog.scan(lines)
        suspects = len(session.running)
        culprit = session.culprit(lines, problems)
        if culprit is None and suspects > 1:
            # Several workers were running tests and the kernel's report names none of them:
            # the next guest runs one test at a time, so a second death names its test.
            opts.jobs = 1
        outcome = "timeout" if status == "timeout" else "crash"
        if culprit is not None and culprit["id"] not in session.done_ids:
            own = [p.to_json() for p in problems if p.test in (None, culprit.get("name"))]
            if status == "timeout":
                reason = f"guest stopped after {opts.run_timeout:g} s with this test running"
            else:
                first = next((p for p in own if p["kind"] in klog.DEATHS), None)
                reason = (f"guest kernel died: {first['kind']}: {first['line']}" if first
                          else f"guest died (vng exit {rc}) with no kernel report on the console")
            t = TestResult(id=culprit["id"], name=culprit.get("name", culprit["id"]), outcome=outcome,
                           reason=reason[:300], clauses=culprit.get("clauses", []), kernel_log=own[:5])
            session.add(t)
            crashed_ids.append(t.id)
        info.harness_status = "crashed" if status == "crashed" else "timeout"
        where = f"during {culprit['id']}" if culprit else "between tests"
        if culprit is None and suspects > 1:
            where = f"with {suspects} tests running (rerun one at a time)"
        info.harness_reason = f"guest {'died' if status == 'crashed' else 'hung'} {where}"
        run.kernel_problems += [dict(p.to_json(), console=console.name) for p in problems
                                if culprit is None or p.test not in (None, culprit.get("name"))]
        if not session.remaining() or info.restarts >= opts.max_restarts or target.is_host:
            break
        stopping = opts.stop_after_fail is not None
        if stopping and crashed_ids and crashed_ids[-1] not in read_ids(opts.stop_after_fail):
            session.stopped = session.stopped or f"stopped after the first failure ({outcome}: {crashed_ids[-1]})"
            break
        attempt += 1
        info.restarts += 1
        say(f"{info.harness_reason}; restarting the guest for the {len(session.remaining())} tests left")

    info.extra["timeline"] = session.breakdown()
    if session.kcov:           # per worker: KCOV on, its buffer and af_alg/algif range, or why not
        info.extra["kcov"] = session.kcov
    if opts.kat_budget:        # the report says the GCM files were sampled
        info.extra["kat_budget"] = opts.kat_budget
    if opts.mct_budget:
        info.extra["mct_budget"] = opts.mct_budget
    if opts.sweep_budget is not None:   # the sweep's vectors per file and driver, as asked
        info.extra["sweep_budget"] = opts.sweep_budget
    try:                       # the af_alg_restrict mode found and the one the run used
        info.extra["af_alg_restrict"] = json.loads((results_dir / "af-alg-restrict.json").read_text())
    except (OSError, ValueError):
        pass
    try:                       # how the kernel's module requests were answered (harness/afalg/modprobe.py)
        info.extra["modprobe"] = json.loads((results_dir / "modprobe.json").read_text())
    except (OSError, ValueError):
        pass
    if opts.preload_modules:   # which modules the guest really loaded (harness/guest/runner.py)
        try:
            info.extra["preload_modules"] = json.loads((results_dir / "preload-modules.json").read_text())
        except (OSError, ValueError) as e:
            info.extra["preload_modules"] = {"dir": opts.preload_modules, "error": f"no record: {e}"}
    if info.harness_status == "ok" and session.remaining() and not session.stopped:
        # Every worker ended its session, yet planned tests never reported: a worker stopped
        # early (pytest's INTERNALERROR). The machinery broke; the tests are not just skipped.
        info.harness_status = "harness-error"
        info.harness_reason = f"{len(session.remaining())} planned tests never reported (a guest worker stopped early)"
    # Tests that never ran are reported as such, never as passes.
    if session.stopped:
        info.extra["stopped"] = session.stopped
    for p in session.remaining():
        if session.stopped:
            # Asked for: the first failure is the answer (mutants run --whole), the rest not run.
            why = f"not-run:stopped-after-first-failure ({session.stopped})"
        else:
            why = f"not run: {info.harness_reason or 'not run'}"
        session.add(TestResult(id=p["id"], name=p["name"], outcome="skip",
                               reason=why[:300], clauses=p.get("clauses", [])))
    info.duration = round(time.monotonic() - t0, 1)
    session.progress.clear()
    if opts.drivers:           # run --driver: what the guest matched, and what went through it
        try:
            info.extra["driver_focus"] = json.loads((results_dir / "driver-focus.json").read_text())
        except (OSError, ValueError) as e:
            info.extra["driver_focus"] = {"patterns": opts.drivers, "error": f"no record: {e}"}
    if session.stream.started:
        notes = [f"{info.harness_status}: {info.harness_reason}"] if info.harness_status != "ok" else []
        if opts.drivers:
            notes.append(run.focus_line())
        session.stream.footer(run, notes)
    info.exit_code = run.verdict()
    run.tests.sort(key=lambda t: canonical_order_key(t.id))   # workers finish in any order
    write_outputs(run, results_dir)
    return run


def write_outputs(run: Run, results_dir: Path) -> None:
    """results.json, results.ktap, junit.xml. A full, read-only or failing disk is the
    harness's problem, said in one line (exit 2); the KTAP already streamed stays valid."""
    try:
        run.save(str(results_dir / "results.json"))
        patterns = run.run.extra.get("driver_focus", {}).get("patterns", [])
        (results_dir / "results.ktap").write_text(ktap.render(run, header_comments(run, patterns)))
        (results_dir / "junit.xml").write_bytes(junit.render(run))
    except OSError as e:
        name = errno.errorcode.get(e.errno, "") if e.errno else ""
        raise HarnessError(f"cannot write the results to {results_dir} ({name}: {e.strerror or e}); "
                              "the KTAP on stdout is complete, the streamed events-*.jsonl are kept") from None


def default_results_dir(target: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in target)
    return Path("results") / f"{stamp}-{safe}"
