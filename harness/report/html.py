"""The report as one self-contained HTML page: inline CSS, no scripts, evidence in <details>."""

from __future__ import annotations

from html import escape

from afalg_conformance.harness.report import verdicts
from afalg_conformance.harness.report.rows import (DIFF_HEADERS, difference_rows, labels, matrix_rows, matrix_verdict,
                                 run_summary)
from afalg_conformance.harness.results.model import Run
from afalg_conformance.harness.report.verdicts import Cell, Row

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1200px;
 color:#1d2330;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde}
.meta{color:#556;margin:2px 0}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border:1px solid #dde;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f9;font-weight:600} tr:nth-child(even) td{background:#fbfbfd}
td.id{white-space:nowrap;font-family:ui-monospace,monospace}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;
 white-space:nowrap}
.v-conforms{background:#dff3e4;color:#17642d} .v-deviates{background:#fde2e1;color:#9b1c1c}
.v-not-covered{background:#fff4d6;color:#7a5a00} .v-untestable{background:#e8e8f4;color:#44446a}
.v-not-in-profile{background:#f1f1f1;color:#888}
.verdict-big{font-size:16px;padding:3px 12px}
details summary{cursor:pointer;list-style:none} details summary::-webkit-details-marker{display:none}
details[open] summary .badge{outline:2px solid #99a}
.why{color:#445;margin:6px 0 4px;font-size:13px}
.ev{font-size:12px;margin:4px 0 0} .ev .item{border-left:3px solid #dde;padding:2px 6px;margin:4px 0}
.ev .test{color:#667;font-family:ui-monospace,monospace;font-size:11px;word-break:break-all} .obs{color:#44446a}
code{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.bad{color:#9b1c1c;font-weight:600} .ok{color:#17642d}
.says{font-style:italic;color:#334}
code.tok{word-break:normal;overflow-wrap:anywhere}
"""

CLASS = {v: "v-" + v.replace(" ", "-") for v in verdicts.VERDICTS}


def badge(verdict: str, big: bool = False) -> str:
    extra = " verdict-big" if big else ""
    return f'<span class="badge {CLASS.get(verdict, "")}{extra}">{escape(verdict)}</span>'


def code(value, n: int = 160, cls: str = "") -> str:
    s = "" if value is None else str(value)
    if len(s) > n:
        s = s[:n - 1] + "…"
    attr = f" class='{cls}'" if cls else ""
    return f"<code{attr}>{escape(s)}</code>"


def evidence_table(items: list[dict], limit: int = 25) -> str:
    """Each evidence item as a small stacked block: reads well in a narrow table cell."""
    if not items:
        return ""
    blocks = []
    for e in items[:limit]:
        if e.get("expected") is None:
            state, cls = "observed", "obs"
        elif e.get("ok", True):
            state, cls = "ok", "ok"
        else:
            state, cls = "FAILED", "bad"
        lines = [f"<div><b class='{cls}'>{state}</b> {escape(str(e.get('sent', '')) or '(no description)')}</div>"]
        if e.get("expected") is not None:
            lines.append(f"<div>expected {code(e.get('expected'), 72)}</div>")
        lines.append(f"<div>seen {code(e.get('seen'), 72)}</div>")
        if e.get("note"):
            lines.append(f"<div><small>{escape(str(e['note'])[:300])}</small></div>")
        test = str(e.get("test", "")).removeprefix("conformance/")
        lines.append(f"<div class='test'>{escape(test)}</div>")
        blocks.append("<div class='item'>" + "".join(lines) + "</div>")
    more = f"<div class='item'>… {len(items) - limit} more in results.json</div>" if len(items) > limit else ""
    return "<div class='ev'>" + "".join(blocks) + more + "</div>"


def cell_html(c: Cell) -> str:
    if c.verdict == "not in profile":
        return badge(c.verdict)
    expect = (f"<div class='why'>expects {code(c.expect, 60)}</div>"
              if c.expect and c.expect != "computed" and not c.why.startswith("expects") else "")
    says = f"<div class='says'>“{escape(c.says)}” — {escape(c.where)}</div>" if c.says else ""
    return (f"<details><summary>{badge(c.verdict)}</summary><div class='why'>{escape(c.why)}</div>"
            f"{expect}{says}{evidence_table(c.evidence)}</details>")


def page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def run_meta(run: Run) -> str:
    return f"<p class='meta'>{escape(run_summary(run))}</p>"


def summary_table(rows: list[Row], profiles) -> str:
    head = "".join(f"<th>{badge(v)}</th>" for v in verdicts.VERDICTS)
    body = "".join(f"<tr><td>{escape(p)}</td>" + "".join(
        f"<td>{n}</td>" for n in verdicts.counts(rows, p).values()) + "</tr>" for p in profiles)
    return f"<table><tr><th>profile</th>{head}</tr>{body}</table>"


def single(run: Run, rows: list[Row], profiles) -> str:
    verdict = {0: "conforms", 1: "deviates"}.get(run.verdict(), "not covered")
    body = [f"<h1>AF_ALG conformance report {badge(verdict, True)}</h1>", run_meta(run),
            "<p class='meta'>Click a verdict to see what was sent, expected and seen.</p>",
            "<h2>Verdicts per profile</h2>", summary_table(rows, profiles), "<h2>Clauses</h2>",
            "<table><tr><th>Clause</th><th>Title</th>" + "".join(f"<th>{escape(p)}</th>" for p in profiles)
            + "</tr>"]
    for r in rows:
        stmt = f" title='{escape(r.clause.statement, quote=True)}'" if r.clause else ""
        body.append(f"<tr><td class='id'{stmt}>{escape(r.id)}</td><td>{escape(r.title)}</td>"
                    + "".join(f"<td>{cell_html(r.cells[p])}</td>" for p in profiles) + "</tr>")
    body.append("</table>")
    for p in profiles:
        if p == "linux":
            continue
        diff = difference_rows(rows, p, run.run.kernel_release)
        body.append(f"<h2>Where Linux and {escape(p)} part ways ({len(diff)})</h2>")
        if not diff:
            body.append("<p>None in this catalogue.</p>")
            continue
        body.append("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in DIFF_HEADERS) + "</tr>")
        by_id = {r.id: r for r in rows}
        for d in diff:
            c = by_id[d[0]].cells[p]
            body.append(f"<tr><td class='id'>{escape(d[0])}</td><td>{escape(d[1])}</td>"
                        f"<td class='says'>{escape(d[2])}</td><td>{code(d[3], 60, 'tok')}</td><td>{code(d[4], 60, 'tok')}</td>"
                        f"<td><details><summary>{escape(d[5][:120])}</summary>{evidence_table(c.evidence)}"
                        f"</details></td><td>{badge(c.verdict)}</td></tr>")
        body.append("</table>")
    return page(f"AF_ALG conformance: {run.run.kernel_release}", body)


def matrix(runs: list[Run], clauses, profiles) -> str:
    names = labels(runs)
    ids, rowsets = matrix_rows(runs, clauses)
    overall = matrix_verdict(runs)
    body = [f"<h1>AF_ALG conformance matrix {badge({'PASS': 'conforms', 'FAIL': 'deviates'}.get(overall, 'not covered'), True)}</h1>",
            f"<p class='meta'>Combined verdict: <b>{escape(overall)}</b>. Click a verdict for its evidence.</p>",
            "<ul>" + "".join(f"<li><b>{escape(n)}</b>: {escape(run_summary(r))}</li>"
                             for n, r in zip(names, runs)) + "</ul>"]
    for p in profiles:
        body.append(f"<h2>{escape(p)}</h2><table><tr><th>Clause</th><th>Title</th>"
                    + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>")
        for i, cid in enumerate(ids):
            verdict_set = {rs[i].cells[p].verdict for rs in rowsets}
            mark = " style='background:#fff8e6'" if len(verdict_set) > 1 else ""
            body.append(f"<tr{mark}><td class='id'>{escape(cid)}</td><td>{escape(rowsets[0][i].title)}</td>"
                        + "".join(f"<td>{cell_html(rs[i].cells[p])}</td>" for rs in rowsets) + "</tr>")
        body.append("</table>")
    return page("AF_ALG conformance matrix", body)
