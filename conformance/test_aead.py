"""AEAD op sockets (algif_aead): layout, tag checks, authsize, error paths, Copy Fail.

Expected outputs come from harness.afalg.algorithms oracles. The only file ever
spliced is one this test created in its own temporary directory.
"""

from __future__ import annotations

import os

import pytest

from afalg_conformance.conformance._util_cipher import DEC, ENC, ForbiddenPage, aead_aad, aead_iv, aead_pt, outcome, recv_token, recv_without_optmem
from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg.client import AfalgSocket
from afalg_conformance.harness.afalg.bounded import deadline
from afalg_conformance.harness.afalg.constants import MSG_DONTWAIT, MSG_MORE

AEADS = algorithms.of_type("aead")
GCM = algorithms.get("gcm(aes)")
AUTHENC = algorithms.get("authenc(hmac(sha256),cbc(aes))")
RFC4106 = algorithms.get("rfc4106(gcm(aes))")


def _key(alg):
    n = max(alg.key_sizes) if alg.name.startswith("authenc") else alg.key_sizes[0]
    return alg.key_from(os.urandom(n))


def _op(alg_socket, alg, key, authsize=None):
    tfm = alg_socket("aead", alg.name)
    tfm.setkey(key)
    if authsize is not None:
        tfm.set_authsize(authsize)
    return tfm.accept()


def _case(alg, authsize=None):
    """(key, iv, aad, pt, authsize, reference CT||tag)."""
    a = authsize or alg.max_authsize
    key, iv = _key(alg), aead_iv(alg)
    aad, pt = aead_aad(alg, iv), aead_pt(alg, 48)
    return key, iv, aad, pt, a, alg.oracle(key, iv, aad, pt, a, True)


def _encrypt(op, iv, aad, pt, authsize):
    op.request(aad + pt, ENC, iv, len(aad))
    return op.recv_exact(len(aad) + len(pt) + authsize)


def _flip(b: bytes, i: int) -> bytes:
    return b[:i] + bytes([b[i] ^ 0x01]) + b[i + 1:]


@pytest.mark.clause("AEAD-3")
@pytest.mark.parametrize("part", ["tag", "ciphertext", "aad"])
@pytest.mark.parametrize("alg", AEADS, ids=lambda a: a.name)
def test_tamper_is_ebadmsg(spec, alg_socket, alg, part):
    key, iv, aad, pt, a, ref = _case(alg)
    with _op(alg_socket, alg, key, a) as op:
        ct_tag = _encrypt(op, iv, aad, pt, a)[len(aad):]
        assert ct_tag == ref, f"{alg.name} encrypt disagrees with the reference"
    if part == "tag":
        aad2, ct2 = aad, _flip(ct_tag, len(ct_tag) - 1)
    elif part == "ciphertext":
        aad2, ct2 = aad, _flip(ct_tag, 3)
    else:
        aad2, ct2 = _flip(aad, 0), ct_tag
    with _op(alg_socket, alg, key, a) as op:
        op.request(aad2 + ct2, DEC, iv, len(aad2))
        n = len(aad2) + len(pt)
        buf = bytearray(n)
        with deadline(10.0, "recv_into"):
            got, tok = outcome(op.sock.recv_into, buf, n)
    spec.check("AEAD-3", tok, sent=f"{alg.name}: decrypt with one bit of the {part} flipped")
    assert not got, "the failed read returned a byte count"
    # Evidence only: whether the kernel wrote plaintext into the user's buffer before the
    # tag check (the fact sheet warns gcm/ccm do); the read itself returned nothing.
    region = bytes(buf)[len(aad2):len(aad2) + len(pt)]
    same = sum(x == y for x, y in zip(region, pt))
    spec.observe("AEAD-3", f"plaintext-in-buffer {same}/{len(pt)}" if same > len(pt) // 2
                 else f"no-plaintext-in-buffer {same}/{len(pt)}",
                 sent=f"{alg.name} {part}: output buffer after EBADMSG")


