"""Host tests for the report: verdict rules per profile, Markdown/text/HTML, diff."""

from __future__ import annotations

import json
from pathlib import Path
from html.parser import HTMLParser

import pytest

from afalg_conformance.conformance import catalogue
from afalg_conformance.harness import cli
from afalg_conformance.harness.report import text as report
from afalg_conformance.harness.report import html as report_html
from afalg_conformance.harness.report import rows as rows_
from afalg_conformance.harness.results import rundiff
from afalg_conformance.harness.report import verdicts
from afalg_conformance.harness.results.model import Run, RunInfo, Subtest, TestResult
from afalg_conformance.harness.results.model import TestResult as _TestResult

SPEC = '''
[[clause]]
id = "T-1"
title = "Checked and agreed"
statement = "s1"
source = "x"
linux = "EBADMSG"
[clause.linux-doc]
where = "doc"
[clause.proposal-2010]
says = "Returns EBADMSG"
where = "proposal"

[[clause]]
id = "T-2"
title = "Proposal has its own token | with a pipe"
statement = "s2"
source = "x"
linux = "computed"
[clause.proposal-2010]
says = "a separate ad socket"
expect = "separate-ad-socket"
where = "proposal, AEAD example"

[[clause]]
id = "T-3"
title = "Nobody tests me"
statement = "s3"
source = "x"
linux = "ok"
[clause.proposal-2010]
says = "queues"
expect = "queued"
where = "proposal"

[[clause]]
id = "T-4"
title = "Untestable"
statement = "s4"
source = "x"
untestable = "kernel-internal"
[clause.linux-doc]
where = "doc"

[[clause]]
id = "T-5"
title = "Observed only"
statement = "s5"
source = "x"
linux = "computed"
[clause.linux-doc]
says = "hashes the state"
expect = "hashed-as-data"
where = "doc"
'''


@pytest.fixture
def clauses(tmp_path):
    d = tmp_path / "spec"
    d.mkdir()
    (d / "t.toml").write_text(SPEC)
    catalogue.load.cache_clear()
    yield catalogue.load(str(d))
    catalogue.load.cache_clear()


def ev(clause, seen, expected="__same__", sent="sent", ok=None):
    exp = seen if expected == "__same__" else expected
    return {"clause": clause, "sent": sent, "expected": exp, "seen": seen,
            "ok": (exp is None or str(exp) == str(seen)) if ok is None else ok, "note": ""}


def tr(id, outcome="pass", clauses=(), evidence=(), reason="", subtests=()):
    return _TestResult(id=f"conformance/test_t.py::{id}", name=f"t.{id}", outcome=outcome, reason=reason,
                      clauses=list(clauses), evidence=list(evidence), subtests=list(subtests))


def make_run(tests, target="debian-6.12", release="6.12.1"):
    return Run(run=RunInfo(target=target, kernel_release=release, accel="tcg", started="2026-01-01T00:00:00+00:00",
                           duration=12.0), tests=list(tests))


def cells(run, clauses):
    return {r.id: {p: c for p, c in r.cells.items()} for r in verdicts.assess(run, clauses)}


def test_linux_verdicts(clauses):
    run = make_run([
        tr("a", clauses=["T-1"], evidence=[ev("T-1", "EBADMSG")]),
        tr("b", clauses=["T-2"], evidence=[ev("T-2", "aabb")]),
    ])
    c = cells(run, clauses)
    assert c["T-1"]["linux"].verdict == "conforms"
    assert c["T-2"]["linux"].verdict == "conforms"
    assert c["T-3"]["linux"].verdict == "not covered"
    assert c["T-4"]["linux"].verdict == "untestable"
    assert c["T-4"]["linux"].why == "kernel-internal"


def test_failed_check_deviates_and_keeps_evidence(clauses):
    run = make_run([tr("a", "fail", ["T-1"], [ev("T-1", "EINVAL", "EBADMSG")])])
    cell = cells(run, clauses)["T-1"]["linux"]
    assert cell.verdict == "deviates"
    assert cell.evidence[0]["seen"] == "EINVAL" and cell.evidence[0]["expected"] == "EBADMSG"
    assert cell.evidence[0]["test"].endswith("::a")


def test_failed_test_without_evidence_deviates(clauses):
    run = make_run([tr("a", "crash", ["T-1"], reason="guest kernel died: oops")])
    cell = cells(run, clauses)["T-1"]["linux"]
    assert cell.verdict == "deviates" and "oops" in cell.why


def test_failure_pinned_on_another_clause_does_not_condemn(clauses):
    run = make_run([tr("a", "fail", ["T-1", "T-2"],
                         [ev("T-1", "EINVAL", "EBADMSG"), ev("T-2", "aa")])])
    c = cells(run, clauses)
    assert c["T-1"]["linux"].verdict == "deviates"
    assert c["T-2"]["linux"].verdict == "conforms"


