"""Hash op sockets: MSG_MORE, finalisation, reads, cloning, MSG_OOB, keys (HASH-3.., spec/hash.toml).

HASH-1 and HASH-2 (one-shot known answers) live in test_smoke.py. Reference digests
come from the harness.afalg.algorithms oracles.
"""

from __future__ import annotations

import select
import socket

import pytest

from conformance import _util_socket as us
from conformance.conftest import bind_or_skip
from harness.afalg import algorithms
from harness.afalg.constants import MSG_DONTWAIT, MSG_MORE, MSG_OOB, MSG_TRUNC

HASHES = ["sha256", "sha1", "sha512", "sha3-256", "hmac(sha256)"]
HMAC_KEY = b"hash-tests-key-0123456789abcdef!"


def _tfm(alg_socket, name):
    tfm = alg_socket("hash", name)
    if algorithms.get(name).keyed:
        tfm.setkey(HMAC_KEY)
    return tfm


def _H(name: str, msg: bytes) -> bytes:
    alg = algorithms.get(name)
    return alg.oracle(HMAC_KEY if alg.keyed else None, msg)


@pytest.mark.clause("HASH-3", "HASH-4")
@pytest.mark.parametrize("name", HASHES)
def test_msg_more_and_finalisation(spec, alg_socket, name):
    ds = algorithms.get(name).digestsize
    tfm = _tfm(alg_socket, name)
    a, b, c = b"first part|", b"second part|" * 20, b"third"
    with tfm.accept() as op:
        op.send(a, MSG_MORE)
        op.send(b, MSG_MORE)
        op.send(c)
        spec.check("HASH-3", op.recv(ds), _H(name, a + b + c), sent=f"{name}: send(a, MORE); send(b, MORE); send(c)",
                   soft=True)
        # empty MSG_MORE parts in the middle change nothing
        op.send(a, MSG_MORE)
        op.send(b"", MSG_MORE)
        op.send(c)
        spec.check("HASH-3", op.recv(ds), _H(name, a + c), sent=f"{name}: send(a, MORE); send('', MORE); send(c)",
                   soft=True)
        op.send(a, MSG_MORE)
        op.send(b, MSG_MORE)
        n = op.send(b"")
        spec.check("HASH-4", n, 0, sent=f"{name}: zero-length final send returns 0", soft=True)
        spec.check("HASH-4", op.recv(ds), _H(name, a + b), sent=f"{name}: send(a, MORE); send(b, MORE); send('')",
                   soft=True)
        # The empty send really ended that hash: what is sent next, unread in between, is a new one.
        op.send(a, MSG_MORE)
        op.send(b"")
        op.send(c)
        spec.check("HASH-4", op.recv(ds), _H(name, c), sent=f"{name}: send(a, MORE); send(''); send(c): H(c) alone")


@pytest.mark.clause("HASH-5", "HASH-6")
@pytest.mark.parametrize("name", ["sha256", "hmac(sha256)"])
def test_read_finalises(spec, alg_socket, name):
    ds = algorithms.get(name).digestsize
    tfm = _tfm(alg_socket, name)
    a, b = b"partial data " * 5, b"after the read"
    with tfm.accept() as op:
        op.send(a, MSG_MORE)
        got = op.recv(ds)
        seen = "final-digest" if got == _H(name, a) else f"other:{got.hex()}"
        spec.check("HASH-5", seen, sent=f"{name}: send(a, MSG_MORE); read({ds})", soft=True)
        op.send(b)
        got = op.recv(ds)
        seen = {_H(name, b): "fresh", _H(name, a + b): "continued"}.get(got, f"other:{got.hex()}")
        spec.check("HASH-6", seen, sent=f"{name}: after that read, send(b); read")


