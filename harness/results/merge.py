"""`afalg-conform merge SHARD_DIR... --output DIR`: shard results joined into one run.

Each shard (`run --shard I/N`) ran a stable slice of the tests on the same kernel.
The merged results.json/results.ktap/junit.xml hold the same tests, test for test,
as an unsharded run: tests are put in canonical_order_key order, the order every
run executes them in (harness/guest/plugin.py). The set of shards must be
complete (1/N … N/N, once each) unless --allow-partial, which marks the merged run
as a harness error so a missing shard can never look like a clean pass.
Exit status: 0 merged (whatever the tests' outcomes: the shard jobs carry those,
and so does the merged results.json's run.exit_code), 2 the shards cannot be merged.
"""

from __future__ import annotations

import sys
from pathlib import Path

from afalg_conformance.harness.results.order import canonical_order_key, shard_of
from afalg_conformance.harness.results.model import Run, RunInfo

STATUS_RANK = ["ok", "timeout", "crashed", "boot-failure", "harness-error"]


class MergeError(ValueError):
    pass


def _shard(run: Run, where: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in run.run.shard.split("/"))
    except ValueError:
        raise MergeError(f"{where}: not a shard (run.shard is {run.run.shard!r}; "
                         f"run it with --shard I/N)") from None
    if not 1 <= i <= n:
        raise MergeError(f"{where}: bad shard {run.run.shard!r}")
    return i, n


def merge(shards: list[tuple[str, Run]], allow_partial: bool = False) -> Run:
    if not shards:
        raise MergeError("no shard results given")
    slots: dict[int, str] = {}
    total = None
    for where, run in shards:
        i, n = _shard(run, where)
        if total is not None and n != total:
            raise MergeError(f"{where}: shard {i}/{n} does not belong with shards of {total}")
        total = n
        if i in slots:
            raise MergeError(f"{where}: shard {i}/{n} given twice (also {slots[i]})")
        slots[i] = where
    first = shards[0][1].run
    for where, run in shards[1:]:
        for attr in ("kernel_release", "target"):
            if getattr(run.run, attr) != getattr(first, attr):
                raise MergeError(f"{where}: {attr} {getattr(run.run, attr)!r} differs from "
                                 f"{getattr(first, attr)!r}: shards of different kernels")
    missing = [f"{i}/{total}" for i in range(1, total + 1) if i not in slots]
    if missing and not allow_partial:
        raise MergeError(f"shard(s) {', '.join(missing)} missing (pass --allow-partial to merge anyway)")

    tests, owner = [], {}
    for where, run in shards:
        i, n = _shard(run, where)
        for t in run.tests:
            if t.id in owner:
                raise MergeError(f"{where}: test {t.id} also in {owner[t.id]}: the shards overlap")
            if shard_of(t.id, n) != i - 1:
                print(f"afalg-conform: warning: {where}: {t.id} is not in shard {i}/{n} by shard_of()",
                      file=sys.stderr)
            owner[t.id] = where
            tests.append(t)
    tests.sort(key=lambda t: canonical_order_key(t.id))

    infos = [r.run for _, r in shards]
    worst = max(infos, key=lambda x: STATUS_RANK.index(x.harness_status)
                if x.harness_status in STATUS_RANK else len(STATUS_RANK))
    reasons = [f"shard {x.shard}: {x.harness_reason}" for x in infos if x.harness_reason]
    status = worst.harness_status
    if missing:
        status = "harness-error"
        reasons.insert(0, f"shard(s) {', '.join(missing)} missing")
    boots = [x.boot_seconds for x in infos if x.boot_seconds is not None]
    accels = sorted({x.accel for x in infos if x.accel})
    drivers: dict[str, str] = {}
    for x in infos:
        drivers.update(x.drivers)
    info = RunInfo(target=first.target, kernel_release=first.kernel_release, accel="+".join(accels),
                   accel_reason=first.accel_reason if len(accels) <= 1 else "shards ran under different accelerators",
                   command=first.command, started=min(x.started for x in infos),
                   duration=round(sum(x.duration for x in infos), 1),
                   boot_seconds=max(boots) if boots else None, harness_status=status,
                   harness_reason="; ".join(reasons)[:1000], restarts=sum(x.restarts for x in infos),
                   shard="", profile=first.profile, drivers=drivers,
                   extra={"merged_shards": [{"shard": x.shard, "duration": x.duration, "accel": x.accel,
                                             "harness_status": x.harness_status, "extra": x.extra}
                                            for x in sorted(infos, key=lambda x: _shard_index(x.shard))],
                          **({"missing_shards": missing} if missing else {})})
    problems = [dict(p, shard=r.run.shard) for _, r in shards for p in r.kernel_problems]
    merged = Run(run=info, tests=tests, kernel_problems=problems)
    info.exit_code = merged.verdict()
    return merged


def _shard_index(shard: str) -> int:
    try:
        return int(shard.split("/")[0])
    except ValueError:
        return 0


def load_shards(paths: list[str]) -> list[tuple[str, Run]]:
    out = []
    for p in paths:
        path = Path(p)
        f = path / "results.json" if path.is_dir() else path
        out.append((str(p), Run.load(str(f))))
    return out
