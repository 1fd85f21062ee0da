"""Host tests for the KCIDB export: statuses, paths, ids, and validation with kcidb-io."""

from __future__ import annotations

import json

import pytest

from afalg_conformance.harness import cli
from afalg_conformance.harness.results import kcidb
from afalg_conformance.harness.results.model import Run, RunInfo, Subtest
from afalg_conformance.harness.results.model import TestResult as _TestResult


def tr(name, outcome, reason="", **kw):
    return _TestResult(id=f"conformance/test_aead.py::{name}", name=f"aead.{name}", outcome=outcome,
                       reason=reason, **kw)


def sample_run() -> Run:
    return Run(run=RunInfo(target="debian-6.12", kernel_release="6.12.117+deb12-amd64", accel="tcg",
                           accel_reason="no /dev/kvm", started="2026-11-27T07:48:19+00:00", duration=55.6),
               tests=[tr("test_pass[gcm(aes)-16]", "pass", clauses=["AEAD-1"],
                         subtests=[Subtest("tc1", "pass"), Subtest("tc1", "fail", "wrong tag"),
                                   Subtest("tc 3/#x", "skip", "unsupported:ivlen=8")]),
                      tr("test_fail", "fail", "AEAD-2: expected EBADMSG, seen EINVAL",
                         evidence=[{"clause": "AEAD-2", "sent": "flip", "expected": "EBADMSG", "seen": "EINVAL",
                                    "ok": False, "note": ""}]),
                      tr("test_xfail", "xfail", "known deviation"),
                      tr("test_crash", "crash", "guest kernel died: oops",
                         kernel_log=[{"kind": "oops", "line": "BUG: unable to handle"}]),
                      tr("test_timeout", "timeout", "stopped after 120 s"),
                      tr("test_error", "error", "fixture broke"),
                      tr("test_skip", "skip", "unsupported:alg-missing=ccm(aes)"),
                      tr("test_not_run", "skip", "not run: guest died during test_crash")])


def by_path(data):
    return {t["path"]: t for t in data["tests"]}


def test_statuses():
    data = kcidb.export(sample_run(), "afalg_ci")
    t = by_path(data)
    assert t["afalg.aead.test_pass_gcm_aes_-16"]["status"] == "PASS"
    assert t["afalg.aead.test_fail"]["status"] == "FAIL"
    assert "seen EINVAL" in t["afalg.aead.test_fail"]["log_excerpt"]
    assert t["afalg.aead.test_xfail"]["status"] == "FAIL"
    assert t["afalg.aead.test_crash"]["status"] == "FAIL"
    assert "BUG: unable to handle" in t["afalg.aead.test_crash"]["log_excerpt"]
    assert t["afalg.aead.test_timeout"]["status"] == "ERROR"
    assert t["afalg.aead.test_error"]["status"] == "ERROR"
    assert t["afalg.aead.test_skip"]["status"] == "SKIP"
    assert t["afalg.aead.test_not_run"]["status"] == "MISS"
    assert t["afalg"]["status"] == "FAIL"          # the root carries the highest-priority status
    subs = [x for x in data["tests"] if x["path"].startswith("afalg.aead.test_pass_gcm_aes_-16.")]
    assert [x["status"] for x in subs] == ["PASS", "FAIL", "SKIP"]
    assert len({x["id"] for x in data["tests"]}) == len(data["tests"])
    assert all(x["build_id"] == data["builds"][0]["id"] for x in data["tests"])


def test_guest_never_booted_is_miss_and_harness_failure_is_error():
    never = Run(run=RunInfo(target="debian-6.1", kernel_release="6.1.0-1-amd64", harness_status="boot-failure",
                            harness_reason="the guest never started the suite"),
                tests=[tr("test_a", "skip", "not run: the guest never started the suite")])
    t = by_path(kcidb.export(never))
    assert t["afalg"]["status"] == "MISS" and t["afalg.aead.test_a"]["status"] == "MISS"
    empty = Run(run=RunInfo(target="debian-6.1", harness_status="boot-failure"))
    assert by_path(kcidb.export(empty))["afalg"]["status"] == "MISS"
    broken = Run(run=RunInfo(target="host", harness_status="harness-error", harness_reason="no AF_ALG"))
    assert by_path(kcidb.export(broken))["afalg"]["status"] == "ERROR"
    skipped = Run(run=RunInfo(target="host"), tests=[tr("test_a", "skip", "unsupported:x")])
    assert by_path(kcidb.export(skipped))["afalg"]["status"] == "SKIP"


def test_existing_build_and_bad_origin():
    data = kcidb.export(sample_run(), "lab", build_id="lab:build-42", log_url="https://lab.example/log.txt")
    assert "builds" not in data and "checkouts" not in data
    assert {t["build_id"] for t in data["tests"]} == {"lab:build-42"}
    assert data["tests"][0]["log_url"] == "https://lab.example/log.txt"
    with pytest.raises(ValueError, match="origin"):
        kcidb.export(sample_run(), "Bad-Origin")


def test_paths_match_the_kcidb_pattern():
    import re
    pat = re.compile(r"^([a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*)?$")
    assert all(pat.match(t["path"]) for t in kcidb.export(sample_run())["tests"])


def test_validates_with_kcidb_io():
    kcidb_io = pytest.importorskip("kcidb_io", reason="kcidb-io is not installed (pip install kcidb-io)")
    for run in (sample_run(), Run(run=RunInfo(target="x", harness_status="boot-failure"))):
        data = kcidb.export(run, "afalg_ci")
        kcidb_io.schema.LATEST.validate(data)
        assert kcidb_io.schema.LATEST.is_compatible_exactly(data)


def test_kcidb_command(tmp_path, capsys):
    sample_run().save(str(tmp_path / "results.json"))
    assert cli.main(["kcidb", str(tmp_path), "--origin", "ci_lab"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == {"major": 5, "minor": 3} and data["tests"][0]["origin"] == "ci_lab"
    out = tmp_path / "k.json"
    assert cli.main(["kcidb", str(tmp_path / "results.json"), "--output", str(out)]) == 0
    assert json.loads(out.read_text())["tests"]
    assert cli.main(["kcidb", str(tmp_path), "--origin", "No-Caps"]) == 2
