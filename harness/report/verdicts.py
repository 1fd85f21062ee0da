"""Per-clause verdicts for each profile, from one run's evidence and the clause catalogue.

A verdict is one of VERDICTS. The rules (see docs/CI.md, "Reading a report"):

linux (what the suite asserts):
  untestable      the clause has an `untestable` reason in the catalogue;
  not covered     no test of the run names the clause, or every one was skipped or broke;
  deviates        a check of the clause failed (evidence ok=false), or a test naming it
                  failed/crashed/hung/xfailed without evidence that pins it on another clause;
  conforms        otherwise: a test naming it ran and every check of it held.

another profile (linux-doc, proposal-2010):
  not in profile  the clause has no table for the profile;
  = linux         the table has no `expect` (the document agrees with linux);
  own token       conforms if every observation's `seen` equals the token, else deviates;
                  observations are the spec.observe() evidence (expected=None) when the
                  run has any for the clause, else the checks' `seen`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from afalg_conformance.conformance.catalogue import PROFILES, Clause

from afalg_conformance.harness.results.model import Run, TestResult

VERDICTS = ("conforms", "deviates", "not covered", "untestable", "not in profile")
FAILED_OUTCOMES = {"fail", "xfail", "crash", "timeout"}


@dataclass
class Cell:
    """One clause under one profile in one run."""
    verdict: str
    why: str = ""
    expect: str | None = None                      # the profile's token (None: silent)
    evidence: list[dict[str, Any]] = field(default_factory=list)   # items, each with "test"
    says: str = ""
    where: str = ""


@dataclass
class Row:
    id: str
    title: str
    clause: Clause | None                          # None: named by a test, not in the catalogue
    cells: dict[str, Cell] = field(default_factory=dict)


def _items(run: Run, cid: str) -> tuple[list[TestResult], list[dict], list[dict]]:
    """Tests naming the clause, its checks and its observations (each item gets its test)."""
    tests, checks, obs = [], [], []
    for t in run.tests:
        mine = [e for e in t.evidence if e.get("clause") == cid]
        if cid in t.clauses or mine:
            tests.append(t)
        for e in mine:
            item = dict(e, test=t.id, outcome=t.outcome)
            (obs if e.get("expected") is None else checks).append(item)
    return tests, checks, obs


def _test_item(t: TestResult, cid: str) -> dict:
    """Evidence made from a test's own outcome, when it has no evidence for the clause."""
    return {"clause": cid, "test": t.id, "outcome": t.outcome, "sent": "", "expected": None,
            "seen": t.outcome, "ok": t.outcome not in FAILED_OUTCOMES and t.outcome != "error",
            "note": t.reason}


def linux_cell(run: Run, cid: str, clause: Clause | None) -> Cell:
    expect = clause.linux_expect(run.run.kernel_release) if clause else None
    if clause is not None and clause.untestable:
        return Cell("untestable", clause.untestable, expect)
    tests, checks, obs = _items(run, cid)
    if not tests:
        return Cell("not covered", "no test in this run names the clause", expect)
    bad_checks = [e for e in checks if not e.get("ok", True)]
    bad_tests = []
    for t in tests:
        if t.outcome not in FAILED_OUTCOMES or any(e["test"] == t.id for e in bad_checks):
            continue
        # A failed test whose failing checks are all about other clauses does not condemn this one.
        other_failures = [e for e in t.evidence if not e.get("ok", True) and e.get("clause") != cid]
        if t.outcome in ("crash", "timeout") or not other_failures:
            bad_tests.append(_test_item(t, cid))
    ran = [t for t in tests if t.outcome not in ("skip", "error")]
    if bad_checks or bad_tests:
        parts = [f"{len(bad_checks)} of {len(checks)} checks failed"] if bad_checks else []
        parts += [f"test {e['outcome']}: {e['note']}" for e in bad_tests]
        return Cell("deviates", "; ".join(parts)[:300], expect,
                    bad_checks + bad_tests + [e for e in checks if e.get("ok", True)] + obs)
    if not ran:
        reasons = sorted({f"{t.outcome}: {t.reason}" for t in tests})
        return Cell("not covered", "; ".join(reasons)[:300] or "every test skipped", expect,
                    [_test_item(t, cid) for t in tests])
    why = (f"{len(checks)} check{'s' * (len(checks) != 1)} held" if checks
           else f"{len(ran)} test{'s' * (len(ran) != 1)} passed")
    vectors = [s for t in ran for s in t.subtests]
    if vectors:
        passed = sum(1 for s in vectors if s.outcome == "pass")
        why += f"; {passed} of {len(vectors)} vectors passed, the rest skipped"
    return Cell("conforms", why, expect, checks + obs or [_test_item(t, cid) for t in ran])


def profile_cell(run: Run, cid: str, clause: Clause | None, profile: str, linux: Cell) -> Cell:
    view = clause.profiles.get(profile) if clause else None
    if view is None:
        return Cell("not in profile", f"{profile} does not speak to this clause")
    if view.expect is None:
        return Cell(linux.verdict, linux.why, linux.expect, linux.evidence, view.says, view.where)
    if clause.untestable:
        return Cell("untestable", clause.untestable, view.expect, [], view.says, view.where)
    tests, checks, obs = _items(run, cid)
    seen = obs or checks
    if not seen:
        why = (linux.why if linux.verdict == "not covered"
               else "the run holds no observation of this clause")
        return Cell("not covered", why, view.expect, [], view.says, view.where)
    differ = [e for e in seen if str(e.get("seen")) != view.expect]
    if differ:
        tokens = sorted({_short(str(e.get("seen"))) for e in differ})
        return Cell("deviates", f"expects {view.expect}; seen {', '.join(tokens)}"[:300], view.expect,
                    differ + [e for e in seen if e not in differ], view.says, view.where)
    return Cell("conforms", f"seen {view.expect} in {len(seen)} observation{'s' * (len(seen) != 1)}",
                view.expect, seen, view.says, view.where)


def _short(s: str, n: int = 24) -> str:
    return s if len(s) <= n else s[:n - 1] + "…"


def clause_ids(run: Run, clauses: dict[str, Clause]) -> list[str]:
    """Catalogue clauses in catalogue order, then ids the run names that the catalogue lacks."""
    ids = list(clauses)
    extra = sorted({c for t in run.tests for c in t.clauses} |
                   {e.get("clause") for t in run.tests for e in t.evidence if e.get("clause")})
    return ids + [c for c in extra if c not in clauses]


def assess(run: Run, clauses: dict[str, Clause], profiles=PROFILES, ids: list[str] | None = None) -> list[Row]:
    rows = []
    for cid in ids or clause_ids(run, clauses):
        clause = clauses.get(cid)
        linux = linux_cell(run, cid, clause)
        row = Row(cid, clause.title if clause else "(not in the catalogue)", clause)
        for p in profiles:
            row.cells[p] = linux if p == "linux" else profile_cell(run, cid, clause, p, linux)
        rows.append(row)
    return rows


def counts(rows: list[Row], profile: str) -> dict[str, int]:
    out = {v: 0 for v in VERDICTS}
    for r in rows:
        out[r.cells[profile].verdict] += 1
    return out


def differences(rows: list[Row], profile: str, release: str = "") -> list[Row]:
    """Clauses where the profile and Linux part ways: the profile has its own token that is
    not Linux's for this release. Each is one row, whatever the run saw (a row without
    evidence shows a clause the run has not observed)."""
    out = []
    for r in rows:
        view = r.clause.profiles.get(profile) if r.clause is not None else None
        if view is not None and view.expect is not None and view.expect != r.clause.linux_expect(release or None):
            out.append(r)
    return out
