"""AIO reads of op sockets (io_submit): the asynchronous branch of skcipher/aead_recvmsg.

libkcapi's AIO paths use it; read(2) and recv(2) never take it. Op sockets are made
non-blocking first: a socket read runs inside io_submit, so a kernel that waited here would
hang the submitting thread rather than queue the read.
"""

from __future__ import annotations

import os

import pytest

from afalg_conformance.conformance._util_cipher import DEC, ENC, aead_aad, aead_iv, aead_pt, cryptd_aead
from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg.client import outcome
from afalg_conformance.harness.afalg.libc import Aio

CBC = algorithms.get("cbc(aes)")
CTR = algorithms.get("ctr(aes)")
GCM = algorithms.get("gcm(aes)")
AUTHENC = algorithms.get("authenc(hmac(sha256),cbc(aes))")


@pytest.fixture
def aio():
    ctx = Aio()
    yield ctx
    ctx.close()


def _aio_token(aio, op, n):
    """(bytes or None, 'ok' or the errno name) of one AIO read."""
    return outcome(aio.read, op.fileno(), n)


# cryptd(...) is an asynchronous driver: its requests complete in a kernel worker, so the read
# is queued (-EIOCBQUEUED) and completes through af_alg_async_cb, the path synchronous drivers
# never take (af_alg_async_cb's use of the socket after the read returned is where bugs were).
@pytest.mark.clause("SKC-17")
@pytest.mark.parametrize("alg,name", [(CBC, "cbc(aes)"), (CTR, "ctr(aes)"), (CBC, "cryptd(cbc(aes-generic))")],
                         ids=lambda v: getattr(v, "name", v))
def test_skcipher_aio_read(spec, alg_socket, aio, alg, name):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(64)
    ref = alg.oracle(key, iv, data, True)
    tfm = alg_socket("skcipher", name)
    tfm.setkey(key)
    with tfm.accept() as op:
        op.set_nonblocking(True)
        _d, tok = _aio_token(aio, op, 16)
        spec.check("SKC-17", tok, "EAGAIN", sent=f"{name}: AIO read, nothing queued, O_NONBLOCK", soft=True)
        op.request(data, ENC, iv)
        out, tok = _aio_token(aio, op, len(data))
        spec.check("SKC-17", out if out is not None else tok, ref,
                   sent=f"{name}: request(64 bytes, ENC, iv); AIO read(64) == E(iv, data)", soft=True)
        op.request(ref, DEC, iv)
        out, tok = _aio_token(aio, op, len(ref))
        spec.check("SKC-17", out if out is not None else tok, data,
                   sent=f"{name}: request(E(iv, data), DEC, iv); AIO read(64) == data")


@pytest.mark.clause("AEAD-18")
@pytest.mark.parametrize("alg,name", [(GCM, "gcm(aes)"), (AUTHENC, AUTHENC.name), (GCM, "cryptd(gcm_base(ctr(aes-generic),ghash-generic))")],
                         ids=lambda v: getattr(v, "name", v))
def test_aead_aio_read(spec, alg_socket, aio, request, alg, name):
    n = max(alg.key_sizes) if alg.name.startswith("authenc") else alg.key_sizes[0]
    key, iv = alg.key_from(os.urandom(n)), aead_iv(alg)
    aad, pt, a = aead_aad(alg, iv), aead_pt(alg, 48), alg.max_authsize
    ref = alg.oracle(key, iv, aad, pt, a, True)
    tfm = cryptd_aead(spec, request, name) if name.startswith("cryptd(") else alg_socket("aead", name)
    tfm.setkey(key)
    tfm.set_authsize(a)
    with tfm.accept() as op:
        op.set_nonblocking(True)
        op.request(aad + pt, ENC, iv, len(aad))
        out, tok = _aio_token(aio, op, len(aad) + len(pt) + a)
        spec.check("AEAD-18", out if out is not None else tok, aad + ref,
                   sent=f"{name}: encrypt 48 bytes; AIO read == AAD||CT||tag", soft=True)
    bad = ref[:-1] + bytes([ref[-1] ^ 1])
    with tfm.accept() as op:
        op.set_nonblocking(True)
        op.request(aad + bad, DEC, iv, len(aad))
        _d, tok = _aio_token(aio, op, len(aad) + len(pt))
        spec.check("AEAD-18", tok, "EBADMSG", sent=f"{name}: decrypt with the tag's last bit flipped; AIO read")

