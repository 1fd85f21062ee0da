"""Symmetric cipher op sockets (algif_skcipher): IVs, chaining, partial blocks, errors.

Every expected output comes from harness.afalg.algorithms oracles (pyca/cryptography);
nothing here hard-codes a kernel answer.
"""

from __future__ import annotations

import os
import socket

import pytest

from afalg_conformance.conformance._util_cipher import DEC, ENC, ForbiddenPage, outcome, recv_token, recv_without_optmem
from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg.client import errno_name
from afalg_conformance.harness.afalg.constants import MSG_DONTWAIT, MSG_MORE, SO_SNDBUFFORCE

CBC = algorithms.get("cbc(aes)")
CTR = algorithms.get("ctr(aes)")
ECB = algorithms.get("ecb(aes)")
XTS = algorithms.get("xts(aes)")
CHACHA = algorithms.get("chacha20")
MODES = [ECB, CBC, CTR, XTS, CHACHA]


def _op(alg_socket, alg, key):
    tfm = alg_socket("skcipher", alg.name)
    tfm.setkey(key)
    return tfm.accept()


def _iv(alg):
    return os.urandom(alg.ivsize) if alg.ivsize else None


def _ref(alg, key, iv, data, encrypt=True):
    return alg.oracle(key, iv, data, encrypt)


def ctr_add(iv: bytes, n: int) -> bytes:
    return ((int.from_bytes(iv, "big") + n) % (1 << 128)).to_bytes(16, "big")


@pytest.mark.clause("SKC-2")
@pytest.mark.parametrize("alg", [CBC, CTR], ids=lambda a: a.name)
def test_iv_per_request(spec, alg_socket, alg):
    key = os.urandom(16)
    with _op(alg_socket, alg, key) as op:
        for i in range(3):
            iv, data = os.urandom(16), os.urandom(48)
            op.request(data, ENC, iv)
            out = op.recv_exact(len(data))
            spec.check("SKC-2", out, _ref(alg, key, iv, data), sent=f"{alg.name} request {i} with its own IV",
                       soft=True)


@pytest.mark.clause("SKC-3")
@pytest.mark.parametrize("alg", [CBC, CTR], ids=lambda a: a.name)
@pytest.mark.parametrize("how", ["op-cmsg-only", "no-control-data"])
def test_iv_chains_across_requests(spec, alg_socket, alg, how):
    key, iv = os.urandom(16), os.urandom(16)
    a, b = os.urandom(32), os.urandom(48)
    with _op(alg_socket, alg, key) as op:
        op.request(a, ENC, iv)
        out_a = op.recv_exact(len(a))
        if how == "op-cmsg-only":
            op.request(b, ENC)
        else:
            op.send(b)
        out_b = op.recv_exact(len(b))
    whole = _ref(alg, key, iv, a + b)
    fresh = _ref(alg, key, iv, b)
    seen = "chained" if out_a + out_b == whole else ("restarts" if out_b == fresh else "other")
    spec.check("SKC-3", seen, sent=f"{alg.name}: 32 bytes with IV, then 48 bytes ({how})",
               note=f"second output {out_b.hex()[:32]}")


@pytest.mark.clause("SKC-4")
def test_ctr_partial_block_then_next_request(spec, alg_socket):
    key, iv = os.urandom(16), os.urandom(16)
    a, b = os.urandom(20), os.urandom(16)
    with _op(alg_socket, CTR, key) as op:
        op.request(a, ENC, iv)
        out_a = op.recv_exact(len(a))
        op.request(b, ENC)
        out_b = op.recv_exact(len(b))
    assert out_a == _ref(CTR, key, iv, a), "first ctr request wrong"
    if out_b == _ref(CTR, key, ctr_add(iv, 2), b):
        seen = "next-block"
    elif out_b == _ref(CTR, key, iv, a + b)[20:]:
        seen = "continues-keystream"
    else:
        seen = "other"
    spec.check("SKC-4", seen, sent="ctr(aes): 20 bytes with IV, then 16 bytes without IV")


