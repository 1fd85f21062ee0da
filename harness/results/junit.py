"""JUnit XML (xunit2 layout) for Jenkins and GitLab, from the same Run as the KTAP."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from afalg_conformance.harness.results.model import Run, kernel_report_line


def render(run: Run, suite_name: str = "afalg-conformance") -> bytes:
    t = run.totals()
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", {
        "name": f"{suite_name}.{run.run.target or 'kernel'}",
        "tests": str(len(run.tests)),
        "failures": str(t["fail"]),
        "errors": str(t["error"] + t["crash"] + t["timeout"]),
        "skipped": str(t["skip"] + t["xfail"]),
        "time": f"{run.run.duration:.3f}",
        "timestamp": run.run.started,
        "hostname": run.run.kernel_release or "unknown",
    })
    props = ET.SubElement(suite, "properties")
    for k in ("target", "kernel_release", "accel", "harness_status", "shard"):
        ET.SubElement(props, "property", {"name": k, "value": str(getattr(run.run, k))})
    for r in run.tests:
        classname, _, name = r.id.rpartition("::")
        case = ET.SubElement(suite, "testcase", {
            "classname": classname.replace("/", ".").removesuffix(".py") or "afalg",
            "name": name or r.name, "time": f"{r.duration:.3f}"})
        if r.clauses:
            p = ET.SubElement(case, "properties")
            ET.SubElement(p, "property", {"name": "clauses", "value": " ".join(r.clauses)})
        body = "\n".join(filter(None, [r.longrepr] + [
            f"clause {e.get('clause')}: sent {e.get('sent', '')}; expected {e.get('expected')}; "
            f"seen {e.get('seen')}" for e in r.evidence if not e.get("ok", True)] + [
            f"{s.name}: {s.outcome} {s.reason}" for s in r.subtests if s.outcome == "fail"] + [
            kernel_report_line(p) for p in r.kernel_log]))
        if r.outcome == "fail":
            ET.SubElement(case, "failure", {"message": r.reason or "failed"}).text = body
        elif r.outcome in ("error", "crash", "timeout"):
            ET.SubElement(case, "error", {"message": f"{r.outcome}: {r.reason}"}).text = body
        elif r.outcome == "skip":
            ET.SubElement(case, "skipped", {"type": "pytest.skip", "message": r.reason})
        elif r.outcome == "xfail":
            ET.SubElement(case, "skipped", {"type": "pytest.xfail", "message": r.reason})
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
