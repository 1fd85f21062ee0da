"""Blocking and non-blocking writes against the op socket's send budget.

Every wait is bounded: blocking writes run in the main thread under a signal
deadline (harness.afalg.bounded), readers are threads that poll with MSG_DONTWAIT
(a reader blocked in recv() is not woken by a blocked writer: fact sheet,
"Observed on Debian 6.12.107").
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

from conformance._util_cipher import ENC, PollingReader, outcome, recv_token, send_budget, set_sndbuf
from harness.afalg import algorithms
from harness.afalg.client import errno_name
from harness.afalg.bounded import WaitTimeout
from harness.afalg.constants import MSG_DONTWAIT, MSG_MORE

# Serial: these tests time blocking calls, which a test running beside them would slow.
pytestmark = pytest.mark.serial

CBC = algorithms.get("cbc(aes)")
GCM = algorithms.get("gcm(aes)")
BIG = 64 * 1024


def _cbc_op(alg_socket, key):
    tfm = alg_socket("skcipher", CBC.name)
    tfm.setkey(key)
    return tfm.accept()


@pytest.mark.clause("BLOCK-1")
def test_blocking_write_waits_for_reader(spec, alg_socket):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(BIG)
    with _cbc_op(alg_socket, key) as op:
        budget = send_budget(set_sndbuf(op, 4096))
        assert budget < BIG
        op.request(b"", ENC, iv, flags=MSG_MORE)         # more = 1 before the large write
        reader = PollingReader(op, BIG, step=4096, limit=30.0)
        reader.start()
        try:
            n = op.send(data, MSG_MORE, wait=25.0)
            drained_at_return = len(reader.out)
            op.send(b"")                                  # end the request
        finally:
            out = reader.finish(30.0)
    want = CBC.oracle(key, iv, data, True)
    assert not reader.errors, f"reader errors: {reader.errors}"
    spec.check("BLOCK-1", out, want, sent="64 KiB blocking write read by a polling thread")
    # The reader's last recv may have freed space before the thread appended its bytes.
    waited = n == BIG and drained_at_return >= BIG - budget - 4096
    spec.check("BLOCK-1", "blocks-until-drained" if waited else f"returned {n} after {drained_at_return} read",
               sent=f"64 KiB sendmsg, budget {budget}", note=f"reader had {drained_at_return} bytes at return")


@pytest.mark.clause("BLOCK-2")
@pytest.mark.parametrize("mode", ["MSG_DONTWAIT", "O_NONBLOCK"])
def test_nonblocking_write_partial_nothing_lost(spec, alg_socket, mode):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(BIG)
    flag = MSG_DONTWAIT if mode == "MSG_DONTWAIT" else 0
    with _cbc_op(alg_socket, key) as op:
        budget = send_budget(set_sndbuf(op, 4096))
        op.request(b"", ENC, iv, flags=MSG_MORE)
        if mode == "O_NONBLOCK":
            op.set_nonblocking()
        n1, tok1 = outcome(op.sock.sendmsg, [data], [], MSG_MORE | flag)
        n2, tok2 = outcome(op.sock.sendmsg, [data[n1 or 0:]], [], MSG_MORE | flag)
        seen = "partial" if (tok1 == "ok" and 0 < n1 < BIG and tok2 == "EAGAIN") else \
            f"{tok1}:{n1}/{tok2}:{n2}"
        spec.check("BLOCK-2", seen, sent=f"64 KiB sendmsg(MSG_MORE, {mode}) twice, budget {budget}",
                   note=f"first accepted {n1}")
        spec.observe("BLOCK-2", f"accepted={n1} budget={budget}", sent="first partial count")
        sent, out, ended = (n1 or 0) + (n2 or 0), bytearray(), False
        end = time.monotonic() + 20
        while (sent < BIG or len(out) < BIG) and time.monotonic() < end:
            try:
                out += op.sock.recv(BIG - len(out), MSG_DONTWAIT)
            except BlockingIOError:
                pass
            if sent < BIG:
                try:
                    sent += op.sock.sendmsg([data[sent:]], [], MSG_MORE | MSG_DONTWAIT)
                except BlockingIOError:
                    pass
            elif not ended:
                op.sock.sendmsg([], [], MSG_DONTWAIT)       # end the request
                ended = True
    spec.check("BLOCK-2", bytes(out), CBC.oracle(key, iv, data, True),
               sent=f"all 64 KiB through partial non-blocking sends ({mode})")


@pytest.mark.clause("BLOCK-3")
@pytest.mark.parametrize("more", [False, True], ids=["no-more", "msg-more"])
def test_partial_write_drops_more(spec, alg_socket, more):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(BIG)
    with _cbc_op(alg_socket, key) as op:
        set_sndbuf(op, 4096)
        n, tok = outcome(op.request, data, ENC, iv, None, MSG_DONTWAIT | (MSG_MORE if more else 0))
        assert tok == "ok" and 0 < n < BIG, f"expected a partial count, seen {tok} {n}"
        _r, tok2 = outcome(op.send, data[n:], MSG_DONTWAIT)
        got, tok3 = recv_token(op, n, MSG_DONTWAIT)
    final = tok2 == "EINVAL" and tok3 == "ok" and got == CBC.oracle(key, iv, data[:n], True)
    spec.check("BLOCK-3", "partial-is-final" if final else f"send:{tok2}/recv:{tok3}:{len(got)}",
               sent=f"64 KiB sendmsg(MSG_DONTWAIT{'|MSG_MORE' if more else ''}) accepted {n}; send again; recv({n})")


@pytest.mark.clause("BLOCK-4")
def test_reader_emptying_queue_stalls_final_write(spec, alg_socket):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(BIG)
    with _cbc_op(alg_socket, key) as op:
        set_sndbuf(op, 4096)
        reader = PollingReader(op, BIG, step=BIG, limit=8.0)    # asks for all it still needs
        reader.start()
        try:
            n, tok = outcome(op.request, data, ENC, iv, None, 0, 4.0)
        finally:
            got = reader.finish(10.0)
    if tok == "blocks":
        seen = "stalls"
    elif tok == "ok" and n == BIG:
        seen = "completes"
    else:
        seen = f"{tok}:{n}"
    spec.check("BLOCK-4", seen, sent="64 KiB blocking write, no MSG_MORE, reader drains everything it can",
               note=f"reader got {len(got)} bytes; errors {reader.errors}")


@pytest.mark.clause("BLOCK-5")
@pytest.mark.parametrize("flags", [0, MSG_DONTWAIT], ids=["blocking", "MSG_DONTWAIT"])
def test_hash_writes_never_block(spec, alg_socket, flags):
    tfm = alg_socket("hash", "sha256")
    data = os.urandom(1 << 20)
    with tfm.accept() as op:
        set_sndbuf(op, 4096)
        n, tok = outcome(op.send, data, flags, (), 20.0)
        digest = op.recv(32) if tok == "ok" else b""
    spec.check("BLOCK-5", "full-count" if n == len(data) else f"{tok}:{n}",
               sent=f"1 MiB send on a hash op socket with SO_SNDBUF 4096, flags={flags:#x}")
    spec.check("BLOCK-5", digest, hashlib.sha256(data).digest(), sent="digest of the 1 MiB")


@pytest.mark.clause("BLOCK-6")
def test_concurrent_writer_ebusy(spec, alg_socket):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(BIG)
    probes: list[str] = []
    with _cbc_op(alg_socket, key) as op:
        set_sndbuf(op, 4096)
        op.request(b"", ENC, iv, flags=MSG_MORE)
        reader = PollingReader(op, BIG, step=4096, limit=30.0)

        def prober():
            end = time.monotonic() + 5.0
            while time.monotonic() < end:
                try:
                    op.sock.sendmsg([], [], MSG_MORE | MSG_DONTWAIT)   # adds nothing, keeps MORE
                    probes.append("ok")
                except OSError as e:
                    probes.append(errno_name(e.errno))
                    if e.errno != 11:
                        break
                time.sleep(0.02)
            reader.start()                  # then drain, so the blocked writer completes

        t = threading.Thread(target=prober, daemon=True)
        t.start()
        try:
            n = op.send(data, MSG_MORE, wait=25.0)
            t.join(10.0)
            op.send(b"")
        finally:
            t.join(10.0)
            out = reader.finish(30.0) if reader.is_alive() or reader.out else b""
    seen = "EBUSY" if "EBUSY" in probes else ",".join(sorted(set(probes)))
    spec.check("BLOCK-6", seen, sent="empty sendmsg(MSG_MORE|MSG_DONTWAIT) while another sendmsg sleeps",
               note=f"{len(probes)} probes")
    spec.check("BLOCK-6", out, CBC.oracle(key, iv, data, True),
               sent=f"the blocked write ({n} bytes) completed intact after the probe")


@pytest.mark.clause("BLOCK-7")
def test_aead_request_must_fit(spec, alg_socket):
    tfm = alg_socket("aead", GCM.name)
    tfm.setkey(os.urandom(16))
    tfm.set_authsize(16)
    with tfm.accept() as op:
        budget = send_budget(set_sndbuf(op, 4096))
        op.request(b"", ENC, os.urandom(12), 16, flags=MSG_MORE)
        n, tok = outcome(op.send, os.urandom(32 * 1024), MSG_MORE | MSG_DONTWAIT)
        assert tok == "ok" and n <= budget, f"sendmsg accepted {n} ({tok}), budget {budget}"
        _d, tok2 = recv_token(op, 1024, MSG_DONTWAIT)
    spec.check("BLOCK-7", tok2, sent=f"AEAD request of 32 KiB > budget {budget}; accepted {n}; recv(MSG_DONTWAIT)")


@pytest.mark.clause("BLOCK-8")
def test_blocked_reader_not_woken_by_blocked_writer(spec, alg_socket):
    import ctypes
    import ctypes.util
    import signal

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.recv.restype = ctypes.c_ssize_t
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(BIG)
    old = signal.signal(signal.SIGUSR2, lambda *_: None)   # no SA_RESTART: the thread's recv gets EINTR
    result: dict = {}
    try:
        with _cbc_op(alg_socket, key) as op:
            set_sndbuf(op, 4096)
            buf = ctypes.create_string_buffer(BIG)

            def reader():
                rc = libc.recv(op.fileno(), buf, BIG, 0)     # plain blocking recv, no retry on EINTR
                result.update(rc=rc, errno=ctypes.get_errno(), at=time.monotonic())

            t = threading.Thread(target=reader, daemon=True)
            t.start()
            time.sleep(0.5)                                  # let it block on the empty socket
            reader_blocked_before = t.is_alive()
            n, tok = outcome(op.request, data, ENC, iv, None, 0, 3.0)
            reader_blocked_during = t.is_alive() and "rc" not in result
            end = time.monotonic() + 10.0
            while t.is_alive() and time.monotonic() < end:   # release the reader
                signal.pthread_kill(t.ident, signal.SIGUSR2)
                t.join(0.1)
            assert not t.is_alive(), "reader thread could not be released"
    finally:
        signal.signal(signal.SIGUSR2, old)
    assert reader_blocked_before, "the reader did not block on an empty socket"
    if tok == "blocks" and reader_blocked_during:
        seen = "not-woken"
    elif tok == "ok":
        seen = "woken"
    else:
        seen = f"writer:{tok}/reader-returned:{result.get('rc')}"
    spec.check("BLOCK-8", seen, sent="reader blocked in recv(64 KiB) first; then 64 KiB blocking write",
               note=f"reader after release: rc={result.get('rc')} errno={result.get('errno')}")
