"""Every implementation: each driver of an algorithm, bound by its driver name, gives the
same known answers.

Parametrised over algorithm (drivers are only known inside the guest, from
/proc/crypto): the generic name is bound first so templates are instantiated,
then every non-internal driver listed for the algorithm, plus the template over
each driver of its inner algorithm (cbc(aes-generic), hmac(sha256-avx2), ...), is
bound by name and runs a representative subset of the KAT vectors. Each driver
is one subtest named after it; internal drivers are skipped with a reason (and
their refusal to bind is checked, DRV-2). This is how a driver author validates
an alternative implementation: load the module, run this test, find the driver.
"""

from __future__ import annotations

import os
import re

import pytest

from conformance.conftest import bind_or_skip
from conformance.kat_runner import KatRun
from harness.afalg import algorithms
from harness.afalg import proccrypto, restrict
from harness.afalg.client import AfalgSocket, errno_name
from vectors.common import VectorError
from vectors.sets import algorithms_covered, for_algorithm

LIMIT = 40                 # vectors per driver
MAX_FILE = 400_000         # skip the big CAVP files (GCM, LongMsg) when picking the subset


def representative(alg_name: str, limit: int = LIMIT):
    """Up to `limit` runnable cases: round robin over (set, key size, tag size, kind) buckets."""
    sets = [vs for vs in for_algorithm(alg_name) if os.path.getsize(vs.file()) <= MAX_FILE] \
        or for_algorithm(alg_name)[:1]
    buckets: dict[tuple, list] = {}
    for vs in sets:
        for c in vs.cases():
            if not c.unsupported and not c.mct:          # Monte Carlo: 1000 requests a vector
                buckets.setdefault((vs.id, len(c.key or b""), c.authsize, c.expect, c.ops), []).append(c)
    # spread each bucket (message lengths, counts) instead of taking its head
    width = max((len(b) for b in buckets.values()), default=1).bit_length()
    def spread(b):
        return [b[j] for j in sorted(range(len(b)), key=lambda j: int(f"{j:0{width}b}"[::-1], 2))]
    out, i, lists = [], 0, [spread(b) for b in buckets.values()]
    while len(out) < limit and any(i < len(b) for b in lists):
        for b in lists:
            if i < len(b) and len(out) < limit:
                out.append(b[i])
        i += 1
    return out


_SIMPLE = re.compile(r"^([a-z0-9_]+)\(([^()]+)\)$")


def candidates(entries, alg: algorithms.Algorithm):
    """(bind name, inner driver or None) for every driver to try, and the internal ones."""
    kinds = proccrypto.BINDABLE[alg.type]
    listed, internal = [], []
    for e in sorted(entries, key=lambda e: -e.priority):
        # internal helpers carry the name with a "__" prefix (__cbc(aes) for __cbc-aes-aesni)
        if e.name not in (alg.name, "__" + alg.name) or e.type not in kinds:
            continue
        if e.internal:
            if e.driver not in internal:
                internal.append(e.driver)
        elif (e.driver, None) not in listed:
            listed.append((e.driver, None))
    m = _SIMPLE.match(alg.name)
    if m:                                   # template(inner[,inner2]): one instance per inner driver
        tmpl, inner = m.group(1), m.group(2).split(",")
        per_arg = [[e.driver for e in entries if e.name == a and not e.internal] for a in inner]
        combos = [[]]
        for drivers in per_arg:
            combos = [c + [d] for c in combos for d in dict.fromkeys(drivers)]
        for combo in combos[:6]:
            name = f"{tmpl}({','.join(combo)})"
            if all(name != n for n, _ in listed):
                listed.append((name, combo))
    return listed, internal


def resolved_driver(entries, alg, bind_name: str, inner) -> str:
    """The driver a bind by bind_name reached: itself, or the template instance built over
    the inner driver(s) (cbc(aes-generic) -> cbc(aes-generic); gcm(aes-generic) ->
    gcm_base(ctr(aes-generic),ghash-...))."""
    if bind_name and any(e.driver == bind_name for e in entries):
        return bind_name
    for e in sorted(entries, key=lambda e: -e.priority):
        if e.name == alg.name and not e.internal and inner and all(re.search(
                rf"[(,]{re.escape(i)}[),]", e.driver) for i in inner):
            return e.driver
    return bind_name


