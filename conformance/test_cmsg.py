"""sendmsg control messages: error paths and which settings a request uses (CMSG, spec/cmsg.toml).

Malformed messages go through AfalgSocket.sendmsg_raw with bytes laid out by
harness.afalg.cmsg; every error row uses a fresh op socket, so a row that is wrongly
accepted cannot leave data queued for the next one.
"""

from __future__ import annotations

import os
import socket
import struct

import pytest

from afalg_conformance.conformance import _util_socket as us
from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg import cmsg as cm
from afalg_conformance.harness.afalg.client import AfalgSocket
from afalg_conformance.conformance.conftest import bind_focused
from afalg_conformance.harness.afalg.constants import SOL_ALG, AlgOp, AlgOpt

ENC, DEC = AlgOp.ENCRYPT, AlgOp.DECRYPT
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
IV1 = bytes(range(16, 32))
IV2 = bytes(range(32, 48))
GIV1, GIV2 = b"\x11" * 12, b"\x22" * 12
DATA = bytes(range(48))          # three AES blocks
U32 = lambda v: struct.pack("=I", v & 0xFFFFFFFF)   # noqa: E731

ECB = algorithms.get("ecb(aes)")
CBC = algorithms.get("cbc(aes)")
GCM = algorithms.get("gcm(aes)")


@pytest.fixture
def tfms(alg_socket):
    """Keyed tfm sockets for ecb(aes), cbc(aes) and gcm(aes) (authsize 16)."""
    out = {}
    for t, n in (("skcipher", "ecb(aes)"), ("skcipher", "cbc(aes)"), ("aead", "gcm(aes)")):
        s = alg_socket(t, n)
        s.setkey(KEY)
        if t == "aead":
            s.set_authsize(16)
        out[n] = s
    return out


def _raw_token(tfm: AfalgSocket, control: bytes | None, data: bytes = DATA, controllen: int | None = None) -> str:
    with tfm.accept() as op:
        return us.outcome(op.sendmsg_raw, [data], control, 0, controllen)[1]


def _rows(spec, clause, tfms, cases, names=("cbc(aes)", "gcm(aes)")):
    for name in names:
        for what, ctl, controllen in cases:
            tok = _raw_token(tfms[name], ctl, controllen=controllen)
            spec.check(clause, tok, sent=f"{name}: {what}", soft=True)


def _valid(name: str) -> list[cm.Cmsg]:
    """The control messages of a valid encrypt request for name (to pair with a bad one)."""
    if name == "gcm(aes)":
        return [cm.op(ENC), cm.iv(GIV1), cm.assoclen(16)]
    if name == "cbc(aes)":
        return [cm.op(ENC), cm.iv(IV1)]
    return [cm.op(ENC)]


def _enc(name: str, data: bytes, iv: bytes | None = None, assoclen: int = 0) -> bytes:
    if name == "ecb(aes)":
        return ECB.oracle(KEY, None, data, True)
    if name == "cbc(aes)":
        return CBC.oracle(KEY, iv, data, True)
    return data[:assoclen] + GCM.oracle(KEY, iv, data[:assoclen], data[assoclen:], 16, True)


# -- error paths ------------------------------------------------------------------------------------

@pytest.mark.clause("CMSG-1", "CMSG-2")
def test_cmsg_header_checks(spec, tfms):
    op1 = U32(ENC)
    cases = []
    for ln in (0, 8, 15):
        cases.append((f"SOL_ALG OP with cmsg_len {ln}", cm.build_control([cm.raw(SOL_ALG, AlgOpt.SET_OP, op1, ln)]),
                      None))
        cases.append((f"SOL_SOCKET cmsg with cmsg_len {ln}",
                      cm.build_control([cm.raw(socket.SOL_SOCKET, 1, op1, ln)]), None))
        cases.append((f"valid OP, then a cmsg with cmsg_len {ln}",
                      cm.build_control([cm.op(ENC), cm.raw(SOL_ALG, AlgOpt.SET_IV, U32(0), ln)]), None))
    _rows(spec, "CMSG-1", tfms, cases)
    iv_msg = cm.iv(IV1).encode()
    cases = [("OP with cmsg_len 100 in a 24-byte buffer",
              cm.build_control([cm.raw(SOL_ALG, AlgOpt.SET_OP, op1, 100)]), None),
             ("IV cmsg (cmsg_len 36), msg_controllen 32", iv_msg, 32),
             ("OP cmsg (cmsg_len 20), msg_controllen 19", cm.op(ENC).encode(), 19)]
    _rows(spec, "CMSG-2", tfms, cases, names=("cbc(aes)",))


