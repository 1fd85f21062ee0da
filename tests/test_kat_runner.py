"""conformance/kat_runner.py's verdicts, with a fake socket that answers what a (broken)
kernel would: a vector can only pass when the kernel's answer is the right one."""

from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.ciphers import algorithms as cipher_algs

from conformance.kat_runner import KatRun
from vectors.cases import Case

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
