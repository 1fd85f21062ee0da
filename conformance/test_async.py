"""Asynchronous drivers through the ordinary send/read interface (HASH-20, SKC-18, AEAD-19).

cryptd(...) completes every request in a kernel worker, as most hardware drivers do: the op
socket's send and read then wait for the completion (crypto_wait_req: wait_for_completion in
hash_sendmsg/hash_recvmsg, skcipher/aead_recvmsg), a path no synchronous driver takes. An
accelerator's driver author meets exactly this path; the generic drivers never take it.
The answers are checked against the oracle, as for the generic drivers.
"""

from __future__ import annotations

import os

import pytest

from afalg_conformance.conformance._util_cipher import DEC, ENC, aead_aad, aead_iv, aead_pt, cryptd_aead
from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg.client import outcome
from afalg_conformance.harness.afalg.constants import MSG_MORE

HMAC_KEY = b"async-hash-key-0123456789abcdef!"


@pytest.mark.clause("HASH-20")
@pytest.mark.parametrize("alg_name,name", [("sha256", "cryptd(sha256-generic)"),
                                           ("hmac(sha256)", "cryptd(hmac(sha256-generic))")],
                         ids=lambda v: v)
def test_hash_through_cryptd(spec, alg_socket, alg_name, name):
    alg = algorithms.get(alg_name)
    key = HMAC_KEY if alg.keyed else None

    def H(msg: bytes) -> bytes:
        return alg.oracle(key, msg)
    tfm = alg_socket("hash", name)
    if key:
        tfm.setkey(key)
    a, b, c = b"first|" * 30, b"second|" * 700, b"third"
    ds = alg.digestsize
    with tfm.accept() as op:
        op.send(a, MSG_MORE)
        op.send(b, MSG_MORE)
        op.send(c)
        spec.check("HASH-20", op.recv(ds), H(a + b + c), sent=f"{name}: send(a, MORE); send(b, MORE); send(c)",
                   soft=True)
        op.send(a, MSG_MORE)
        op.send(b"")
        spec.check("HASH-20", op.recv(ds), H(a), sent=f"{name}: send(a, MORE); send('')", soft=True)
        # accept on the op socket exports the running state and imports it into the clone
        op.send(a, MSG_MORE)
        with op.accept() as clone:
            clone.send(b)
            spec.check("HASH-20", clone.recv(ds), H(a + b), sent=f"{name}: send(a, MORE); accept; clone: send(b)",
                       soft=True)
        op.send(c)
        spec.check("HASH-20", op.recv(ds), H(a + c), sent=f"{name}: ...; the original: send(c)")


@pytest.mark.clause("SKC-18")
@pytest.mark.parametrize("alg_name,name", [("cbc(aes)", "cryptd(cbc(aes-generic))"),
                                           ("ctr(aes)", "cryptd(ctr(aes-generic))")], ids=lambda v: v)
def test_skcipher_through_cryptd(spec, alg_socket, alg_name, name):
    alg = algorithms.get(alg_name)
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(4096 + 64)
    ref = alg.oracle(key, iv, data, True)
    tfm = alg_socket("skcipher", name)
    tfm.setkey(key)
    with tfm.accept() as op:
        op.request(data[:1000], ENC, iv, flags=MSG_MORE)
        op.send(data[1000:])
        spec.check("SKC-18", op.recv(len(data)), ref, sent=f"{name}: request(1000 bytes, ENC, iv, MORE); "
                   f"send({len(data) - 1000} bytes); read all == E(iv, data)", soft=True)
        op.request(ref, DEC, iv)
        first = op.recv(2048)
        spec.check("SKC-18", first + op.recv(len(ref) - 2048), data,
                   sent=f"{name}: request(E(iv, data), DEC, iv); read 2048 then the rest == data")


@pytest.mark.clause("AEAD-19")
def test_aead_through_cryptd(spec, request):
    alg, name = algorithms.get("gcm(aes)"), "cryptd(gcm_base(ctr(aes-generic),ghash-generic))"
    key, iv = os.urandom(16), aead_iv(alg)
    aad, pt, a = aead_aad(alg, iv), aead_pt(alg, 80), alg.max_authsize
    ref = alg.oracle(key, iv, aad, pt, a, True)
    tfm = cryptd_aead(spec, request, name, clause="AEAD-19")
    tfm.setkey(key)
    tfm.set_authsize(a)
    with tfm.accept() as op:
        op.request(aad + pt, ENC, iv, len(aad))
        spec.check("AEAD-19", op.recv(len(aad) + len(pt) + a), aad + ref,
                   sent=f"{name}: encrypt {len(pt)} bytes with {len(aad)} of AAD; read == AAD||CT||tag", soft=True)
        op.request(aad + ref, DEC, iv, len(aad))
        spec.check("AEAD-19", op.recv(len(aad) + len(pt)), aad + pt,
                   sent=f"{name}: decrypt AAD||CT||tag; read == AAD||PT", soft=True)
        bad = ref[:-1] + bytes([ref[-1] ^ 1])
        op.request(aad + bad, DEC, iv, len(aad))
        _d, tok = outcome(op.recv, len(aad) + len(pt))
        spec.check("AEAD-19", tok, "EBADMSG", sent=f"{name}: decrypt with the tag's last bit flipped; read")