def test_skipped_or_broken_tests_leave_the_clause_not_covered(clauses):
    run = make_run([tr("a", "skip", ["T-1"], reason="unsupported:alg-missing=gcm(aes)"),
                    tr("b", "error", ["T-1"], reason="fixture broke")])
    cell = cells(run, clauses)["T-1"]["linux"]
    assert cell.verdict == "not covered"
    assert "unsupported:alg-missing" in cell.why


def test_profile_rules(clauses):
    run = make_run([
        tr("a", clauses=["T-1"], evidence=[ev("T-1", "EBADMSG")]),
        tr("b", clauses=["T-2"], evidence=[ev("T-2", "aabb"), ev("T-2", "aad-inline", None)]),
        tr("c", clauses=["T-5"], evidence=[ev("T-5", "hashed-as-data", None)]),
    ])
    c = cells(run, clauses)
    # silent -> not in profile
    assert c["T-2"]["linux-doc"].verdict == "not in profile"
    # agrees with linux -> the linux verdict and its evidence
    assert c["T-1"]["proposal-2010"].verdict == "conforms"
    assert c["T-1"]["proposal-2010"].evidence == c["T-1"]["linux"].evidence
    # own token: observations (expected=None) are preferred over checks
    p = c["T-2"]["proposal-2010"]
    assert p.verdict == "deviates" and p.expect == "separate-ad-socket"
    assert [e["seen"] for e in p.evidence] == ["aad-inline"]
    assert c["T-5"]["linux-doc"].verdict == "conforms"
    # own token, nothing observed -> not covered
    assert c["T-3"]["proposal-2010"].verdict == "not covered"
    # untestable stays untestable under a profile that agrees
    assert c["T-4"]["linux-doc"].verdict == "untestable"


def test_every_proposal_difference_is_a_row(clauses):
    run = make_run([tr("b", clauses=["T-2"], evidence=[ev("T-2", "aabb", sent="gcm encrypt")])])
    rows = verdicts.assess(run, clauses)
    diff = verdicts.differences(rows, "proposal-2010", "6.12.1")
    assert [r.id for r in diff] == ["T-2", "T-3"]
    table = rows_.difference_rows(rows, "proposal-2010", "6.12.1")
    assert "gcm encrypt → aabb" in table[0][5]
    assert table[1][5] == "(no observation in this run)"


def test_clause_named_by_a_test_but_not_in_catalogue(clauses):
    run = make_run([tr("z", clauses=["NEW-1"], evidence=[ev("NEW-1", "ok")])])
    rows = {r.id: r for r in verdicts.assess(run, clauses)}
    assert rows["NEW-1"].clause is None
    assert rows["NEW-1"].cells["linux"].verdict == "conforms"
    assert rows["NEW-1"].cells["proposal-2010"].verdict == "not in profile"


def test_markdown_and_text(clauses):
    run = make_run([tr("a", "fail", ["T-1"], [ev("T-1", "EINVAL", "EBADMSG", sent="flip a tag bit")])])
    rows = verdicts.assess(run, clauses)
    md = report.single_markdown(run, rows, catalogue.PROFILES)
    assert "| T-1 | Checked and agreed | DEVIATES | DEVIATES | DEVIATES |" in md
    assert "with a pipe" in md and "token \\| with a pipe" in md      # pipes escaped in tables
    assert "sent flip a tag bit; expected EBADMSG; seen EINVAL; FAILED" in md
    assert "## Where Linux and proposal-2010 part ways (2)" in md
    text = report.single_text(run, rows, catalogue.PROFILES)
    assert "Linux deviations" in text and "T-1" in text


class _Checker(HTMLParser):
    VOID = {"meta", "br", "img", "hr", "input", "link"}

    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.errors = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def test_html_is_self_contained_and_balanced(clauses):
    run = make_run([tr("a", "fail", ["T-1"], [ev("T-1", "<EINVAL>", "EBADMSG")])])
    page = report_html.single(run, verdicts.assess(run, clauses), catalogue.PROFILES)
    chk = _Checker()
    chk.feed(page)
    assert not chk.errors and not chk.stack
    assert "script" not in chk.tags and "link" not in chk.tags
    assert "details" in chk.tags and "&lt;EINVAL&gt;" in page
    other = make_run([tr("a", clauses=["T-1"], evidence=[ev("T-1", "EBADMSG")])], "debian-6.1", "6.1.0")
    m = report_html.matrix([run, other], clauses, ("linux",))
    chk = _Checker()
    chk.feed(m)
    assert not chk.errors and not chk.stack
    assert "debian-6.12" in m and "debian-6.1" in m


def test_matrix_text_clauses_down_kernels_across(clauses):
    a = make_run([tr("a", clauses=["T-1"], evidence=[ev("T-1", "EBADMSG")])])
    b = make_run([tr("a", "fail", ["T-1"], [ev("T-1", "EINVAL", "EBADMSG")])], "debian-6.1", "6.1.0")
    text = report.matrix_text([a, b], clauses, ("linux",))
    header = next(line for line in text.splitlines() if line.startswith("clause"))
    assert header.split() == ["clause", "debian-6.12", "debian-6.1"]
    row = next(line for line in text.splitlines() if line.startswith("T-1 "))
    assert row.split() == ["T-1", "conforms", "DEVIATES"]
    assert text.startswith("AF_ALG conformance matrix: FAIL")
    md = report.matrix_markdown([a, b], clauses, ("linux",))
    assert "## Where the kernels differ" in md and "### T-1" in md


