"""Socket types, bind, accept, listen, nokey op sockets (SOCK clauses, spec/sock.toml)."""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import select
import socket
import struct
import subprocess
import threading
import time

import pytest

from afalg_conformance.conformance import _util_socket as us
from afalg_conformance.harness.afalg import restrict
from afalg_conformance.harness.afalg.client import AfalgSocket, sockaddr_alg
from afalg_conformance.harness.afalg.constants import (AF_ALG, MSG_MORE, SOCK_SEQPACKET, SOL_ALG, AlgOp, AlgOpt)

from afalg_conformance.conformance.conftest import bind_focused, bind_or_skip

H = bytes.fromhex
AES_KEY = H("2b7e151628aed2a6abf7158809cf4f3c")


def _bind_token(addr: bytes, addrlen: int | None = None) -> str:
    with AfalgSocket.new() as s:
        return us.outcome(s.bind_raw, addr, addrlen)[1]


def _sha_digest(tfm: AfalgSocket, data: bytes, n: int = 64) -> bytes:
    with tfm.accept() as op:
        op.send(data)
        return op.recv(n)


# -- socket() ---------------------------------------------------------------------------------

@pytest.mark.clause("SOCK-1", "SOCK-2", "SOCK-3")
def test_socket_types_and_protocols(spec):
    for name, typ in (("SOCK_STREAM", socket.SOCK_STREAM), ("SOCK_DGRAM", socket.SOCK_DGRAM),
                      ("SOCK_RAW", socket.SOCK_RAW), ("SOCK_RDM", socket.SOCK_RDM)):
        s, tok = us.outcome(socket.socket, AF_ALG, typ, 0)
        if s:
            s.close()
        spec.check("SOCK-1", tok, sent=f"socket(AF_ALG, {name}, 0)", soft=True)
    for proto in (1, 6, 255, -1):
        fd, tok = us.outcome(us.socket_raw, AF_ALG, SOCK_SEQPACKET, proto)
        if fd is not None:
            os.close(fd)
        spec.check("SOCK-2", tok, sent=f"socket(AF_ALG, SOCK_SEQPACKET, {proto})", soft=True)
    s, tok = us.outcome(socket.socket, AF_ALG, SOCK_SEQPACKET | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0)
    seen = tok
    if s is not None:
        nonblock = bool(fcntl.fcntl(s.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK)
        cloexec = bool(fcntl.fcntl(s.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
        seen = "ok" if (nonblock and cloexec) else f"flags-lost(nonblock={nonblock},cloexec={cloexec})"
        s.close()
    spec.check("SOCK-3", seen, sent="socket(AF_ALG, SOCK_SEQPACKET|SOCK_NONBLOCK|SOCK_CLOEXEC, 0)")


# -- bind() -----------------------------------------------------------------------------------

@pytest.mark.serial        # bind('hash', '') races with another worker's template instance (SOCK-28)
@pytest.mark.clause("SOCK-4", "SOCK-5", "SOCK-6", "SOCK-7", "SOCK-8", "SOCK-10")
def test_bind_checks(spec):
    good = sockaddr_alg("hash", "sha256")
    # The control case first: if this fails, nothing below means anything.
    assert _bind_token(good) == "ok", "bind('hash','sha256') must work"
    for n in (0, 2, 16, 24):
        spec.check("SOCK-4", _bind_token(good[:max(n, 1)] + b"\0" * 64, n), sent=f"bind sha256 addrlen {n}",
                   soft=True)
    for n in (129, 4096):
        spec.check("SOCK-4", _bind_token(good + b"\0" * (n - len(good)), n), sent=f"bind sha256 addrlen {n}",
                   soft=True)
    for field, val in (("feat", 1), ("feat", 0x2000), ("feat", 0x4000), ("feat", 0x80000000),
                       ("mask", 1), ("mask", 0x2000), ("mask", 0x1001), ("mask", 0xFFFFFFFF)):
        addr = sockaddr_alg("hash", "sha256", **{field: val})
        spec.check("SOCK-5", _bind_token(addr), sent=f"bind sha256 {field}={val:#x}", soft=True)
    for field in ("feat", "mask"):
        # KERN_DRIVER_ONLY alone passes the whitelist; sha256-generic matches either way.
        tok = _bind_token(sockaddr_alg("hash", "sha256", **{field: 0x1000}))
        spec.check("SOCK-5", tok, expected="ok", sent=f"bind sha256 {field}=0x1000 (whitelisted bit)", soft=True)
    # Name truncation by addrlen.
    spec.check("SOCK-6", _bind_token(sockaddr_alg("hash", "sha256", name_len=6)),
               sent="bind sha256, addrlen 30 (no NUL): kernel NULs the last byte -> 'sha25'", soft=True)
    spec.check("SOCK-6", _bind_token(sockaddr_alg("hash", "sha256", name_len=7)), expected="ok",
               sent="bind sha256, addrlen 31 (with NUL)", soft=True)
    spec.check("SOCK-6", _bind_token(sockaddr_alg("hash", "sha2567", name_len=7)), expected="ok",
               sent="bind 'sha2567' (no NUL) with addrlen 31: the '7' is overwritten -> 'sha256'", soft=True)
    for t in ("nosuchtype", "HASH", "akcipher", ""):
        spec.check("SOCK-7", _bind_token(sockaddr_alg(t, "sha256")), sent=f"bind type {t!r}", soft=True)
    for t, n in (("hash", "no-such-alg"), ("skcipher", "nosuchmode(aes)"), ("hash", ""),
                 ("skcipher", "sha256"), ("aead", "sha256"), ("rng", "sha256")):
        spec.check("SOCK-8", _bind_token(sockaddr_alg(t, n)), sent=f"bind {t} {n!r}", soft=True)
    for fam in (0, socket.AF_INET, 0xFFFF):
        addr = sockaddr_alg("hash", "sha256", family=fam)
        with AfalgSocket.new() as s:
            _r, tok = us.outcome(s.bind_raw, addr)
            if tok == "ok":
                s.alg_type, s.alg_name = "hash", "sha256"
                d = _sha_digest(s, b"abc", 32)
                tok = "ok" if d == us.oracle("sha256", b"abc") else "wrong-digest"
        spec.check("SOCK-10", tok, sent=f"bind sha256 with salg_family={fam}", soft=True)


@pytest.mark.clause("SOCK-9")
def test_bind_wrong_type(spec):
    if refused := restrict.refusal("hash", "cbc(aes)"):     # the allowlist check comes first (7.3)
        pytest.skip(refused)
    with AfalgSocket.new() as s:
        tok = us.outcome(s.bind_raw, sockaddr_alg("hash", "cbc(aes)"))[1]
    spec.check("SOCK-9", tok, sent="bind('hash', 'cbc(aes)'): a template asked for the wrong type")


@pytest.mark.clause("SOCK-11", "SOCK-12", "SOCK-8")
def test_rebind(spec):
    with AfalgSocket.bound("hash", "sha256") as tfm:
        tok = us.outcome(tfm.bind, "hash", "sha1")[1]
        spec.check("SOCK-11", tok, sent="rebind sha256 -> sha1 without op sockets", soft=True)
        d = _sha_digest(tfm, b"abc")
        spec.check("SOCK-11", d, us.oracle("sha1", b"abc"), sent="digest after rebind sha256 -> sha1", soft=True)
        tok = us.outcome(tfm.bind, "hash", "no-such-alg")[1]
        spec.check("SOCK-8", tok, sent="failed rebind to 'no-such-alg'", soft=True)
        d = _sha_digest(tfm, b"abc")
        spec.check("SOCK-11", d, us.oracle("sha1", b"abc"), sent="failed rebind keeps sha1", soft=True)
        with tfm.accept() as op:
            spec.check("SOCK-12", us.outcome(tfm.bind, "hash", "sha256")[1],
                       sent="rebind sha256 while an op socket exists", soft=True)
            spec.check("SOCK-8", us.outcome(tfm.bind, "hash", "no-such-alg")[1],
                       sent="rebind 'no-such-alg' while an op socket exists: lookup before EBUSY", soft=True)
            op.send(b"abc")
            spec.check("SOCK-12", op.recv(64), us.oracle("sha1", b"abc"),
                       sent="op socket keeps sha1 after the refused rebind", soft=True)
    # A rebind drops the key: the same keyed algorithm again needs a new key.
    tfm = bind_or_skip("hash", "hmac(sha256)")
    with tfm:
        tfm.setkey(b"k" * 32)
        tfm.bind("hash", "hmac(sha256)")
        with tfm.accept() as op:
            tok = us.outcome(op.send, b"abc")[1]
        spec.check("SOCK-11", tok, expected="ENOKEY",
                   sent="hmac(sha256): setkey, rebind hmac(sha256), accept, send -> ENOKEY (key dropped)")


# -- listen / accept ------------------------------------------------------------------------------

@pytest.mark.clause("SOCK-13", "SOCK-14", "SOCK-15")
def test_listen_and_accept(spec):
    with AfalgSocket.new() as unbound:
        spec.check("SOCK-13", us.outcome(unbound.sock.listen, 0)[1], sent="listen(unbound, 0)", soft=True)
        spec.check("SOCK-14", us.outcome(unbound.accept)[1], sent="accept(unbound)", soft=True)
    with bind_focused("hash", "sha256") as tfm:
        spec.check("SOCK-13", us.outcome(tfm.sock.listen, 0)[1], sent="listen(tfm, 0)", soft=True)
        spec.check("SOCK-13", us.outcome(tfm.sock.listen, 5)[1], sent="listen(tfm, 5)", soft=True)
        # accept without listen works (the proposal calls listen first)
        op, tok = us.outcome(tfm.accept)
        spec.check("SOCK-13", tok, expected="ok", sent="accept(tfm) without listen", soft=True)
        if op:
            spec.check("SOCK-13", us.outcome(op.sock.listen, 0)[1], sent="listen(op, 0)", soft=True)
            op.close()
        _fd, tok = us.outcome(us.accept_with_addr, tfm.fileno())
        if _fd:
            os.close(_fd)
        spec.check("SOCK-15", tok, sent="accept(tfm, &addr, &len)", soft=True)
        # the aborted op socket must not keep the tfm busy
        with bind_focused("hash", "hmac(sha256)") as keyed:
            _fd, tok = us.outcome(us.accept_with_addr, keyed.fileno())
            if _fd:
                os.close(_fd)
            spec.check("SOCK-15", tok, sent="accept(hmac tfm, &addr, &len)", soft=True)
            tok = us.outcome(keyed.setkey, b"k" * 32)[1]
            spec.check("SOCK-15", tok, expected="ok",
                       sent="setkey after the aborted accept: no op socket left, so not EBUSY", soft=True)


@pytest.mark.clause("SOCK-16")
def test_accepts_are_independent(spec, alg_socket):
    tfm = alg_socket("hash", "sha256")
    a, b = tfm.accept(), tfm.accept()
    with a, b:
        a.send(b"alpha-", MSG_MORE)
        b.send(b"beta-", MSG_MORE)
        a.send(b"one")
        b.send(b"two")
        da, db = a.recv(32), b.recv(32)
    ok = da == us.oracle("sha256", b"alpha-one") and db == us.oracle("sha256", b"beta-two")
    spec.check("SOCK-16", "independent" if ok else "mixed", sent="two sha256 op sockets, interleaved MSG_MORE",
               soft=True)
    # AEAD: AAD travels inline on one socket; a second op socket is another request, not an AD fd.
    aead = alg_socket("aead", "gcm(aes)")
    from afalg_conformance.harness.afalg import algorithms
    gcm = algorithms.get("gcm(aes)")
    aead.setkey(AES_KEY)
    aead.set_authsize(16)
    iv1, iv2 = b"\x01" * 12, b"\x02" * 12
    aad, pt = b"A" * 16, b"P" * 32
    op1, op2 = aead.accept(), aead.accept()
    with op1, op2:
        op1.request(aad + pt[:16], AlgOp.ENCRYPT, iv1, len(aad), flags=MSG_MORE)
        op2.request(b"ad-on-second-fd!", AlgOp.ENCRYPT, iv2, 16)   # would be the 'adfd' write
        op1.send(pt[16:])
        out1 = op1.recv_exact(len(aad) + len(pt) + 16)
        out2 = op2.recv_exact(16 + 16)
    want1 = aad + gcm.oracle(AES_KEY, iv1, aad, pt, 16, True)
    want2 = b"ad-on-second-fd!" + gcm.oracle(AES_KEY, iv2, b"ad-on-second-fd!", b"", 16, True)
    seen = "independent" if (out1 == want1 and out2 == want2) else "mixed"
    spec.check("SOCK-16", seen, sent="gcm(aes): op1 AAD||PT in two parts, op2 a 16-byte AAD-only request between them")


# -- calls that AF_ALG sockets do not support -------------------------------------------------

def _unsupported_calls(spec, s: socket.socket, what: str) -> None:
    spec.check("SOCK-19", us.outcome(s.connect, ("hash", "sha256"))[1], sent=f"connect({what})", soft=True)
    spec.check("SOCK-19", us.outcome(s.getsockname)[1], sent=f"getsockname({what})", soft=True)
    spec.check("SOCK-19", us.outcome(s.getpeername)[1], sent=f"getpeername({what})", soft=True)
    spec.check("SOCK-19", us.outcome(s.shutdown, socket.SHUT_RDWR)[1], sent=f"shutdown({what})", soft=True)
    _m, tok = us.outcome(mmap.mmap, s.fileno(), 4096)
    if _m is not None:
        _m.close()
    spec.check("SOCK-20", tok, sent=f"mmap({what}, 4096)", soft=True)
    for opt in range(1, 8):
        tok = us.outcome(us.getsockopt_raw, s.fileno(), SOL_ALG, opt)[1]
        spec.check("SOCK-18", tok, sent=f"getsockopt({what}, SOL_ALG, {opt})", soft=True)
    st, tok = us.outcome(s.getsockopt, socket.SOL_SOCKET, socket.SO_TYPE)
    spec.check("SOCK-18", str(st) if tok == "ok" else tok, expected=str(SOCK_SEQPACKET),
               sent=f"getsockopt({what}, SOL_SOCKET, SO_TYPE) (SOL_SOCKET works)", soft=True)


@pytest.mark.clause("SOCK-17", "SOCK-18", "SOCK-19", "SOCK-20", "SOCK-21")
def test_tfm_socket_operations(spec):
    with bind_focused("hash", "sha256") as tfm:
        spec.check("SOCK-17", us.outcome(tfm.sock.send, b"abc")[1], sent="send(tfm, 'abc')", soft=True)
        spec.check("SOCK-17", us.outcome(tfm.sock.sendmsg, [b"abc"], [], MSG_MORE)[1],
                   sent="sendmsg(tfm, MSG_MORE)", soft=True)
        spec.check("SOCK-17", us.outcome(tfm.sock.recv, 32, socket.MSG_DONTWAIT)[1], sent="recv(tfm, 32)",
                   soft=True)
        _unsupported_calls(spec, tfm.sock, "tfm")
        r, w, x = select.select([tfm.sock], [tfm.sock], [tfm.sock], 0)
        spec.check("SOCK-21", "never-ready" if not (r or w or x) else f"ready(r={len(r)},w={len(w)})",
                   sent="select on a bound tfm socket", soft=True)
        with tfm.accept() as op:   # readiness does not change with op sockets
            r, w, x = select.select([tfm.sock], [tfm.sock], [tfm.sock], 0)
            spec.check("SOCK-21", "never-ready" if not (r or w or x) else "ready",
                       sent="select on a tfm socket with an op socket", soft=True)
            _unsupported_calls(spec, op.sock, "hash op")
    with AfalgSocket.new() as unbound:
        spec.check("SOCK-17", us.outcome(unbound.sock.send, b"abc")[1], sent="send(unbound)", soft=True)
    pair, tok = us.outcome(socket.socketpair, AF_ALG, SOCK_SEQPACKET, 0)
    if pair:
        for p in pair:
            p.close()
    spec.check("SOCK-19", tok, sent="socketpair(AF_ALG, SOCK_SEQPACKET, 0)")


@pytest.mark.clause("SOCK-22", "SOCK-23")
def test_op_socket_options_and_calls(spec, alg_socket):
    tfm = alg_socket("skcipher", "cbc(aes)")
    tfm.setkey(AES_KEY)
    with tfm.accept() as op:
        for opt in range(1, 8):
            for length, null in ((16, False), (4, False), (0, False), (16, True)):
                tok = us.setopt_token(op, opt, length, null)
                spec.check("SOCK-22", tok, sent=f"setsockopt(op, SOL_ALG, {opt}, len {length}"
                           f"{', NULL' if null else ''})", soft=True)
        spec.check("SOCK-22", us.outcome(op.sock.setsockopt, 0, 1, 1)[1], sent="setsockopt(op, SOL_IP, 1)",
                   soft=True)
        tok = us.outcome(op.sock.setsockopt, socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)[1]
        spec.check("SOCK-22", tok, expected="ok",
                   sent="setsockopt(op, SOL_SOCKET, SO_SNDBUF) works (generic level)", soft=True)
        # op socket still works with the key from the tfm socket
        op.request(b"\0" * 16, AlgOp.ENCRYPT, b"\0" * 16)
        assert len(op.recv_exact(16)) == 16
        spec.check("SOCK-23", us.outcome(op.accept)[1], sent="accept(cbc(aes) op)", soft=True)
        spec.check("SOCK-23", us.outcome(op.bind_raw, sockaddr_alg("skcipher", "cbc(aes)"))[1],
                   sent="bind(cbc(aes) op)", soft=True)
    aead = alg_socket("aead", "gcm(aes)")
    aead.setkey(AES_KEY)
    with aead.accept() as op:
        spec.check("SOCK-23", us.outcome(op.accept)[1], sent="accept(gcm(aes) op)", soft=True)
    h = alg_socket("hash", "sha256")
    with h.accept() as op:
        spec.check("SOCK-23", us.outcome(op.bind_raw, sockaddr_alg("hash", "sha256"))[1],
                   sent="bind(sha256 op)", soft=True)
        spec.check("SOCK-23", us.outcome(op.sock.connect, ("hash", "sha256"))[1], sent="connect(sha256 op)",
                   soft=True)
    # Debian's 7.x builds no DRBG: the rng op socket is whichever rng the kernel has, and the
    # checks above still count where it has none
    for name in ("stdrng", "jitterentropy_rng"):
        try:
            rng = alg_socket("rng", name)
        except pytest.skip.Exception:
            continue
        rng.setkey(b"")
        with rng.accept() as op:
            spec.check("SOCK-23", us.outcome(op.accept)[1], sent=f"accept({name} op)")
        break


# -- nokey -----------------------------------------------------------------------------------------

NOKEY_CASES = [("hash", "hmac(sha256)", b"k" * 32), ("hash", "cmac(aes)", AES_KEY),
               ("skcipher", "cbc(aes)", AES_KEY), ("aead", "gcm(aes)", AES_KEY)]


@pytest.mark.clause("SOCK-24")
@pytest.mark.parametrize("alg_type,name,key", NOKEY_CASES, ids=[c[1] for c in NOKEY_CASES])
def test_nokey_op_socket(spec, alg_socket, alg_type, name, key):
    from afalg_conformance.harness.afalg import algorithms
    alg = algorithms.get(name)
    tfm = alg_socket(alg_type, name)
    op, tok = us.outcome(tfm.accept)
    spec.check("SOCK-24", tok, expected="ok", sent=f"{name}: accept without a key")
    with op:
        if alg_type == "hash":
            spec.check("SOCK-24", us.outcome(op.send, b"abc")[1], sent="send on the nokey op socket", soft=True)
            spec.check("SOCK-24", us.outcome(op.recv, 64)[1], sent="recv on the nokey op socket", soft=True)
            clone, tok = us.outcome(op.accept)
            if clone:
                clone.close()
            spec.check("SOCK-24", tok, sent="accept on the nokey hash op socket", soft=True)
        else:
            iv = b"\0" * alg.ivsize
            spec.check("SOCK-24", us.outcome(op.request, b"\0" * 16, AlgOp.ENCRYPT, iv)[1],
                       sent="sendmsg on the nokey op socket", soft=True)
            spec.check("SOCK-24", us.outcome(op.recv, 16, socket.MSG_DONTWAIT)[1],
                       sent="recv on the nokey op socket", soft=True)
        # a second nokey op socket, for hash: after setkey its first call is an accept, the
        # first one's a send; each takes its own nokey path (hash_accept_nokey, hash_sendmsg_nokey)
        op2 = tfm.accept() if alg_type == "hash" else None
        # only nokey op sockets exist: the key may still be set, and the op sockets switch over
        tok = us.outcome(tfm.setkey, key)[1]
        spec.check("SOCK-24", tok, expected="ok",
                   sent="setkey while only nokey op sockets exist (not EBUSY)", soft=True)
        if alg_type == "hash":
            with op2:
                clone, tok = us.outcome(op2.accept)
                spec.check("SOCK-24", tok, expected="ok", soft=True,
                           sent="accept on a second nokey hash op socket, its first call after setkey")
                if clone:
                    with clone:
                        clone.send(b"xyz")
                        spec.check("SOCK-24", clone.recv(64), alg.oracle(key, b"xyz"),
                                   sent="its clone gives the keyed result", soft=True)
            op.send(b"abc")
            out, want = op.recv(64), alg.oracle(key, b"abc")
        elif alg_type == "skcipher":
            iv = b"\1" * 16
            op.request(b"\0" * 32, AlgOp.ENCRYPT, iv)
            out, want = op.recv_exact(32), alg.oracle(key, iv, b"\0" * 32, True)
        else:
            iv = b"\1" * 12
            op.request(b"\0" * 32, AlgOp.ENCRYPT, iv, 0)
            out, want = op.recv_exact(32 + 16), alg.oracle(key, iv, b"", b"\0" * 32, 16, True)
        spec.check("SOCK-24", out, want, sent="the same op socket after setkey gives the keyed result")


@pytest.mark.clause("SOCK-25")
def test_op_sockets_outlive_tfm(spec):
    tfm = bind_focused("hash", "sha256")
    op = tfm.accept()
    tfm.close()
    with op:
        op.send(b"prefix-", MSG_MORE)
        clone, tok = us.outcome(op.accept)
        spec.check("SOCK-25", tok, sent="accept on a hash op socket after closing the tfm", soft=True)
        op.send(b"a")
        spec.check("SOCK-25", op.recv(32), us.oracle("sha256", b"prefix-a"),
                   sent="sha256 op socket after closing the tfm fd", soft=True)
        if clone:
            with clone:
                clone.send(b"b")
                spec.check("SOCK-25", clone.recv(32), us.oracle("sha256", b"prefix-b"),
                           sent="clone made after closing the tfm fd", soft=True)
    from afalg_conformance.harness.afalg import algorithms
    cbc = algorithms.get("cbc(aes)")
    tfm = bind_or_skip("skcipher", "cbc(aes)")
    tfm.setkey(AES_KEY)
    op = tfm.accept()
    tfm.close()
    with op:
        iv = b"\7" * 16
        op.request(b"x" * 32, AlgOp.ENCRYPT, iv)
        out = op.recv_exact(32)
    spec.check("SOCK-25", out, cbc.oracle(AES_KEY, iv, b"x" * 32, True),
               sent="cbc(aes) op socket after closing the tfm fd")


@pytest.mark.clause("SOCK-26")
def test_netlink_crypto(spec):
    with AfalgSocket.bound("hash", "sha256"):    # make sure sha256 is registered
        res, tok = us.outcome(us.crypto_netlink, us.CRYPTO_MSG_GETALG, "sha256")
    if res is not None:
        tok, payload = res
        rec = us.parse_crypto_user_alg(payload) if len(payload) >= us.CRYPTO_USER_ALG.size else {}
        if tok == "ok" and rec.get("name") != "sha256":
            tok = f"reply-name={rec.get('name')!r}"
        note = f"driver={rec.get('driver')}"
    else:
        note = ""
    spec.check("SOCK-26", tok, sent="NETLINK_CRYPTO CRYPTO_MSG_GETALG cru_name='sha256' (root)", note=note,
               soft=True)

    def getalg():
        return us.crypto_netlink(us.CRYPTO_MSG_GETALG, "sha256")[0]

    def delalg():
        return us.crypto_netlink(us.CRYPTO_MSG_DELALG, "no-such-alg-afalg-conformance",
                                 flags=us.NLM_F_REQUEST | us.NLM_F_ACK)[0]
    spec.check("SOCK-26", us.run_as_nobody(getalg), sent="CRYPTO_MSG_GETALG sha256 as uid 65534", soft=True)
    spec.check("SOCK-26", us.run_as_nobody(delalg), expected="EPERM",
               sent="CRYPTO_MSG_DELALG (unknown name) as uid 65534: needs CAP_NET_ADMIN")


@pytest.mark.clause("SOCK-27")
def test_op_sockets_do_not_inherit_sndbuf(spec):
    with bind_focused("hash", "sha256") as plain, bind_focused("hash", "sha256") as tuned:
        tuned.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        tuned_val = tuned.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        with plain.accept() as a, tuned.accept() as b:
            va = a.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
            vb = b.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    seen = "not-inherited" if vb == va and vb != tuned_val else f"inherited(op={vb},tfm={tuned_val},default={va})"
    spec.check("SOCK-27", seen, sent="SO_SNDBUF 8192 on the tfm socket; SO_SNDBUF of its op socket")


# Template instances whose module (and so a long larval window) comes back each round:
# (name bound, module removed afterwards). cmac(des3_ede-generic) first: its window is the
# one the empty name fell into in every full run of 2026-11-30 (the fourth name of the first
# round, 8-10 s into this serial test, while the other worker waits).
_REBUILT = [("cmac(des3_ede-generic)", "cmac"), ("cmac(aes-generic)", "cmac"), ("xcbc(aes-generic)", "xcbc"),
            ("hmac(rmd160-generic)", "rmd160")]


@pytest.mark.serial        # it removes modules and counts on no other bind running
@pytest.mark.clause("SOCK-28")
def test_empty_name_while_another_request_builds(spec):
    """SOCK-28: the known defect is reported as an XFAIL naming the clause when seen; a kernel
    where 60 s of rebuilding never lets '' bind passes (with the attempts in the evidence)."""
    stop, building, seen, rounds, broke = threading.Event(), [""], [], [0], []

    def rebuild():
        i = 0
        try:
            while not stop.is_set():
                name, module = _REBUILT[i % len(_REBUILT)]
                i += 1
                building[0] = name
                with contextlib.suppress(OSError):
                    AfalgSocket.bound("hash", name).close()
                us.crypto_netlink(us.CRYPTO_MSG_DELALG, driver=name, flags=us.NLM_F_REQUEST | us.NLM_F_ACK)
                subprocess.run(["rmmod", module], capture_output=True, timeout=60)
                rounds[0] += 1
        except Exception as e:             # noqa: BLE001 - the test says it below
            broke.append(f"{type(e).__name__}: {e}")
        building[0] = ""

    t = threading.Thread(target=rebuild, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not broke and not any(tok == "ok" for tok, _ in seen):
            during = building[0]
            with AfalgSocket.new() as s:
                _r, tok = us.outcome(s.bind_raw, sockaddr_alg("hash", ""))
            seen.append((tok, during))
    finally:
        stop.set()
        t.join(timeout=120)
    if t.is_alive():
        raise RuntimeError("the rebuilding thread did not stop within 120 s (it may still remove modules)")
    hits = [d for tok, d in seen if tok == "ok"]
    if not hits and (broke or rounds[0] < 2):
        # nothing was rebuilt, so nothing was tested: the harness's problem, not a pass
        raise RuntimeError(f"SOCK-28 could not rebuild instances ({rounds[0]} rounds): {'; '.join(broke)}")
    other = sorted({tok for tok, _ in seen} - {"ok", "ENOENT"})
    spec.observe("SOCK-28", "ok" if hits else "ENOENT",
                 sent=f"bind('hash', '') x{len(seen)} while rebuilding {', '.join(n for n, _ in _REBUILT)}",
                 note=f"bound during: {', '.join(hits)}" if hits else (f"also seen: {other}" if other else ""))
    if hits:
        pytest.xfail(f"SOCK-28 known kernel defect: bind('hash', '') succeeded {len(hits)} of {len(seen)} times, "
                     f"bound to the request larval of {hits[0]} (crypto/api.c: a request larval's empty "
                     f"cra_driver_name matches the name '')")
    spec.check("SOCK-28", "ENOENT" if not other else other[0], sent=f"bind('hash', '') x{len(seen)}")