@pytest.mark.clause("CMSG-4", "CMSG-5")
def test_cmsg_types(spec, tfms):
    cases = [(f"SOL_ALG type {t:#x}", cm.build_control(_valid("cbc(aes)") + [cm.raw(SOL_ALG, t, U32(1))]), None)
             for t in (0, 8, 100, 0xFFFFFFFF)]
    _rows(spec, "CMSG-4", tfms, cases, names=("cbc(aes)",))
    cases = [(f"SOL_ALG type {t:#x}", cm.build_control(_valid("gcm(aes)") + [cm.raw(SOL_ALG, t, U32(1))]), None)
             for t in (0, 8, 100, 0xFFFFFFFF)]
    _rows(spec, "CMSG-4", tfms, cases, names=("gcm(aes)",))
    for name in ("cbc(aes)", "gcm(aes)"):
        cases = [("ALG_SET_KEY as cmsg (16-byte key)",
                  cm.build_control(_valid(name) + [cm.raw(SOL_ALG, AlgOpt.SET_KEY, KEY)]), None)]
        for t in (AlgOpt.SET_AEAD_AUTHSIZE, AlgOpt.SET_DRBG_ENTROPY, AlgOpt.SET_KEY_BY_KEY_SERIAL):
            cases.append((f"{t.name} as cmsg", cm.build_control(_valid(name) + [cm.raw(SOL_ALG, t, U32(16))]), None))
        _rows(spec, "CMSG-5", tfms, cases, names=(name,))


@pytest.mark.clause("CMSG-6", "CMSG-7", "CMSG-8")
def test_cmsg_iv(spec, tfms):
    for name, good_iv in (("cbc(aes)", IV1), ("gcm(aes)", GIV1)):
        base = [cm.op(ENC)] + ([cm.assoclen(16)] if name == "gcm(aes)" else [])
        cases = [("IV cmsg with 2 data bytes (no full ivlen)",
                  cm.build_control(base + [cm.raw(SOL_ALG, AlgOpt.SET_IV, b"\x10\x00")]), None),
                 (f"ivlen {len(good_iv)} with 8 IV bytes", cm.build_control(base + [cm.iv(good_iv[:8], len(good_iv))]),
                  None),
                 ("ivlen 0xffffffff with 16 IV bytes", cm.build_control(base + [cm.iv(IV1, 0xFFFFFFFF)]), None),
                 ("ivlen 0x7fffffff with 16 IV bytes", cm.build_control(base + [cm.iv(IV1, 0x7FFFFFFF)]), None)]
        _rows(spec, "CMSG-6", tfms, cases, names=(name,))
    wrong = {"cbc(aes)": (0, 8, 15, 17, 32), "gcm(aes)": (0, 8, 16), "ecb(aes)": (1, 16)}
    for name, lens in wrong.items():
        base = [cm.op(ENC)] + ([cm.assoclen(16)] if name == "gcm(aes)" else [])
        cases = [(f"honest IV cmsg with ivlen {n}", cm.build_control(base + [cm.iv(bytes(n))]), None) for n in lens]
        _rows(spec, "CMSG-7", tfms, cases, names=(name,))
    # Longer than CMSG_LEN(4 + ivlen): the tail is ignored.
    tfm = tfms["cbc(aes)"]
    with tfm.accept() as op:
        ctl = cm.build_control([cm.op(ENC), cm.raw(SOL_ALG, AlgOpt.SET_IV, U32(16) + IV1 + b"\xee" * 8)])
        tok = us.outcome(op.sendmsg_raw, [DATA], ctl)[1]
        spec.check("CMSG-8", tok, sent="cbc(aes): ivlen 16 + 16 IV bytes + 8 extra bytes", soft=True)
        if tok == "ok":
            spec.check("CMSG-8", op.recv_exact(len(DATA)), _enc("cbc(aes)", DATA, IV1),
                       sent="output uses the first 16 bytes as IV", soft=True)
    with tfms["ecb(aes)"].accept() as op:
        tok = us.outcome(op.send, DATA, 0, [cm.op(ENC), cm.iv(b"")])[1]
        spec.check("CMSG-8", tok, sent="ecb(aes): IV cmsg with ivlen 0", soft=True)
        if tok == "ok":
            spec.check("CMSG-8", op.recv_exact(len(DATA)), _enc("ecb(aes)", DATA), sent="ecb output")