def test_labels_are_unique():
    runs = [make_run([], "host", "6.1"), make_run([], "host", "6.1"), make_run([], "host", "6.2")]
    assert rows_.labels(runs) == ["host #1", "host #2", "host 6.2"]


def test_report_command(tmp_path, clauses, monkeypatch, capsys):
    monkeypatch.setattr(report.catalogue, "load", lambda *a: clauses)
    a = make_run([tr("a", clauses=["T-1"], evidence=[ev("T-1", "EBADMSG")])])
    b = make_run([tr("a", clauses=["T-1"], evidence=[ev("T-1", "EBADMSG")])], "debian-6.1", "6.1.0")
    a.save(str(tmp_path / "a.json"))
    (tmp_path / "b").mkdir()
    b.save(str(tmp_path / "b" / "results.json"))
    html = tmp_path / "r.html"
    assert cli.main(["report", str(tmp_path / "a.json"), "--html", str(html), "--profile", "all"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# AF_ALG conformance report") and html.read_text().startswith("<!DOCTYPE html>")
    assert cli.main(["report", str(tmp_path / "a.json"), str(tmp_path / "b"), "--plain"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("AF_ALG conformance matrix: PASS") and "debian-6.1" in out
    assert cli.main(["report", str(tmp_path / "missing.json")]) == 2


def test_diff(tmp_path, capsys):
    a = make_run([tr("a", clauses=["T-1"], evidence=[ev("T-1", "EBADMSG", sent="flip")]),
                  tr("b"), tr("k", subtests=[Subtest("v1", "pass"), Subtest("v2", "pass")])])
    b = make_run([tr("a", "fail", ["T-1"], [ev("T-1", "EINVAL", "EBADMSG", sent="flip")]),
                  tr("c"), tr("k", subtests=[Subtest("v1", "pass")])], "debian-6.1", "6.1.0")
    d = rundiff.compare(a, b)
    assert [x[:3] for x in d.outcome] == [("conformance/test_t.py::a", "pass", "fail")]
    assert d.only_a == ["conformance/test_t.py::b"] and d.only_b == ["conformance/test_t.py::c"]
    assert d.seen == {"T-1": [("conformance/test_t.py::a", "flip", "EBADMSG", "EINVAL")]}
    assert d.subtests == [("conformance/test_t.py::k", "2 (2 pass)", "1 (1 pass)")]
    a.save(str(tmp_path / "a.json"))
    b.save(str(tmp_path / "b.json"))
    assert cli.main(["diff", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 1
    out = capsys.readouterr().out
    assert "T-1:" in out and "EBADMSG -> EINVAL" in out
    assert cli.main(["diff", str(tmp_path / "a.json"), str(tmp_path / "a.json")]) == 0
    assert "no differences" in capsys.readouterr().out


def test_results_json_round_trip_keeps_report_inputs(tmp_path, clauses):
    run = make_run([tr("b", clauses=["T-2"], evidence=[ev("T-2", "aad-inline", None)])])
    run.save(str(tmp_path / "r.json"))
    again = Run.from_json(json.loads((tmp_path / "r.json").read_text()))
    assert cells(again, clauses)["T-2"]["proposal-2010"].verdict == "deviates"


def test_linux_doc_deviations_as_a_patch_that_applies(tmp_path):
    """report --patch: a linux-doc deviation becomes a note after the statement it corrects,
    with the run's evidence in the description, and the patch applies to the shipped document
    (tests/data/userspace-if-6.12.rst is linux-source-6.12's Documentation/crypto/userspace-if.rst)."""
    import shutil
    import subprocess
    from afalg_conformance.harness.report import docpatch
    doc = Path(__file__).parent / "data" / "userspace-if-6.12.rst"
    ev = {"clause": "RNG-2", "sent": "stdrng unseeded: recv(32)", "expected": "EINVAL", "seen": "EINVAL", "ok": True}
    run = Run(run=RunInfo(target="debian-6.12", kernel_release="6.12.117+deb12-amd64"),
              tests=[TestResult("conformance/test_rng.py::test_drbg_needs_seed[stdrng]",
                                "rng.test_drbg_needs_seed[stdrng]", "pass", clauses=["RNG-2"], evidence=[ev])])
    text, unplaced = docpatch.build(run, catalogue.load(), doc.read_text())
    assert "- RNG-2 A DRBG must be seeded before use" in text and "stdrng unseeded: recv(32) -> EINVAL" in text
    assert text.count("\n@@ ") == 1 and ".. note::" in text and unplaced == []
    if not shutil.which("patch"):
        pytest.skip("unsupported:no-patch-program")
    tree = tmp_path / "Documentation" / "crypto"
    tree.mkdir(parents=True)
    shutil.copy(doc, tree / "userspace-if.rst")
    r = subprocess.run(["patch", "-p1", "--dry-run"], input=text, text=True, capture_output=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
