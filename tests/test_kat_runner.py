"""conformance/kat_runner.py's verdicts, with a fake socket that answers what a (broken)
kernel would: a vector can only pass when the kernel's answer is the right one."""

from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.ciphers import algorithms as cipher_algs

from afalg_conformance.conformance.kat_runner import KatRun
from afalg_conformance.vectors.cases import Case

KEY, MSG = bytes(range(16)), b"message"


def cmac(key, msg):
    c = CMAC(cipher_algs.AES(key))
    c.update(msg)
    return c.finalize()


class FakeOp:
    def __init__(self, answer):
        self.answer, self.data = answer, b""

    def send(self, data):
        self.data += data

    def recv(self, n):          # a read finishes the hash; the op socket starts a new one
        data, self.data = self.data, b""
        return self.answer(data)[:n]

    def close(self):
        pass


class FakeTfm:
    def __init__(self, answer):
        self.answer = answer

    def setkey(self, key):
        self.key = key

    def accept(self):
        return FakeOp(lambda data: self.answer(self.key, data))


def verdicts(answer, *cases):
    out = []
    KatRun(FakeTfm(answer), lambda c, outcome, reason: out.append((c.name, outcome))).run(list(cases))
    return dict(out)


def case(name, tag, expect):
    return Case(name, "t:1", "cmac(aes)", "hash", key=KEY, pt=MSG, ct=tag, expect=expect)


def test_an_invalid_mac_vector_passes_only_when_the_kernel_computes_the_right_mac():
    forged = bytes(16)
    cases = (case("invalid", forged, "invalid"), case("acceptable", cmac(KEY, MSG), "acceptable"))
    assert verdicts(cmac, *cases) == {"invalid": "pass", "acceptable": "pass"}
    garbage = lambda key, msg: b"\x55" * 16        # noqa: E731  (a kernel returning anything else)
    assert verdicts(garbage, *cases) == {"invalid": "fail", "acceptable": "fail"}
    assert verdicts(lambda key, msg: forged, case("invalid", forged, "invalid")) == {"invalid": "fail"}


# -- kw(aes): a fake op socket that behaves like crypto/keywrap.c behind algif_skcipher ---------

import errno

from cryptography.hazmat.primitives import keywrap

from afalg_conformance.vectors.sets import BY_ID


class FakeKwOp:
    """One op socket: the request's IV is ctx->iv, which a wrap overwrites with the first
    semiblock (unless the kernel is `forgetful`) and which later requests reuse."""

    def __init__(self, tfm):
        self.tfm, self.iv, self.pending = tfm, bytes(8), None

    def request(self, data, op, iv=None, assoclen=None, flags=0):
        if iv is not None:
            self.iv = iv
        self.pending = (data, op)

    def recv_exact(self, n):
        from afalg_conformance.harness.afalg.constants import AlgOp
        data, op = self.pending
        if len(data) < 16 or len(data) % 8:
            raise OSError(errno.EINVAL, "EINVAL")
        if op == AlgOp.ENCRYPT:
            wrapped = keywrap.aes_key_wrap(self.tfm.key, data)
            if not self.tfm.forgetful:
                self.iv = wrapped[:8]
            return wrapped[8:]
        try:
            return keywrap.aes_key_unwrap(self.tfm.key, self.iv + data)
        except keywrap.InvalidUnwrap:
            raise OSError(errno.EBADMSG, "EBADMSG") from None

    def close(self):
        pass


class FakeKwTfm:
    def __init__(self, forgetful=False):
        self.forgetful = forgetful

    def setkey(self, key):
        self.key = key

    def accept(self):
        return FakeKwOp(self)


def kw_outcomes(set_id, **kw):
    out = []
    KatRun(FakeKwTfm(**kw), lambda c, outcome, reason: out.append((outcome, reason.split(":")[0]))).run(
        BY_ID[set_id].cases())
    return out


def test_kw_vectors_pass_on_a_kernel_that_behaves_like_keywrap_c():
    from collections import Counter
    got = Counter(kw_outcomes("wycheproof-aes-wrap"))
    assert got == {("pass", ""): 36, ("pass", "expected-reject"): 111, ("pass", "acceptable"): 3,
                   ("skip", "inexpressible"): 15}
    assert {o for o, _ in kw_outcomes("cavp-kw-ad128")} == {"pass"}