@pytest.mark.clause("HASH-7")
def test_msg_oob_does_not_restore(spec, alg_socket):
    name = "sha256"
    tfm = _tfm(alg_socket, name)
    a, b = b"the prefix to be 'saved'", b"continuation"
    with tfm.accept() as op:
        op.send(a, MSG_MORE)
        state = op.recv(64)               # the proposal's "partial hash state"
        n, tok = us.outcome(op.send, state, MSG_OOB | MSG_MORE)
        if tok != "ok":
            spec.check("HASH-7", tok, sent="send(state, MSG_OOB|MSG_MORE)")
        op.send(b)
        got = op.recv(32)
    seen = {_H(name, state + b): "hashed-as-data", _H(name, a + b): "restored",
            _H(name, b): "oob-dropped"}.get(got, f"other:{got.hex()}")
    spec.check("HASH-7", seen, sent="send(a, MORE); s = read; send(s, MSG_OOB|MSG_MORE); send(b); read",
               note=f"send(MSG_OOB) returned {n}")
    # plain MSG_OOB without MSG_MORE is an ordinary one-shot digest
    with tfm.accept() as op:
        op.send(b, MSG_OOB)
        spec.observe("HASH-7", "hashed-as-data" if op.recv(32) == _H(name, b) else "other",
                     sent="send(b, MSG_OOB); read == H(b)")


@pytest.mark.clause("HASH-8", "HASH-9")
@pytest.mark.parametrize("name", ["sha256", "sha512", "hmac(sha256)"])
def test_accept_clones_state(spec, alg_socket, name):
    ds = algorithms.get(name).digestsize
    tfm = _tfm(alg_socket, name)
    a, b, c = b"shared prefix " * 10, b"-left", b"-right"
    with tfm.accept() as op:
        op.send(a, MSG_MORE)
        with op.accept() as op2:
            op.send(b)
            op2.send(c, MSG_MORE)
            op2.send(b"!")
            spec.check("HASH-8", op.recv(ds), _H(name, a + b), sent=f"{name}: original continues with b", soft=True)
            spec.check("HASH-8", op2.recv(ds), _H(name, a + c + b"!"), sent=f"{name}: clone continues with c",
                       soft=True)
        # a clone of a clone, made after the clone's own MORE data
        op.send(a, MSG_MORE)
        with op.accept() as op2:
            op2.send(b, MSG_MORE)
            with op2.accept() as op3:
                op3.send(c)
                op2.send(b"")
                spec.check("HASH-8", op3.recv(ds), _H(name, a + b + c), sent=f"{name}: clone of a clone", soft=True)
                spec.check("HASH-8", op2.recv(ds), _H(name, a + b), sent=f"{name}: clone finalised by send('')",
                           soft=True)
            op.send(b"")
            spec.check("HASH-8", op.recv(ds), _H(name, a), sent=f"{name}: original untouched by its clones",
                       soft=True)
        # HASH-9: a finished but unread digest is not cloned
        op.send(a)
        with op.accept() as op2:
            spec.check("HASH-9", op2.recv(ds), _H(name, b""), sent=f"{name}: clone of a finished socket reads H('')",
                       soft=True)
            op2.send(c)
            spec.check("HASH-9", op2.recv(ds), _H(name, c), sent=f"{name}: the clone hashes its own data", soft=True)
        spec.check("HASH-9", op.recv(ds), _H(name, a), sent=f"{name}: the original keeps its unread digest")


@pytest.mark.clause("HASH-10", "HASH-11")
@pytest.mark.parametrize("name", ["sha256", "sha1"])
def test_short_and_repeated_reads(spec, alg_socket, name):
    ds = algorithms.get(name).digestsize
    tfm = _tfm(alg_socket, name)
    msg = b"truncate me"
    with tfm.accept() as op:
        op.send(msg)
        data, flags = op.recvmsg(10)
        spec.check("HASH-10", data, _H(name, msg)[:10], sent=f"{name}: recvmsg(10) returns the first 10 bytes",
                   soft=True)
        spec.check("HASH-10", "MSG_TRUNC" if flags & MSG_TRUNC else "no-flag", expected="MSG_TRUNC",
                   sent=f"{name}: recvmsg(10) sets MSG_TRUNC", soft=True)
        op.send(msg)
        data, flags = op.recvmsg(ds + 32)
        spec.check("HASH-10", data, _H(name, msg), sent=f"{name}: recvmsg(ds+32) clipped to ds", soft=True)
        spec.check("HASH-10", "MSG_TRUNC" if flags & MSG_TRUNC else "no-flag", expected="no-flag",
                   sent=f"{name}: recvmsg(ds+32): no MSG_TRUNC", soft=True)
        # HASH-11: each read consumes the digest
        op.send(msg)
        spec.check("HASH-11", op.recv(ds), _H(name, msg), sent=f"{name}: first read", soft=True)
        spec.check("HASH-11", op.recv(ds), _H(name, b""), sent=f"{name}: second read gives H('')", soft=True)
        op.send(msg)
        data, flags = op.recvmsg(10)
        spec.check("HASH-11", op.recv(ds), _H(name, b""), sent=f"{name}: a truncated read consumed the digest too",
                   soft=True)
        op.send(msg, MSG_MORE)
        spec.check("HASH-11", us.recv_raw(op.fileno(), 0), b"", sent=f"{name}: libc recv(fd, buf, 0) after MSG_MORE data",
                   soft=True)
        spec.check("HASH-11", op.recv(ds), _H(name, b""), sent=f"{name}: recv(0) finalised and discarded",
                   soft=True)
    with tfm.accept() as op:
        spec.check("HASH-11", op.recv(ds), _H(name, b""), sent=f"{name}: read on a fresh op socket")


