"""The linux-doc deviations of a run as a patch against Documentation/crypto/userspace-if.rst.

For every clause where the run contradicts what the document says, the statement is found
in the document (the clause's linux-doc `says`, whitespace-insensitive; "..." separates
quoted fragments) and a note follows it with what the kernel does, from the clause and
the run's evidence. One hunk per clause; the patch description lists the evidence. The
document is the release's own (linux-source-<version>: /usr/src/linux-source-*.tar.xz).
"""

from __future__ import annotations

import difflib
import re
import textwrap

from afalg_conformance.harness.report import verdicts
from afalg_conformance.harness.report.rows import short
from afalg_conformance.harness.results.model import Run

DOC_PATH = "Documentation/crypto/userspace-if.rst"


def _words(text: str) -> str:
    return " ".join(text.split())


def locate(lines: list[str], says: str) -> int | None:
    """The index of the line where the quoted statement ends, or None when the document
    does not hold it (a paraphrase, or another release's wording)."""
    fragments = [_words(f) for f in says.split("...") if _words(f)]
    if not fragments:
        return None
    flat, ends = "", []          # the document as one line of words, and where each line ends in it
    for line in lines:
        flat = (flat + " " + _words(line)).strip() if _words(line) else flat
        ends.append(len(flat))
    start = 0
    for frag in fragments:
        pos = flat.find(frag, start)
        if pos < 0:
            return None
        start = pos + len(frag)
    return next(i for i, end in enumerate(ends) if end >= start)


def _paragraph_end(lines: list[str], i: int) -> int:
    """The last line of the paragraph (or list item) that holds line i."""
    while i + 1 < len(lines) and lines[i + 1].strip() and not lines[i + 1].lstrip().startswith(("*", "-", "..")):
        i += 1
    return i


def note_lines(row: verdicts.Row, release: str, indent: str) -> list[str]:
    c = row.clause
    cell = row.cells["linux"]
    seen = "; ".join(f"{short(e.get('sent'), 70)} -> {short(e.get('seen'), 24)}" for e in cell.evidence[:2])
    body = f"{c.statement} (Observed on Linux {release}: {seen or cell.why}.)"
    out = ["", f"{indent}.. note::", ""]
    out += textwrap.wrap(body, width=78, initial_indent=indent + "   ", subsequent_indent=indent + "   ")
    return out


def deviating_rows(run: Run, clauses) -> list[verdicts.Row]:
    rows = verdicts.assess(run, clauses, ("linux", "linux-doc"))
    return [r for r in rows if r.clause and "linux-doc" in r.cells
            and r.cells["linux-doc"].verdict == "deviates" and r.cells["linux-doc"].says]


def build(run: Run, clauses, doc_text: str) -> tuple[str, list[str]]:
    """(the patch, the clauses the document does not quote and so got no hunk)."""
    release = run.run.kernel_release or "?"
    old = doc_text.splitlines(keepends=False)
    inserts: dict[int, list[str]] = {}
    hunks, unplaced = [], []
    for row in deviating_rows(run, clauses):
        at = locate(old, row.cells["linux-doc"].says)
        if at is None:
            unplaced.append(row.id)
            continue
        end = _paragraph_end(old, at)
        indent = re.match(r"\s*", old[end]).group(0) if old[end].strip() else ""
        inserts.setdefault(end, []).extend(note_lines(row, release, indent))
        hunks.append(row)
    new: list[str] = []
    for i, line in enumerate(old):
        new.append(line)
        new.extend(inserts.get(i, []))
    diff = difflib.unified_diff([x + "\n" for x in old], [x + "\n" for x in new],
                                f"a/{DOC_PATH}", f"b/{DOC_PATH}", n=2)
    desc = [f"Subject: [PATCH] crypto: userspace-if: what AF_ALG does on Linux {release}", "",
            f"afalg-conformance ran its linux-doc profile on {release} ({run.run.target}); these",
            "statements of the document differ from what the kernel did:", ""]
    for row in hunks:
        cell = row.cells["linux"]
        desc.append(f"- {row.id} {row.title}: the document says \"{short(row.cells['linux-doc'].says, 90)}\"")
        for e in cell.evidence[:3]:
            desc.append(f"    {e.get('test', '')}: {short(e.get('sent'), 80)} -> {short(e.get('seen'), 30)}")
    if unplaced:
        desc += ["", f"Not quoted verbatim by this release's document (no hunk): {', '.join(unplaced)}"]
    return "\n".join(desc) + "\n---\n" + "".join(diff), unplaced
