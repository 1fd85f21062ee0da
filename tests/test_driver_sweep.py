"""conformance/test_drivers.py's differential check (DRV-3) on the host: which driver is the
generic one, the random cases it draws, and its verdicts with fake drivers, one right and
one that gets a byte wrong: the failure names driver, algorithm, seed and sizes."""

import errno
import re

import pytest
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap

from afalg_conformance.conformance import test_drivers as drv
from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg.constants import AlgOp


@pytest.mark.parametrize("driver,share", [
    ("sha256-generic", 1.0), ("cbc(aes-generic)", 1.0), ("xts(ecb(aes-generic))", 1.0),
    ("gcm_base(ctr(aes-generic),ghash-clmulni)", 0.5), ("cbc-aes-aesni", 0.0), ("cbc(aes-lib)", 1.0),
    ("hmac(sha256-avx2)", 0.0), ("rfc7539(chacha20-generic,poly1305-simd)", 0.5),
])
def test_how_generic_a_driver_is(driver, share):
    assert drv.generic_share(driver) == share


def _d(name, prio):
    return drv.Driver(name, name, prio, None)


def test_the_reference_is_the_most_generic_driver_or_none():
    ds = [_d("generic-gcm-aesni", 400), _d("gcm_base(ctr(aes-aesni),ghash-clmulni)", 100),
          _d("gcm_base(ctr(aes-generic),ghash-clmulni)", 100)]
    assert drv.reference(ds).driver == "gcm_base(ctr(aes-generic),ghash-clmulni)"
    assert drv.reference([_d("cbc-aes-aesni", 400), _d("cbc(aes-aesni)", 300)]) is None   # the oracle then


def test_sizes_span_three_blocks_and_one_more_byte_where_the_mode_allows():
    assert drv.sizes(algorithms.get("sha256")) == [0, 1, 63, 64, 65, 133, 192, 193]
    assert drv.sizes(algorithms.get("cbc(aes)")) == [0, 15, 16, 32, 48, 49]      # partial: the error compared
    assert drv.sizes(algorithms.get("ctr(aes)")) == [1, 15, 16, 17, 35, 48, 49]
    assert min(drv.sizes(algorithms.get("xts(aes)"))) == 16
    assert 49 in drv.sizes(algorithms.get("gcm(aes)")) and 0 in drv.sizes(algorithms.get("gcm(aes)"))
    assert all(len(drv.sizes(a)) <= drv.MAX_RANDOM for a in algorithms.ALGORITHMS.values() if a.type != "rng")


def test_the_cases_come_from_the_seed_unaligned_and_split():
    alg = algorithms.get("rfc7539(chacha20,poly1305)")
    a, b = drv.random_cases(alg, "14/x"), drv.random_cases(alg, "14/x")
    assert [c.describe() for c in a] == [c.describe() for c in b] and [c.key for c in a] == [c.key for c in b]
    assert drv.random_cases(alg, "15/x")[0].key != a[0].key
    assert all(c.offset % 2 == 1 for c in a)
    assert any(c.cuts for c in a)
    assert all(0 < x < len(c.aad) + len(c.data) for c in a for x in c.cuts)
    ccm = drv.random_cases(algorithms.get("ccm(aes)"), "14/ccm")
    assert all(1 <= c.iv[0] <= 7 and len(c.iv) == 16 for c in ccm)           # L' of a 7..13-byte nonce


