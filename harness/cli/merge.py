"""`afalg-conform merge`: shard results (run --shard I/N) joined into one run's."""

from __future__ import annotations

import sys
from pathlib import Path

from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.host import runner
from afalg_conformance.harness.results import merge


def cmd_merge(a) -> int:
    try:
        run = merge.merge(merge.load_shards(a.shards), a.allow_partial)
    except ValueError as e:
        raise HarnessError(str(e)) from None
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    runner.write_outputs(run, out)
    sys.stdout.write((out / "results.ktap").read_text())
    t = run.totals()
    print(f"afalg-conform: merged {len(a.shards)} shards of {run.run.target} {run.run.kernel_release}: "
          f"{len(run.tests)} tests, {t['pass']} passed, {t['fail']} failed, {t['skip']} skipped; "
          f"results in {out}", file=sys.stderr)
    return 0     # merging worked; the tests' verdict is the shard jobs' (and results.json's exit_code)


def add_parser(sub) -> None:
    p = sub.add_parser("merge", help="join shard results (run --shard I/N) into one run's results")
    p.add_argument("shards", nargs="+", metavar="SHARD_DIR", help="results folders (or results.json) of the shards")
    p.add_argument("--output", required=True, metavar="DIR", help="folder for the merged results")
    p.add_argument("--allow-partial", action="store_true",
                   help="merge even if shards are missing (the merged run is then a harness error)")
    p.set_defaults(fn=cmd_merge)