@pytest.mark.clause("SKC-5")
@pytest.mark.parametrize("alg", [ECB, CBC, CTR], ids=lambda a: a.name)
@pytest.mark.parametrize("encrypt", [True, False], ids=["enc", "dec"])
def test_chaining_across_msg_more_reads(spec, alg_socket, alg, encrypt):
    key, iv = os.urandom(16), _iv(alg)
    parts = [os.urandom(32), os.urandom(48), os.urandom(16), os.urandom(64)]
    out = b""
    with _op(alg_socket, alg, key) as op:
        for i, p in enumerate(parts):
            last = i == len(parts) - 1
            flags = 0 if last else MSG_MORE
            if i == 0:
                op.request(p, ENC if encrypt else DEC, iv, flags=flags)
            else:
                op.send(p, flags)
            out += op.recv_exact(len(p))
    spec.check("SKC-5", out, _ref(alg, key, iv, b"".join(parts), encrypt),
               sent=f"{alg.name} {'enc' if encrypt else 'dec'}: 4 MSG_MORE parts, recv after each")


@pytest.mark.clause("SKC-5")
@pytest.mark.parametrize("alg", [CBC, CTR], ids=lambda a: a.name)
def test_chaining_all_parts_then_one_read(spec, alg_socket, alg):
    key, iv = os.urandom(32), os.urandom(16)
    parts = [os.urandom(16), os.urandom(32), os.urandom(48)]
    with _op(alg_socket, alg, key) as op:
        op.request(parts[0], ENC, iv, flags=MSG_MORE)
        op.send(parts[1], MSG_MORE)
        op.send(parts[2])
        out = op.recv_exact(96)
    spec.check("SKC-5", out, _ref(alg, key, iv, b"".join(parts)),
               sent=f"{alg.name}: 3 MSG_MORE parts, one read")


@pytest.mark.clause("SKC-6")
def test_set_op_switches_direction(spec, alg_socket):
    key, iv, pt = os.urandom(24), os.urandom(16), os.urandom(64)
    with _op(alg_socket, CBC, key) as op:
        op.request(pt, ENC, iv)
        ct = op.recv_exact(64)
        op.request(ct, DEC, iv)
        back = op.recv_exact(64)
        op.request(pt, ENC, iv)
        again = op.recv_exact(64)
    assert ct == _ref(CBC, key, iv, pt), "encrypt output wrong"
    spec.check("SKC-6", back, pt, sent="cbc(aes): encrypt, then decrypt of the output with ALG_SET_OP=0")
    spec.check("SKC-6", again, ct, sent="cbc(aes): back to encrypt with ALG_SET_OP=1")


def _lengths(alg):
    if alg.blocksize == 16:
        return [16, 32, 80, 4096, 4112]
    return [1, 15, 16, 17, 63, 64, 65, 4097]


@pytest.mark.clause("SKC-7")
@pytest.mark.parametrize("alg", MODES, ids=lambda a: a.name)
def test_modes_against_reference(spec, alg_socket, kat, alg):
    tfm = alg_socket("skcipher", alg.name)
    for ks in alg.key_sizes:
        key = os.urandom(ks)
        tfm.setkey(key)
        for n in _lengths(alg) + ([17, 31] if alg is XTS else []):
            for encrypt in (True, False):
                iv, data = _iv(alg), os.urandom(n)
                with tfm.accept() as op:
                    op.request(data, ENC if encrypt else DEC, iv)
                    out, tok = outcome(op.recv_exact, n)
                name = f"{alg.name} key={ks} len={n} {'enc' if encrypt else 'dec'}"
                want = _ref(alg, key, iv, data, encrypt)
                ok = tok == "ok" and out == want
                kat.case(name, "pass" if ok else "fail", "" if ok else f"seen {tok} {(out or b'').hex()[:32]}")
    spec.check("SKC-7", "match" if not kat.counts["fail"] else "mismatch", expected="match", soft=True,
               sent=f"{alg.name}: {kat.counts['pass']} pass / {kat.counts['fail']} fail")


