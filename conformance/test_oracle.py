"""Property tests: the kernel against pyca/cryptography and hashlib (harness.afalg.algorithms oracles).

One test per algorithm type, parametrised over every algorithm that has an
oracle; hypothesis draws keys, IVs, lengths and MSG_MORE split points. A
disagreement is shrunk by hypothesis and recorded as the clause's evidence.
"""

from __future__ import annotations

import os

import pytest

from afalg_conformance.conformance import _util_hypothesis  # noqa: F401  (the guest's profile, before settings())
from hypothesis import given, settings
from hypothesis import strategies as st

from afalg_conformance.conformance._util_cipher import DEC, ENC, send_parts, splits
from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg.bounded import deadline
from afalg_conformance.harness.afalg.constants import MSG_MORE

EXAMPLES = 20

HASHES = [a for a in algorithms.of_type("hash") if a.oracle and not a.keyed and a.random_inputs]
KEYED = [a for a in algorithms.of_type("hash") if a.oracle and a.keyed]
SKCIPHERS = [a for a in algorithms.of_type("skcipher") if a.oracle and a.random_inputs]
AEADS = [a for a in algorithms.of_type("aead") if a.oracle]

small = settings(max_examples=EXAMPLES)


def _record(spec, clause, alg, run):
    """Run the property; record "agrees" or the (shrunk) disagreement as evidence."""
    try:
        run()
    except AssertionError as e:
        spec.check(clause, f"differs: {str(e)[:300]}", sent=f"{alg.name}: {EXAMPLES} random cases")
        raise
    spec.check(clause, "agrees", sent=f"{alg.name}: {EXAMPLES} random cases")


def _hash_with_parts(tfm, alg, msg, points):
    with tfm.accept() as op:
        parts = splits(msg, points) if msg else [b""]
        for i, p in enumerate(parts):
            op.send(p, MSG_MORE if i < len(parts) - 1 else 0)
        with deadline(10.0, "recv"):
            return op.recv(alg.digestsize)


@pytest.mark.clause("ORACLE-1")
@pytest.mark.parametrize("alg", HASHES, ids=lambda a: a.name)
def test_hash_oracle(spec, alg_socket, alg):
    tfm = alg_socket("hash", alg.name)

    @small
    @given(msg=st.binary(max_size=3000), points=st.lists(st.integers(0, 3000), max_size=4))
    def prop(msg, points):
        got = _hash_with_parts(tfm, alg, msg, points)
        assert got == alg.oracle(None, msg), f"len={len(msg)} splits={sorted(points)}: {got.hex()}"

    _record(spec, "ORACLE-1", alg, prop)


@pytest.mark.clause("ORACLE-2")
@pytest.mark.parametrize("alg", KEYED, ids=lambda a: a.name)
def test_keyed_hash_oracle(spec, alg_socket, alg):
    tfm = alg_socket("hash", alg.name)
    if alg.name.startswith("hmac"):
        keys = st.binary(min_size=1, max_size=200)
    else:
        keys = st.sampled_from(alg.key_sizes).flatmap(lambda n: st.binary(min_size=n, max_size=n))

    @small
    @given(key=keys, msg=st.binary(max_size=3000), points=st.lists(st.integers(0, 3000), max_size=4))
    def prop(key, msg, points):
        tfm.setkey(key)
        got = _hash_with_parts(tfm, alg, msg, points)
        assert got == alg.oracle(key, msg), f"keylen={len(key)} len={len(msg)} splits={sorted(points)}"

    _record(spec, "ORACLE-2", alg, prop)


def _skc_lengths(alg):
    if alg.name.startswith(("xts", "cts")):
        return st.integers(16, 2048)
    if alg.blocksize > 1:
        return st.integers(0, 128).map(lambda n: n * alg.blocksize)
    return st.integers(0, 2048)


@pytest.mark.clause("ORACLE-3")
@pytest.mark.parametrize("alg", SKCIPHERS, ids=lambda a: a.name)
def test_skcipher_oracle(spec, alg_socket, alg):
    tfm = alg_socket("skcipher", alg.name)

    @small
    @given(ks=st.sampled_from(alg.key_sizes), seed=st.binary(min_size=64, max_size=64),
           iv=st.binary(min_size=alg.ivsize, max_size=alg.ivsize), n=_skc_lengths(alg),
           encrypt=st.booleans(), points=st.lists(st.integers(0, 2048), max_size=4))
    def prop(ks, seed, iv, n, encrypt, points):
        key = seed[:ks]
        if alg.name.startswith("xts") and key[:ks // 2] == key[ks // 2:]:
            key = bytes([key[0] ^ 1]) + key[1:]
        data = os.urandom(n)
        tfm.setkey(key)
        with tfm.accept() as op:
            parts = splits(data, points) if data else [b""]
            send_parts(op, parts, ENC if encrypt else DEC, iv if alg.ivsize else None)
            got = op.recv_exact(n)
        want = alg.oracle(key, iv if alg.ivsize else None, data, encrypt)
        assert got == want, (f"keylen={ks} len={n} {'enc' if encrypt else 'dec'} splits={sorted(points)} "
                             f"iv={iv.hex()} key={key.hex()} data={data.hex()[:64]}")

    _record(spec, "ORACLE-3", alg, prop)


def _aead_iv(alg):
    if alg.name == "ccm(aes)":
        return st.binary(min_size=7, max_size=13).map(algorithms.ccm_iv)
    return st.binary(min_size=alg.ivsize, max_size=alg.ivsize)


@pytest.mark.clause("ORACLE-4")
@pytest.mark.parametrize("alg", AEADS, ids=lambda a: a.name)
def test_aead_oracle(spec, alg_socket, alg):
    tfm = alg_socket("aead", alg.name)
    bs = alg.blocksize

    @small
    @given(ks=st.sampled_from(alg.key_sizes), seed=st.binary(min_size=64, max_size=64), iv=_aead_iv(alg),
           aadlen=st.sampled_from([8, 12]) if alg.assoclen_fixed else st.integers(alg.assoclen_min, 64),
           n=st.integers(0, 600 // bs).map(lambda k: k * bs), authsize=st.sampled_from(alg.authsizes),
           points=st.lists(st.integers(0, 700), max_size=3))
    def prop(ks, seed, iv, aadlen, n, authsize, points):
        key = alg.key_from(seed[:ks])
        aad = os.urandom(aadlen)
        if alg.assoclen_fixed:
            aad += iv[-8:]                      # rfc4106: the AAD region ends with the IV
        pt = os.urandom(n)
        tfm.setkey(key)
        tfm.set_authsize(authsize)
        ref = alg.oracle(key, iv, aad, pt, authsize, True)
        what = f"keylen={ks} aad={len(aad)} pt={n} authsize={authsize} splits={sorted(points)} iv={iv.hex()}"
        with tfm.accept() as op:
            send_parts(op, splits(aad + pt, points), ENC, iv, len(aad))
            got = op.recv_exact(len(aad) + n + authsize)
        assert got == aad + ref, f"encrypt {what}"
        with tfm.accept() as op:
            send_parts(op, splits(aad + ref, points), DEC, iv, len(aad))
            back = op.recv_exact(len(aad) + n)
        assert back == aad + pt, f"decrypt {what}"

    _record(spec, "ORACLE-4", alg, prop)
