"""KTAP version 1 output in the layout kselftest uses.

- `ok N name # SKIP reason` for skips, `ok N name # XFAIL reason` for expected
  failures (tap.py, the parser LKFT and KernelCI use, reads `not ok … # XFAIL`
  as a failure), `not ok N name # TIMEOUT …` / `# ERROR …` for hangs and crashes;
- per-vector results nest as an indented subtest block before their parent line;
- a kselftest `# Totals:` line closes the output.
The writer streams: header once, then one test at a time as results arrive.
"""

from __future__ import annotations

import io
import sys
from typing import TextIO

from afalg_conformance.harness.results.model import Run, TestResult, kernel_report_line

DIRECTIVE = {"skip": "SKIP", "xfail": "XFAIL", "timeout": "TIMEOUT", "crash": "ERROR", "error": "ERROR"}


def _clean(text: str) -> str:
    """Descriptions and directives may not hold '#' or newlines."""
    return " ".join(str(text).replace("#", "no.").split())


def result_line(n: int, name: str, outcome: str, reason: str = "") -> str:
    ok = outcome in ("pass", "skip", "xfail")
    line = f"{'ok' if ok else 'not ok'} {n} {_clean(name)}"
    directive = DIRECTIVE.get(outcome)
    # Plain failures carry their reason in diagnostic lines above the result, not a directive.
    if directive:
        line += f" # {directive}" + (f" {_clean(reason)}" if reason else "")
    return line


def test_block(n: int, t: TestResult, indent: str = "") -> list[str]:
    lines: list[str] = []
    if t.subtests:
        sub = indent + "  "
        lines += [f"{sub}KTAP version 1", f"{sub}1..{len(t.subtests)}"]
        for i, s in enumerate(t.subtests, 1):
            if s.outcome == "fail" and s.reason:
                lines.append(f"{sub}# {_clean(s.reason)}")
            lines.append(sub + result_line(i, s.name, s.outcome, s.reason if s.outcome != "fail" else ""))
    if t.outcome in ("fail", "error", "crash", "timeout"):
        for diag in _diagnostics(t):
            lines.append(f"{indent}# {diag}")
    lines.append(indent + result_line(n, t.name, t.outcome, t.reason if t.outcome != "fail" else ""))
    return lines


def _diagnostics(t: TestResult) -> list[str]:
    out = []
    if t.reason:
        out.append(f"{t.name}: {_clean(t.reason)}"[:400])
    for ev in t.evidence:
        if not ev.get("ok", True):
            out.append(_clean(f"clause {ev.get('clause')}: sent {ev.get('sent', '')}; "
                              f"expected {ev.get('expected')}; seen {ev.get('seen')}")[:400])
    for p in t.kernel_log:
        out.append(_clean(kernel_report_line(p))[:400])
    return out


def totals_line(run: Run) -> str:
    t = run.totals()
    return (f"# Totals: pass:{t['pass']} fail:{t['fail']} xfail:{t['xfail']} xpass:0 "
            f"skip:{t['skip']} error:{t['error'] + t['crash'] + t['timeout']}")


class KtapStream:
    """Writes the header when the plan is known, then each test as it completes."""

    def __init__(self, out: TextIO = sys.stdout):
        self.out = out
        self.n = 0
        self.started = False

    def header(self, planned: int, comments: list[str] = ()) -> None:
        if self.started:
            return
        self.started = True
        self.out.write("KTAP version 1\n")
        for c in comments:
            self.out.write(f"# {_clean(c)}\n")
        self.out.write(f"1..{planned}\n")
        self.out.flush()

    def test(self, t: TestResult) -> None:
        self.n += 1
        self.out.write("\n".join(test_block(self.n, t)) + "\n")
        self.out.flush()

    def footer(self, run: Run, comments: list[str] = ()) -> None:
        for c in comments:
            self.out.write(f"# {_clean(c)}\n")
        self.out.write(totals_line(run) + "\n")
        self.out.flush()


def render(run: Run, comments: list[str] = ()) -> str:
    """The whole KTAP document for a finished run."""
    buf = io.StringIO()
    k = KtapStream(buf)
    k.header(len(run.tests), list(comments))
    for t in run.tests:
        k.test(t)
    k.footer(run, [run.focus_line()] if run.run.extra.get("driver_focus") else [])
    return buf.getvalue()