@pytest.mark.clause("CMSG-9", "CMSG-10", "CMSG-11")
def test_cmsg_op_and_assoclen(spec, tfms):
    for name in ("cbc(aes)", "gcm(aes)"):
        iv = [cm.iv(IV1 if name == "cbc(aes)" else GIV1)]
        cases = []
        for n in (0, 1, 2):
            cases.append((f"OP with {n} data bytes", cm.build_control([cm.raw(SOL_ALG, AlgOpt.SET_OP, b"\1" * n)] + iv),
                          None))
            cases.append((f"ASSOCLEN with {n} data bytes",
                          cm.build_control([cm.op(ENC)] + iv + [cm.raw(SOL_ALG, AlgOpt.SET_AEAD_ASSOCLEN, b"\0" * n)]),
                          None))
        _rows(spec, "CMSG-9", tfms, cases, names=(name,))
        cases = [(f"OP {v:#x}", cm.build_control([cm.op(v)] + iv), None) for v in (2, 3, 0x100, 0xFFFFFFFF)]
        _rows(spec, "CMSG-10", tfms, cases, names=(name,))
        cases = [(f"ASSOCLEN {v:#x}", cm.build_control([cm.op(ENC)] + iv + [cm.assoclen(v)]), None)
                 for v in (0x80000000, 0x80000001, 0xFFFFFFFF)]
        _rows(spec, "CMSG-11", tfms, cases, names=(name,))


@pytest.mark.clause("CMSG-12")
def test_cmsg_buffer_limits(spec, tfms):
    with open("/proc/sys/net/core/optmem_max") as f:
        optmem = int(f.read())
    ctl = cm.build_control([cm.op(ENC), cm.iv(IV1)])
    for name in ("cbc(aes)",):
        tok = _raw_token(tfms[name], ctl, controllen=0x80000000)
        spec.check("CMSG-12", tok, sent=f"{name}: msg_controllen 0x80000000 (> INT_MAX)", soft=True)
        big = ctl + bytes(optmem - len(ctl))
        tok = _raw_token(tfms[name], big)
        spec.check("CMSG-12", tok, sent=f"{name}: control buffer of optmem_max = {optmem} bytes", soft=True)
    with bind_focused("hash", "sha256") as h:
        tok = _raw_token(h, ctl + bytes(optmem - len(ctl)))
        spec.check("CMSG-12", tok, sent=f"sha256: control buffer of optmem_max = {optmem} bytes")


# -- which settings a request uses ------------------------------------------------------------------

def _verdict(out: bytes, table: dict[str, bytes]) -> str:
    for word, want in table.items():
        if out == want:
            return word
    return f"other:{out[:16].hex()}"


@pytest.mark.clause("CMSG-13")
def test_last_cmsg_wins(spec, tfms):
    with tfms["cbc(aes)"].accept() as op:
        op.send(DATA, 0, [cm.op(ENC), cm.iv(IV1), cm.iv(IV2)])
        out = op.recv_exact(len(DATA))
        spec.check("CMSG-13", _verdict(out, {"last-wins": _enc("cbc(aes)", DATA, IV2),
                                             "first-wins": _enc("cbc(aes)", DATA, IV1)}),
                   sent="cbc(aes): OP=enc, IV1, IV2", soft=True)
        op.send(DATA, 0, [cm.op(ENC), cm.op(DEC), cm.iv(IV1)])
        out = op.recv_exact(len(DATA))
        spec.check("CMSG-13", _verdict(out, {"last-wins": CBC.oracle(KEY, IV1, DATA, False),
                                             "first-wins": _enc("cbc(aes)", DATA, IV1)}),
                   sent="cbc(aes): OP=enc, OP=dec, IV1", soft=True)
    with tfms["gcm(aes)"].accept() as op:
        op.send(DATA, 0, [cm.op(ENC), cm.iv(GIV1), cm.assoclen(8), cm.assoclen(16)])
        out = op.recv_exact(len(DATA) + 16)
        spec.check("CMSG-13", _verdict(out, {"last-wins": _enc("gcm(aes)", DATA, GIV1, 16),
                                             "first-wins": _enc("gcm(aes)", DATA, GIV1, 8)}),
                   sent="gcm(aes): ASSOCLEN 8 then 16")


