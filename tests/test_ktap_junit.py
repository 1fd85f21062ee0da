"""KTAP and JUnit writers, checked with the parsers kernel CI and Jenkins use."""

import xml.etree.ElementTree as ET

import pytest
from tap.parser import Parser

from afalg_conformance.harness.results import junit
from afalg_conformance.harness.results import ktap
from afalg_conformance.harness.results.model import Run, RunInfo, Subtest, TestResult


def sample_run() -> Run:
    return Run(run=RunInfo(target="debian-6.12", kernel_release="6.12.117", accel="tcg"), tests=[
        TestResult("c/test_a.py::test_pass", "a.test_pass", "pass", clauses=["HASH-1"]),
        TestResult("c/test_a.py::test_fail", "a.test_fail", "fail", "wrong digest",
                   evidence=[{"clause": "HASH-1", "sent": "sha256('abc')", "expected": "ba78",
                              "seen": "0000", "ok": False}]),
        TestResult("c/test_a.py::test_skip", "a.test_skip", "skip", "unsupported:gcm-ivlen=8"),
        TestResult("c/test_a.py::test_xfail", "a.test_xfail", "xfail", "doc says otherwise"),
        TestResult("c/test_a.py::test_crash", "a.test_crash", "crash", "guest kernel died: panic"),
        TestResult("c/test_a.py::test_hang", "a.test_hang", "timeout", "guest stopped after 90 s"),
        TestResult("c/test_k.py::test_vectors", "k.test_vectors", "fail", "1 vector failed", subtests=[
            Subtest("count-0", "pass"), Subtest("count-1", "fail", "tag mismatch # oops"),
            Subtest("count-2", "skip", "unsupported:ccm-nonce=6")]),
    ])


EXPECT = {  # name -> (ok, skip directive)
    "a.test_pass": (True, False), "a.test_fail": (False, False), "a.test_skip": (True, True),
    "a.test_xfail": (True, False), "a.test_crash": (False, False), "a.test_hang": (False, False),
    "k.test_vectors": (False, False),
}


def test_ktap_layout():
    text = ktap.render(sample_run())
    lines = text.splitlines()
    assert lines[0] == "KTAP version 1"
    assert "1..7" in lines
    assert "ok 3 a.test_skip # SKIP unsupported:gcm-ivlen=8" in lines
    assert "ok 4 a.test_xfail # XFAIL doc says otherwise" in lines
    assert "not ok 6 a.test_hang # TIMEOUT guest stopped after 90 s" in lines
    assert "  KTAP version 1" in lines and "  1..3" in lines
    assert "  not ok 2 count-1" in lines
    assert "  ok 3 count-2 # SKIP unsupported:ccm-nonce=6" in lines
    assert lines[-1] == "# Totals: pass:1 fail:2 xfail:1 xpass:0 skip:1 error:2"
    # '#' in a reason cannot leak into a description or directive.
    assert not any(line.count("#") > 1 for line in lines if line.lstrip().startswith(("ok", "not ok")))


def test_tap_py_reads_every_status():
    """tap.py is the parser LKFT and KernelCI's kselftest parse-output.py use."""
    seen = {}
    for line in Parser().parse_text(ktap.render(sample_run())):
        if line.category == "test":
            seen[line.description] = (line.ok, line.skip)
    assert seen == EXPECT


def test_junit_counts_and_elements():
    root = ET.fromstring(junit.render(sample_run()))
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == \
        ("7", "2", "2", "2")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["test_fail"].find("failure") is not None
    assert "clause HASH-1" in cases["test_fail"].find("failure").text
    assert cases["test_crash"].find("error").get("message").startswith("crash")
    assert cases["test_skip"].find("skipped").get("message") == "unsupported:gcm-ivlen=8"
    assert cases["test_pass"].find("properties/property").get("value") == "HASH-1"


def test_verdict_and_json_roundtrip(tmp_path):
    run = sample_run()
    assert run.verdict() == 1
    run.save(str(tmp_path / "r.json"))
    again = Run.load(str(tmp_path / "r.json"))
    assert [t.outcome for t in again.tests] == [t.outcome for t in run.tests]
    assert again.tests[-1].subtests[1].reason == "tag mismatch # oops"
    ok = Run(tests=[TestResult("x", "x", "pass"), TestResult("y", "y", "skip", "unsupported:z")])
    assert ok.verdict() == 0


def test_corrupt_results_file_is_a_clear_error(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        Run.load(str(p))
    p.write_text('{"schema": "other"}')
    with pytest.raises(ValueError, match="not an afalg-conformance results file"):
        Run.load(str(p))