@pytest.mark.clause("SKC-8")
@pytest.mark.parametrize("alg", [CBC, CTR, CHACHA], ids=lambda a: a.name)
def test_partial_blocks_held_while_more(spec, alg_socket, alg):
    chunk = alg.chunksize
    key, iv = os.urandom(32 if alg is CHACHA else 16), os.urandom(16)
    first, rest = os.urandom(chunk + 4), os.urandom(chunk - 4)
    with _op(alg_socket, alg, key) as op:
        op.request(first, ENC, iv, flags=MSG_MORE)
        got1, tok1 = recv_token(op, len(first), MSG_DONTWAIT)
        got2, tok2 = recv_token(op, 4, MSG_DONTWAIT)
        op.send(rest)
        got3 = op.recv_exact(4 + len(rest))
    held = tok1 == "ok" and len(got1) == chunk and tok2 == "EAGAIN"
    spec.check("SKC-8", "held" if held else f"{tok1}:{len(got1)}/{tok2}:{len(got2)}",
               sent=f"{alg.name}: {chunk + 4} bytes with MSG_MORE, recv(MSG_DONTWAIT) twice")
    if alg is not CHACHA:   # chacha20 restarts its keystream per recv (SKC-14)
        spec.check("SKC-8", got1 + got2 + got3, _ref(alg, key, iv, first + rest),
                   sent=f"{alg.name}: held bytes completed by the final part")
    else:
        spec.check("SKC-8", got1, _ref(alg, key, iv, first)[:chunk], sent="chacha20: the whole chunk")
        spec.check("SKC-8", len(got3), 4 + len(rest), sent="chacha20: the final part returns the held bytes too")


@pytest.mark.clause("SKC-9")
@pytest.mark.parametrize("alg,n", [(CBC, 20), (ECB, 17), (CBC, 1), (XTS, 15)],
                         ids=["cbc-20", "ecb-17", "cbc-1", "xts-15"])
def test_final_not_block_multiple_is_einval(spec, alg_socket, alg, n):
    key = os.urandom(alg.key_sizes[0])
    with _op(alg_socket, alg, key) as op:
        op.request(os.urandom(n), ENC, _iv(alg))
        _out, tok = outcome(op.recv_exact, n)
        spec.check("SKC-9", tok, sent=f"{alg.name}: final request of {n} bytes")
        iv, data = _iv(alg), os.urandom(32)
        op.request(data, ENC, iv)
        out = op.recv_exact(32)
    spec.check("SKC-9", out, _ref(alg, key, iv, data),
               sent=f"{alg.name}: a valid request after the EINVAL (the bad data was consumed)")


@pytest.mark.clause("SKC-10")
def test_xts_explicit_iv_each_request(spec, alg_socket):
    key = os.urandom(32)
    with _op(alg_socket, XTS, key) as op:
        for n in (32, 48, 17):
            iv, data = os.urandom(16), os.urandom(n)
            op.request(data, ENC, iv)
            out = op.recv_exact(n)
            spec.check("SKC-10", out, _ref(XTS, key, iv, data), sent=f"xts(aes) {n} bytes, explicit IV",
                       soft=True)


@pytest.mark.clause("SKC-11")
def test_xts_split_differs(spec, alg_socket):
    key, iv, data = os.urandom(32), os.urandom(16), os.urandom(64)
    with _op(alg_socket, XTS, key) as op:
        op.request(data[:32], ENC, iv, flags=MSG_MORE)
        a = op.recv_exact(32)
        op.send(data[32:])
        b = op.recv_exact(32)
    whole = _ref(XTS, key, iv, data)
    assert a == whole[:32], "the first xts piece should equal the reference prefix"
    seen = "same" if a + b == whole else "differs"
    spec.check("SKC-11", seen, sent="xts(aes) 64 bytes read as 32 + 32 while MSG_MORE")