@pytest.mark.clause("DRV-1", "DRV-2")
@pytest.mark.parametrize("alg_name", algorithms_covered())
def test_every_driver(spec, kat, alg_name):
    alg = algorithms.get(alg_name)
    try:
        cases = representative(alg_name)
    except VectorError as e:
        pytest.fail(f"vector file error: {e}", pytrace=False)
    bind_or_skip(alg.type, alg_name).close()          # instantiate the template; SKIP if absent
    entries = proccrypto.read()
    listed, internal = candidates(entries, alg)
    serving = proccrypto.driver_of(entries, alg.type, alg_name)
    done: set[str] = set()
    for bind_name, inner in listed:
        if refused := restrict.refusal(alg.type, bind_name):     # run --restrict 1: no driver names
            kat.case(bind_name, "skip", refused)
            continue
        try:
            tfm = AfalgSocket.bound(alg.type, bind_name)
        except OSError as e:
            existing = None
            if inner is not None:
                # The instance may exist under its own driver name (gcm_base(ctr(aes-generic),...))
                # although the bind by template name failed (6.12: EEXIST, the instance was
                # registered but is not named gcm(aes-generic); 6.1 reports ENOENT): bind it by
                # that driver name instead.
                existing = resolved_driver(proccrypto.read(), alg, "", inner) or None
            if existing and existing not in done:
                try:
                    tfm = AfalgSocket.bound(alg.type, existing)
                    bind_name = existing
                except OSError as e2:
                    e = e2
                    existing = None
            if not existing:
                if inner is None:                      # a listed driver must bind
                    spec.check("DRV-1", errno_name(e.errno), expected="ok", sent=f"bind({bind_name})", soft=True)
                    kat.case(bind_name, "fail", f"listed driver does not bind: {errno_name(e.errno)}")
                else:
                    kat.case(bind_name, "skip", f"unsupported:template-instance={errno_name(e.errno)}")
                continue
        now = proccrypto.read()
        driver = resolved_driver(now, alg, bind_name, inner)
        if driver in done:
            tfm.close()
            continue
        done.add(driver)
        prio = next((e.priority for e in now if e.driver == driver), None)
        outcomes = {"pass": 0, "fail": 0, "skip": 0, "xfail": 0}
        first_fail: list[str] = []

        def emit(c, outcome, reason):
            outcomes[outcome] += 1
            if outcome == "fail" and len(first_fail) < 3:
                first_fail.append(f"{c.name} ({c.where}): {reason}")
        try:
            KatRun(tfm, emit).run(cases)
        finally:
            tfm.close()
        ok = outcomes["fail"] == 0
        spec.check("DRV-1", "match" if ok else "mismatch", expected="match",
                   sent=f"{outcomes['pass'] + outcomes['fail']} vectors through {bind_name} ({driver})", soft=True)
        known = f"{outcomes['xfail']} known deviation(s) (XFAIL)" if outcomes["xfail"] else ""
        kat.case(bind_name, "pass" if ok else "fail", "; ".join(first_fail)[:400] or known, driver=driver,
                 priority=prio, vectors=sum(outcomes.values()), **{f"n_{k}": v for k, v in outcomes.items()})
    for drv in internal:
        try:
            AfalgSocket.bound(alg.type, drv).close()
            seen = "ok"
        except OSError as e:
            seen = errno_name(e.errno)
        if drv.startswith("__"):
            spec.check("DRV-2", seen, sent=f"bind({drv}) of an internal driver", soft=True)
        else:   # cryptd(__x) wrappers: the name is a template over an internal driver
            spec.observe("DRV-2", seen, sent=f"bind({drv}) of an internal template instance")
        kat.case(drv, "skip", "unsupported:internal-driver", driver=drv, bind=seen)
    if serving not in done and serving and (refused := restrict.refusal(alg.type, serving)):
        pytest.skip(refused)           # run --restrict 1: the serving driver's name is not allowed
    if serving not in done and not kat.failed:
        # At the least, the driver the generic name binds to must have been run.
        pytest.fail(f"{alg_name} binds, but its driver ({serving or 'none listed in /proc/crypto'}) "
                    f"was not checked; drivers run: {sorted(done) or 'none'}", pytrace=False)
