"""`afalg-conform mutants`: the suite run against deliberately broken af_alg/algif modules."""

from __future__ import annotations

from afalg_conformance.harness.host import mutants


def cmd_mutants(a) -> int:
    if a.action == "list":
        for m in mutants.load_mutants():
            print(f"{m.name:30} {m.file:24} {m.breaks}")
        return 0
    if a.action == "build":
        built = mutants.build_all(a.kernel, a.only, a.jobs, a.force)
        for name, path in built.items():
            print(f"{name:30} {path}")
        return 0
    if a.action == "table":
        if not a.results:
            raise mutants.MutantError("mutants table needs --results DIR")
        return mutants.table_only(a)
    return mutants.run_all(a)


def add_parser(sub) -> None:
    p = sub.add_parser("mutants", help="mutation self-check: run the suite against deliberately broken "
                                       "AF_ALG modules (vms/mutants/mutants.toml)")
    p.add_argument("action", choices=["list", "build", "run", "table"],
                   help="table: tabulate the module sets a stopped or finished run completed")
    p.add_argument("--kernel", default="debian-6.12", help="guest kernel target (default: debian-6.12)")
    p.add_argument("--only", action="append", default=None, metavar="NAME", help="just this mutant (repeatable)")
    p.add_argument("--jobs", type=int, default=1, help="make -j for each build (default 1)")
    p.add_argument("--force", action="store_true", help="rebuild even when up to date")
    p.add_argument("--results", default=None, help="results folder (default: results/<stamp>-mutants-...)")
    p.add_argument("--suite", default="full", choices=["full", "smoke"])
    p.add_argument("-k", dest="keyword", default=None, help="pytest -k expression for every guest")
    p.add_argument("--test-timeout", type=float, default=120.0)
    p.add_argument("--max-restarts", type=int, default=2)
    p.add_argument("--boot-timeout", type=float, default=900.0,
                   help="seconds to reach the suite (default 900: shared machines boot slowly under TCG)")
    p.add_argument("--run-timeout", type=float, default=3600.0, help="seconds per guest (default 3600)")
    p.add_argument("--whole", action="store_true",
                   help="every module set runs the whole catalogue (vector sets and driver sweep included); "
                        "each mutant stops at its first failing test, the control runs everything")
    p.add_argument("--every-failure", action="store_true",
                   help="with --whole: run each mutant through the whole catalogue too, not to its first failure")
    p.add_argument("--workers", type=int, default=None,
                   help="pytest workers in each guest (default: one per vCPU, as `run`)")
    p.add_argument("--reuse", action="store_true",
                   help="keep the results (control included) already in --results: resume or extend a run")
    p.add_argument("--tests", dest="paths", action="append", default=[], metavar="PATH",
                   help="test path for every guest (repeatable; default: each mutant's `tests`, else every "
                        "conformance file but the [defaults] exclude list)")
    p.set_defaults(fn=cmd_mutants)