@pytest.mark.clause("SKC-12")
def test_must_recv_before_next_request(spec, alg_socket):
    key = os.urandom(16)
    with _op(alg_socket, CBC, key) as op:
        iv1, d1 = os.urandom(16), os.urandom(32)
        op.request(d1, ENC, iv1)
        spec.check_errno("SKC-12", lambda: op.request(os.urandom(32), ENC, os.urandom(16)),
                         sent="second request before reading the first")
        out1 = op.recv_exact(32)
        spec.check("SKC-12", out1, _ref(CBC, key, iv1, d1),
                   sent="the first request is intact after the refused send")
        iv3, d3 = os.urandom(16), os.urandom(32)
        op.request(d3, ENC, iv3)
        out3 = op.recv_exact(32)
    spec.check("SKC-12", out3, _ref(CBC, key, iv3, d3), sent="third request after the read")


@pytest.mark.clause("SKC-13")
@pytest.mark.parametrize("total,first", [(64, 32), (8192, 4096), (8192, 4112)],
                         ids=["mid-page", "page-boundary", "past-page"])
def test_short_read_of_final_request(spec, alg_socket, total, first):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(total)
    with _op(alg_socket, CBC, key) as op:
        op.request(data, ENC, iv)
        head = op.recv_exact(first)
        rest_now, tok = recv_token(op, total - first, MSG_DONTWAIT)
        after = b""
        if tok == "EAGAIN":
            op.send(b"")
            after = op.recv_exact(total - first)
    want = _ref(CBC, key, iv, data)
    assert head == want[:first], "short read did not return the first whole blocks"
    if tok == "EAGAIN":
        seen = "waits-for-send" if after == want[first:] else "lost"
    elif tok == "ok":
        seen = "readable" if rest_now == want[first:] else f"partial:{len(rest_now)}"
    else:
        seen = tok
    spec.check("SKC-13", seen, sent=f"cbc(aes) {total} bytes final; recv {first}; recv(MSG_DONTWAIT) the rest")


@pytest.mark.clause("SKC-14")
@pytest.mark.parametrize("how", ["msg-more-pieces", "second-request"])
def test_chacha20_does_not_chain(spec, alg_socket, how):
    key, iv, data = os.urandom(32), os.urandom(16), os.urandom(128)
    with _op(alg_socket, CHACHA, key) as op:
        if how == "msg-more-pieces":
            op.request(data[:64], ENC, iv, flags=MSG_MORE)
            a = op.recv_exact(64)
            op.send(data[64:])
        else:
            op.request(data[:64], ENC, iv)
            a = op.recv_exact(64)
            op.request(data[64:], ENC)
        b = op.recv_exact(64)
    whole = _ref(CHACHA, key, iv, data)
    assert a == whole[:64], "first chacha20 piece wrong"
    if b == whole[64:]:
        seen = "continues"
    elif b == _ref(CHACHA, key, iv, data[64:]):
        seen = "restarts"
    else:
        seen = "other"
    spec.check("SKC-14", seen, sent=f"chacha20 128 bytes as 64 + 64 ({how})")


@pytest.mark.clause("SKC-15")
def test_read_smaller_than_chunk_is_einval(spec, alg_socket):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(32)
    with _op(alg_socket, CBC, key) as op:
        op.request(data, ENC, iv)
        _d, tok = recv_token(op, 8)
        spec.check("SKC-15", tok, sent="cbc(aes) 32 bytes final, recv(8)")
        out = op.recv_exact(32)
    spec.check("SKC-15", out, _ref(CBC, key, iv, data), sent="recv(32) after the EINVAL: nothing consumed")


