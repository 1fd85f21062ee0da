"""`afalg-conform report`: per-clause verdicts per profile, as Markdown, plain text or HTML.

One results file: clauses down, profiles across, each verdict with its evidence.
Several files: one matrix per profile, clauses down, kernels across.
This module also registers `diff` (rundiff.py) and `kcidb` (kcidb.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from afalg_conformance.conformance import catalogue
from afalg_conformance.conformance.catalogue import PROFILES

from afalg_conformance.harness.report import html as report_html
from afalg_conformance.harness.report import verdicts
from afalg_conformance.harness.report.rows import (DIFF_HEADERS, MARK, difference_rows, evidence_line, labels, matrix_rows,
                                 matrix_verdict, run_summary, short)
from afalg_conformance.harness.results.model import Run
from afalg_conformance.harness.report.verdicts import Cell, Row


# -- inputs ---------------------------------------------------------------------------------

def load_run(path: str) -> Run:
    p = Path(path)
    return Run.load(str(p / "results.json" if p.is_dir() else p))


def selected_profiles(choice: str | None, n_runs: int) -> tuple[str, ...]:
    if choice in (None, "") and n_runs > 1:
        return ("linux",)
    if choice in (None, "", "all"):
        return PROFILES
    return (choice,)


# -- small formatting helpers ----------------------------------------------------------------


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
        return (report_html.single(runs[0], verdicts.assess(runs[0], clauses), profiles)
                if len(runs) == 1 else report_html.matrix(runs, clauses, profiles))
    if len(runs) == 1:
        rows = verdicts.assess(runs[0], clauses)
        return (single_markdown if fmt == "markdown" else single_text)(runs[0], rows, profiles)
    return (matrix_markdown if fmt == "markdown" else matrix_text)(runs, clauses, profiles)


def _clauses():
    try:
        return catalogue.load()
    except catalogue.CatalogueError as e:
        print(f"afalg-conform: clause catalogue unreadable, matrix without it: {e}", file=sys.stderr)
        return {}


def write_matrix(runs: list[Run], parent: Path) -> None:
    """matrix.txt, matrix.md and report.html of a multi-kernel run, and its table on stderr."""
    clauses = _clauses()
    text = matrix_text(runs, clauses, ("linux",))
    (parent / "matrix.txt").write_text(text)
    (parent / "matrix.md").write_text(matrix_markdown(runs, clauses, ("linux",)))
    (parent / "report.html").write_text(report_html.matrix(runs, clauses, ("linux",)))
    sys.stderr.write("\n" + text)
