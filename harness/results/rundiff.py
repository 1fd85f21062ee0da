"""`afalg-conform diff A.json B.json`: what changed between two runs (two kernels, or before/after).

Reported: tests whose outcome changed, tests only in one run, per clause the evidence
whose `seen` token changed (matched by test, clause and what was sent), and changes in
the number of nested subtests (vectors) and their outcomes. Exit 0: no differences; 1: some.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from afalg_conformance.harness.results.model import Run


@dataclass
class RunDiff:
    outcome: list[tuple[str, str, str, str]] = field(default_factory=list)   # id, a, b, b's reason
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    seen: dict[str, list[tuple[str, str, str, str]]] = field(default_factory=dict)  # clause -> (test, sent, a, b)
    subtests: list[tuple[str, str, str]] = field(default_factory=list)   # id, "n=3 (2 pass, 1 fail)" a/b

    def empty(self) -> bool:
        return not (self.outcome or self.only_a or self.only_b or self.seen or self.subtests)


def _evidence_keys(t) -> dict[tuple[str, str, int], dict]:
    """Evidence keyed by (clause, sent, n-th occurrence of that pair) so repeats line up."""
    out, seen_n = {}, {}
    for e in t.evidence:
        k = (str(e.get("clause")), str(e.get("sent", "")))
        n = seen_n.get(k, 0)
        seen_n[k] = n + 1
        out[(*k, n)] = e
    return out


def _both_met_own_expectation(x: dict, y: dict) -> bool:
    """Both runs matched what that run expected (e.g. bytes equal to the oracle for
    random inputs): the data differ, the behaviour does not."""
    return (x.get("expected") is not None and y.get("expected") is not None
            and bool(x.get("ok")) and bool(y.get("ok"))
            and str(x.get("seen")) == str(x.get("expected")) and str(y.get("seen")) == str(y.get("expected")))


def _sub_summary(t) -> str:
    if not t.subtests:
        return "none"
    c = {}
    for s in t.subtests:
        c[s.outcome] = c.get(s.outcome, 0) + 1
    return f"{len(t.subtests)} (" + ", ".join(f"{v} {k}" for k, v in sorted(c.items())) + ")"


def compare(a: Run, b: Run) -> RunDiff:
    d = RunDiff()
    ta = {t.id: t for t in a.tests}
    tb = {t.id: t for t in b.tests}
    d.only_a = [i for i in ta if i not in tb]
    d.only_b = [i for i in tb if i not in ta]
    for tid, x in ta.items():
        y = tb.get(tid)
        if y is None:
            continue
        if x.outcome != y.outcome:
            d.outcome.append((tid, x.outcome, y.outcome, y.reason or x.reason))
        ea, eb = _evidence_keys(x), _evidence_keys(y)
        for k in ea.keys() | eb.keys():
            if k in ea and k in eb and _both_met_own_expectation(ea[k], eb[k]):
                continue
            sa = ea.get(k, {}).get("seen") if k in ea else "(absent)"
            sb = eb.get(k, {}).get("seen") if k in eb else "(absent)"
            if str(sa) != str(sb):
                d.seen.setdefault(k[0], []).append((tid, k[1], str(sa), str(sb)))
        sx, sy = _sub_summary(x), _sub_summary(y)
        if sx != sy:
            d.subtests.append((tid, sx, sy))
    for v in d.seen.values():
        v.sort()
    d.seen = dict(sorted(d.seen.items()))
    return d


def _short(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[:n - 1] + "…"


def render(d: RunDiff, a: Run, b: Run, name_a: str, name_b: str) -> str:
    out = [f"A: {name_a} ({a.run.target} {a.run.kernel_release})",
           f"B: {name_b} ({b.run.target} {b.run.kernel_release})"]
    if d.empty():
        return "\n".join(out + ["no differences"]) + "\n"
    if d.outcome:
        out += ["", f"Outcome changed ({len(d.outcome)}):"]
        out += [f"  {tid}: {x} -> {y}" + (f"  ({_short(why, 100)})" if why else "") for tid, x, y, why in d.outcome]
    if d.only_a:
        out += ["", f"Only in A ({len(d.only_a)}):"] + [f"  {t}" for t in d.only_a]
    if d.only_b:
        out += ["", f"Only in B ({len(d.only_b)}):"] + [f"  {t}" for t in d.only_b]
    if d.seen:
        out += ["", f"Evidence whose seen token changed ({sum(len(v) for v in d.seen.values())}):"]
        for clause, items in d.seen.items():
            out.append(f"  {clause}:")
            out += [f"    {tid}: {_short(sent, 60) or '(no description)'}: {_short(x)} -> {_short(y)}"
                    for tid, sent, x, y in items]
    if d.subtests:
        out += ["", f"Subtests changed ({len(d.subtests)}):"]
        out += [f"  {tid}: {x} -> {y}" for tid, x, y in d.subtests]
    return "\n".join(out) + "\n"
