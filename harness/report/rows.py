"""What every report shows, as rows and strings: the text, Markdown and HTML renderers
(report/text.py, report/html.py) lay the same content out each their way."""

from __future__ import annotations

from afalg_conformance.conformance.catalogue import PROFILES
from afalg_conformance.harness.report import verdicts
from afalg_conformance.harness.report.verdicts import Row
from afalg_conformance.harness.results.model import Run, vector_counts

MARK = {"conforms": "conforms", "deviates": "DEVIATES", "not covered": "not covered",
        "untestable": "untestable", "not in profile": "—"}
DIFF_HEADERS = ["Clause", "Title", "Profile says (where)", "Profile expects", "Linux token",
                "Linux: sent → seen (this run)", "Verdict"]


def labels(runs: list[Run]) -> list[str]:
    """Column names for runs: the target, made unique with the release or a number."""
    base = [r.run.target or r.run.kernel_release or "run" for r in runs]
    out = list(base)
    for i, name in enumerate(base):
        if base.count(name) > 1:
            rel = runs[i].run.kernel_release
            same_rel = sum(1 for j, r in enumerate(runs) if base[j] == name and r.run.kernel_release == rel)
            out[i] = f"{name} {rel}" if rel and same_rel == 1 else f"{name} #{i + 1}"
    return out


def short(value, n: int = 48) -> str:
    s = "" if value is None else str(value)
    return s if len(s) <= n else s[:n - 1] + "…"


def evidence_line(e: dict, width: int = 48) -> str:
    parts = []
    if e.get("sent"):
        parts.append(f"sent {short(e['sent'], 80)}")
    if e.get("expected") is not None:
        parts.append(f"expected {short(e['expected'], width)}")
    parts.append(f"seen {short(e.get('seen'), width)}")
    if e.get("expected") is not None:
        parts.append("ok" if e.get("ok", True) else "FAILED")
    if e.get("note"):
        parts.append(f"({short(e['note'], 120)})")
    return "; ".join(parts) + f" — {e.get('test', '')}"


def run_summary(run: Run) -> str:
    t = run.totals()
    i = run.run
    errors = t["error"] + t["crash"] + t["timeout"]
    return (f"kernel {i.kernel_release or '?'} (target {i.target or '?'}, {i.accel or '?'}"
            f"{', shard ' + i.shard if i.shard else ''}), started {i.started or '?'}, {i.duration:g} s, "
            f"harness {i.harness_status}{': ' + i.harness_reason if i.harness_reason else ''}; "
            f"tests: {t['pass']} passed, {t['fail']} failed, {t['xfail']} xfail, {t['skip']} skipped, "
            f"{errors} errors; {vector_counts(t)}")


def difference_rows(rows: list[Row], profile: str, release: str) -> list[list[str]]:
    out = []
    for r in verdicts.differences(rows, profile, release):
        c = r.cells[profile]
        lin = r.cells.get("linux")
        seen = "; ".join(f"{short(e.get('sent'), 60)} → {short(e.get('seen'), 32)}" for e in c.evidence[:3]) \
            or "(no observation in this run)"
        out.append([r.id, r.title, f"{c.says} ({c.where})" if c.says else c.where, c.expect or "",
                    (lin.expect if lin else "") or "", seen, MARK[c.verdict]])
    return out


def matrix_rows(runs: list[Run], clauses) -> tuple[list[str], list[list[Row]]]:
    ids: list[str] = list(clauses)
    for run in runs:
        ids += [c for c in verdicts.clause_ids(run, clauses) if c not in ids]
    return ids, [verdicts.assess(run, clauses, PROFILES, ids) for run in runs]


def matrix_verdict(runs: list[Run]) -> str:
    worst = max((r.verdict() for r in runs), default=0)
    return {0: "PASS", 1: "FAIL", 2: "HARNESS ERROR"}[worst]