@pytest.mark.clause("CMSG-3", "CMSG-14", "CMSG-21")
def test_control_data_resets_op(spec, tfms):
    dec = ECB.oracle(KEY, None, DATA, False)
    enc = _enc("ecb(aes)", DATA)
    r, w = os.pipe()
    try:
        with tfms["ecb(aes)"].accept() as op:
            variants = [
                ("only an SCM_RIGHTS (SOL_SOCKET) cmsg", cm.build_control([cm.raw(socket.SOL_SOCKET, 1,
                                                                                  struct.pack("=i", r))]), None),
                ("only a level-0 type-0 cmsg", cm.build_control([cm.raw(0, 0, U32(0))]), None),
                ("msg_controllen 8 (no room for a header)", b"\0" * 8, None),
                ("an IV cmsg with ivlen 0 only", cm.build_control([cm.iv(b"")]), None),
            ]
            for what, ctl, clen in variants:
                op.send(DATA, 0, [cm.op(ENC)])
                assert op.recv_exact(len(DATA)) == enc
                tok = us.outcome(op.sendmsg_raw, [DATA], ctl, 0, clen)[1]
                out = op.recv_exact(len(DATA)) if tok == "ok" else b""
                spec.check("CMSG-14", _verdict(out, {"decrypt": dec, "encrypt": enc}) if tok == "ok" else tok,
                           sent=f"ecb(aes): request 1 OP=enc; request 2 with {what}", soft=True)
            # CMSG-3: non-SOL_ALG messages beside real ones are skipped
            ctl = cm.build_control([cm.raw(socket.SOL_SOCKET, 1, struct.pack("=i", r)), cm.raw(0, 0, U32(0)),
                                    cm.op(ENC), cm.raw(6, 1, U32(1))])
            tok = us.outcome(op.sendmsg_raw, [DATA], ctl)[1]
            spec.check("CMSG-3", tok, sent="ecb(aes): SCM_RIGHTS, level 0, SOL_TCP cmsgs around OP=enc", soft=True)
            if tok == "ok":
                spec.check("CMSG-3", op.recv_exact(len(DATA)), enc, sent="output is the encryption", soft=True)
            # CMSG-21: a tail too short for a header
            tok = us.outcome(op.sendmsg_raw, [DATA], cm.build_control([cm.op(ENC)], trailer=b"\xff" * 8))[1]
            spec.check("CMSG-21", tok, sent="ecb(aes): OP=enc + 8 trailing junk bytes", soft=True)
            if tok == "ok":
                spec.check("CMSG-21", op.recv_exact(len(DATA)), enc, sent="output is the encryption", soft=True)
    finally:
        os.close(r)
        os.close(w)
    with tfms["cbc(aes)"].accept() as op:
        op.send(DATA, 0, [cm.op(ENC), cm.iv(IV1)])
        op.recv_exact(len(DATA))
        op.send(DATA, 0, [cm.iv(IV2)])
        out = op.recv_exact(len(DATA))
        spec.check("CMSG-14", _verdict(out, {"decrypt": CBC.oracle(KEY, IV2, DATA, False),
                                             "encrypt": _enc("cbc(aes)", DATA, IV2)}),
                   sent="cbc(aes): request 1 OP=enc; request 2 with only an IV")


