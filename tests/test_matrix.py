"""Host tests for several kernels at once (matrix.py) and for joining shards (merge.py)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

import pytest

from afalg_conformance.harness import cli
from afalg_conformance.harness.results import ktap
from afalg_conformance.harness.host import matrix
from afalg_conformance.harness.results import merge
from afalg_conformance.harness.host import runner
from afalg_conformance.harness.host import vm
from afalg_conformance.harness.results.order import canonical_order_key, shard_of
from afalg_conformance.harness.results.model import Run, RunInfo, Subtest
from afalg_conformance.harness.results.model import TestResult as _TestResult
from afalg_conformance.harness.errors import HarnessError

RESULT = re.compile(r"^(ok|not ok) (\d+) ([^#]*?)(?: # (.*))?$")


def check_ktap(lines: list[str], indent: str = "") -> list[tuple[str, str, str | None]]:
    """A strict KTAP v1 reader: header, one plan, sequential results, nested blocks
    indented two spaces just before their parent's result line. Returns the results."""
    assert lines and lines[0] == indent + "KTAP version 1", lines[:1]
    plan, results, i = None, [], 1
    while i < len(lines):
        line = lines[i]
        if line.startswith(indent + "  "):
            j = i
            while j < len(lines) and lines[j].startswith(indent + "  "):
                j += 1
            check_ktap(lines[i:j], indent + "  ")
            assert j < len(lines) and RESULT.match(lines[j][len(indent):]), f"orphan subtest block at {i}"
            i = j
            continue
        assert line.startswith(indent), line
        body = line[len(indent):]
        if body.startswith("#"):
            i += 1
            continue
        m = re.match(r"^1\.\.(\d+)$", body)
        if m:
            assert plan is None, "two plans"
            plan = int(m.group(1))
            i += 1
            continue
        m = RESULT.match(body)
        assert m, f"not KTAP: {line!r}"
        assert int(m.group(2)) == len(results) + 1, f"numbering: {line!r}"
        results.append((m.group(1), m.group(3), m.group(4)))
        i += 1
    assert plan == len(results), (plan, len(results))
    return results


def tr(nodeid: str, outcome: str = "pass", **kw) -> _TestResult:
    mod = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_")
    return _TestResult(id=nodeid, name=f"{mod}.{nodeid.split('::')[1]}", outcome=outcome, **kw)


def synthetic_tests() -> list[_TestResult]:
    out = []
    for f in ("conformance/test_hash.py", "conformance/test_aead.py"):
        for name in ("test_known_answer", "test_bad_tag"):
            for p in (1, 2, 10, 11):
                oc = "fail" if p == 10 and name == "test_bad_tag" else ("skip" if p == 11 else "pass")
                out.append(tr(f"{f}::{name}[case-{p}]", oc, reason="unsupported:x" if oc == "skip" else "",
                              clauses=["AEAD-2"], duration=0.5,
                              evidence=[{"clause": "AEAD-2", "sent": "x", "expected": "EBADMSG",
                                         "seen": "EBADMSG" if oc != "fail" else "EINVAL", "ok": oc != "fail",
                                         "note": ""}],
                              subtests=[Subtest("v1", "pass"), Subtest("v2", oc if oc != "skip" else "pass")]))
    out.sort(key=lambda t: canonical_order_key(t.id))
    return out


def info(**kw) -> RunInfo:
    base = dict(target="debian-6.12", kernel_release="6.12.1", accel="tcg", accel_reason="no kvm",
                started="2026-01-01T00:00:00+00:00", duration=10.0, boot_seconds=5.0, command=["vng"])
    base.update(kw)
    return RunInfo(**base)


def shard_runs(tests, n: int) -> list[Run]:
    runs = []
    for i in range(1, n + 1):
        mine = [t for t in tests if shard_of(t.id, n) == i - 1]
        runs.append(Run(run=info(shard=f"{i}/{n}", started=f"2026-01-01T00:0{i}:00+00:00"), tests=mine))
    return runs


# -- merge -------------------------------------------------------------------------------------

