"""`afalg-conform kcidb RESULTS.json`: the run as KCIDB I/O JSON (schema v5), for KernelCI's database.

Status of each test (KCIDB's meanings in brackets):
  pass                          PASS
  fail, xfail, crash            FAIL   [the kernel is faulty; an xfail is a known deviation:
                                        triage it with a KCIDB issue, not by hiding it]
  error, timeout                ERROR  [the test did not complete; the kernel's state is unknown]
  skip                          SKIP   [not applicable here: unsupported:... reasons]
  skip "not run: ..."           MISS   [the harness never ran it: the guest never booted, or
                                        died and the restarts ran out]
Nested per-vector subtests become child nodes of their test's path. A root node
`afalg` carries the run's summary status (MISS when the guest never booted,
ERROR when the harness failed before any test).
"""

from __future__ import annotations

import re

from afalg_conformance.harness.results.model import Run, TestResult, kernel_report_line

SCHEMA_VERSION = {"major": 5, "minor": 3}
ORIGIN_RE = re.compile(r"^[a-z0-9_]+$")
PRIORITY = ["FAIL", "ERROR", "MISS", "PASS", "DONE", "SKIP"]
STATUS = {"pass": "PASS", "fail": "FAIL", "xfail": "FAIL", "crash": "FAIL", "error": "ERROR",
          "timeout": "ERROR", "skip": "SKIP"}


def status_of(t: TestResult) -> str:
    if t.outcome == "skip" and t.reason.startswith("not run"):
        return "MISS"
    return STATUS.get(t.outcome, "ERROR")


def summary_status(statuses: list[str], run: Run) -> str:
    if not statuses:
        return "MISS" if run.run.harness_status == "boot-failure" else "ERROR"
    return min(statuses, key=PRIORITY.index)


def segment(text: str) -> str:
    """A KCIDB path segment: [a-zA-Z0-9_-]+."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "_"


def test_path(nodeid: str) -> str:
    """conformance/test_smoke.py::test_x[enc] -> afalg.smoke.test_x_enc"""
    file, _, rest = nodeid.partition("::")
    mod = file.rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_")
    return ".".join(["afalg", segment(mod)] + [segment(p) for p in rest.split("::") if p])


def _key(run: Run) -> str:
    i = run.run
    return "-".join(x for x in (i.target, i.kernel_release, i.started, i.shard.replace("/", "of")) if x)


def _excerpt(t: TestResult) -> str:
    lines = [t.reason] if t.reason else []
    lines += [f"clause {e.get('clause')}: sent {e.get('sent', '')}; expected {e.get('expected')}; "
              f"seen {e.get('seen')}" for e in t.evidence if not e.get("ok", True)]
    lines += [kernel_report_line(p) for p in t.kernel_log]
    return "\n".join(lines)[:16384].replace("\0", "")


def export(run: Run, origin: str = "afalg", build_id: str | None = None, log_url: str | None = None) -> dict:
    if not ORIGIN_RE.match(origin):
        raise ValueError(f"KCIDB origin {origin!r} must match [a-z0-9_]+")
    i = run.run
    key = _key(run)
    out: dict = {"version": dict(SCHEMA_VERSION)}
    if build_id is None:
        checkout_id = f"{origin}:{i.kernel_release or i.target}"
        build_id = f"{checkout_id}:{i.target}"
        out["checkouts"] = [{"id": checkout_id, "origin": origin, "tree_name": i.target or "unknown",
                             "comment": f"kernel {i.kernel_release}", "misc": {"kernel_release": i.kernel_release}}]
        out["builds"] = [{"id": build_id, "checkout_id": checkout_id, "origin": origin,
                          "architecture": "x86_64", "comment": f"{i.target} {i.kernel_release}",
                          "misc": {"target": i.target}}]
    env = {"comment": f"{i.accel or 'unknown'} ({i.accel_reason})" if i.accel_reason else (i.accel or "unknown"),
           "misc": {"accel": i.accel, "kernel_release": i.kernel_release, "target": i.target,
                    "harness_status": i.harness_status, "shard": i.shard}}

    def node(id_: str, path: str, status: str, comment: str, duration: float = 0.0, misc=None,
             excerpt: str = "") -> dict:
        d = {"id": id_, "build_id": build_id, "origin": origin, "path": path, "status": status,
             "comment": comment.replace("\0", "")[:1000], "environment": env, "duration": float(duration)}
        if i.started:
            d["start_time"] = i.started
        if log_url:
            d["log_url"] = log_url
        if excerpt:
            d["log_excerpt"] = excerpt
        if misc:
            d["misc"] = misc
        return d

    tests = []
    for t in run.tests:
        path = test_path(t.id)
        tests.append(node(f"{origin}:{key}:{t.id}", path, status_of(t), t.reason or t.name, t.duration,
                          {"outcome": t.outcome, "clauses": t.clauses, "nodeid": t.id}, _excerpt(t)))
        names: dict[str, int] = {}
        for s in t.subtests:
            n = names.get(s.name, 0)
            names[s.name] = n + 1
            sid = s.name if n == 0 else f"{s.name}#{n}"
            tests.append(node(f"{origin}:{key}:{t.id}/{sid}", f"{path}.{segment(sid)}",
                              STATUS.get(s.outcome, "ERROR"), s.reason or s.name, 0.0, {"outcome": s.outcome}))
    statuses = [x["status"] for x in tests]
    root_comment = (f"afalg-conformance on {i.kernel_release}: harness {i.harness_status}"
                    + (f": {i.harness_reason}" if i.harness_reason else ""))
    out["tests"] = [node(f"{origin}:{key}", "afalg", summary_status(statuses, run), root_comment,
                         i.duration, {"totals": run.totals()})] + tests
    return out


def validate(data: dict) -> None:
    """Validate with kcidb-io when it is installed (raises its ValidationError)."""
    import kcidb_io   # optional: the dev extra; validating is asked for with --validate
    kcidb_io.schema.LATEST.validate(data)
