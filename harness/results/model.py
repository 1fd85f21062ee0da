"""The results model: one run of the suite on one kernel.

The guest streams events (events.jsonl, one JSON object a line, flushed and
fsynced as each test ends); the host folds them into a Run, adds what only it
knows (accelerator, console, crash), and writes results.json, results.ktap and
junit.xml from that one object. Reports, diff and merge read results.json.

Outcomes:
  pass     the kernel did what the spec says (an expected rejection is a pass)
  fail     wrong output, wrong errno, an invalid input accepted
  xfail    a known, documented deviation the test expects (reported as XFAIL)
  skip     cannot run here; the reason is machine-readable, e.g. unsupported:alg-missing=gcm(aes);
           a vector AF_ALG cannot express is a skip counted apart (inexpressible:gcm-ivlen=8)
  error    the test itself broke (harness exception), not a verdict on the kernel
  crash    the guest kernel died while this test ran
  timeout  the test (or the guest) hung and was stopped
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "afalg-conformance/results/1"
OUTCOMES = ("pass", "fail", "xfail", "skip", "error", "crash", "timeout")
FAILING = {"fail", "error", "crash", "timeout"}


def ktap_name(nodeid: str) -> str:
    """A KTAP-safe test name: no '#', no spaces; stable for a given pytest node id."""
    name = nodeid.split("::", 1)[-1] if "::" in nodeid else nodeid
    mod = nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_")
    name = f"{mod}.{name}" if "::" in nodeid else name
    return re.sub(r"[^A-Za-z0-9_.\-\[\]=,+()]", "_", name).replace("#", "_")


@dataclass
class Subtest:
    name: str
    outcome: str
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class TestResult:
    __test__ = False   # not a pytest test class
    id: str
    name: str
    outcome: str
    reason: str = ""
    clauses: list[str] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    subtests: list[Subtest] = field(default_factory=list)
    kernel_log: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0
    longrepr: str = ""
    # run --driver: each bind the test made, {type, name, bound, driver}: the name asked for,
    # the name bound in its place (the focused driver, or the name itself) and the driver serving it
    binds: list[dict[str, Any]] = field(default_factory=list)
    # `afalg-conform coverage` runs only: {pcs: [hex KCOV PCs in af_alg/algif], truncated, distinct}
    kcov: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: dict) -> "TestResult":
        d = dict(d)
        d["subtests"] = [Subtest(**s) for s in d.get("subtests", [])]
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class RunInfo:
    target: str = ""
    kernel_release: str = ""
    accel: str = ""              # kvm | tcg | host
    accel_reason: str = ""
    command: list[str] = field(default_factory=list)
    started: str = ""
    duration: float = 0.0
    boot_seconds: float | None = None
    harness_status: str = "ok"   # ok | crashed | timeout | boot-failure | harness-error
    harness_reason: str = ""
    exit_code: int = 0
    restarts: int = 0
    boot_failures: list[dict] = field(default_factory=list)   # {attempt, console, kind, reason, seconds}
    shard: str = ""
    profile: str = "linux"
    drivers: dict[str, str] = field(default_factory=dict)   # alg name -> driver that served it
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    run: RunInfo = field(default_factory=RunInfo)
    tests: list[TestResult] = field(default_factory=list)
    kernel_problems: list[dict[str, Any]] = field(default_factory=list)
    schema: str = SCHEMA

    # -- accounting ----------------------------------------------------------------------
    def totals(self) -> dict[str, int]:
        t = {k: 0 for k in OUTCOMES}
        for r in self.tests:
            t[r.outcome] = t.get(r.outcome, 0) + 1
        t["subtests"] = sum(len(r.subtests) for r in self.tests)
        for k in ("pass", "fail", "skip", "xfail"):
            t[f"subtests_{k}"] = sum(1 for r in self.tests for s in r.subtests if s.outcome == k)
        # Vectors are counted as what they are: run, not run here (sampled out, or skipped
        # with a reason), or inexpressible through AF_ALG at all (never "skipped" coverage).
        skipped = [s.reason for r in self.tests for s in r.subtests if s.outcome == "skip"]
        t["subtests_inexpressible"] = sum(1 for x in skipped if x.startswith("inexpressible:"))
        t["subtests_sampled"] = sum(1 for x in skipped if x.startswith("not-run:sampled"))
        t["subtests_run"] = t["subtests_pass"] + t["subtests_fail"] + t["subtests_xfail"]
        return t

    def focus(self) -> dict[str, Any]:
        """run --driver: the patterns, the drivers they matched in the guest, and what went
        through those drivers: tests that bound one, vectors one served (a driver-sweep subtest
        counts the vectors it ran)."""
        rec = self.run.extra.get("driver_focus") or {}
        matched = {d for ds in (rec.get("drivers") or {}).values() for d in ds}
        tests = [t for t in self.tests if any(b.get("driver") in matched or b.get("bound") in matched
                                              for b in t.binds)]
        vectors = 0
        for t in self.tests:
            for s in t.subtests:
                # a differential case, or a bind check (results of before 2026-12-02 for kw(aes),
                # poly1305), is no vector
                if s.detail.get("driver") not in matched or s.detail.get("kind") in ("differential", "bind"):
                    continue
                if "vectors" in s.detail:     # test_drivers.py: one subtest per driver and file
                    vectors += sum(s.detail.get(f"n_{k}", 0) for k in ("pass", "fail", "xfail"))
                elif s.outcome in ("pass", "fail", "xfail"):
                    vectors += 1
        return {"patterns": rec.get("patterns", []), "matched": sorted(matched),
                "missing": rec.get("missing", []), "tests": len(tests),
                "tests_passed": sum(t.outcome == "pass" for t in tests), "vectors": vectors}

    def focus_line(self) -> str:
        """One line on the driver focus for the KTAP footer and the run's summary."""
        f = self.focus()
        head = "driver focus " + " ".join(f"--driver {p}" for p in f["patterns"])
        if f["missing"]:
            return f"{head}: no driver of this kernel matches {', '.join(f['missing'])} (the run was skipped)"
        return (f"{head}: matched {', '.join(f['matched']) or 'nothing'}; {f['tests']} tests bound it "
                f"({f['tests_passed']} passed), {f['vectors']} vectors went through it")

    def verdict(self) -> int:
        """Exit status: 0 all passed (skips allowed), 1 failure or kernel problem, 2 harness."""
        if self.run.harness_status in ("boot-failure", "harness-error") and not self.tests:
            return 2
        if any(r.outcome in FAILING for r in self.tests) or self.kernel_problems:
            return 1
        if self.run.harness_status != "ok":
            return 1
        return 0

    # -- JSON ----------------------------------------------------------------------------
    def to_json(self) -> dict:
        d = {"schema": self.schema, "run": asdict(self.run),
             "tests": [asdict(t) for t in self.tests],
             "kernel_problems": self.kernel_problems,
             "totals": self.totals()}
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Run":
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not an afalg-conformance results file (schema {d.get('schema')!r}, "
                             f"expected {SCHEMA!r})")
        info = RunInfo(**{k: v for k, v in d.get("run", {}).items() if k in RunInfo.__dataclass_fields__})
        return cls(run=info, tests=[TestResult.from_json(t) for t in d.get("tests", [])],
                   kernel_problems=d.get("kernel_problems", []))

    @classmethod
    def load(cls, path: str) -> "Run":
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ValueError(f"{path}: no such results file") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        return cls.from_json(data)

    def save(self, path: str) -> None:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.to_json(), f, indent=1, sort_keys=False)
            f.write("\n")
        os.replace(tmp, path)


def kernel_report_line(p: dict) -> str:
    """One kernel report of a result, as KTAP, JUnit and KCIDB print it; a report the test
    explained (the known defect its XFAIL names logs it) says so."""
    why = p.get("explained")
    return f"kernel {p.get('kind')}: {p.get('line')}" + (f" (explained: {why})" if why else "")


def vector_counts(t: dict) -> str:
    """The vectors of a run's totals() in words: run, sampled out, skipped, inexpressible."""
    out = f"{t['subtests_run']} vectors run"
    if t["subtests_sampled"]:
        out += f", {t['subtests_sampled']} sampled out (--quick)"
    other = t["subtests_skip"] - t["subtests_sampled"] - t["subtests_inexpressible"]
    if other:
        out += f", {other} skipped"
    return out + f", {t['subtests_inexpressible']} inexpressible through AF_ALG"