@pytest.mark.clause("AEAD-4")
@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_too_short_input_sticks(spec, alg_socket, direction):
    key, iv = os.urandom(16), os.urandom(12)
    with _op(alg_socket, GCM, key, 16) as op:
        if direction == "encrypt":
            op.request(os.urandom(8), ENC, iv, 16)
        else:
            op.request(os.urandom(16 + 15), DEC, iv, 16)
        _d, tok1 = recv_token(op, 16)
        spec.check("AEAD-4", tok1, expected="EINVAL", sent=f"gcm(aes) {direction}: input shorter than required")
        _r, tok2 = outcome(op.request, os.urandom(32), ENC, iv, 16)
        _d, tok3 = recv_token(op, 16, MSG_DONTWAIT)
    seen = "stuck" if (tok2, tok3) == ("EINVAL", "EINVAL") else f"send:{tok2}/recv:{tok3}"
    spec.check("AEAD-4", seen, sent="a valid request after the EINVAL, then a read")


@pytest.mark.clause("AEAD-5")
@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_output_buffer_too_small_for_aad_and_tag(spec, alg_socket, direction):
    key, iv, aad, pt = os.urandom(16), os.urandom(12), os.urandom(16), os.urandom(48)
    ref = GCM.oracle(key, iv, aad, pt, 16, True)
    with _op(alg_socket, GCM, key, 16) as op:
        if direction == "encrypt":
            op.request(aad + pt, ENC, iv, 16)
            small, full, want = 16 + 16 - 1, 16 + 48 + 16, aad + ref
        else:
            op.request(aad + ref, DEC, iv, 16)
            small, full, want = 16 - 1, 16 + 48, aad + pt
        _d, tok = recv_token(op, small)
        spec.check("AEAD-5", tok, sent=f"gcm(aes) {direction}: read buffer of {small} bytes")
        out = op.recv_exact(full)
    spec.check("AEAD-5", out, want, sent="full read after the EINVAL: nothing was consumed")


@pytest.mark.clause("AEAD-6")
def test_smaller_buffer_processes_prefix(spec, alg_socket):
    key, iv, aad, pt = os.urandom(16), os.urandom(12), os.urandom(16), os.urandom(64)
    with _op(alg_socket, GCM, key, 16) as op:
        op.request(aad + pt, ENC, iv, 16)
        n = 16 + 32 + 16
        out, tok = recv_token(op, n)
    if tok != "ok":
        seen = tok
    elif out == aad + GCM.oracle(key, iv, aad, pt[:32], 16, True):
        seen = "prefix-processed"
    else:
        seen = f"other:{len(out)}"
    spec.check("AEAD-6", seen, sent="gcm(aes) AAD 16 + PT 64, read of 64 bytes (room for 32 of CT)")


@pytest.mark.clause("AEAD-7")
@pytest.mark.parametrize("alg", AEADS, ids=lambda a: a.name)
def test_authsize_rules(spec, alg_socket, kat, alg):
    tfm = alg_socket("aead", alg.name)
    key = _key(alg)
    tfm.setkey(key)
    for size in range(0, alg.max_authsize + 2):
        want = "ok" if size in alg.authsizes else "EINVAL"
        _r, tok = outcome(tfm.set_authsize, size)
        if tok != want:
            kat.case(f"authsize={size}", "fail", f"setsockopt: expected {want}, seen {tok}")
            continue
        if tok != "ok":
            kat.case(f"authsize={size}", "pass", "rejected")
            continue
        iv, pt = aead_iv(alg), aead_pt(alg, 32)
        aad = aead_aad(alg, iv)
        with tfm.accept() as op:
            out = _encrypt(op, iv, aad, pt, size)
        ok = out == aad + alg.oracle(key, iv, aad, pt, size, True)
        kat.case(f"authsize={size}", "pass" if ok else "fail", "" if ok else "tag/output differs from reference")
    spec.check("AEAD-7", kat.counts["fail"], expected="0", sent=f"{alg.name}: authsize 0..{alg.max_authsize + 1}")


@pytest.mark.clause("AEAD-8")
@pytest.mark.parametrize("alg", AEADS, ids=lambda a: a.name)
def test_default_authsize_is_max(spec, alg_socket, alg):
    key, iv, aad, pt, a, ref = _case(alg)
    with _op(alg_socket, alg, key) as op:          # no ALG_SET_AEAD_AUTHSIZE
        op.request(aad + pt, ENC, iv, len(aad))
        out, tok = outcome(op.recv_exact, len(aad) + len(pt) + a)
    if tok != "ok":
        seen = tok
    else:
        seen = "maxauthsize" if out == aad + ref else "other"
    spec.check("AEAD-8", seen, sent=f"{alg.name}: encrypt without setting authsize (max {a})")