def test_merged_shards_equal_the_unsharded_run(tmp_path):
    tests = synthetic_tests()
    shards = shard_runs(tests, 3)
    assert all(r.tests for r in shards), "every shard should hold tests for this check to mean something"
    whole = Run(run=info(duration=30.0), tests=tests)
    whole.run.exit_code = whole.verdict()
    merged = merge.merge([(f"s{i}", r) for i, r in enumerate(reversed(shards))])
    assert [asdict(t) for t in merged.tests] == [asdict(t) for t in whole.tests]
    assert merged.totals() == whole.totals() and merged.verdict() == whole.verdict() == 1
    assert merged.run.shard == "" and merged.run.duration == 30.0
    assert [s["shard"] for s in merged.run.extra["merged_shards"]] == ["1/3", "2/3", "3/3"]

    # The three files, test for test, through the CLI.
    for i, r in enumerate(shards, 1):
        (tmp_path / f"shard{i}").mkdir()
        runner.write_outputs(r, tmp_path / f"shard{i}")
    (tmp_path / "whole").mkdir()
    runner.write_outputs(whole, tmp_path / "whole")
    rc = cli.main(["merge", *(str(tmp_path / f"shard{i}") for i in (2, 3, 1)), "--output", str(tmp_path / "m")])
    assert rc == 0
    assert (tmp_path / "m" / "results.ktap").read_text() == (tmp_path / "whole" / "results.ktap").read_text()
    cases = lambda p: [ET.tostring(c) for c in ET.parse(p).getroot().iter("testcase")]
    assert cases(tmp_path / "m" / "junit.xml") == cases(tmp_path / "whole" / "junit.xml")
    m = Run.load(str(tmp_path / "m" / "results.json")).to_json()
    w = whole.to_json()
    assert m["tests"] == w["tests"] and m["totals"] == w["totals"] and m["run"]["exit_code"] == 1
    assert cli.main(["merge", str(tmp_path / "shard1"), "--output", str(tmp_path / "x")]) == 2


def test_merge_refuses_incomplete_or_mismatched_shards():
    shards = shard_runs(synthetic_tests(), 3)
    with pytest.raises(merge.MergeError, match="3/3 missing"):
        merge.merge([("a", shards[0]), ("b", shards[1])])
    partial = merge.merge([("a", shards[0]), ("b", shards[1])], allow_partial=True)
    assert partial.run.harness_status == "harness-error" and partial.verdict() == 1
    assert partial.run.extra["missing_shards"] == ["3/3"]
    with pytest.raises(merge.MergeError, match="given twice"):
        merge.merge([("a", shards[0]), ("b", shards[0])])
    other = Run(run=info(shard="2/3", kernel_release="6.1.0"), tests=shards[1].tests)
    with pytest.raises(merge.MergeError, match="different kernels"):
        merge.merge([("a", shards[0]), ("b", other), ("c", shards[2])])
    with pytest.raises(merge.MergeError, match="not a shard"):
        merge.merge([("a", Run(run=info()))])
    overlap = Run(run=info(shard="2/3"), tests=shards[1].tests + shards[0].tests[:1])
    with pytest.raises(merge.MergeError, match="overlap"):
        merge.merge([("a", shards[0]), ("b", overlap), ("c", shards[2])])


def test_merge_keeps_the_worst_harness_status():
    shards = shard_runs(synthetic_tests(), 2)
    shards[1].run.harness_status, shards[1].run.harness_reason = "crashed", "guest died during x"
    shards[1].kernel_problems = [{"kind": "oops", "line": "BUG"}]
    m = merge.merge([("a", shards[0]), ("b", shards[1])])
    assert m.run.harness_status == "crashed" and "shard 2/2: guest died" in m.run.harness_reason
    assert m.kernel_problems == [{"kind": "oops", "line": "BUG", "shard": "2/2"}]