@pytest.mark.clause("HASH-12")
@pytest.mark.parametrize("flags", [0, MSG_MORE, MSG_DONTWAIT], ids=["plain", "MSG_MORE", "MSG_DONTWAIT"])
def test_hash_writes_never_block(spec, alg_socket, flags):
    tfm = alg_socket("hash", "sha256")
    big = bytes(range(256)) * (4 * 4096)    # 4 MiB
    with tfm.accept() as op:
        op.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        n, tok = us.outcome(op.send, big, flags, (), 60.0)
        spec.check("HASH-12", "full-count" if n == len(big) else (tok if tok != "ok" else f"partial:{n}"),
                   sent=f"sha256: one send of 4 MiB, SO_SNDBUF 4096, flags {flags:#x}", soft=True)
        if flags & MSG_MORE:
            op.send(b"")
        if tok == "ok":
            spec.check("HASH-12", op.recv(32), _H("sha256", big[:n]), sent="digest of the 4 MiB send")


@pytest.mark.clause("HASH-13", "HASH-14")
def test_hash_keys(spec, alg_socket):
    for name in ("sha256", "sha1", "sha3-256"):
        try:
            tfm = bind_or_skip("hash", name)
        except pytest.skip.Exception as e:
            spec.observe("HASH-13", f"unsupported:{name}", note=str(e))
            continue
        with tfm:
            spec.check("HASH-13", us.outcome(tfm.setkey, b"k" * 16)[1], sent=f"{name}: ALG_SET_KEY(16 bytes)",
                       soft=True)
            with tfm.accept() as op:    # the failed setkey leaves the unkeyed hash usable
                op.send(b"abc")
                spec.check("HASH-13", op.recv(64), _H(name, b"abc"),
                           sent=f"{name}: still hashes after the refused key", soft=True)
    for name in ("hmac(sha256)", "hmac(sha1)", "cmac(aes)"):
        tfm = alg_socket("hash", name)
        with tfm.accept() as op:
            spec.check("HASH-14", us.outcome(op.send, b"abc")[1], sent=f"{name} without key: send", soft=True)
            spec.check("HASH-14", us.outcome(op.send, b"abc", MSG_MORE)[1], sent=f"{name} without key: send MORE",
                       soft=True)
            spec.check("HASH-14", us.outcome(op.recv, 64)[1], sent=f"{name} without key: read", soft=True)
            clone, tok = us.outcome(op.accept)
            if clone:
                clone.close()
            spec.check("HASH-14", tok, sent=f"{name} without key: accept on the op socket", soft=True)


@pytest.mark.clause("HASH-15")
def test_hash_op_socket_never_polls_ready(spec, alg_socket):
    tfm = alg_socket("hash", "sha256")
    with tfm.accept() as op:
        r, w, _x = select.select([op.sock], [op.sock], [], 0)
        spec.check("HASH-15", "never-ready" if not (r or w) else f"ready(r={len(r)},w={len(w)})",
                   sent="select on a fresh sha256 op socket", soft=True)
        op.send(b"abc")
        r, w, _x = select.select([op.sock], [op.sock], [], 0)
        spec.check("HASH-15", "never-ready" if not (r or w) else f"ready(r={len(r)},w={len(w)})",
                   sent="select with a digest waiting")
        assert op.recv(32) == _H("sha256", b"abc")
