"""Smoke set: one known answer per socket type and the EBADMSG rule.

Fast (a few seconds under TCG) so CI can boot a real kernel and prove the
whole path works: these are the tests `--suite smoke` runs. The answers are
published test vectors written out here, so a wrong oracle cannot hide a wrong
kernel: FIPS 180-2 (SHA-256 "abc"), RFC 4231 test case 2, NIST SP 800-38A
F.2.1 and the GCM specification's test case 4 (McGrew & Viega).
"""

from __future__ import annotations

import pytest

from afalg_conformance.harness.afalg.client import AfalgSocket, outcome
from afalg_conformance.harness.afalg.constants import AlgOp

pytestmark = pytest.mark.smoke

H = bytes.fromhex


@pytest.mark.clause("HASH-1")
def test_sha256_known_answer(spec, alg_socket):
    tfm = alg_socket("hash", "sha256")
    with tfm.accept() as op:
        op.send(b"abc")
        digest = op.recv(32)
    spec.check("HASH-1", digest, H("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
               sent="sha256('abc')")


@pytest.mark.clause("HASH-2")
def test_hmac_sha256_known_answer(spec, alg_socket):
    tfm = alg_socket("hash", "hmac(sha256)")
    tfm.setkey(b"Jefe")
    with tfm.accept() as op:
        op.send(b"what do ya want for nothing?")
        mac = op.recv(32)
    spec.check("HASH-2", mac, H("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
               sent="hmac(sha256) RFC 4231 case 2")


CBC_KEY = H("2b7e151628aed2a6abf7158809cf4f3c")
CBC_IV = H("000102030405060708090a0b0c0d0e0f")
CBC_PT = H("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
CBC_CT = H("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2")


@pytest.mark.clause("SKC-1")
@pytest.mark.parametrize("op_name", ["encrypt", "decrypt"])
def test_cbc_aes_known_answer(spec, alg_socket, op_name):
    tfm = alg_socket("skcipher", "cbc(aes)")
    tfm.setkey(CBC_KEY)
    src, want = (CBC_PT, CBC_CT) if op_name == "encrypt" else (CBC_CT, CBC_PT)
    with tfm.accept() as op:
        op.request(src, AlgOp.ENCRYPT if op_name == "encrypt" else AlgOp.DECRYPT, CBC_IV)
        out = op.recv_exact(len(src))
    spec.check("SKC-1", out, want, sent=f"cbc(aes) SP 800-38A F.2.1 {op_name}")


GCM_KEY = H("feffe9928665731c6d6a8f9467308308")
GCM_IV = H("cafebabefacedbaddecaf888")
GCM_AAD = H("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_PT = H("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
           "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
GCM_CT = H("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
           "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091")
GCM_TAG = H("5bc94fbc3221a5db94fae95ae7121a47")


def _gcm_op(tfm: AfalgSocket) -> AfalgSocket:
    tfm.setkey(GCM_KEY)
    tfm.set_authsize(16)
    return tfm.accept()


@pytest.mark.clause("AEAD-1")
def test_gcm_aes_encrypt_known_answer(spec, alg_socket):
    with _gcm_op(alg_socket("aead", "gcm(aes)")) as op:
        op.request(GCM_AAD + GCM_PT, AlgOp.ENCRYPT, GCM_IV, len(GCM_AAD))
        out = op.recv_exact(len(GCM_AAD) + len(GCM_PT) + 16)
    spec.check("AEAD-1", out, GCM_AAD + GCM_CT + GCM_TAG, sent="gcm(aes) test case 4 encrypt")


@pytest.mark.clause("AEAD-1")
def test_gcm_aes_decrypt_known_answer(spec, alg_socket):
    with _gcm_op(alg_socket("aead", "gcm(aes)")) as op:
        op.request(GCM_AAD + GCM_CT + GCM_TAG, AlgOp.DECRYPT, GCM_IV, len(GCM_AAD))
        out = op.recv_exact(len(GCM_AAD) + len(GCM_CT))
    spec.check("AEAD-1", out, GCM_AAD + GCM_PT, sent="gcm(aes) test case 4 decrypt")


@pytest.mark.clause("AEAD-2")
def test_gcm_aes_bad_tag_is_ebadmsg(spec, alg_socket):
    bad_tag = bytes([GCM_TAG[0] ^ 1]) + GCM_TAG[1:]
    with _gcm_op(alg_socket("aead", "gcm(aes)")) as op:
        op.request(GCM_AAD + GCM_CT + bad_tag, AlgOp.DECRYPT, GCM_IV, len(GCM_AAD))
        out, seen = outcome(op.recv_exact, len(GCM_AAD) + len(GCM_CT))
    spec.check("AEAD-2", seen, sent="gcm(aes) test case 4, tag bit 0 flipped")
    assert GCM_PT not in (out or b""), "plaintext returned despite a failed tag"