@pytest.mark.clause("CMSG-15", "CMSG-16", "CMSG-17")
def test_settings_carried_between_requests(spec, tfms):
    aad = b"A" * 16
    with tfms["gcm(aes)"].accept() as op:
        op.send(aad + DATA, 0, [cm.op(ENC), cm.iv(GIV1), cm.assoclen(16)])
        assert op.recv_exact(16 + len(DATA) + 16) == _enc("gcm(aes)", aad + DATA, GIV1, 16)
        # CMSG-15: control data without ASSOCLEN -> assoclen 0
        op.send(aad + DATA, 0, [cm.op(ENC), cm.iv(GIV1)])
        out = op.recv_exact(16 + len(DATA) + 16)
        spec.check("CMSG-15", _verdict(out, {"assoclen-0": _enc("gcm(aes)", aad + DATA, GIV1, 0),
                                             "assoclen-kept": _enc("gcm(aes)", aad + DATA, GIV1, 16)}),
                   sent="gcm(aes): request 1 assoclen 16; request 2 OP+IV only", soft=True)
        # CMSG-17: control data without IV keeps the IV
        op.send(aad + DATA, 0, [cm.op(ENC), cm.iv(GIV2), cm.assoclen(16)])
        op.recv_exact(16 + len(DATA) + 16)
        op.send(aad + DATA, 0, [cm.op(ENC), cm.assoclen(16)])
        out = op.recv_exact(16 + len(DATA) + 16)
        spec.check("CMSG-17", _verdict(out, {"kept": _enc("gcm(aes)", aad + DATA, GIV2, 16),
                                             "zeroed": _enc("gcm(aes)", aad + DATA, b"\0" * 12, 16)}),
                   sent="gcm(aes): request 1 IV2; request 2 OP+ASSOCLEN only", soft=True)
        # CMSG-16: no control data keeps op, IV and assoclen
        op.send(aad + DATA)
        out = op.recv_exact(16 + len(DATA) + 16)
        spec.check("CMSG-16", _verdict(out, {"kept": _enc("gcm(aes)", aad + DATA, GIV2, 16)}),
                   sent="gcm(aes): request 3 without control data (IV2, assoclen 16, encrypt kept)", soft=True)
    with tfms["ecb(aes)"].accept() as op:
        op.send(DATA, 0, [cm.op(ENC)])
        op.recv_exact(len(DATA))
        op.send(DATA)
        out = op.recv_exact(len(DATA))
        spec.check("CMSG-16", _verdict(out, {"kept": _enc("ecb(aes)", DATA),
                                             "decrypt": ECB.oracle(KEY, None, DATA, False)}),
                   sent="ecb(aes): request 1 OP=enc; request 2 without control data")


@pytest.mark.clause("CMSG-18", "CMSG-19", "CMSG-10")
def test_parse_error_and_fresh_defaults(spec, tfms):
    enc = _enc("ecb(aes)", DATA)
    with tfms["ecb(aes)"].accept() as op:
        op.send(DATA, 0, [cm.op(ENC)])
        op.recv_exact(len(DATA))
        tok = us.outcome(op.send, b"\xaa" * 32, 0, [cm.op(2)])[1]
        spec.check("CMSG-10", tok, sent="ecb(aes): OP=2 with 32 data bytes", soft=True)
        op.send(DATA)
        out = op.recv_exact(len(DATA))
        spec.check("CMSG-18", _verdict(out, {"unchanged": enc, "decrypt": ECB.oracle(KEY, None, DATA, False)}),
                   sent="after the rejected send: plain send of 48 bytes", soft=True)
    with tfms["cbc(aes)"].accept() as op:
        op.send(DATA)
        out = op.recv_exact(len(DATA))
        spec.check("CMSG-19", _verdict(out, {"decrypt-zero-iv": CBC.oracle(KEY, b"\0" * 16, DATA, False),
                                             "encrypt-zero-iv": _enc("cbc(aes)", DATA, b"\0" * 16)}),
                   sent="cbc(aes): first request on a fresh op socket, no control data")


@pytest.mark.clause("CMSG-20")
def test_hash_ignores_control(spec, alg_socket):
    tfm = alg_socket("hash", "sha256")
    want = us.oracle("sha256", DATA)
    for what, ctl in (("cmsg_len 0", cm.build_control([cm.raw(SOL_ALG, AlgOpt.SET_OP, U32(1), 0)])),
                      ("SOL_ALG OP=7", cm.build_control([cm.op(7)])),
                      ("SOL_ALG type 100", cm.build_control([cm.raw(SOL_ALG, 100, U32(0))]))):
        with tfm.accept() as op:
            n, tok = us.outcome(op.sendmsg_raw, [DATA], ctl)
            seen = tok
            if tok == "ok":
                seen = "ignored" if (n == len(DATA) and op.recv(32) == want) else "wrong-digest"
            spec.check("CMSG-20", seen, sent=f"sha256 send with {what}", soft=True)
