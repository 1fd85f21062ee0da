"""The guest side of `afalg-conform mutants run`: the suite once per mutant's module set,
in one guest (`python -m harness.guest.mutants`; the host side is harness/host/mutants.py)."""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

from harness.guest import runner as guest


def guest_batch(argv: list[str] | None = None) -> int:
    """In the guest: run harness.guest.runner once per plan entry, each with its own modules
    (harness.guest.runner --preload-modules unloads the previous entry's modules first)."""
    ap = argparse.ArgumentParser(prog="harness.guest.mutants")
    ap.add_argument("--results", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--test-timeout", default="120")
    a = ap.parse_args(argv)
    root = Path(a.results)
    plan = json.loads((root / a.plan).read_text())
    progress = root / "batch-progress.jsonl"
    for e in plan:
        rdir = root / e["name"]
        rdir.mkdir(parents=True, exist_ok=True)
        with open(progress, "a") as f:
            f.write(json.dumps({"name": e["name"], "state": "start", "t": time.time()}) + "\n")
        args = ["--results", str(rdir), "--events", "events-0.jsonl", "--test-timeout", a.test_timeout,
                "--preload-modules", e["dir"], *e["paths"]]
        # In this process: pytest and the suite are imported once, not once per module set
        # (that costs minutes under TCG). Sockets left for the collector would pin the modules.
        gc.collect()
        try:
            rc = guest.main(args)
        except SystemExit as ex:
            rc = ex.code
        with open(progress, "a") as f:
            f.write(json.dumps({"name": e["name"], "state": "end", "rc": rc, "t": time.time()}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(guest_batch())