@pytest.mark.clause("AEAD-9")
@pytest.mark.parametrize("alg", AEADS, ids=lambda a: a.name)
def test_decrypt_output_has_aad(spec, alg_socket, alg):
    key, iv, aad, pt, a, ref = _case(alg)
    with _op(alg_socket, alg, key, a) as op:
        op.request(aad + ref, DEC, iv, len(aad))
        with deadline(10.0, "recv"):
            out = op.recv(len(aad) + len(pt))
    if out == aad + pt:
        seen = "aad-prefixed"
    elif out[:len(pt)] == pt:
        seen = "plaintext-only"
    else:
        seen = "other"
    spec.check("AEAD-9", seen, sent=f"{alg.name}: decrypt, read of assoclen + len(PT) = {len(out)} bytes")


@pytest.mark.clause("AEAD-10")
@pytest.mark.parametrize("alg", [GCM, AUTHENC], ids=lambda a: a.name)
def test_iv_not_chained(spec, alg_socket, alg):
    key, iv, aad, pt, a, ref = _case(alg)
    with _op(alg_socket, alg, key, a) as op:
        first = _encrypt(op, iv, aad, pt, a)
        op.request(aad + pt, ENC, None, len(aad))       # no ALG_SET_IV
        second = op.recv_exact(len(first))
    assert first == aad + ref, "first request disagrees with the reference"
    spec.check("AEAD-10", "same-iv" if second == first else "chained",
               sent=f"{alg.name}: two encrypt requests, the second without ALG_SET_IV")


@pytest.mark.clause("AEAD-11")
def test_separate_ad_socket_is_not_aad(spec, alg_socket):
    key, iv, ad, pt = os.urandom(16), os.urandom(12), os.urandom(16), os.urandom(32)
    tfm = alg_socket("aead", GCM.name)
    tfm.setkey(key)
    tfm.set_authsize(16)
    with tfm.accept() as opfd, tfm.accept() as adfd:
        opfd.request(pt, ENC, iv, 0)
        adfd.send(ad)                                  # the proposal's write(adfd, ad, adlen)
        out = opfd.recv_exact(len(pt) + 16)
    if out == GCM.oracle(key, iv, b"", pt, 16, True):
        seen = "independent"
    elif out == GCM.oracle(key, iv, ad, pt, 16, True):
        seen = "separate-ad-socket"
    else:
        seen = "other"
    spec.check("AEAD-11", seen, sent="opfd: plaintext; adfd (second accept): AAD; read opfd")
    # The merged interface: the same AAD inline with ALG_SET_AEAD_ASSOCLEN.
    with tfm.accept() as op:
        inline = _encrypt(op, iv, ad, pt, 16)
    spec.check("AEAD-11", inline, ad + GCM.oracle(key, iv, ad, pt, 16, True),
               sent="inline AAD with ALG_SET_AEAD_ASSOCLEN")


@pytest.mark.clause("AEAD-12")
def test_assoclen_reset_by_later_cmsg(spec, alg_socket):
    key, iv, aad, pt = os.urandom(16), os.urandom(12), os.urandom(16), os.urandom(32)
    with _op(alg_socket, GCM, key, 16) as op:
        op.request(aad, ENC, iv, len(aad), flags=MSG_MORE)
        op.request(pt, ENC)                            # control data: OP only
        out = op.recv_exact(len(aad) + len(pt) + 16)
    if out == GCM.oracle(key, iv, b"", aad + pt, 16, True):
        seen = "reset"
    elif out == aad + GCM.oracle(key, iv, aad, pt, 16, True):
        seen = "kept"
    else:
        seen = "other"
    spec.check("AEAD-12", seen, sent="part 1: AAD + OP/IV/ASSOCLEN + MSG_MORE; part 2: PT + OP only")


@pytest.mark.clause("AEAD-13")
def test_assoclen_kept_without_control_data(spec, alg_socket):
    key, iv, aad, pt = os.urandom(16), os.urandom(12), os.urandom(16), os.urandom(32)
    with _op(alg_socket, GCM, key, 16) as op:
        op.request(aad, ENC, iv, len(aad), flags=MSG_MORE)
        op.send(pt)                                    # no control data
        out = op.recv_exact(len(aad) + len(pt) + 16)
    if out == aad + GCM.oracle(key, iv, aad, pt, 16, True):
        seen = "kept"
    elif out == GCM.oracle(key, iv, b"", aad + pt, 16, True):
        seen = "reset"
    else:
        seen = "other"
    spec.check("AEAD-13", seen, sent="part 1: AAD + OP/IV/ASSOCLEN + MSG_MORE; part 2: PT, no control data")