class FakeOp:
    """An op socket that answers with the oracle; `wrong` flips the first output byte."""

    def __init__(self, tfm):
        self.tfm, self.data, self.req = tfm, b"", None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def request(self, data, op, iv, assoclen, flags):
        self.req = (op, iv, assoclen)
        self.data = bytes(data)

    def send(self, data, flags=0):
        self.data += bytes(data)

    def _answer(self):
        alg, key = self.tfm.alg, self.tfm.key
        data, self.data = self.data, b""
        if alg.type == "hash":
            if alg.name == "poly1305" and len(data) < 32:      # the kernel's rule, not the oracle's
                raise OSError(errno.ENOKEY, "no key")
            out = alg.oracle(key or None, data)
        else:
            op, iv, _ = self.req
            b = alg.blocksize
            if self.tfm.lenient and b > 1:      # drops a partial last block
                data = data[:len(data) - len(data) % b]
            if b > 1 and (len(data) % b or alg.name == "kw(aes)" and len(data) < 16):
                raise OSError(errno.EINVAL, "partial block")
            try:
                out = alg.oracle(key, iv, data, op == AlgOp.ENCRYPT)
            except InvalidUnwrap:               # kw(aes): the integrity check failed
                if not self.tfm.lenient:
                    raise OSError(errno.EBADMSG, "bad message") from None
                out = bytes(len(data))          # an unwrap that skips the check
        return bytes([out[0] ^ 1]) + out[1:] if self.tfm.wrong and out else out

    def recv(self, n, flags=0):
        return self._answer()[:n]

    def recv_into(self, mv, n, wait=None):
        out = self._answer()[:n]
        mv[:len(out)] = out
        return len(out)


class FakeTfm:
    def __init__(self, alg, wrong=False, lenient=False):
        self.alg, self.wrong, self.lenient, self.key = alg, wrong, lenient, b""

    def setkey(self, key):
        self.key = key

    def accept(self):
        return FakeOp(self)


class Rec:
    def __init__(self):
        self.checks, self.cases = [], []

    def check(self, clause, seen, expected=None, sent="", note="", soft=False):
        self.checks.append((clause, seen, sent, note))

    def case(self, name, outcome, reason="", **detail):
        self.cases.append((name, outcome, reason, detail))


@pytest.mark.parametrize("name", ["sha256", "cbc(aes)", "ctr(aes)", "cmac(aes)"])
def test_a_driver_that_differs_from_the_generic_one_fails_and_is_named(name):
    alg = algorithms.get(name)
    ref = drv.Driver(f"{name}-generic", "x-generic", 100, FakeTfm(alg))
    good = drv.Driver("good-driver", "good-driver", 300, FakeTfm(alg))
    bad = drv.Driver("bad-driver", "bad-driver", 400, FakeTfm(alg, wrong=True))
    rec = Rec()
    drv.differential(rec, rec, alg, [bad, good, ref])
    verdicts = {n: o for n, o, _, _ in rec.cases}
    assert verdicts == {"bad-driver": "fail", "good-driver": "pass", f"{name}-generic": "pass"}
    reason = next(r for n, _, r, _ in rec.cases if n == "bad-driver")
    assert reason.startswith(f"bad-driver differs from x-generic on {name} in ")
    assert f"(seed {drv.SEED}/{name})" in reason and re.search(r"first: case \d+: len \d+, ", reason)
    assert "the oracle agrees with x-generic" in reason
    assert [s for c, s, _, _ in rec.checks] == ["differs", "agrees", "agrees"]
    assert all(c == "DRV-3" for c, *_ in rec.checks)


def test_a_block_mode_driver_that_takes_a_partial_block_differs():
    """The generic driver refuses 15 and 49 bytes of cbc(aes) (EINVAL); one that encrypts the
    whole blocks and drops the tail differs there, and only there."""
    alg = algorithms.get("cbc(aes)")
    rec = Rec()
    drv.differential(rec, rec, alg, [drv.Driver("cbc(aes-generic)", "cbc(aes-generic)", 100, FakeTfm(alg)),
                                     drv.Driver("cbc-aes-x", "cbc-aes-x", 400, FakeTfm(alg, lenient=True))])
    verdicts = {n: (o, r) for n, o, r, _ in rec.cases}
    assert verdicts["cbc(aes-generic)"][0] == "pass"
    outcome, reason = verdicts["cbc-aes-x"]
    assert outcome == "fail" and " in 2 of 6 cases " in reason
    assert re.search(r"first: case 1: len 15, .*: [0-9a-f]* != EINVAL", reason), reason


