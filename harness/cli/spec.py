"""`afalg-conform spec`: conformance/SPEC.md from the clause catalogue."""

from __future__ import annotations

import sys
from pathlib import Path

from afalg_conformance.conformance import catalogue
from afalg_conformance.harness.host import vm


def cmd_spec(a) -> int:
    text = catalogue.render_markdown()
    if a.check:
        current = Path(a.output).read_text() if Path(a.output).exists() else ""
        if current != text:
            print(f"{a.output} is out of date: run afalg-conform spec", file=sys.stderr)
            return 1
        return 0
    Path(a.output).write_text(text)
    print(f"wrote {a.output} ({len(catalogue.load())} clauses)", file=sys.stderr)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("spec", help="regenerate conformance/SPEC.md from the clause catalogue")
    p.add_argument("--output", default=str(vm.PROJECT_ROOT / "conformance" / "SPEC.md"))
    p.add_argument("--check", action="store_true", help="exit 1 if SPEC.md is out of date")
    p.set_defaults(fn=cmd_spec)