@pytest.mark.clause("AEAD-14")
def test_copy_fail_spliced_file_unchanged(spec, alg_socket, tmp_owned):
    name = "authencesn(hmac(sha256),cbc(aes))"
    tfm = alg_socket("aead", name)
    tfm.setkey(algorithms.authenc_key(os.urandom(32), os.urandom(16)))
    tfm.set_authsize(4)
    content = os.urandom(4096)
    path = tmp_owned / "copyfail-target.bin"       # created here, owned by this test only
    path.write_bytes(content)
    req_len = 8 + 64 + 4
    iv = os.urandom(16)
    fd = os.open(path, os.O_RDONLY)
    r, w = os.pipe()
    try:
        with tfm.accept() as op:
            op.request(b"", DEC, iv, 8, flags=MSG_MORE)
            with deadline(10.0, "splice"):
                n_in = os.splice(fd, w, req_len, offset_src=0)
                assert n_in == req_len
                n = os.splice(r, op.fileno(), req_len)
            assert n == req_len, f"spliced {n} of {req_len}"   # no SPLICE_F_MORE: request ends
            _out, tok = outcome(op.recv_exact, 8 + 64)
    finally:
        os.close(r)
        os.close(w)
        os.close(fd)
    after = path.read_bytes()
    spec.observe("AEAD-14", tok, sent=f"{name} authsize 4 decrypt of spliced file bytes")
    spec.check("AEAD-14", "unchanged" if after == content else "modified",
               sent="the spliced temp file's bytes after the decrypt",
               note="" if after == content else f"first diff at {next(i for i in range(4096) if after[i] != content[i])}")


@pytest.mark.clause("AEAD-15")
@pytest.mark.parametrize("assoclen", [8, 12, 16, 20, 24])
def test_rfc4106_assoclen(spec, alg_socket, assoclen):
    key, iv, pt = _key(RFC4106), os.urandom(8), os.urandom(32)
    aad = os.urandom(assoclen - 8) + iv
    with _op(alg_socket, RFC4106, key, 16) as op:
        op.request(aad + pt, ENC, iv, assoclen)
        out, tok = recv_token(op, len(aad) + len(pt) + 16)
    if assoclen in RFC4106.assoclen_fixed:
        spec.check("AEAD-15", out, aad + RFC4106.oracle(key, iv, aad, pt, 16, True),
                   sent=f"rfc4106 assoclen {assoclen}")
    else:
        spec.check("AEAD-15", tok, sent=f"rfc4106 assoclen {assoclen}")


@pytest.mark.clause("AEAD-16")
def test_tail_after_prefix_read_is_next_request(spec, alg_socket):
    key, iv, aad, pt = os.urandom(16), os.urandom(12), os.urandom(16), os.urandom(64)
    with _op(alg_socket, GCM, key, 16) as op:
        op.request(aad + pt, ENC, iv, 16)
        first = op.recv_exact(16 + 32 + 16)
        assert first == aad + GCM.oracle(key, iv, aad, pt[:32], 16, True), "prefix read (AEAD-6) differs"
        tail, tok = recv_token(op, 16 + 16 + 16, MSG_DONTWAIT)
    if tok != "ok":
        seen = tok
    elif tail == pt[32:48] + GCM.oracle(key, iv, pt[32:48], pt[48:], 16, True):
        seen = "next-request"
    else:
        seen = f"other:{len(tail)}"
    spec.check("AEAD-16", seen, sent="gcm(aes) AAD 16 + PT 64: read 64 (prefix), then read 48 (MSG_DONTWAIT)")