@pytest.mark.parametrize("name", ["poly1305", "kw(aes)"])
def test_kw_and_poly1305_are_compared_too(name):
    """Random data is no valid request for an unwrap or for a poly1305 shorter than its key,
    but every driver's answer (EBADMSG, ENOKEY) is still the generic one's: a driver that gets
    a byte of a real answer wrong differs."""
    alg = algorithms.get(name)
    cases = drv.random_cases(alg, "x")
    assert len({len(c.data) for c in cases}) == len(cases) and max(len(c.data) for c in cases) >= 40
    rec = Rec()
    drv.differential(rec, rec, alg, [drv.Driver(f"{name}-generic", "x-generic", 100, FakeTfm(alg)),
                                     drv.Driver("good", "good", 300, FakeTfm(alg)),
                                     drv.Driver("bad", "bad", 400, FakeTfm(alg, wrong=True))])
    verdicts = {n: o for n, o, _, _ in rec.cases}
    assert verdicts == {"bad": "fail", "good": "pass", f"{name}-generic": "pass"}
    answers = {drv.run_case(FakeTfm(alg), alg, c)[0] for c in cases}
    assert {"EBADMSG", "EINVAL"} <= answers if name == "kw(aes)" else "ENOKEY" in answers
    assert any(len(a) > 8 for a in answers)         # and real outputs (hex) beside the errors


def test_a_generic_kw_driver_that_unwraps_random_data_differs_from_the_oracle():
    """The generic driver is held to the errors too: an unwrap of random semiblocks must fail
    its integrity check (EBADMSG), as pyca's does."""
    alg = algorithms.get("kw(aes)")
    rec = Rec()
    drv.differential(rec, rec, alg, [drv.Driver("kw(aes-generic)", "kw(aes-generic)", 100,
                                                FakeTfm(alg, lenient=True))])
    (name, outcome, reason, _), = rec.cases
    assert outcome == "fail" and "differs from the Python oracle" in reason and "!= EBADMSG" in reason, reason


def test_a_generic_driver_that_differs_from_the_oracle_fails():
    alg = algorithms.get("sha256")
    rec = Rec()
    drv.differential(rec, rec, alg, [drv.Driver("sha256-generic", "sha256-generic", 100, FakeTfm(alg, wrong=True)),
                                     drv.Driver("sha256-avx2", "sha256-avx2", 170, FakeTfm(alg))])
    verdicts = {n: (o, r) for n, o, r, _ in rec.cases}
    assert verdicts["sha256-generic"][0] == "fail"
    assert "differs from the Python oracle" in verdicts["sha256-generic"][1]
    assert verdicts["sha256-avx2"][0] == "fail"        # it disagrees with the (wrong) generic driver
    assert "the oracle agrees with sha256-avx2" in verdicts["sha256-avx2"][1]


def test_under_a_driver_focus_the_sweep_runs_the_matching_drivers(monkeypatch):
    ds = [_d("cbc-aes-aesni", 400), _d("cbc(aes-aesni)", 300), _d("cbc(aes-generic)", 100)]
    assert drv.focused(ds) == ds
    monkeypatch.setattr(drv, "FOCUS", ["*-aesni"])
    assert [d.driver for d in drv.focused(ds)] == ["cbc-aes-aesni"]
    monkeypatch.setattr(drv, "FOCUS", ["*(aes-*)"])
    assert [d.driver for d in drv.focused(ds)] == ["cbc(aes-aesni)", "cbc(aes-generic)"]
    alg = algorithms.get("sha256")
    ref = drv.Driver("sha256-generic", "sha256-generic", 100, FakeTfm(alg))
    mine = drv.Driver("sha256-avx2", "sha256-avx2", 170, FakeTfm(alg, wrong=True))
    monkeypatch.setattr(drv, "FOCUS", ["sha256-avx2"])
    rec = Rec()
    drv.differential(rec, rec, alg, [mine, ref])            # the generic one answers, is not judged
    assert [(n, o) for n, o, _, _ in rec.cases] == [("sha256-avx2", "fail")]


