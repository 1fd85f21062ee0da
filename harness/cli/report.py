"""`afalg-conform report`, `diff` and `kcidb`: what a run's results say, for people and dashboards."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from afalg_conformance.conformance import catalogue
from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.report import docpatch
from afalg_conformance.harness.report import text as report
from afalg_conformance.harness.results import kcidb, rundiff


def cmd_patch(a) -> int:
    """report --patch: the run's linux-doc deviations as a patch against the release's
    Documentation/crypto/userspace-if.rst (given with --doc)."""
    if len(a.results) != 1 or not a.doc:
        raise HarnessError("--patch takes one run and --doc PATH/TO/userspace-if.rst (from linux-source-<version>)")
    try:
        run = report.load_run(a.results[0])
        doc = Path(a.doc).read_text()
        text, unplaced = docpatch.build(run, catalogue.load(), doc)
    except (OSError, ValueError, catalogue.CatalogueError) as e:
        raise HarnessError(str(e)) from None
    Path(a.patch).write_text(text)
    hunks = text.count("\n@@ ")
    print(f"afalg-conform: wrote {a.patch}: {hunks} hunk(s) against {docpatch.DOC_PATH}"
          + (f"; not quoted verbatim by this document: {', '.join(unplaced)}" if unplaced else ""), file=sys.stderr)
    return 0


def cmd_report(a) -> int:
    if a.patch:
        return cmd_patch(a)
    try:
        outputs = {"markdown": a.markdown, "html": a.html, "text": a.text}
        for fmt, path in outputs.items():
            if path:
                Path(path).write_text(report.build(a.results, a.profile, fmt))
                print(f"afalg-conform: wrote {path}", file=sys.stderr)
        stdout_fmt = "text" if a.plain else "markdown"
        if not a.quiet:
            sys.stdout.write(report.build(a.results, a.profile, stdout_fmt))
    except (ValueError, catalogue.CatalogueError) as e:
        raise HarnessError(str(e)) from None
    return 0


def add_parser(sub) -> None:
    add_report_parser(sub)
    add_diff_parser(sub)
    add_kcidb_parser(sub)


def add_report_parser(sub) -> None:
    p = sub.add_parser("report", help="per-clause verdicts per profile (one run) or a matrix (several runs)")
    p.add_argument("results", nargs="+", metavar="RESULTS.json",
                   help="results.json files or results folders; several make a matrix across kernels")
    p.add_argument("--profile", choices=[*report.PROFILES, "all"], default=None,
                   help="profile(s) to judge against (default: all for one run, linux for several)")
    p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page")
    p.add_argument("--markdown", metavar="FILE", help="also write the Markdown report to FILE")
    p.add_argument("--text", metavar="FILE", help="also write the plain-text report to FILE")
    p.add_argument("--plain", action="store_true", help="plain text on stdout instead of Markdown")
    p.add_argument("-q", "--quiet", action="store_true", help="nothing on stdout (files only)")
    p.add_argument("--patch", metavar="FILE",
                   help="write the linux-doc deviations as a patch against --doc (userspace-if.rst)")
    p.add_argument("--doc", metavar="RST", help="the release's Documentation/crypto/userspace-if.rst")
    p.set_defaults(fn=cmd_report)


def cmd_diff(a) -> int:
    try:
        ra, rb = report.load_run(a.a), report.load_run(a.b)
    except ValueError as e:
        raise HarnessError(str(e)) from None
    d = rundiff.compare(ra, rb)
    sys.stdout.write(rundiff.render(d, ra, rb, a.a, a.b))
    return 0 if d.empty() else 1


def add_diff_parser(sub) -> None:
    p = sub.add_parser("diff", help="what changed between two runs (exit 0 none, 1 some)")
    p.add_argument("a", metavar="A.json", help="results.json (or its folder) of the first run")
    p.add_argument("b", metavar="B.json", help="results.json (or its folder) of the second run")
    p.set_defaults(fn=cmd_diff)


def cmd_kcidb(a) -> int:
    try:
        data = kcidb.export(report.load_run(a.results), a.origin, a.build_id, a.log_url)
    except ValueError as e:
        raise HarnessError(str(e)) from None
    if a.validate:
        try:
            kcidb.validate(data)
        except ImportError:
            raise HarnessError("--validate needs kcidb-io: pip install kcidb-io") from None
        except Exception as e:   # jsonschema.ValidationError
            raise HarnessError(f"KCIDB validation failed: {str(e).splitlines()[0]}") from None
    text = json.dumps(data, indent=1) + "\n"
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def add_kcidb_parser(sub) -> None:
    p = sub.add_parser("kcidb", help="export a run as KCIDB JSON (for KernelCI)")
    p.add_argument("results", metavar="RESULTS.json", help="results.json or its folder")
    p.add_argument("--origin", default="afalg", help="KCIDB origin, [a-z0-9_]+ (default: afalg)")
    p.add_argument("--build-id", default=None,
                   help="attach the tests to this existing KCIDB build instead of emitting a checkout and build")
    p.add_argument("--log-url", default=None, help="URL of the run's log, recorded on every test")
    p.add_argument("--validate", action="store_true", help="validate the output with kcidb-io")
    p.add_argument("-o", "--output", default=None, help="write here instead of stdout")
    p.set_defaults(fn=cmd_kcidb)
