"""Kernel log classifier: finds oopses, BUGs, WARNs, KASAN reports, hung tasks, panics.

Fed either /dev/kmsg records (in the guest, after each test) or the guest console
captured by the host (after a crash, where the guest could not report itself).
The console also carries the runner's markers, `afalg-conform: start <test>`,
so a splat is attributed to the test that was running when it was printed.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field

# Order matters: the first pattern that matches a line names its kind.
PATTERNS: list[tuple[str, re.Pattern]] = [
    ("panic", re.compile(r"Kernel panic - not syncing")),
    ("kasan", re.compile(r"BUG: KASAN: |KASAN: \S+ in ")),
    ("kfence", re.compile(r"BUG: KFENCE: ")),
    ("ubsan", re.compile(r"UBSAN: ")),
    ("hung-task", re.compile(r"INFO: task \S+ blocked for more than \d+ seconds")),
    ("rcu-stall", re.compile(r"rcu: INFO: \S+ detected stalls|rcu_sched self-detected stall")),
    ("soft-lockup", re.compile(r"watchdog: BUG: soft lockup|hard LOCKUP")),
    ("lockdep", re.compile(r"WARNING: possible (circular|recursive) locking|inconsistent lock state")),
    ("oops", re.compile(r"BUG: unable to handle|general protection fault|Oops: |BUG: kernel NULL pointer"
                        r"|kernel BUG at |invalid opcode: ")),
    ("bug", re.compile(r"\bBUG: ")),
    ("warning", re.compile(r"WARNING: CPU: \d+ PID: \d+ at |WARNING: .* at .*\+0x|------------\[ cut here \]")),
    ("memleak", re.compile(r"unreferenced object 0x")),
]

# Reports of a kernel that died (as opposed to one that warned and went on).
DEATHS = ("panic", "oops", "bug", "kasan")

# Markers the guest runner prints to /dev/kmsg around each test.
MARKER = "afalg-conform:"
START_RE = re.compile(r"afalg-conform: start (\S+)")
END_RE = re.compile(r"afalg-conform: end (\S+)")

# Lines that look alarming but are expected in a healthy guest.
BENIGN = [
    re.compile(r"sysrq: Trigger a crash"),  # the opt-in crash test announces itself
]

_TS = re.compile(r"^\s*(?:<\d+>)?\s*(?:\[\s*\d+\.\d+\]\s*)?")


@dataclass
class Problem:
    kind: str
    line: str
    test: str | None = None
    context: list[str] = field(default_factory=list)
    # a WARN's own message: the lines between its "cut here" and its WARNING line
    message: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def strip_prefix(line: str) -> str:
    """Remove a console timestamp or a kmsg level prefix."""
    return _TS.sub("", line, count=1).rstrip("\r\n")


def classify_line(line: str) -> str | None:
    text = strip_prefix(line)
    if any(b.search(text) for b in BENIGN):
        return None
    for kind, pat in PATTERNS:
        if pat.search(text):
            return kind
    return None


def scan(lines: list[str], context: int = 12) -> list[Problem]:
    """Problems in a block of kernel log lines, each with the lines that follow it.

    A 'cut here' line and the WARNING that follows are one report, and a report's
    own continuation lines (Call Trace, RIP, ...) do not start new ones.
    """
    problems: list[Problem] = []
    current_test: str | None = None
    skip_until = -1
    cut = -1                 # the last "cut here" line: a WARN's message follows it
    texts = [strip_prefix(x) for x in lines]
    for i, text in enumerate(texts):
        m = START_RE.search(text)
        if m:
            current_test, skip_until = m.group(1), -1
            continue
        if END_RE.search(text):
            current_test, skip_until = None, -1
            continue
        if text.startswith("---[ end "):
            skip_until = -1   # the report is over; what follows is a new one
            continue
        kind = classify_line(text)
        if kind is None:
            continue
        # Continuation lines of a report do not start a new one; a panic always does.
        if i <= skip_until and kind != "panic":
            continue
        if kind == "warning" and "cut here" in text:
            # Let the WARNING line that follows name the report.
            cut = i
            continue
        ctx = texts[i + 1:i + 1 + context]
        message = texts[cut + 1:i] if kind == "warning" and 0 <= cut and i - cut <= context else []
        cut = -1
        problems.append(Problem(kind, text, current_test, ctx, message))
        skip_until = i + context
    return problems


# The task a report names: `CPU: 1 PID: 345 at ...` (WARNING) or `CPU: 0 UID: 0 PID: 345 Comm: ...`.
TASK_PID = re.compile(r"\bCPU: \d+ (?:UID: \d+ )?PID: (\d+)\b")


def task_of(problem: "Problem") -> int | None:
    """The task a report names: its own line first, then the lines after it (a later task
    line may be another report's)."""
    return next((int(m.group(1)) for m in map(TASK_PID.search, [problem.line, *problem.context]) if m), None)


# testmgr's verdict on an algorithm that failed its self-test, printed before and as its WARN:
# "alg: self-tests for ALG using DRIVER failed (rc=N)" (6.1.1xx, 6.12) or, older,
# "alg: self-tests for DRIVER (ALG) failed (rc=N)".
SELFTEST_USING = re.compile(r"alg: self-tests for (\S+) using (\S+) failed")
SELFTEST_PAREN = re.compile(r"alg: self-tests for (\S+) \((\S+)\) failed")


def selftest_failure(problem: "Problem") -> tuple[str, str] | None:
    """(algorithm, driver) when the report is testmgr's WARN on a failed self-test.

    Such a report comes from cryptomgr's own kernel thread, not from the task whose bind
    asked for the algorithm, so its PID says nothing about which test caused it."""
    for text in (*problem.message, problem.line):
        if m := SELFTEST_USING.search(text):
            return m.group(1), m.group(2)
        if m := SELFTEST_PAREN.search(text):
            return m.group(2), m.group(1)
    return None


def bind_started(bound: str, alg: str, driver: str) -> bool:
    """Whether a bind of `bound` can have started the self-test of (alg, driver): the same
    name, or an algorithm built inside it (binding rfc4106(gcm(aes)) instantiates and tests
    gcm(aes)), or a driver that wraps it (cryptd(NAME)). Over-matching can give a report to
    one more test; the worker whose test matches always keeps it, so none is lost."""
    if not bound.strip():
        return False                 # an empty name binds nothing, and is "in" every name
    return bound in (alg, driver) or alg in bound or driver in bound or bound in driver


def task_group(tid: int) -> int | None:
    """The process (thread group) a task belongs to, while it exists."""
    try:
        with open(f"/proc/{tid}/status") as f:
            for line in f:
                if line.startswith("Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def last_started_test(lines: list[str]) -> str | None:
    """The test that had started and not ended when the log stops (the crasher)."""
    running: list[str] = []      # several with parallel workers; the newest is the suspect
    for line in lines:
        text = strip_prefix(line)
        m = START_RE.search(text)
        if m:
            running.append(m.group(1))
        elif (m := END_RE.search(text)) and m.group(1) in running:
            running.remove(m.group(1))
    return running[-1] if running else None


# A stack frame line: `func+0x1a/0x40` (possibly after `RIP: 0010:`).
_FRAME = re.compile(r"^\s*(?:RIP: \d+:)?\s*([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+")
_SKIP_FRAMES = {"dump_stack_lvl", "dump_stack", "panic", "vpanic", "show_stack", "__warn", "report_bug",
                "handle_bug", "exc_invalid_op", "asm_exc_invalid_op", "entry_SYSCALL_64_after_hwframe",
                "do_syscall_64", "x64_sys_call", "warn_slowpath_fmt"}


def signature(lines: list[str]) -> tuple[str, list[str]] | None:
    """(signature, excerpt) of the first kernel problem in console or kmsg lines, or None.
    The signature is the problem line without numbers plus the top stack frames, so the
    same bug found twice deduplicates: `warning: WARNING: CPU: N PID: N at ... | a < b`."""
    texts = [strip_prefix(x) for x in lines]
    problems = scan(lines, context=60)
    if not problems:
        return None
    p = problems[0]
    try:
        start = texts.index(p.line)
    except ValueError:
        start = 0
    frames = []
    for t in texts[start:start + 80]:
        if t.lstrip().startswith("?"):
            continue
        m = _FRAME.match(t)
        if m and m.group(1) not in _SKIP_FRAMES and m.group(1) not in frames:
            frames.append(m.group(1))
        if len(frames) >= 5:
            break
    # title: the problem line without addresses/pids
    title = re.sub(r"0x[0-9a-f]+|\b\d+\b", "N", p.line)[:120]
    sig = f"{p.kind}: {title} | {' < '.join(frames[:5]) or 'no-frames'}"
    return sig, texts[max(0, start - 5):start + 40]


class KmsgReader:
    """Non-blocking reader of /dev/kmsg records from the point it was opened (from the oldest
    record the kernel still holds, with from_start)."""

    def __init__(self, from_start: bool = False):
        self.fd = None
        try:
            self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
            if not from_start:
                os.lseek(self.fd, 0, os.SEEK_END)
        except OSError:
            self.fd = None

    def read(self) -> list[str]:
        lines = []
        if self.fd is None:
            return lines
        while True:
            try:
                rec = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except OSError as e:   # EPIPE: records overwritten; keep reading from the next one
                if e.errno == 32:
                    continue
                break
            if not rec:
                break
            text = rec.decode(errors="replace")
            _, _, msg = text.partition(";")
            lines.extend(msg.splitlines()[:1])
        return lines

    @staticmethod
    def mark(text: str) -> None:
        try:
            with open("/dev/kmsg", "w") as f:
                f.write(f"{MARKER} {text}\n")
        except OSError:
            pass