def test_a_plan_is_reused_only_once_binding_makes_nothing_new(monkeypatch):
    """bind_drivers remembers how an algorithm's drivers bound (the next vector files bind
    them by those names at once), but not while binding still registers new drivers: the
    second file must find ccm_base(ctr(aes-aesni),...) that the first one's binds created."""
    from afalg_conformance.harness.afalg import proccrypto
    alg = algorithms.get("ccm(aes)")
    E = proccrypto.Entry
    kernel = [E("ccm(aes)", "ccm_base(ctr(aes-generic),cbcmac(aes-generic))", priority=100, type="aead"),
              E("aes", "aes-generic", priority=100, type="cipher"), E("aes", "aes-aesni", priority=300, type="cipher")]
    reads, binds = [], []

    class Tfm:
        def __init__(self, name):
            self.name = name

        def close(self):
            pass

    def bound(alg_type, name):
        binds.append(name)
        if name == "ccm(aes-aesni)" and not any("aes-aesni" in e.driver and e.name == "ccm(aes)" for e in kernel):
            kernel.append(E("ccm(aes)", "ccm_base(ctr(aes-aesni),cbcmac(aes-aesni))", priority=100, type="aead"))
        return Tfm(name)

    def read():
        reads.append(1)
        return list(kernel)
    monkeypatch.setattr(proccrypto, "read", read)
    monkeypatch.setattr(drv.AfalgSocket, "bound", staticmethod(bound))
    monkeypatch.setattr(drv.restrict, "refusal", lambda t, n: None)
    monkeypatch.setattr(drv, "_PLANS", {})

    class Kat:
        def case(self, *a, **k):
            pass

    def drivers():
        return sorted(d.driver for d in drv.bind_drivers(alg, Kat(), None, proccrypto.read())[0])
    first = drivers()
    second = drivers()                       # the new instance is listed now: found afresh
    assert "ccm_base(ctr(aes-aesni),cbcmac(aes-aesni))" in second
    n_reads, n_binds = len(reads), len(binds)
    assert drivers() == second
    # the plan: the caller's read only, and one bind per driver by the name that worked
    assert len(reads) == n_reads + 1 and len(binds) == n_binds + len(second)
    assert set(first) <= set(second)


def test_a_plan_is_made_again_when_proc_crypto_lists_a_driver_it_never_tried(monkeypatch):
    """debian-6.1: test_driver_vectors planned ecb(camellia) before camellia_aesni_avx2 was
    loaded (by another test's bind of cbc(camellia)); test_every_driver then reused the plan
    and failed, the driver the generic name now binds never checked. The caller's
    /proc/crypto read decides: a plan that has not tried every driver it lists is made again
    (bind_drivers' own read after binding sees nothing new here, so only the caller's can)."""
    alg = algorithms.get("ecb(camellia)")
    made = []

    def fake_bind(alg, case, spec, entries):
        made.append(list(entries))
        return [drv.Driver(n, n, 100, FakeTfm(alg)) for n in entries], [], True, set(entries)
    monkeypatch.setattr(drv, "_bind_drivers", fake_bind)
    monkeypatch.setattr(drv, "candidates", lambda entries, alg: ([(n, None) for n in entries], []))
    monkeypatch.setattr(drv.proccrypto, "read", lambda: [])
    monkeypatch.setattr(drv.AfalgSocket, "bound", classmethod(lambda cls, t, n: FakeTfm(alg)))
    monkeypatch.setattr(drv, "_PLANS", {})
    rec = Rec()
    listing = ["ecb-camellia-aesni", "ecb-camellia-asm"]
    first, _ = drv.bind_drivers(alg, rec, rec, list(listing))
    again, _ = drv.bind_drivers(alg, rec, rec, list(listing))      # nothing new listed: the plan
    assert len(made) == 1 and [d.driver for d in again] == [d.driver for d in first]
    listing.insert(0, "ecb-camellia-aesni-avx2")                    # a module loaded since
    fresh, _ = drv.bind_drivers(alg, rec, rec, list(listing))
    assert len(made) == 2 and made[1] == listing      # made again, from the caller's read
    assert "ecb-camellia-aesni-avx2" in {d.driver for d in fresh}
    drv.bind_drivers(alg, rec, rec, list(listing))
    assert len(made) == 2