@pytest.mark.clause("AEAD-17")
@pytest.mark.parametrize("alg", [GCM, AUTHENC], ids=lambda a: a.name)
def test_empty_final_send_ends_request(spec, alg_socket, alg):
    key, iv, aad, pt, a, ref = _case(alg)
    iv2 = aead_iv(alg)
    aad2, pt2 = aead_aad(alg, iv2), aead_pt(alg, 32)
    ct2 = alg.oracle(key, iv2, aad2, pt2, a, True)  # what the next request decrypts
    with _op(alg_socket, alg, key, a) as op:
        op.request(aad + pt, ENC, iv, len(aad), flags=MSG_MORE)
        spec.check("AEAD-17", op.send(b""), 0, sent=f"{alg.name}: send(AAD||PT, MORE); send(''): returns 0",
                   soft=True)
        out, tok = recv_token(op, len(aad) + len(pt) + a + 64, MSG_DONTWAIT)
        spec.check("AEAD-17", (out or b"").hex() or tok, (aad + ref).hex(),
                   sent=f"{alg.name}: send(AAD||PT, MORE); send(''); recv(room to spare, MSG_DONTWAIT) == AAD||CT||tag", soft=True)
        _d, tok = recv_token(op, 16, MSG_DONTWAIT)
        spec.check("AEAD-17", tok, "EAGAIN", sent=f"{alg.name}: nothing left after that read", soft=True)
        # the next request starts fresh: its own ALG_SET_OP (decrypt), IV and assoclen
        op.request(aad2 + ct2, DEC, iv2, len(aad2))
        out, tok = outcome(op.recv_exact, len(aad2) + len(pt2))
        spec.check("AEAD-17", (out or b"").hex() or tok, (aad2 + pt2).hex(),
                   sent=f"{alg.name}: the next request (DEC, its own IV) gives AAD||PT", soft=True)
    with _op(alg_socket, alg, key, a) as op:
        op.request(aad + pt, ENC, iv, len(aad), flags=MSG_MORE)
        op.send(b"")
        _r, tok = outcome(op.send, pt)
        spec.check("AEAD-17", tok, "EINVAL", sent=f"{alg.name}: send(AAD||PT, MORE); send(''); send(x) before reading",
                   soft=True)
        out, tok = recv_token(op, len(aad) + len(pt) + a + 64, MSG_DONTWAIT)
        spec.check("AEAD-17", (out or b"").hex() or tok, (aad + ref).hex(),
                   sent=f"{alg.name}: the refused send added nothing: the read is AAD||CT||tag")


@pytest.mark.clause("AEAD-20")
@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_recv_fault_consumes_nothing(spec, alg_socket, direction):
    key, iv, aad, pt, a, ct = _case(GCM, 16)
    with _op(alg_socket, GCM, key, a) as op, ForbiddenPage(readable=True) as bad:
        if direction == "encrypt":
            op.request(aad + pt, ENC, iv, len(aad))
            n, want = len(aad) + len(pt) + a, aad + ct
        else:
            op.request(aad + ct, DEC, iv, len(aad))
            n, want = len(aad) + len(pt), aad + pt
        spec.check("AEAD-20", bad.recv(op, n, MSG_DONTWAIT), expected="EFAULT",
                   sent=f"gcm(aes) {direction} request; recv({n}) into a read-only page", soft=True)
        out, tok = recv_token(op, n, MSG_DONTWAIT)
        spec.check("AEAD-20", out.hex() or tok, want.hex(),
                   sent=f"then recv({n}) into our buffer: the whole request's output")


@pytest.mark.clause("AEAD-21")
@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_recv_without_option_memory_consumes_nothing(spec, alg_socket, private_netns, direction):
    key = _key(GCM)
    tfm = alg_socket("aead", GCM.name)           # made inside the namespace: its op sockets are too
    tfm.setkey(key)
    tfm.set_authsize(16)

    def case(size, label):
        iv, aad, pt = aead_iv(GCM), os.urandom(16), os.urandom(size)
        ct = GCM.oracle(key, iv, aad, pt, 16, True)
        if direction == "encrypt":
            sent, n, want = aad + pt, len(aad) + len(pt) + 16, aad + ct
        else:
            sent, n, want = aad + ct, len(aad) + len(pt), aad + pt

        def start():
            op = tfm.accept()
            op.request(sent, ENC if direction == "encrypt" else DEC, iv, len(aad))
            return op
        return start, n, want, label
    recv_without_optmem(spec, "AEAD-21", private_netns, [case(48, "16 + 48 bytes (1 TX page)"),
                                                         case(4096, "16 + 4096 bytes (2 TX pages)")],
                        f"gcm(aes) {direction} request")
