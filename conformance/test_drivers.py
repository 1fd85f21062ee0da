"""Every implementation: each driver of an algorithm, bound by its driver name, gives the
published answers, and the same answers as the generic driver on random inputs.

Drivers are only known inside the guest, from /proc/crypto. For an algorithm, the generic
name is bound first so templates are instantiated, then every non-internal driver listed
for it, plus the template over each driver of its inner algorithm (cbc(aes-generic),
hmac(sha256-avx2), ...), is bound by that name (bind_drivers):

- test_driver_vectors[SET]: every vector of one file of vectors/sets.py through every
  driver of its algorithm (DRV-1), through the KAT runner (one op socket per key); one
  subtest per driver, with its counts. `run --quick` samples the CAVP GCM files as
  test_kat.py does.
- test_every_driver[ALG]: internal drivers refuse to bind (DRV-2), and every driver
  against the generic one (DRV-3), as the kernel's testmgr compares an implementation
  with the generic C code in-kernel, here through user space: up to MAX_RANDOM cases
  per driver, sizes from 0 to 3 blocks + 1 (non-multiples of the block where the mode
  takes them), data at odd offsets in the sending and receiving buffers, split over 1
  to 4 sends with MSG_MORE, random keys, IVs, AAD and tag sizes from a fixed seed
  (SEED/ALG, in the evidence) so a difference is reproducible. The generic driver is
  the one made of -generic (or, on 7.x, -lib) parts; it is checked against the Python
  oracle, which also stands in where the kernel lists no generic driver.

This is how a driver author validates an alternative implementation: load the module,
run this file, find the driver. Under `run --driver NAME` both tests run only the drivers
that match (the differential still against the generic one) and skip the algorithms none
of whose drivers does, `unsupported:driver-focus=...`.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap

from afalg_conformance.conformance.conftest import FOCUS, bind_or_skip
from afalg_conformance.conformance.kat_runner import KatRun
from afalg_conformance.conformance.test_kat import BUDGET, MCT_BUDGET, load_cases, sample
from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg import proccrypto, restrict
from afalg_conformance.harness.afalg.bounded import WaitTimeout
from afalg_conformance.harness.afalg.client import AfalgSocket, errno_name
from afalg_conformance.harness.afalg.constants import MSG_DONTWAIT, MSG_MORE, AlgOp
from afalg_conformance.vectors.sets import SETS, algorithms_covered

SEED = 14                  # DRV-3's random cases: random.Random(f"{SEED}/{alg}")
# Vectors per file and driver in the sweep (run --sweep-budget; 0: every vector through every
# driver, ~105,000 on 6.12, about ten minutes of TCG). Under run --driver the focused drivers
# always get every vector (the --quick GCM sample aside): that is what a driver author runs.
SWEEP = int(os.environ.get("AFALG_SWEEP_BUDGET", "50"))
MCT_SWEEP = 3              # Monte Carlo checkpoints per file and driver when sampling (1000 chained blocks or digests each)
MAX_RANDOM = 8             # random cases per driver and algorithm (each size once)
WAIT = 10.0


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


@dataclass
class Driver:
    bind_name: str
    driver: str
    priority: int | None
    tfm: AfalgSocket


# What bind_drivers found for an algorithm, per worker process: its next vector files bind
# the same drivers by the names that worked, at once. Asking again costs: a template name
# whose instance registers under another driver name (xts(aes-generic) is built as
# xts(ecb(aes-generic)), then EEXIST) runs a module-autoload attempt, the instantiation and
# the kernel's self-test every time (7 s under TCG). A plan also holds the names it tried: a
# module loaded since (camellia_aesni_avx2, by another test's bind of cbc(camellia)) can list
# drivers the plan never saw, and so can a template instance another test's bind registered,
# so the caller's own /proc/crypto read (about 10 ms in a full run under TCG, cProfile
# 2026-12-02) decides whether the plan still holds.
_PLANS: dict[tuple[str, str], tuple[list[tuple], list[tuple], list[str], set[str]]] = {}


def bind_drivers(alg: algorithms.Algorithm, kat, spec, entries) -> tuple[list[Driver], list[str]]:
    """Every driver of alg bound once by name (one per resolved driver), and the internal
    ones. A listed driver that does not bind is a failed subtest (DRV-1); a template
    instance the kernel will not build, or a name af_alg_restrict refuses, a skipped one.
    entries: the caller's /proc/crypto read; a plan that has not tried every driver it lists
    is made again."""
    key = (alg.type, alg.name)
    plan = _PLANS.get(key)
    if plan is not None and any(name not in plan[3] for name, _ in candidates(entries, alg)[0]):
        del _PLANS[key]
        plan = None
    if plan is not None:
        bound, skipped, internal, _tried = plan
        out: list[Driver] = []
        try:
            for bind_name, driver, prio in bound:
                out.append(Driver(bind_name, driver, prio, AfalgSocket.bound(alg.type, bind_name)))
        except OSError:
            _close(out)                  # the kernel changed under us: find them again
            del _PLANS[key]
        else:
            for name, outcome, reason in skipped:
                kat.case(name, outcome, reason)
            return out, internal
    skipped: list[tuple] = []

    def case(name: str, outcome: str, reason: str) -> None:
        kat.case(name, outcome, reason)
        if outcome == "skip":
            skipped.append((name, outcome, reason))
    drivers, internal, complete, tried = _bind_drivers(alg, case, spec, entries)
    # Kept only when asking again would find nothing new: a listed driver that failed is
    # tried again next time, and so is everything when binding made instances /proc/crypto
    # now lists that were not there to try (ccm(aes-aesni) registers ccm_base(ctr(aes-aesni),..)).
    listed, _ = candidates(proccrypto.read(), alg)
    if complete and all(name in tried for name, _ in listed):
        _PLANS[key] = ([(d.bind_name, d.driver, d.priority) for d in drivers], skipped, internal, tried)
    return drivers, internal


def _bind_drivers(alg: algorithms.Algorithm, case, spec, entries) -> tuple[list[Driver], list[str], bool, set[str]]:
    listed, internal = candidates(entries, alg)
    tried = {name for name, _ in listed}
    out: list[Driver] = []
    done: set[str] = set()
    complete = True
    for bind_name, inner in listed:
        if refused := restrict.refusal(alg.type, bind_name):     # run --restrict 1: no driver names
            case(bind_name, "skip", refused)
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
            if existing in done:
                continue                               # that instance is bound already
            if existing:
                try:
                    tfm = AfalgSocket.bound(alg.type, existing)
                    bind_name = existing
                except OSError as e2:
                    e = e2
                    existing = None
            if not existing:
                if inner is None:                      # a listed driver must bind
                    spec.check("DRV-1", errno_name(e.errno), expected="ok", sent=f"bind({bind_name})", soft=True)
                    case(bind_name, "fail", f"listed driver does not bind: {errno_name(e.errno)}")
                    complete = False
                else:
                    case(bind_name, "skip", f"unsupported:template-instance={errno_name(e.errno)}")
                continue
        now = proccrypto.read()
        driver = resolved_driver(now, alg, bind_name, inner)
        if driver in done:
            tfm.close()
            continue
        done.add(driver)
        prio = next((e.priority for e in now if e.driver == driver), None)
        out.append(Driver(bind_name, driver, prio, tfm))
    return out, internal, complete, tried


_GENERIC_BINDS: dict[tuple[str, str], str | None] = {}


def _generic_binds(alg: algorithms.Algorithm) -> str | None:
    """The driver the generic name binds (test_kat's), read once per algorithm and worker."""
    key = (alg.type, alg.name)
    if key not in _GENERIC_BINDS:
        _GENERIC_BINDS[key] = proccrypto.driver_of(proccrypto.read(), alg.type, alg.name)
    return _GENERIC_BINDS[key]


def focused(drivers: list[Driver]) -> list[Driver]:
    """Under run --driver, the drivers the patterns match (the run is about them; the others
    are the rest of the sweep's business); all of them otherwise."""
    if not FOCUS:
        return drivers
    return [d for d in drivers if any(proccrypto.driver_matches(p, n) for p in FOCUS for n in (d.driver, d.bind_name))]


def _out_of_focus(alg) -> None:
    pytest.skip(f"unsupported:driver-focus=no driver of {alg.name} matches {' '.join(FOCUS)}")


def _close(drivers: list[Driver]) -> None:
    for d in drivers:
        d.tfm.close()


def _no_driver(alg, kat) -> None:
    """Nothing bound (every driver refused or failed): the failures stand, else a skip."""
    reasons = [s["reason"] for s in kat.rec.subtests if s["outcome"] == "skip"]
    pytest.skip(reasons[0] if reasons else f"unsupported:no-bindable-driver={alg.name}")


# -- DRV-1: every vector through every driver ------------------------------------------------------

@pytest.mark.clause("DRV-1")
@pytest.mark.parametrize("set_id", [vs.id for vs in SETS])
def test_driver_vectors(spec, kat, set_id, request):
    vs = next(v for v in SETS if v.id == set_id)
    alg = vs.alg
    bind_or_skip(alg.type, alg.name, focus=False).close()   # instantiate the template; SKIP if absent
    drivers, _internal = bind_drivers(alg, kat, spec, proccrypto.read())
    try:
        if FOCUS and not focused(drivers):
            return _out_of_focus(alg)                     # before parsing the file: the CAVP GCM take seconds
        # The driver the generic name binds ran this file in test_kat already: the sweep is
        # about the others (under run --driver, the focused driver runs here regardless).
        kat_runs = any(it.nodeid.endswith(f"test_kat.py::test_vector_file[{set_id}]") for it in request.session.items)
        by_kat = None if FOCUS or not kat_runs else _generic_binds(alg)
        todo = [d for d in focused(drivers) if d.driver != by_kat]
        for d in focused(drivers):
            if d not in todo:
                kat.case(d.bind_name, "skip", f"not-run:covered-by=test_kat[{set_id}] (the generic name binds {d.driver})",
                         driver=d.driver, priority=d.priority)
        if drivers and not todo:
            pytest.skip(f"not-run:covered-by=test_kat[{set_id}] ({alg.name} has no other driver than {by_kat})")
        budget = BUDGET if FOCUS or not SWEEP else SWEEP
        cases = load_cases(vs)
        mct = any(c.mct for c in cases)
        if mct and budget and budget == SWEEP:
            budget = MCT_SWEEP
        if mct and MCT_BUDGET:
            budget = min(budget, MCT_BUDGET) if budget else MCT_BUDGET
        cases = sample(cases, budget)
        # Only the cases that run go through KatRun: the rest would each be a skip emitted and
        # counted per driver (a CAVP GCM file is 7,875 cases for 50 run: 270,000 calls of a full
        # sweep); they are counted once here.
        todo_cases = [c for c in cases if not c.unsupported]
        runnable = len(todo_cases)
        not_run = len(cases) - runnable
        sampled = f"sampled: {runnable} of the file's vectors (run --sweep-budget 0 for all)" \
            if any(c.unsupported.startswith("not-run:sampled") for c in cases) else ""
        for d in todo:
            outcomes: Counter = Counter(skip=not_run)
            first_fail: list[str] = []

            def emit(c, outcome, reason):
                outcomes[outcome] += 1
                if outcome == "fail" and len(first_fail) < 3:
                    first_fail.append(f"{c.name} ({c.where}): {reason}")
            KatRun(d.tfm, emit).run(todo_cases)
            ran = outcomes["pass"] + outcomes["fail"] + outcomes["xfail"]
            ok = outcomes["fail"] == 0
            spec.check("DRV-1", "match" if ok else "mismatch", expected="match",
                       sent=f"{ran} vectors of {vs.path} through {d.bind_name} ({d.driver})", soft=True)
            known = f"{outcomes['xfail']} known deviation(s) (XFAIL)" if outcomes["xfail"] else ""
            kat.case(d.bind_name, "pass" if ok or not ran else "fail",
                     "; ".join(first_fail)[:400] or known or sampled,
                     driver=d.driver, priority=d.priority, vectors=sum(outcomes.values()),
                     **{f"n_{k}": outcomes[k] for k in ("pass", "fail", "skip", "xfail")})
    finally:
        _close(drivers)
    if not drivers:
        _no_driver(alg, kat)
    if not focused(drivers):
        _out_of_focus(alg)


# -- DRV-3: every driver against the generic one, on random inputs ---------------------------------

_GENERIC = re.compile(r"-(generic|lib)$")


def generic_share(driver: str) -> float:
    """How much of a driver is the generic C code: the share of its leaf drivers named
    -generic (-lib on 7.x): sha256-generic 1, cbc(aes-generic) 1,
    gcm_base(ctr(aes-generic),ghash-clmulni) 0.5, cbc-aes-aesni 0."""
    leaves = [t for t in re.split(r"[(),]", driver) if t and not re.search(rf"{re.escape(t)}\(", driver)]
    return sum(bool(_GENERIC.search(t)) for t in leaves) / len(leaves) if leaves else 0.0


def reference(drivers: list[Driver]) -> Driver | None:
    """The generic driver: the most generic, then the lowest priority; None if no part of any is."""
    best = max(drivers, key=lambda d: (generic_share(d.driver), -(d.priority or 0)), default=None)
    return best if best is not None and generic_share(best.driver) > 0 else None


def sizes(alg: algorithms.Algorithm) -> list[int]:
    """Data lengths: 0 to 3 blocks + 1, with the non-multiples a mode takes (testmgr's spread)."""
    if alg.name == "poly1305":                  # the first 32 bytes are the one-time key: less is ENOKEY
        return [0, 16, 31, 32, 33, 48, 63, 81]
    if alg.name == "kw(aes)":                   # whole semiblocks, two at least (else EINVAL); an
        return [8, 16, 24, 32, 40, 41]          # unwrap of random data fails its check: EBADMSG
    if alg.type == "hash":
        b = alg.blocksize
        return [0, 1, b - 1, b, b + 1, 2 * b + 5, 3 * b, 3 * b + 1]
    if alg.type == "skcipher":
        b = alg.blocksize
        if alg.name.startswith("xts"):          # one block at least; ciphertext stealing past it
            return [16, 17, 31, 32, 47, 48, 49]
        if b > 1:
            # whole blocks, nothing (an empty answer), and a partial block, which a block mode
            # refuses (EINVAL; cts(cbc(aes)) takes 3b+1): the generic driver's answer, an error
            # included, is every driver's to give, as testmgr compares error codes (a driver
            # that pads or drops the tail differs)
            return [0, b - 1, b, 2 * b, 3 * b, 3 * b + 1]
        u = alg.chunksize                       # stream modes: any length, across chunk edges
        return [1, u - 1, u, u + 1, 2 * u + 3, 3 * u, 3 * u + 1]
    if alg.blocksize > 1:                       # authenc(..., cbc(aes)): whole blocks
        return [0, alg.blocksize, 2 * alg.blocksize, 3 * alg.blocksize]
    return [0, 1, 15, 16, 17, 33, 48, 49]


@dataclass
class RandomCase:
    i: int
    key: bytes
    iv: bytes | None
    data: bytes
    encrypt: bool = True
    aad: bytes = b""
    authsize: int = 0
    cuts: tuple[int, ...] = ()
    offset: int = 1

    def describe(self) -> str:
        out = f"case {self.i}: len {len(self.data)}, key {len(self.key)}"
        if self.iv is not None:
            out += f", iv {self.iv.hex()}"
        if self.authsize:
            out += f", aad {len(self.aad)}, authsize {self.authsize}"
        elif self.iv is not None:
            out += ", encrypt" if self.encrypt else ", decrypt"
        return out + f", sends cut at {list(self.cuts) or 'none'}, offset {self.offset}"


def random_cases(alg: algorithms.Algorithm, seed: str) -> list[RandomCase]:
    rng = random.Random(seed)
    out = []
    for i, n in enumerate(sizes(alg)[:MAX_RANDOM]):
        if alg.name.startswith("hmac"):         # short, exact and longer-than-a-block keys
            key = rng.randbytes(rng.choice([1, alg.key_sizes[0], alg.blocksize + 7]))
        else:
            key = alg.key_from(rng.randbytes(rng.choice(alg.key_sizes))) if alg.keyed else b""
        iv = None
        if alg.name.startswith("ccm"):
            iv = algorithms.ccm_iv(rng.randbytes(rng.randint(7, 13)))
        elif alg.ivsize:
            iv = rng.randbytes(alg.ivsize)
        c = RandomCase(i, key, iv, rng.randbytes(n), encrypt=i % 2 == 0, offset=rng.choice([1, 3, 5, 7]))
        if alg.type == "aead":
            c.authsize = rng.choice(alg.authsizes)
            c.aad = rng.randbytes(rng.choice([8, 12])) + iv[-8:] if alg.assoclen_fixed else \
                rng.randbytes(rng.choice([0, 1, 13, 16, 20, 33]))
        total = len(c.aad) + n
        c.cuts = tuple(sorted(rng.sample(range(1, total), min(rng.randint(0, 3), total - 1)))) if total > 1 else ()
        out.append(c)
    return out


def _send(op: AfalgSocket, payload: bytes, c: RandomCase, op_code=None, assoclen=None) -> None:
    """payload from an odd offset of a larger buffer, cut at c.cuts, MSG_MORE on all but the last."""
    mv = memoryview(bytearray(c.offset) + payload)[c.offset:]
    edges = [0, *[x for x in c.cuts if x < len(payload)], len(payload)]
    parts = [mv[a:b] for a, b in zip(edges, edges[1:])] or [mv]
    for j, p in enumerate(parts):
        flags = MSG_MORE if j < len(parts) - 1 else 0
        if j == 0 and op_code is not None:
            op.request(p, op_code, c.iv, assoclen, flags)
        else:
            op.send(p, flags)


def _recv(op: AfalgSocket, n: int, offset: int) -> bytes:
    """Exactly n bytes into an odd offset of a buffer (n = 0: a read that runs the request)."""
    if n == 0:
        return op.recv(1, flags=MSG_DONTWAIT)
    mv = memoryview(bytearray(offset + n))[offset:]
    got, end = 0, time.monotonic() + WAIT
    while got < n:
        k = op.recv_into(mv[got:], n - got, wait=max(end - time.monotonic(), 0.1))
        if not k:
            break
        got += k
    return bytes(mv[:got])


def _token(fn) -> str:
    try:
        return fn().hex()
    except WaitTimeout:
        return "blocks"
    except OSError as e:
        return errno_name(e.errno)


def run_case(tfm: AfalgSocket, alg: algorithms.Algorithm, c: RandomCase, ref_sealed: str | None = None) -> tuple:
    """The driver's answer to c as tokens (hex output or errno name): (digest,), (output,),
    or (sealed, opened) for an AEAD, which opens the reference's sealed output (its own
    when ref_sealed is None)."""
    try:
        if alg.keyed:
            tfm.setkey(c.key)
        if alg.type == "aead":
            tfm.set_authsize(c.authsize)
    except OSError as e:
        return (f"setkey:{errno_name(e.errno)}",)
    with tfm.accept() as op:
        if alg.type == "hash":
            def digest():
                _send(op, c.data, c)
                return _recv(op, alg.digestsize, c.offset)
            return (_token(digest),)
        if alg.type == "skcipher":
            def crypt():
                _send(op, c.data, c, AlgOp.ENCRYPT if c.encrypt else AlgOp.DECRYPT)
                return _recv(op, len(c.data), c.offset)
            return (_token(crypt),)
        alen = len(c.aad)

        def seal():
            _send(op, c.aad + c.data, c, AlgOp.ENCRYPT, alen)
            return _recv(op, alen + len(c.data) + c.authsize, c.offset)
        sealed = _token(seal)
    src = ref_sealed if ref_sealed is not None else sealed
    if len(src) != 2 * (alen + len(c.data) + c.authsize):      # nothing to open: the seal failed
        return sealed, "-"
    with tfm.accept() as op:
        def open_():
            _send(op, bytes.fromhex(src), c, AlgOp.DECRYPT, alen)
            return _recv(op, alen + len(c.data), c.offset)
        return sealed, _token(open_)


def refusal(alg: algorithms.Algorithm, c: RandomCase) -> str | None:
    """The error the kernel gives c by the algorithm's own rules, or None: a block mode's
    partial block (cts(cbc(aes)): less than a block; kw(aes): less than two semiblocks) is
    EINVAL, poly1305 without its 32-byte key ENOKEY."""
    n = len(c.data)
    if alg.name == "poly1305":
        return "ENOKEY" if n < 32 else None
    if alg.type != "skcipher" or alg.blocksize == 1 or alg.name.startswith("xts"):
        return None
    if alg.name.startswith("cts"):
        return "EINVAL" if n < alg.blocksize else None
    if alg.name == "kw(aes)" and n < 16:
        return "EINVAL"
    return "EINVAL" if n % alg.blocksize else None


def oracle_case(alg: algorithms.Algorithm, c: RandomCase) -> tuple | None:
    """The Python reference's tokens for c -- the error where the algorithm's rules give one
    (refusal; an unwrap whose integrity check fails: EBADMSG) -- or None where it cannot
    compute them."""
    if (err := refusal(alg, c)) is not None:
        return (err,)
    try:
        if alg.type == "hash":
            return (alg.oracle(c.key or None, c.data).hex(),)
        if alg.type == "skcipher":
            return (alg.oracle(c.key, c.iv, c.data, c.encrypt).hex(),)
        sealed = c.aad + alg.oracle(c.key, c.iv, c.aad, c.data, c.authsize, True)
        return sealed.hex(), (c.aad + c.data).hex()
    except InvalidUnwrap:
        return ("EBADMSG",)
    except (ValueError, TypeError):
        return None


def _short(tokens: tuple) -> str:
    return "/".join(t[:32] for t in tokens)


def differential(spec, kat, alg: algorithms.Algorithm, drivers: list[Driver]) -> None:
    """DRV-3: every driver's answers to the random cases equal the generic driver's (and the
    generic driver's equal the oracle's); one subtest per driver."""
    seed = f"{SEED}/{alg.name}"
    cases = random_cases(alg, seed)
    ref = reference(drivers)
    ref_name = ref.driver if ref else "the Python oracle (no generic driver listed)"
    oracle = [oracle_case(alg, c) for c in cases]
    want = [run_case(ref.tfm, alg, c) for c in cases] if ref else oracle
    lengths = sorted({len(c.data) for c in cases})
    for d in focused(drivers):
        got = want if d is ref else [run_case(d.tfm, alg, c, w[0] if alg.type == "aead" else None)
                                     for c, w in zip(cases, want)]
        against = oracle if d is ref else want
        other = "the Python oracle" if d is ref else ref_name
        bad = [(c, g, w) for c, g, w in zip(cases, got, against) if w is not None and g != w]
        reason = ""
        if bad:
            c, g, w = bad[0]
            o = oracle[c.i]
            side = "" if d is ref or o is None else \
                f"; the oracle agrees with {d.driver}" if o == g else \
                f"; the oracle agrees with {ref_name}" if o == w else "; the oracle agrees with neither"
            reason = (f"{d.driver} differs from {other} on {alg.name} in {len(bad)} of {len(cases)} cases "
                      f"(seed {seed}); first: {c.describe()}: {_short(g)} != {_short(w)}{side}")
        spec.check("DRV-3", "differs" if bad else "agrees", sent=(
            f"{len(cases)} random cases (seed {seed}; lengths {lengths}; odd offsets; 1-4 sends) "
            f"through {d.bind_name} ({d.driver}) vs {other}"), note=reason[:400], soft=True)
        kat.case(d.bind_name, "fail" if bad else "pass", reason[:600], driver=d.driver, priority=d.priority,
                 kind="differential", reference=other, seed=seed, cases=len(cases), differing=len(bad))


@pytest.mark.clause("DRV-1", "DRV-2", "DRV-3")
@pytest.mark.parametrize("alg_name", algorithms_covered())
def test_every_driver(spec, kat, alg_name):
    alg = algorithms.get(alg_name)
    bind_or_skip(alg.type, alg_name, focus=False).close()   # instantiate the template; SKIP if absent
    entries = proccrypto.read()
    serving = proccrypto.driver_of(entries, alg.type, alg_name)
    # with the same read: the driver the generic name binds now must be among those checked
    drivers, internal = bind_drivers(alg, kat, spec, entries)
    try:
        # kw(aes) and poly1305 too (random_inputs=False elsewhere): what the drivers compare is
        # their answer, an error included -- an unwrap of random data fails its integrity
        # check (EBADMSG), poly1305 without its 32-byte key says ENOKEY, in the generic driver
        # as in the oracle (oracle_case) and in every other driver as in the generic one
        if alg.oracle is not None and focused(drivers):
            differential(spec, kat, alg, drivers)
    finally:
        _close(drivers)
    done = {d.driver for d in drivers}
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
    if not drivers:
        _no_driver(alg, kat)
    if not focused(drivers):
        _out_of_focus(alg)
    if FOCUS:
        return                         # run --driver: the focused drivers were the point
    if serving not in done and serving and (refused := restrict.refusal(alg.type, serving)):
        pytest.skip(refused)           # run --restrict 1: the serving driver's name is not allowed
    if serving not in done and not kat.failed:
        # At the least, the driver the generic name binds to must have been run.
        pytest.fail(f"{alg_name} binds, but its driver ({serving or 'none listed in /proc/crypto'}) "
                    f"was not checked; drivers run: {sorted(done) or 'none'}", pytrace=False)