@pytest.mark.clause("SKC-16")
@pytest.mark.parametrize("alg", [CBC, CTR], ids=lambda a: a.name)
def test_empty_final_send_ends_request(spec, alg_socket, alg):
    key, iv1, iv2 = os.urandom(16), os.urandom(16), os.urandom(16)
    a, c = os.urandom(64 + 16), os.urandom(48)
    c_ct = _ref(alg, key, iv2, c)                   # what the next request decrypts
    with _op(alg_socket, alg, key) as op:
        op.request(a, ENC, iv1, flags=MSG_MORE)
        spec.check("SKC-16", op.send(b""), 0, sent=f"{alg.name}: send(a, MORE); send(''): returns 0", soft=True)
        # a final request: a read with room to spare returns exactly a's output, at once (MSG_DONTWAIT:
        # a blocking read would go on to wait for the next request to fill the rest of its buffer)
        out, tok = recv_token(op, len(a) + 64, MSG_DONTWAIT)
        spec.check("SKC-16", (out or b"").hex() or tok, _ref(alg, key, iv1, a).hex(),
                   sent=f"{alg.name}: send(a, MORE); send(''); recv(len(a)+64, MSG_DONTWAIT) == E(iv1, a)", soft=True)
        _d, tok = recv_token(op, 16, MSG_DONTWAIT)
        spec.check("SKC-16", tok, "EAGAIN", sent=f"{alg.name}: nothing left after that read", soft=True)
        # the next request starts fresh: its own ALG_SET_OP (decrypt) and ALG_SET_IV are honoured
        op.request(c_ct, DEC, iv2)
        out, tok = outcome(op.recv_exact, len(c))
        spec.check("SKC-16", (out or b"").hex() or tok, c.hex(),
                   sent=f"{alg.name}: the next request (DEC, its own IV) decrypts to c", soft=True)
    with _op(alg_socket, alg, key) as op:
        # the empty send really ended the request: a send before reading it is refused (SKC-12)
        op.request(a, ENC, iv1, flags=MSG_MORE)
        op.send(b"")
        _r, tok = outcome(op.send, c)
        spec.check("SKC-16", tok, "EINVAL", sent=f"{alg.name}: send(a, MORE); send(''); send(c) before reading",
                   soft=True)
        out, tok = recv_token(op, len(a) + 64, MSG_DONTWAIT)
        spec.check("SKC-16", (out or b"").hex() or tok, _ref(alg, key, iv1, a).hex(),
                   sent=f"{alg.name}: the refused send added nothing: the read is E(iv1, a)")


# -- user-copy faults and long requests -------------------------------------------------------------

@pytest.mark.clause("SKC-19")
@pytest.mark.parametrize("page", ["read-only", "no-access"])
def test_recv_fault_consumes_nothing(spec, alg_socket, page):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(64)
    with _op(alg_socket, CBC, key) as op, ForbiddenPage(readable=page == "read-only") as bad:
        op.request(data, ENC, iv)
        spec.check("SKC-19", bad.recv(op, 64, MSG_DONTWAIT), expected="EFAULT",
                   sent=f"cbc(aes) 64-byte request; recv(64) into a {page} page", soft=True)
        out, tok = recv_token(op, 64, MSG_DONTWAIT)
        spec.check("SKC-19", out.hex() or tok, CBC.oracle(key, iv, data, True).hex(),
                   sent="then recv(64) into our buffer: the whole request, from its IV")


@pytest.mark.clause("SKC-20")
@pytest.mark.parametrize("path", ["new-page", "merge"])
def test_send_fault_queues_nothing(spec, alg_socket, path):
    key, iv = os.urandom(16), os.urandom(16)
    head = os.urandom(100) if path == "merge" else b""     # a partly filled last page: the merge copy
    tail = os.urandom(128 - len(head))
    with _op(alg_socket, CBC, key) as op, ForbiddenPage() as bad:
        op.request(head, ENC, iv, flags=MSG_MORE)
        spec.check("SKC-20", bad.send(op, 28, MSG_MORE | MSG_DONTWAIT), expected="EFAULT",
                   sent=f"cbc(aes), {len(head)} bytes queued with MSG_MORE; send(28, MSG_MORE) from a no-access page",
                   soft=True)
        assert op.send(tail, MSG_DONTWAIT) == len(tail)
        out, tok = recv_token(op, 128, MSG_DONTWAIT)
        spec.check("SKC-20", out.hex() or tok, CBC.oracle(key, iv, head + tail, True).hex(),
                   sent=f"then send({len(tail)}) ends the request; recv(128): the output over what we sent, "
                        "nothing from the failed send")


