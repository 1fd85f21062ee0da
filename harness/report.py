"""`afalg-conform report`: per-clause verdicts per profile, as Markdown, plain text or HTML.

One results file: clauses down, profiles across, each verdict with its evidence.
Several files: one matrix per profile, clauses down, kernels across.
This module also registers `diff` (rundiff.py) and `kcidb` (kcidb.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from conformance import catalogue
from conformance.catalogue import PROFILES

from . import verdicts
from .results import Run
from .verdicts import Cell, Row

MARK = {"conforms": "conforms", "deviates": "DEVIATES", "not covered": "not covered",
        "untestable": "untestable", "not in profile": "—"}


# -- inputs ---------------------------------------------------------------------------------

def load_run(path: str) -> Run:
    p = Path(path)
    return Run.load(str(p / "results.json" if p.is_dir() else p))


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


def selected_profiles(choice: str | None, n_runs: int) -> tuple[str, ...]:
    if choice in (None, "") and n_runs > 1:
        return ("linux",)
    if choice in (None, "", "all"):
        return PROFILES
    return (choice,)


# -- small formatting helpers ----------------------------------------------------------------

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
            f"{errors} errors; {t['subtests']} vectors")


def md_escape(s: str) -> str:
    return str(s).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(md_escape(h) for h in headers) + " |",
           "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(md_escape(c) for c in r) + " |" for r in rows]
    return out


def text_table(headers: list[str], rows: list[list[str]], max_width: int = 40) -> list[str]:
    cells = [[short(c, max_width) for c in r] for r in [headers] + rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    return [fmt(cells[0]), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells[1:]]


# -- one run ---------------------------------------------------------------------------------

def summary_rows(rows: list[Row], profiles) -> list[list[str]]:
    return [[p] + [str(verdicts.counts(rows, p)[v]) for v in verdicts.VERDICTS] for p in profiles]


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


DIFF_HEADERS = ["Clause", "Title", "Profile says (where)", "Profile expects", "Linux token",
                "Linux: sent → seen (this run)", "Verdict"]


def single_markdown(run: Run, rows: list[Row], profiles) -> str:
    out = ["# AF_ALG conformance report", "", run_summary(run), "", "## Verdicts per profile", ""]
    out += md_table(["Profile", *verdicts.VERDICTS], summary_rows(rows, profiles))
    out += ["", "## Clauses", ""]
    out += md_table(["Clause", "Title", *profiles],
                    [[r.id, r.title, *(MARK[r.cells[p].verdict] for p in profiles)] for r in rows])
    for p in profiles:
        if p == "linux":
            continue
        diff = difference_rows(rows, p, run.run.kernel_release)
        out += ["", f"## Where Linux and {p} part ways ({len(diff)})", ""]
        out += md_table(DIFF_HEADERS, diff) if diff else ["None in this catalogue."]
    out += ["", "## Evidence", ""]
    for r in rows:
        out.append(f"### {r.id} — {r.title}")
        if r.clause is not None:
            out += ["", r.clause.statement]
        out.append("")
        for p in profiles:
            c = r.cells[p]
            if c.verdict == "not in profile":
                out.append(f"- **{p}**: not in profile")
                continue
            exp = f" (expects `{c.expect}`)" if c.expect and c.expect != "computed" else ""
            out.append(f"- **{p}**: {c.verdict}{exp} — {c.why}")
            if p != "linux" and c.says:
                out.append(f"  - says: {c.says} ({c.where})")
            if p != "linux" and c.evidence is r.cells.get("linux", Cell("")).evidence:
                continue     # agrees with linux: the same evidence, shown once
            out += [f"  - {evidence_line(e)}" for e in c.evidence[:20]]
            if len(c.evidence) > 20:
                out.append(f"  - … {len(c.evidence) - 20} more")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def single_text(run: Run, rows: list[Row], profiles) -> str:
    out = ["AF_ALG conformance report", run_summary(run), ""]
    out += text_table(["profile", *verdicts.VERDICTS], summary_rows(rows, profiles)) + [""]
    out += text_table(["clause", "title", *profiles],
                      [[r.id, r.title, *(MARK[r.cells[p].verdict] for p in profiles)] for r in rows], 36)
    for p in profiles:
        if p == "linux":
            continue
        diff = verdicts.differences(rows, p, run.run.kernel_release)
        out += ["", f"Where Linux and {p} part ways ({len(diff)}):"]
        for r in diff:
            c = r.cells[p]
            out.append(f"  {r.id} {MARK[c.verdict]}: {c.why}")
            out += [f"      {evidence_line(e)}" for e in c.evidence[:3]]
    bad = [(r, p) for r in rows for p in profiles if r.cells[p].verdict == "deviates" and p == "linux"]
    if bad:
        out += ["", "Linux deviations (the suite's failures):"]
        for r, p in bad:
            out.append(f"  {r.id}: {r.cells[p].why}")
            out += [f"      {evidence_line(e)}" for e in r.cells[p].evidence[:5]]
    return "\n".join(out).rstrip() + "\n"


# -- several runs: the matrix ----------------------------------------------------------------

def matrix_rows(runs: list[Run], clauses) -> tuple[list[str], list[list[Row]]]:
    ids: list[str] = list(clauses)
    for run in runs:
        ids += [c for c in verdicts.clause_ids(run, clauses) if c not in ids]
    return ids, [verdicts.assess(run, clauses, PROFILES, ids) for run in runs]


def matrix_verdict(runs: list[Run]) -> str:
    worst = max((r.verdict() for r in runs), default=0)
    return {0: "PASS", 1: "FAIL", 2: "HARNESS ERROR"}[worst]


def matrix_markdown(runs: list[Run], clauses, profiles) -> str:
    names = labels(runs)
    ids, rowsets = matrix_rows(runs, clauses)
    out = ["# AF_ALG conformance matrix", "", f"Combined verdict: **{matrix_verdict(runs)}**", ""]
    out += [f"- **{n}**: {run_summary(r)}" for n, r in zip(names, runs)]
    for p in profiles:
        out += ["", f"## {p}", ""]
        out += md_table(["Clause", "Title", *names],
                        [[cid, rowsets[0][i].title, *(MARK[rs[i].cells[p].verdict] for rs in rowsets)]
                         for i, cid in enumerate(ids)])
    changed = [cid for i, cid in enumerate(ids)
               if len({rs[i].cells[p].verdict for rs in rowsets for p in profiles}) > 1]
    if changed:
        out += ["", "## Where the kernels differ", ""]
        for i, cid in enumerate(ids):
            if cid not in changed:
                continue
            out.append(f"### {cid} — {rowsets[0][i].title}")
            for n, rs in zip(names, rowsets):
                for p in profiles:
                    c = rs[i].cells[p]
                    out.append(f"- {n} / {p}: {c.verdict} — {c.why}")
                    out += [f"  - {evidence_line(e)}" for e in c.evidence[:3]]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def matrix_text(runs: list[Run], clauses, profiles) -> str:
    names = labels(runs)
    ids, rowsets = matrix_rows(runs, clauses)
    out = [f"AF_ALG conformance matrix: {matrix_verdict(runs)}"]
    out += [f"  {n}: {run_summary(r)}" for n, r in zip(names, runs)]
    for p in profiles:
        out += ["", f"profile {p}:"]
        out += text_table(["clause", *names],
                          [[cid, *(MARK[rs[i].cells[p].verdict] for rs in rowsets)] for i, cid in enumerate(ids)])
    return "\n".join(out).rstrip() + "\n"


# -- command line ------------------------------------------------------------------------------

def build(paths: list[str], profile: str | None, fmt: str) -> str:
    runs = [load_run(p) for p in paths]
    clauses = catalogue.load()
    profiles = selected_profiles(profile, len(runs))
    if fmt == "html":
        from . import report_html
        return (report_html.single(runs[0], verdicts.assess(runs[0], clauses), profiles)
                if len(runs) == 1 else report_html.matrix(runs, clauses, profiles))
    if len(runs) == 1:
        rows = verdicts.assess(runs[0], clauses)
        return (single_markdown if fmt == "markdown" else single_text)(runs[0], rows, profiles)
    return (matrix_markdown if fmt == "markdown" else matrix_text)(runs, clauses, profiles)


def cmd_report(a) -> int:
    from .vm import HarnessError
    try:
        outputs = {"markdown": a.markdown, "html": a.html, "text": a.text}
        for fmt, path in outputs.items():
            if path:
                Path(path).write_text(build(a.results, a.profile, fmt))
                print(f"afalg-conform: wrote {path}", file=sys.stderr)
        stdout_fmt = "text" if a.plain else "markdown"
        if not a.quiet:
            sys.stdout.write(build(a.results, a.profile, stdout_fmt))
    except (ValueError, catalogue.CatalogueError) as e:
        raise HarnessError(str(e)) from None
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="per-clause verdicts per profile (one run) or a matrix (several runs)")
    p.add_argument("results", nargs="+", metavar="RESULTS.json",
                   help="results.json files or results folders; several make a matrix across kernels")
    p.add_argument("--profile", choices=[*PROFILES, "all"], default=None,
                   help="profile(s) to judge against (default: all for one run, linux for several)")
    p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page")
    p.add_argument("--markdown", metavar="FILE", help="also write the Markdown report to FILE")
    p.add_argument("--text", metavar="FILE", help="also write the plain-text report to FILE")
    p.add_argument("--plain", action="store_true", help="plain text on stdout instead of Markdown")
    p.add_argument("-q", "--quiet", action="store_true", help="nothing on stdout (files only)")
    p.set_defaults(fn=cmd_report)

    from . import kcidb, rundiff
    rundiff.add_parser(sub)
    kcidb.add_parser(sub)