def test_the_plugin_runs_tests_in_canonical_order_and_shards_partition_them(tmp_path):
    (tmp_path / "test_order.py").write_text(
        "import pytest\n"
        "def test_b(): pass\n"
        "def test_a(): pass\n"
        "@pytest.mark.parametrize('n', [10, 2, 1])\n"
        "def test_p(n): pass\n")
    root = Path(__file__).resolve().parent.parent

    def collect(*extra):
        p = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                            "-p", "afalg_conformance.harness.guest.plugin", "--rootdir", str(tmp_path), str(tmp_path), *extra],
                           capture_output=True, text=True, cwd=tmp_path, timeout=120,
                           env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        return [line.split("::")[1] for line in p.stdout.splitlines() if "::" in line]

    full = collect()
    assert full == ["test_a", "test_b", "test_p[1]", "test_p[2]", "test_p[10]"]
    parts = [collect("--afalg-shard", f"{i}/2") for i in (1, 2)]
    assert sorted(parts[0] + parts[1], key=full.index) == full
    assert all(p == sorted(p, key=full.index) for p in parts)


# -- several kernels ---------------------------------------------------------------------------

def fake_targets(monkeypatch):
    monkeypatch.setattr(vm, "resolve_target",
                        lambda spec: vm.Target(spec, f"/boot/vmlinuz-{spec}", spec.replace("k-", "") + ".0"))
    monkeypatch.setattr(cli.run, "preflight", lambda target: None)     # fake kernels need no tools


def test_run_many_prints_one_valid_ktap_and_runs_in_parallel(tmp_path, monkeypatch, capsys):
    fake_targets(monkeypatch)
    together = threading.Barrier(3, timeout=20)    # breaks unless all three run at once
    delays = {"k-6.12": 0.5, "k-6.1": 0.0, "k-boot": 0.0}   # the first finishes last

    def execute(target, results_dir, opts):
        together.wait()
        time.sleep(delays[target.name])
        opts.ktap_out.write("KTAP version 1\nthis must not reach stdout\n")
        if target.name == "k-boot":
            run = Run(run=RunInfo(target=target.name, kernel_release=target.release,
                                  harness_status="boot-failure", harness_reason="never booted"))
        else:
            bad = target.name == "k-6.1"
            run = Run(run=RunInfo(target=target.name, kernel_release=target.release, accel="tcg", duration=1.0),
                      tests=[tr("conformance/test_a.py::test_x", "fail" if bad else "pass", clauses=["AEAD-2"],
                                subtests=[Subtest("v1", "pass")]),
                             tr("conformance/test_a.py::test_y", "skip", reason="unsupported:y")])
        run.run.exit_code = run.verdict()
        runner.write_outputs(run, results_dir)
        return run

    monkeypatch.setattr(runner, "execute", execute)
    monkeypatch.setenv("AFALG_JOBS", "3")
    rc = cli.main(["run", "--kernel", "k-6.12", "--kernel", "k-6.1", "--kernel", "k-boot",
                   "--suite", "smoke", "--results", str(tmp_path / "m")])
    out, err = capsys.readouterr()
    assert rc == 2
    assert "must not reach stdout" not in out
    top = check_ktap(out.splitlines())
    assert [(ok, name.strip()) for ok, name, _ in top] == [("ok", "k-6.12"), ("not ok", "k-6.1"), ("not ok", "k-boot")]
    assert top[2][2].startswith("ERROR")
    assert out.splitlines()[-1].startswith("# Totals: pass:1 fail:1")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "k-6.1", "k-6.12", "k-boot", "matrix.ktap", "matrix.md", "matrix.txt", "report.html"]
    assert (tmp_path / "m" / "matrix.ktap").read_text() == out
    assert "AF_ALG conformance matrix: HARNESS ERROR" in err
    row = next(line for line in (tmp_path / "m" / "matrix.txt").read_text().splitlines() if line.startswith("AEAD-2"))
    assert row.split()[1:] == ["conforms", "DEVIATES", "not", "covered"]


