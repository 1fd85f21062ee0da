"""The AF_ALG restriction (Linux 7.3): /proc/sys/crypto/af_alg_restrict's modes, for root
and for an unprivileged caller. Each test sets the mode it checks and puts back the one the
run uses (0 unless --restrict says otherwise). Kernels without the sysctl skip.
"""

from __future__ import annotations

import contextlib
import os
import socket

import pytest

from afalg_conformance.conformance import _util_socket as us
from afalg_conformance.harness.afalg import algorithms, proccrypto, restrict
from afalg_conformance.harness.afalg.client import AfalgSocket, outcome
from afalg_conformance.harness.afalg.constants import AlgOp

# Serial: each clause sets the kernel-wide af_alg_restrict, which a test running beside it would see.
pytestmark = pytest.mark.serial

# Names on and off the allowlists, of every type; those the kernel lacks at mode 0 are left out.
PROBES = [("skcipher", "cbc(aes)"), ("skcipher", "ecb(aes)"), ("skcipher", "ctr(aes)"), ("skcipher", "xts(aes)"),
          ("skcipher", "cbc(des3_ede)"), ("skcipher", "chacha20"), ("skcipher", "xchacha20"),
          ("hash", "sha1"), ("hash", "sha256"), ("hash", "sha512"), ("hash", "md5"), ("hash", "hmac(sha256)"),
          ("hash", "cmac(aes)"), ("hash", "sha3-256"), ("hash", "xcbc(aes)"),
          ("aead", "ccm(aes)"), ("aead", "gcm(aes)"), ("aead", "rfc4106(gcm(aes))"),
          ("rng", "stdrng"), ("rng", "jitterentropy_rng")]


@pytest.fixture
def mode():
    """set(n): af_alg_restrict = n for this test; the run's value comes back afterwards."""
    if not restrict.hold_af_alg() and restrict.read() is None:
        pytest.skip("unsupported:no-af-alg")
    before = restrict.read()
    if before is None:
        pytest.skip("unsupported:no-af-alg-restrict (/proc/sys/crypto/af_alg_restrict: Linux 7.3+)")
    yield restrict.write
    restrict.write(before)


def bind_token(alg_type: str, name: str) -> str:
    def bind():
        with AfalgSocket.bound(alg_type, name):
            return None
    return outcome(bind)[1]


def present(mode_set) -> list[tuple[str, str]]:
    mode_set(0)
    return [(t, n) for t, n in PROBES if bind_token(t, n) == "ok"]


@pytest.mark.clause("RESTRICT-1")
def test_the_value_af_alg_loads_with(spec, mode):
    found = os.environ.get("AFALG_RESTRICT_FOUND", "")
    if not found:
        pytest.skip("unsupported:restrict-not-read-at-load (the runner did not load af_alg itself)")
    spec.check("RESTRICT-1", found, sent="af_alg_restrict read right after af_alg loaded")


@pytest.mark.clause("RESTRICT-2")
def test_only_0_1_2(spec, mode):
    mode(1)
    for value in ("3", "-1"):
        def write(v=value):
            restrict.SYSCTL.write_text(v + "\n")
        spec.check_errno("RESTRICT-2", write, sent=f"echo {value} > af_alg_restrict", soft=True)
        spec.check("RESTRICT-2", str(restrict.read()), expected="1", sent=f"value after writing {value}",
                   soft=True)


@pytest.mark.clause("RESTRICT-3")
def test_mode_1_privileged_binds_exactly_the_allowlist(spec, mode):
    names = present(mode)
    assert names, "nothing of the probe list binds at mode 0"
    mode(1)
    assert restrict.privileged(), "the guest runs the suite as root"
    for t, n in names:
        want = "ok" if restrict.allowed(t, n, 1, True) else "ENOENT"
        spec.check("RESTRICT-3", bind_token(t, n), expected=want, sent=f"root, mode 1: bind({t}, {n})", soft=True)


@pytest.mark.clause("RESTRICT-4")
def test_mode_1_unprivileged_binds_only_the_short_allowlist(spec, mode):
    names = present(mode)
    mode(1)
    for t, n in names:
        want = "ok" if restrict.allowed(t, n, 1, False) else "ENOENT"
        seen = us.run_as_nobody(lambda t=t, n=n: bind_token(t, n))
        spec.check("RESTRICT-4", seen, expected=want, sent=f"uid 65534, mode 1: bind({t}, {n})", soft=True)


@pytest.mark.clause("RESTRICT-5", "RESTRICT-8")
def test_driver_names_bind_at_mode_0_only(spec, mode, crypto):
    drivers = [(t, d) for t, n in (("skcipher", "cbc(aes)"), ("hash", "sha256"))
               if (d := proccrypto.driver_of(crypto, t, n)) and d != n]
    if not drivers:
        pytest.skip("unsupported:no-driver-listed (cbc(aes), sha256 not in /proc/crypto)")
    for t, d in drivers:
        mode(0)
        spec.check("RESTRICT-8", bind_token(t, d), sent=f"mode 0: bind({t}, {d})", soft=True)
        mode(1)
        spec.check("RESTRICT-5", bind_token(t, d), sent=f"root, mode 1: bind({t}, {d})", soft=True)


@pytest.mark.clause("RESTRICT-6")
def test_mode_2_refuses_every_socket(spec, mode):
    mode(2)
    _, tok = outcome(socket.socket, socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
    spec.check("RESTRICT-6", tok, sent="root, mode 2: socket(AF_ALG, SOCK_SEQPACKET, 0)")


@pytest.mark.clause("RESTRICT-7", "RESTRICT-8")
def test_a_socket_bound_before_keeps_working(spec, mode):
    mode(0)
    key, iv, pt = bytes(range(16)), bytes(12), b"A" * 32
    with contextlib.ExitStack() as stack:
        tfm, tok = outcome(AfalgSocket.bound, "aead", "gcm(aes)")
        spec.check("RESTRICT-8", tok, sent="mode 0: bind(aead, gcm(aes))")
        stack.callback(tfm.close)
        mode(2)
        tfm.setkey(key)
        tfm.set_authsize(16)
        op = stack.enter_context(tfm.accept())
        op.request(pt, AlgOp.ENCRYPT, iv, 0)
        out, tok = outcome(op.recv_exact, len(pt) + 16)
    want = algorithms.get("gcm(aes)").oracle(key, iv, b"", pt, 16, True)
    spec.check("RESTRICT-7", "ok" if tok == "ok" and out == want else tok if tok != "ok" else "wrong-output",
               sent="bound at mode 0; at mode 2: setkey, accept, encrypt 32 bytes")