@pytest.mark.clause("SKC-21")
def test_request_longer_than_one_tx_sgl(spec, alg_socket):
    # root's SO_SNDBUFFORCE lifts the budget past 126 pages (MAX_SGL_ENTS), so af_alg_sendmsg
    # chains a second TX scatterlist block and the read walks across it
    key, iv = os.urandom(16), os.urandom(16)
    data = os.urandom(130 * 4096 + 32)
    with _op(alg_socket, CBC, key) as op:
        try:
            op.sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 1 << 20)
        except PermissionError:
            pytest.skip("unsupported:needs-root=SO_SNDBUFFORCE")
        sent = op.request(data, ENC, iv, flags=MSG_DONTWAIT)
        assert sent == len(data), f"queued {sent} of {len(data)} bytes with SO_SNDBUF " \
                                  f"{op.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)}"
        out = op.recv_exact(len(data), 60.0)
    spec.check("SKC-21", out, CBC.oracle(key, iv, data, True),
               sent=f"cbc(aes), one {len(data)}-byte request (130 pages and 32 bytes) in one sendmsg, read back")


@pytest.mark.clause("SKC-22")
def test_recv_without_option_memory_consumes_nothing(spec, alg_socket, private_netns):
    key = os.urandom(16)
    tfm = alg_socket("skcipher", CBC.name)       # made inside the namespace: its op sockets are too
    tfm.setkey(key)

    def case(size, label):
        iv, data = os.urandom(16), os.urandom(size)

        def start():
            op = tfm.accept()
            op.request(data, ENC, iv)
            return op
        return start, size, CBC.oracle(key, iv, data, True), label
    recv_without_optmem(spec, "SKC-22", private_netns, [case(64, "64 bytes (1 TX page)"),
                                                        case(4096 + 64, "4160 bytes (2 TX pages)")],
                        "cbc(aes), a whole request")


@pytest.mark.clause("SKC-23")
def test_accept_without_option_memory(spec, alg_socket, private_netns):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(32)
    lowest: dict[str, int] = {}
    for name in ("ecb(aes)", CBC.name):
        tfm = alg_socket("skcipher", name)       # made inside the namespace: its op sockets are too
        tfm.setkey(key)

        def accept_at(limit: int) -> str:
            private_netns.optmem_max = limit
            try:
                with tfm.accept():
                    return "ok"
            except OSError as e:
                return errno_name(e.errno)
            finally:
                private_netns.optmem_max = private_netns.default

        # the lowest limit that lets accept through, by bisection: below it every accept is
        # refused (the context, or the IV after it); the two must differ by the IV's size
        lo, hi = 1, private_netns.default
        refused, allowed = accept_at(lo), accept_at(hi)
        spec.check("SKC-23", refused, expected="ENOMEM", sent=f"{name}: accept() with optmem_max {lo}", soft=True)
        spec.check("SKC-23", allowed, expected="ok", sent=f"{name}: accept() with optmem_max {hi} (the default)",
                   soft=True)
        if refused != "ok" and allowed == "ok":
            while hi - lo > 1:
                mid = (lo + hi) // 2
                tok = accept_at(mid)
                if tok == "ok":
                    hi = mid
                else:
                    spec.check("SKC-23", tok, expected="ENOMEM", soft=True,
                               sent=f"{name}: accept() with optmem_max {mid}")
                    lo = mid
            lowest[name] = hi
        with tfm.accept() as op:                 # the refusals left the tfm socket as it was
            op.request(data, ENC, iv if name == CBC.name else None)
            out = op.recv_exact(len(data), 10.0)
        want = algorithms.get(name).oracle(key, iv if name == CBC.name else b"", data, True)
        spec.check("SKC-23", out, want, soft=True,
                   sent=f"{name}: then, optmem_max {private_netns.default}: accept, a 32-byte request (oracle)")
    spec.check("SKC-23", lowest.get(CBC.name, 0) - lowest.get("ecb(aes)", 0), expected=16,
               sent="the lowest optmem_max at which accept succeeds, cbc(aes) minus ecb(aes)",
               note=f"lowest limits: {lowest}")
