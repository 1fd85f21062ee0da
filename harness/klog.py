"""Kernel log classifier: finds oopses, BUGs, WARNs, KASAN reports, hung tasks, panics.

Fed either /dev/kmsg records (in the guest, after each test) or the guest console
captured by the host (after a crash, where the guest could not report itself).
The console also carries the runner's markers, `afalg-conform: start <test>`,
so a splat is attributed to the test that was running when it was printed.
"""

from __future__ import annotations

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
            continue
        ctx = texts[i + 1:i + 1 + context]
        problems.append(Problem(kind, text, current_test, ctx))
        skip_until = i + context
    return problems


def last_started_test(lines: list[str]) -> str | None:
    """The test that had started and not ended when the log stops (the crasher)."""
    running = None
    for line in lines:
        text = strip_prefix(line)
        m = START_RE.search(text)
        if m:
            running = m.group(1)
        elif END_RE.search(text):
            running = None
    return running