def test_kw_wrap_must_leave_its_first_semiblock_in_the_iv():
    """A kernel whose wrap output is right but that does not hand back the first semiblock
    fails every wrap vector (the unwrap with the IV it left is EBADMSG)."""
    assert {o for o, _ in kw_outcomes("cavp-kw-ae128", forgetful=True)} == {"fail"}
    assert {o for o, _ in kw_outcomes("cavp-kw-ae128")} == {"pass"}


# -- Monte Carlo: the runner chains the kernel's own answers --------------------------------------

class FakeHashOp:
    """A hash op socket as the runner's Monte Carlo loop uses it (raw send/recv on .sock)."""

    def __init__(self, h):
        self.h, self.data, self.sock = h, b"", self

    def send(self, data, *a, **k):
        self.data += data
        return len(data)

    def recv(self, n, *a, **k):
        data, self.data = self.data, b""
        return self.h(data)[:n]

    def close(self):
        pass


class FakeHashTfm:
    def __init__(self, h):
        self.h = h

    def accept(self):
        return FakeHashOp(self.h)


def test_sha_monte_carlo_through_the_runner():
    import hashlib
    cases = BY_ID["cavp-sha256-monte"].cases()[:2]
    out = []
    KatRun(FakeHashTfm(lambda m: hashlib.sha256(m).digest()),
           lambda c, outcome, reason: out.append(outcome)).run(cases)
    assert out == ["pass", "pass"]
    out.clear()                 # a kernel that is right for one block but not for three
    KatRun(FakeHashTfm(lambda m: hashlib.sha256(m[:32]).digest()),
           lambda c, outcome, reason: out.append(outcome)).run(cases)
    assert out == ["fail", "fail"]


# -- one deadline per vector ------------------------------------------------------------------

def test_a_vector_runs_under_one_deadline_and_a_stuck_one_fails_alone(monkeypatch):
    import time

    from afalg_conformance.conformance import kat_runner
    monkeypatch.setattr(kat_runner, "CASE_WAIT", 0.3)
    ops = []

    def answer(key, msg):
        if msg == b"stuck":
            time.sleep(5)                  # a kernel that never answers this one
        return cmac(key, msg)

    class Tfm(FakeTfm):
        def accept(self):
            op = super().accept()
            ops.append(op)
            return op
    out = []
    stuck = Case("stuck", "t:1", "cmac(aes)", "hash", key=KEY, pt=b"stuck", ct=bytes(16), expect="valid")
    t0 = time.monotonic()
    KatRun(Tfm(answer), lambda c, outcome, reason: out.append((c.name, outcome, reason))).run(
        [stuck, case("after", cmac(KEY, MSG), "valid")])
    assert time.monotonic() - t0 < 3
    assert out[0][:2] == ("stuck", "fail") and "blocks" in out[0][2]     # not "ok": WaitTimeout has no errno
    assert out[1][:2] == ("after", "pass")                     # the next vector still runs
    assert ops and all(op.outer_deadline for op in ops)        # the calls skip their own deadline


def test_monte_carlo_files_take_their_own_sample_size(monkeypatch):
    """run --quick and coverage: a Monte Carlo file runs AFALG_MCT_BUDGET checkpoints, evenly
    spread; the others are SKIPPED as sampled; other files keep the GCM budget."""
    from afalg_conformance.conformance import test_kat
    from afalg_conformance.vectors.sets import SETS
    mct_set = next(vs for vs in SETS if vs.id == "cavp-sha256-monte")
    plain_set = next(vs for vs in SETS if vs.id == "cavp-gcm-encrypt128")
    monkeypatch.setattr(test_kat, "MCT_BUDGET", 3)
    monkeypatch.setattr(test_kat, "BUDGET", 800)
    mct = mct_set.cases()
    assert test_kat.budget_for(mct) == 3
    kept = test_kat.sample(mct, test_kat.budget_for(mct))
    runnable = [c for c in kept if not c.unsupported]
    assert len(runnable) == 3 and runnable[0] is kept[0]
    assert sum(str(c.unsupported).startswith("not-run:sampled=3-of-") for c in kept) == len(kept) - 3
    assert test_kat.budget_for(plain_set.cases()) == 800
    monkeypatch.setattr(test_kat, "MCT_BUDGET", 0)
    assert test_kat.budget_for(mct_set.cases()) == 800