def test_a_worker_that_raises_does_not_lose_the_others(tmp_path, monkeypatch):
    fake_targets(monkeypatch)

    def execute(target, results_dir, opts):
        if target.name == "k-6.1":
            raise HarnessError("qemu is not installed")
        run = Run(run=RunInfo(target=target.name, kernel_release=target.release), tests=[tr("c/test_a.py::t")])
        runner.write_outputs(run, results_dir)
        return run

    monkeypatch.setattr(runner, "execute", execute)
    a = cli_args(tmp_path)
    buf = io.StringIO()
    assert matrix.run_many(["k-6.12", "k-6.1"], a, out=buf) == 2
    top = check_ktap(buf.getvalue().splitlines())
    assert top[0][0] == "ok" and top[1][0] == "not ok" and "qemu is not installed" in top[1][2]
    assert Run.load(str(tmp_path / "m" / "k-6.1" / "results.json")).run.harness_status == "harness-error"


def test_an_interrupt_stops_the_other_kernels_guests(tmp_path, monkeypatch, capsys):
    """Ctrl-C during a multi-kernel run: the main thread stops every worker's guest before
    the pool waits for the workers, so the command ends now, not when the guests would."""
    import sys

    from afalg_conformance.harness.host import processes as guests
    fake_targets(monkeypatch)
    started = []

    def execute(target, results_dir, opts):
        if target.name == "k-6.12":
            time.sleep(1)
            raise KeyboardInterrupt          # what the user's Ctrl-C looks like to the pool
        p = guests.start([sys.executable, "-c", "import time; time.sleep(120)"])
        started.append(p)
        p.wait()
        return Run(run=RunInfo(target=target.name, kernel_release=target.release))

    monkeypatch.setattr(runner, "execute", execute)
    monkeypatch.setenv("AFALG_JOBS", "2")
    t0 = time.monotonic()
    rc = cli.main(["run", "--kernel", "k-6.12", "--kernel", "k-6.1", "--suite", "smoke",
                   "--results", str(tmp_path / "m")])
    assert rc == 130 and time.monotonic() - t0 < 60
    assert started and started[0].poll() is not None
    assert "stopped 1 running guest" in capsys.readouterr().err


def cli_args(tmp_path):
    import argparse
    p = argparse.ArgumentParser()
    cli.run._add_run_options(p)
    return p.parse_args(["--results", str(tmp_path / "m")])


def test_jobs_and_folder_names(monkeypatch):
    monkeypatch.delenv("AFALG_JOBS", raising=False)
    assert 1 <= matrix.jobs_for(5) <= 5
    monkeypatch.setenv("AFALG_JOBS", "1")
    assert matrix.jobs_for(5) == 1
    assert matrix.jobs_for(5, requested=3) == 3
    t = [vm.Target("a/b", "x"), vm.Target("a/b", "x"), vm.Target("c", "x")]
    assert matrix.folder_names(t) == ["a_b", "a_b-2", "c"]


def test_nested_block_matches_the_single_run_ktap():
    run = Run(run=RunInfo(target="k", kernel_release="1.0", accel="kvm"),
              tests=[tr("c/test_a.py::t", subtests=[Subtest("v", "pass")])])
    block = matrix.kernel_block(1, "k", run).splitlines()
    single = ktap.render(run, ["afalg-conformance on 1.0 (k, kvm)"]).splitlines()
    assert block[:-1] == ["  " + line for line in single] and block[-1] == "ok 1 k"


def test_jobs_are_each_guests_workers_and_kernels_at_once_the_guests(tmp_path, monkeypatch, capsys):
    fake_targets(monkeypatch)
    seen = []

    def execute(target, results_dir, opts):
        seen.append(opts.jobs)
        run = Run(run=RunInfo(target=target.name, kernel_release=target.release), tests=[tr("c/test_a.py::t")])
        runner.write_outputs(run, results_dir)
        return run
    monkeypatch.setattr(runner, "execute", execute)
    monkeypatch.setenv("AFALG_JOBS", "1")
    cli.main(["run", "--kernel", "k-6.12", "--kernel", "k-6.1", "--suite", "smoke", "--jobs", "1",
              "--kernels-at-once", "2", "--results", str(tmp_path / "m")])
    assert "2 kernels, 2 at a time" in capsys.readouterr().err
    assert seen == [1, 1]
