"""Blocking and non-blocking writes against the op socket's send budget, and how waiters
(blocked calls, poll/select/epoll, SIGIO) learn that an op socket is ready.

Every wait is bounded: blocking calls run in the main thread under a signal deadline
(harness.afalg.bounded); where another thread must act while one waits, it acts only once
/proc shows the waiter asleep in its system call. A reader blocked in recv() is not woken
by a blocked writer (BLOCK-8), so readers beside a blocking writer poll with MSG_DONTWAIT.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import os
import select
import signal
import socket
import struct
import threading
import time

import pytest

from afalg_conformance.conformance._util_cipher import (ENC, PollingReader, TxBudget, UserPages, interrupted, outcome, pipe_buffers,
                                      recv_token, send_budget, set_sndbuf)
from afalg_conformance.harness.afalg import algorithms, iouring
from afalg_conformance.harness.afalg.client import errno_name, vmsplice_segments
from afalg_conformance.harness.afalg.bounded import WaitTimeout, seen_asleep, wait_numbers
from afalg_conformance.harness.afalg.constants import F_OWNER_TID, F_SETOWN_EX, MSG_DONTWAIT, MSG_MORE, SPLICE_F_MORE
from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.afalg.libc import libc, splice_raw

# Serial: these tests time blocking calls, which a test running beside them would slow.
pytestmark = pytest.mark.serial

CBC = algorithms.get("cbc(aes)")
CTR = algorithms.get("ctr(aes)")
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


@pytest.mark.clause("BLOCK-2", "BLOCK-9")
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
        spec.check("BLOCK-9", n1, expected=str(TxBudget(op.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))
                                                .send(BIG)), sent=f"64 KiB sendmsg(MSG_MORE, {mode}): exact count",
                   soft=True)
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
            # The write has returned or given up: what the reader gets after that decides
            # nothing (it waited out its own 8 s limit before, 4 s of a serial test).
            reader.stop.set()
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
    wrote: dict = {}
    old = signal.signal(signal.SIGUSR2, lambda *_: None)   # no SA_RESTART: a stuck writer gets EINTR
    try:
        with _cbc_op(alg_socket, key) as op:
            set_sndbuf(op, 4096)
            op.request(b"", ENC, iv, flags=MSG_MORE)
            reader = PollingReader(op, BIG, step=4096, limit=30.0)
            buf = ctypes.create_string_buffer(data, len(data))

            def writer():
                # a raw blocking send (the client's bounded send polls with MSG_DONTWAIT outside
                # the main thread); the reader below releases it, SIGUSR2 if nothing does
                rc = libc.send(op.fileno(), buf, len(data), MSG_MORE)
                wrote.update(rc=rc, errno=ctypes.get_errno())

            t = threading.Thread(target=writer, daemon=True)
            t.start()
            try:
                # the main thread is the second writer (the one KCOV traces in coverage runs: the
                # EBUSY branch is then its own), once the first sleeps in sendmsg for budget
                asleep = seen_asleep(t.native_id, "send")        # libc send(): the sendto system call
                _n, probe = outcome(op.sock.sendmsg, [], [], MSG_MORE | MSG_DONTWAIT)   # adds nothing, keeps MORE
                reader.start()                  # then drain, so the blocked writer completes
                t.join(30.0)
            finally:
                end = time.monotonic() + 10.0
                while t.is_alive() and time.monotonic() < end:
                    signal.pthread_kill(t.ident, signal.SIGUSR2)
                    t.join(0.1)
            completed = wrote.get("rc") == len(data)
            if completed:
                op.send(b"")
            out = reader.finish(30.0) if reader.is_alive() or reader.out else b""
    finally:
        signal.signal(signal.SIGUSR2, old)
    if not asleep:
        raise HarnessError("the first writer was not seen asleep in send (/proc/self/task/*/syscall)")
    spec.check("BLOCK-6", probe, sent="empty sendmsg(MSG_MORE|MSG_DONTWAIT) while another thread's sendmsg sleeps",
               soft=True)
    spec.check("BLOCK-6", "completed" if completed else f"rc={wrote.get('rc')} errno={wrote.get('errno')}",
               expected="completed", soft=True,
               sent=f"the blocked {len(data)}-byte write, once a reader drains (released by SIGUSR2 after 30 s)")
    spec.check("BLOCK-6", out, CBC.oracle(key, iv, data, True), sent="what was read: the write's output (oracle)")


@pytest.mark.clause("BLOCK-7", "BLOCK-9")
def test_aead_request_must_fit(spec, alg_socket):
    tfm = alg_socket("aead", GCM.name)
    tfm.setkey(os.urandom(16))
    tfm.set_authsize(16)
    with tfm.accept() as op:
        sndbuf = set_sndbuf(op, 4096)
        budget = send_budget(sndbuf)
        op.request(b"", ENC, os.urandom(12), 16, flags=MSG_MORE)
        n, tok = outcome(op.send, os.urandom(32 * 1024), MSG_MORE | MSG_DONTWAIT)
        spec.check("BLOCK-9", n, expected=str(TxBudget(sndbuf).send(32 * 1024)), soft=True,
                   sent=f"gcm(aes): 32 KiB sendmsg(MSG_MORE|MSG_DONTWAIT), SO_SNDBUF {sndbuf}: exact count",
                   note=tok)
        _d, tok2 = recv_token(op, 1024, MSG_DONTWAIT)
    spec.check("BLOCK-7", tok2, sent=f"AEAD request of 32 KiB > budget {budget}; accepted {n}; recv(MSG_DONTWAIT)")


@pytest.mark.clause("BLOCK-8")
def test_blocked_reader_not_woken_by_blocked_writer(spec, alg_socket):
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


# -- BLOCK-9: the exact count a write is accepted, against the send budget ----------------------

WRITE = 60000                  # > any budget below, < a pipe's 64 KiB (15 pipe buffers)
VM_OFFSET = 100                # vmspliced data starts this far into its page
STATES = {                     # (bytes queued first with the control data, bytes then read)
    "empty": (0, 0),
    "queued-100": (100, 0),    # a partly filled page: the write first fills it, outside the budget
    "queued-5000": (5000, 0),
    "after-read": (8192, 4112),  # the budget is full, a read frees 4112 bytes, off a page boundary
}


def splice_is_per_buffer(version: tuple[int, int, int]) -> bool:
    """Before 6.5 a splice into a socket calls ->sendpage once per pipe buffer (fs/splice.c
    pipe_to_sendpage; crypto/af_alg.c af_alg_sendpage -> one af_alg_sendmsg each); since 6.5
    splice_to_socket passes up to 16 pipe buffers to one sendmsg(MSG_SPLICE_PAGES)."""
    return version < (6, 5, 0)


def _write(op, path: str, mode: str, data: bytes):
    """Queue data by path (sendmsg, splice from a pipe written with write(), vmsplice from
    mid-page user memory then splice), all with MORE; (count accepted, token)."""
    if path == "sendmsg":
        if mode == "nonblocking":
            n, tok = outcome(op.send, data, MSG_MORE | MSG_DONTWAIT)
        else:
            n, tok = interrupted(lambda: op.sendmsg_raw([data], None, MSG_MORE), "sendmsg")
        return (n or 0), tok
    r, w = os.pipe()
    mem = None
    try:
        if path == "splice":
            assert os.write(w, data) == len(data)
        else:
            mem = UserPages(16)
            q = vmsplice_segments(w, [mem.put(VM_OFFSET, data)])
            assert q == len(data), f"vmsplice queued {q} of {len(data)}"
        if mode == "nonblocking":
            op.set_nonblocking(True)
            try:
                n, tok = outcome(splice_raw, r, op.fileno(), len(data), SPLICE_F_MORE)
            finally:
                op.set_nonblocking(False)
        else:
            n, tok = interrupted(lambda: splice_raw(r, op.fileno(), len(data), SPLICE_F_MORE), "splice")
    finally:
        os.close(r)
        os.close(w)
        if mem:
            mem.close()
    return (n or 0), tok


@pytest.mark.clause("BLOCK-9")
@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("mode", ["nonblocking", "blocking"])
@pytest.mark.parametrize("path", ["sendmsg", "splice", "vmsplice"])
def test_exact_send_budget(spec, alg_socket, kernel, path, mode, state):
    key, iv = os.urandom(16), os.urandom(16)
    first, read_len = STATES[state]
    prefix, data = os.urandom(first), os.urandom(WRITE)
    tfm = alg_socket("skcipher", CTR.name)
    tfm.setkey(key)
    with tfm.accept() as op:
        sndbuf = set_sndbuf(op, 4096)              # the value the kernel keeps, read back
        model = TxBudget(sndbuf)
        assert op.request(prefix, ENC, iv, flags=MSG_MORE) == model.send(first) == first
        head = b""
        if read_len:
            head, tok = recv_token(op, read_len, MSG_DONTWAIT)
            assert len(head) == read_len, f"partial read: {tok} {len(head)}"
            model.pull(read_len)
        before = (model.used, model.budget(), model.merge)
        if path == "sendmsg":
            want = model.send(WRITE)
        elif splice_is_per_buffer(kernel["version"]):
            want = model.calls(pipe_buffers(WRITE, VM_OFFSET if path == "vmsplice" else 0))
        else:
            want = model.calls([WRITE])
        n, tok = _write(op, path, mode, data)
        spec.check("BLOCK-9", n, expected=str(want), soft=True,
                   sent=f"{path} {mode} of {WRITE} bytes, SO_SNDBUF {sndbuf}, queued {before[0]}, "
                        f"budget {before[1]}, last page fill {before[2]}",
                   note=f"token {tok}")
        # nothing lost, nothing extra: end the request and read the rest
        op.send(b"")
        rest, tok = outcome(op.recv_exact, first - read_len + n)
    spec.check("BLOCK-9", (head + (rest or b"")).hex() or tok, CTR.oracle(key, iv, prefix + data[:n], True).hex(),
               sent=f"{path} {mode}: the output over the queued prefix and the {n} bytes accepted")


@pytest.mark.clause("BLOCK-9")
def test_exact_send_budget_default_sndbuf(spec, alg_socket):
    key, iv = os.urandom(16), os.urandom(16)
    tfm = alg_socket("skcipher", CTR.name)
    tfm.setkey(key)
    with tfm.accept() as op:
        sndbuf = op.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        model = TxBudget(sndbuf)
        data = os.urandom(model.cap + 3 * 4096 + 123)
        op.request(b"", ENC, iv, flags=MSG_MORE)
        want = model.send(len(data))
        n, tok = outcome(op.send, data, MSG_MORE | MSG_DONTWAIT)
        spec.check("BLOCK-9", n or 0, expected=str(want), soft=True,
                   sent=f"sendmsg(MSG_DONTWAIT) of {len(data)} bytes, default SO_SNDBUF {sndbuf}", note=tok)
        op.send(b"")
        out, tok = outcome(op.recv_exact, n or 0, 30.0)
    spec.check("BLOCK-9", (out or b"").hex() or tok, CTR.oracle(key, iv, data[:n or 0], True).hex(),
               sent="the output over the bytes accepted")


# -- BLOCK-10: what poll() says of an op socket ------------------------------------------------------

POLL_STATES = {                # what is queued before poll: (data bytes, MSG_MORE, then read it all)
    "fresh": None,
    "more-no-data": (0, True, False),
    "more-16": (16, True, False),
    "more-4112": (4112, True, False),      # past the last page of budget: not writable
    "ended-unread": (16, False, False),
    "ended-read": (16, False, True),
}


def _poll_model(sndbuf: int, used: int, more: bool) -> str:
    """af_alg_poll: POLLIN when no request is open or data is queued (!ctx->more || ctx->used),
    POLLOUT while the send budget holds a page (af_alg_writable)."""
    budget = max(max(sndbuf & ~4095, 4096) - used, 0)
    return "+".join(n for n, on in (("IN", not more or used > 0), ("OUT", budget >= 4096)) if on) or "none"


@pytest.mark.clause("BLOCK-10")
@pytest.mark.parametrize("kind", ["skcipher", "aead"])
def test_poll_readable_without_output(spec, alg_socket, kind):
    alg = CBC if kind == "skcipher" else GCM
    key = os.urandom(16)
    readable_but_empty = []
    for state, queued in POLL_STATES.items():
        tfm = alg_socket(kind, alg.name)
        tfm.setkey(key)
        if kind == "aead":
            tfm.set_authsize(16)
        with tfm.accept() as op:
            sndbuf = set_sndbuf(op, 4096)
            used, more = 0, False
            if queued is not None:
                n, more, read_all = queued
                iv = os.urandom(16 if kind == "skcipher" else 12)
                data = os.urandom(n)
                sent = op.request(data, ENC, iv, 0 if kind == "aead" else None,
                                  flags=(MSG_MORE if more else 0) | MSG_DONTWAIT)
                assert sent == n, f"{state}: queued {sent} of {n}"
                used = n
                if read_all:
                    out = op.recv_exact(n + (16 if kind == "aead" else 0))
                    assert len(out) == n + (16 if kind == "aead" else 0)
                    used, more = 0, False
            mask = op.poll_mask()
            got, tok = recv_token(op, 64, MSG_DONTWAIT)        # does a read return output now?
        spec.check("BLOCK-10", mask, expected=_poll_model(sndbuf, used, more), soft=True,
                   sent=f"{alg.name} op socket, SO_SNDBUF {sndbuf}, {state}: poll(POLLIN|POLLOUT, 0)",
                   note=f"recv(64, MSG_DONTWAIT) then: {tok}" + (f" ({len(got)} bytes)" if got else ""))
        if "IN" in mask and not got:
            readable_but_empty.append(f"{state} ({tok})")
    spec.check("BLOCK-10", "readable-without-output" if readable_but_empty else "readable-with-output-only",
               sent=f"{alg.name}: states where poll says POLLIN but recv(MSG_DONTWAIT) returns nothing",
               note=", ".join(readable_but_empty))


# -- BLOCK-11: poll/select/epoll waiters and the wake-up keys ---------------------------------------

# The main thread acts only once the waiter sleeps (seen_asleep), so a woken waiter returns
# within milliseconds even under TCG; a not-woken one waits out WAKE_TIMEOUT, serial time
# every run pays, hence short.
WAKE_TIMEOUT = 2.0      # the waiter's own bound
WAKE_WITHIN = 1.0       # woken: the wait ended this soon after the main thread's call, event set
# af_alg's wake-up keys (crypto/af_alg.c): after a read freed send budget (af_alg_wmem_wakeup)
# and after a send queued data (af_alg_data_wakeup)
KEY_AFTER_READ = select.POLLIN | select.POLLRDNORM | select.POLLRDBAND
KEY_AFTER_WRITE = select.POLLOUT | select.POLLRDNORM | select.POLLRDBAND
# what a select() waiter's entry holds (fs/select.c POLLIN_SET, POLLOUT_SET); poll and epoll
# hold the events asked for, with POLLERR|POLLHUP
SELECT_SETS = {select.POLLIN: select.POLLRDNORM | select.POLLRDBAND | select.POLLIN | select.POLLHUP | select.POLLERR,
               select.POLLOUT: select.POLLWRBAND | select.POLLWRNORM | select.POLLOUT | select.POLLERR}


def _wake_model(how: str, interest: int, want: int) -> str:
    """Whether the wake-up the main thread's call makes reaches a waiter with this interest:
    pollwake and ep_poll_callback drop a key that shares no bit with the waiter's."""
    key = KEY_AFTER_READ if want == select.POLLOUT else KEY_AFTER_WRITE
    held = SELECT_SETS[interest] if how == "select" else interest | select.POLLERR | select.POLLHUP
    return "woken" if held & key else "not-woken"


class _Waiter(threading.Thread):
    """Waits on fd for interest by poll, select or epoll (registered by the caller, so the
    traced main thread runs af_alg_poll's queueing branch); keeps what it saw, or its error."""

    def __init__(self, fd: int, how: str, interest: int, ep=None):
        super().__init__(daemon=True)
        self.fd, self.how, self.interest, self.ep = fd, how, interest, ep
        self.events, self.at, self.error = None, None, None

    def run(self):
        try:
            if self.how == "epoll":
                ev = dict(self.ep.poll(WAKE_TIMEOUT)).get(self.fd, 0)
            elif self.how == "poll":
                p = select.poll()
                p.register(self.fd, self.interest)
                ev = dict(p.poll(int(WAKE_TIMEOUT * 1000))).get(self.fd, 0)
            else:
                r, w, _x = select.select([self.fd] if self.interest & select.POLLIN else [],
                                         [self.fd] if self.interest & select.POLLOUT else [], [], WAKE_TIMEOUT)
                ev = (select.POLLIN if r else 0) | (select.POLLOUT if w else 0)
            self.events, self.at = ev, time.monotonic()
        except BaseException as e:          # noqa: BLE001 - raised again in the test's thread
            self.error = e


class _Wait:
    """One op socket made not ready in direction want, a thread waiting on it for interest;
    act() makes it ready from the main thread (a read frees the budget, or a send queues
    data), verdict() says whether the waiter saw it."""

    def __init__(self, alg_socket, key: bytes, how: str, want: int, interest: int):
        self.how, self.want, self.interest = how, want, interest
        self.op = _cbc_op(alg_socket, key)
        try:
            self._start()
        except BaseException:
            self.op.close()          # not yet in the caller's list: nobody else closes it
            raise

    def _start(self) -> None:
        how, want, interest = self.how, self.want, self.interest
        sndbuf = set_sndbuf(self.op, 4096)
        self.op.request(b"", ENC, os.urandom(16), flags=MSG_MORE)
        self.fill = send_budget(sndbuf)
        if want == select.POLLOUT:
            n = self.op.send(os.urandom(self.fill), MSG_MORE | MSG_DONTWAIT)
            assert n == self.fill, f"queued {n} of the {self.fill}-byte budget"
        self.side = "OUT" if want == select.POLLOUT else "IN"
        self.before = self.op.poll_mask()
        # the waiter must start from "not ready in its direction", or the wait proves nothing
        assert self.side not in self.before, f"poll mask {self.before} before the wait"
        self.ep = None
        if how == "epoll":
            self.ep = select.epoll()
            self.ep.register(self.op.fileno(), interest)
        self.waiter = _Waiter(self.op.fileno(), how, interest, self.ep)
        self.waiter.start()
        self.acted_at = self.after = None

    def act(self) -> None:
        if not seen_asleep(self.waiter.native_id, self.how):
            raise HarnessError(f"the {self.how} waiter was not seen asleep in 5 s (/proc/self/task/*/syscall)")
        self.acted_at = time.monotonic()
        if self.want == select.POLLOUT:
            assert len(self.op.recv(self.fill, MSG_DONTWAIT)) == self.fill
        else:
            assert self.op.send(os.urandom(16), MSG_MORE | MSG_DONTWAIT) == 16
        self.after = self.op.poll_mask()
        assert self.side in self.after, f"poll mask {self.after} after the main thread's call"

    def close(self) -> None:
        self.waiter.join(WAKE_TIMEOUT + 5.0)
        if self.ep is not None:
            self.ep.close()
        self.op.close()

    def verdict(self) -> tuple[str, str]:
        w = self.waiter
        if w.error is not None:
            raise w.error
        if w.at is None:
            verdict = "still-waiting"
        elif w.events & self.want and w.at - self.acted_at < WAKE_WITHIN:
            verdict = "woken"
        else:
            verdict = "not-woken"
        waited = (w.at or time.monotonic()) - self.acted_at
        return verdict, (f"poll mask {self.before} -> {self.after} after the main thread's "
                         f"{'read' if self.want == select.POLLOUT else 'write'}; the wait ended {waited:.2f} s "
                         f"after it, events {w.events}")


@pytest.mark.clause("BLOCK-11")
@pytest.mark.parametrize("how", ["poll", "epoll", "select"])
def test_poll_waiter_woken_by_other_thread(spec, alg_socket, how):
    key = os.urandom(16)
    names = {select.POLLIN: "POLLIN", select.POLLOUT: "POLLOUT"}
    # controls: POLLRDBAND, a bit af_alg_poll never reports but both keys carry, so the waiter
    # sleeps the same and is woken by either call; if not, the wait is broken, not the keys
    # (an assertion: the control is not evidence about the clause). select has no such bit.
    cases = [(want, want | select.POLLRDBAND, True) for want in (select.POLLOUT, select.POLLIN) if how != "select"]
    cases += [(want, want, False) for want in (select.POLLOUT, select.POLLIN)]
    # every wait at once, each on its own op socket: the not-woken ones cost one timeout, not one each
    waits = []
    try:
        for want, interest, _control in cases:
            waits.append(_Wait(alg_socket, key, how, want, interest))
        for w in waits:
            w.act()
    finally:
        for w in waits:
            w.close()
    for (want, _interest, control), w in zip(cases, waits):
        verdict, note = w.verdict()
        if control:
            assert verdict == "woken", f"{how} control, {names[want]}|POLLRDBAND waiter: {verdict} ({note})"
    for (want, _interest, control), w in zip(cases, waits):
        if not control:
            verdict, note = w.verdict()
            spec.check("BLOCK-11", verdict, expected=_wake_model(how, want, want), soft=True,
                       sent=f"{how}: a thread waits for {names[want]} alone", note=note)


# -- BLOCK-12: a blocked reader and another thread's send --------------------------------------------

@pytest.mark.clause("BLOCK-12")
@pytest.mark.parametrize("kind", ["skcipher", "aead"])
def test_blocked_reader_woken_by_send(spec, alg_socket, kind):
    key = os.urandom(16)
    if kind == "skcipher":
        iv, data = os.urandom(16), os.urandom(16)
        first, rest = data[:5], data[5:]            # less than a block, then the block's rest
        op = _cbc_op(alg_socket, key)
        n, want = 16, CBC.oracle(key, iv, data, True)
    else:
        iv, aad, pt = os.urandom(12), os.urandom(16), os.urandom(48)
        first, rest = aad + pt[:20], pt[20:]       # the request's end comes from the other thread
        tfm = alg_socket("aead", GCM.name)
        tfm.setkey(key)
        tfm.set_authsize(16)
        op = tfm.accept()
        n, want = 16 + 48 + 16, aad + GCM.oracle(key, iv, aad, pt, 16, True)
    main_tid = threading.get_native_id()
    sender_saw: dict = {}

    def sender():
        try:
            # only once the main thread sleeps in recvfrom: else the read need not have waited
            sender_saw["asleep"] = seen_asleep(main_tid, "recvfrom")
            # the time before the send: the woken reader can return before this thread, which
            # made the send, runs again to read the clock
            sender_saw["at"] = time.monotonic()
            sender_saw["n"] = op.send(rest, (MSG_MORE if kind == "skcipher" else 0) | MSG_DONTWAIT)
        except BaseException as e:           # noqa: BLE001 - raised again in the test's thread
            sender_saw["error"] = e

    with op:
        op.request(first, ENC, iv, 16 if kind == "aead" else None, flags=MSG_MORE)
        t = threading.Thread(target=sender, daemon=True)
        t0 = time.monotonic()
        t.start()
        try:
            out, tok = outcome(op.recv, n, 0, 15.0)      # blocking, in the main (traced) thread
            got_at = time.monotonic()
        finally:
            t.join(10.0)
    if "error" in sender_saw:
        raise sender_saw["error"]
    if not sender_saw.get("asleep"):
        raise HarnessError("the main thread was not seen asleep in recvfrom before the send")
    assert sender_saw.get("n") == len(rest), sender_saw
    after_send = got_at - sender_saw["at"]
    spec.check("BLOCK-12", "woken" if out and 0 <= after_send < WAKE_WITHIN else (tok or "late"),
               sent=f"{kind}: recv({n}) blocks with {len(first)} bytes of an open request queued; "
                    f"another thread sends {len(rest)} more{' with MSG_MORE' if kind == 'skcipher' else ''}",
               note=f"recv returned after {got_at - t0:.2f} s, {after_send:.2f} s after the send began")
    spec.check("BLOCK-12", (out or b"").hex(), want.hex(), sent="what the read returned (oracle)")


# -- BLOCK-13: O_ASYNC and the SIGIO band ------------------------------------------------------------

SI_CODES = {1: "POLL_IN", 2: "POLL_OUT", 3: "POLL_MSG", 4: "POLL_ERR", 5: "POLL_PRI", 6: "POLL_HUP"}


def _sigio_after(fn) -> str:
    """fn(), then the SIGIO it raised, by its si_code ("none" when there was none)."""
    fn()
    info = signal.sigtimedwait([signal.SIGIO], 0.3)
    return "none" if info is None else SI_CODES.get(info.si_code, f"si_code={info.si_code}")


def _o_async(fd: int, on: bool, sig: int = signal.SIGIO) -> None:
    """sig for fd to this thread only (F_OWNER_TID), queued with its band (F_SETSIG), so
    sigtimedwait takes it while it is blocked: no other thread of the worker can receive it.
    A real-time sig queues: two notifications in a row are two signals (SIGIO would merge)."""
    if on:
        fcntl.fcntl(fd, F_SETOWN_EX, struct.pack("ii", F_OWNER_TID, threading.get_native_id()))
        fcntl.fcntl(fd, fcntl.F_SETSIG, sig)
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_ASYNC if on else flags & ~os.O_ASYNC)


@pytest.mark.clause("BLOCK-13")
def test_sigio_band(spec, alg_socket):
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(16)
    old_handler = signal.signal(signal.SIGIO, lambda *_: None)      # never the default (terminate)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGIO])
    try:
        # control: a Unix stream socket with the same setup, which also shows that a SIGIO on
        # data arrival would be seen (an assertion: the control is not evidence about the clause)
        a, b = socket.socketpair()
        with a, b:
            _o_async(b.fileno(), True)
            unix = (f"write:{_sigio_after(lambda: a.send(data))} "
                    f"read:{_sigio_after(lambda: b.recv(16, MSG_DONTWAIT))}")
        assert unix == "write:POLL_IN read:none", f"the Unix socket control: {unix}"
        with _cbc_op(alg_socket, key) as op:
            _o_async(op.fileno(), True)
            after_write = _sigio_after(lambda: op.request(data, ENC, iv, flags=MSG_MORE | MSG_DONTWAIT))
            mask_after_write = op.poll_mask()
            got: list[bytes] = []
            after_read = _sigio_after(lambda: got.append(op.recv(16, MSG_DONTWAIT)))
            mask_after_read = op.poll_mask()
    finally:
        while signal.sigtimedwait([signal.SIGIO], 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        signal.signal(signal.SIGIO, old_handler)
    assert got and got[0] == CBC.oracle(key, iv, data, True), "the read behind the SIGIO check"
    spec.check("BLOCK-13", f"write:{after_write} read:{after_read}",
               sent="cbc(aes) op socket with O_ASYNC (F_SETOWN_EX to this thread, F_SETSIG SIGIO): "
                    "send(16 bytes, MSG_MORE) then recv(16)",
               note=f"poll mask after the write {mask_after_write}, after the read {mask_after_read}; "
                    f"a Unix stream socket pair, the same way: {unix}")


# -- BLOCK-14: O_ASYNC and a writer that found no send space ---------------------------------------

def _bands(sig: int, wait: float = 0.3) -> list[str]:
    out = []
    while (info := signal.sigtimedwait([sig], wait)) is not None:
        out.append(SI_CODES.get(info.si_code, f"si_code={info.si_code}"))
    return out


def _fill(send, chunk: bytes) -> bytes:
    """Non-blocking sends until EAGAIN; what was accepted."""
    queued = b""
    for _ in range(64):
        try:
            n = send(chunk)
        except BlockingIOError:
            return queued
        queued += chunk[:n]
    raise HarnessError("the send budget never filled (64 non-blocking sends accepted)")


def _full_op(op, iv: bytes, sig: int, page: bytes) -> tuple[bytes, list[str]]:
    """SO_SNDBUF 4096, O_ASYNC to this thread with sig, an open request, signals drained, then
    pages until EAGAIN: what was queued, and the signals the filling raised."""
    set_sndbuf(op, 4096)
    _o_async(op.fileno(), True, sig)
    op.request(b"", ENC, iv, flags=MSG_MORE)
    _bands(sig, 0)          # an earlier socket's (a close's POLL_HUP, a last read's POLL_IN)
    sent = _fill(lambda d: op.send(d, MSG_MORE | MSG_DONTWAIT), page)
    return sent, _bands(sig, 0)


def _act_once_asleep(wait: str, action):
    """A helper thread that runs action() once this thread sleeps in `wait` (a bounded.WAITS
    key), then, if this thread is still in its call 10 s later, ends it with SIGUSR2 (EINTR).
    This thread is the one that blocks: in coverage runs KCOV traces the worker's main thread,
    and the kernel's waits are what the test is about. Set state["done"] after the call."""
    main, ident = threading.get_native_id(), threading.get_ident()
    done = threading.Event()
    state: dict = {"done": done}

    def run():
        try:
            state["asleep"] = seen_asleep(main, wait)
            state["result"] = action()
        except OSError as e:
            state["error"] = errno_name(e.errno)
        except BaseException as e:          # the main thread must still be released below
            state["error"] = repr(e)
        finally:
            # a bounded fallback: 10 s, then at most 10 s of signals, never after `done`
            if not done.wait(10.0):
                end = time.monotonic() + 10.0
                while not done.is_set() and time.monotonic() < end:
                    signal.pthread_kill(ident, signal.SIGUSR2)
                    done.wait(0.1)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, state


@pytest.mark.clause("BLOCK-14")
def test_sigio_for_a_writer_without_space(spec, alg_socket):
    sig = signal.SIGRTMIN + 2
    key, iv = os.urandom(16), os.urandom(16)
    page = os.urandom(4096)
    old_handler = signal.signal(sig, lambda *_: None)               # never the default (terminate)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [sig])      # helper threads inherit it
    old_usr2 = signal.signal(signal.SIGUSR2, lambda *_: None)      # no SA_RESTART: a stuck call gets EINTR
    try:
        # control: a Unix stream socket refused for want of space is told (POLL_OUT) once its
        # peer reads: the signal path works, and this is what a non-blocking writer relies on
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            b.setblocking(False)
            _o_async(a.fileno(), True, sig)
            _fill(a.send, page)
            _bands(sig, 0)
            while True:
                try:
                    b.recv(1 << 16)
                except BlockingIOError:
                    break
            unix = ",".join(_bands(sig)) or "none"
        assert unix == "POLL_OUT", f"the Unix socket control: {unix}"

        # a writer refused with EAGAIN, then a read frees a page, then a send
        with _cbc_op(alg_socket, key) as op:
            sent, before_a = _full_op(op, iv, sig, page)
            got = op.recv(4096, MSG_DONTWAIT)
            read_a = ",".join(_bands(sig)) or "none"
            op.send(page[:16], MSG_MORE | MSG_DONTWAIT)
            send_a = ",".join(_bands(sig)) or "none"
            sent += page[:16]
            op.send(b"")
            got += op.recv(len(sent) - len(got), MSG_DONTWAIT)
        out_a = got

        # a writer that slept in a blocking send (af_alg_wait_for_wmem marks the socket), then
        # a read that frees a page and wakes it, then its send completes
        with _cbc_op(alg_socket, key) as op:
            sent_b, before_b = _full_op(op, iv, sig, page)
            buf = ctypes.create_string_buffer(page, len(page))
            t, wst = _act_once_asleep("send", lambda: op.recv(4096, MSG_DONTWAIT))
            try:
                rc = libc.send(op.fileno(), buf, len(page), MSG_MORE)   # blocks until the read
                wrote = {"rc": rc, "errno": ctypes.get_errno()}
            finally:
                wst["done"].set()       # before SIGUSR2's handler goes, whatever ended the call
            t.join(5.0)
            slept = ",".join(_bands(sig)) or "none"
            got_b = wst.get("result") or b""
            if rc == len(page):
                sent_b += page
            op.send(b"")
            got_b += op.recv(len(sent_b) - len(got_b), MSG_DONTWAIT)

        # a reader that slept waiting for a block (af_alg_wait_for_data marks the socket while it
        # waits and must unmark it after), woken by a send: the read's POLL_IN is not silenced
        with _cbc_op(alg_socket, key) as op:
            _o_async(op.fileno(), True, sig)
            data_c = os.urandom(16)
            op.request(data_c[:5], ENC, iv, flags=MSG_MORE)
            _bands(sig, 0)
            rbuf = ctypes.create_string_buffer(16)
            t, rst = _act_once_asleep("recvfrom", lambda: op.send(data_c[5:], MSG_MORE | MSG_DONTWAIT))
            try:
                rc = libc.recv(op.fileno(), rbuf, 16, 0)                # blocks until the send
                read = {"rc": rc, "errno": ctypes.get_errno()}
            finally:
                rst["done"].set()
            t.join(5.0)
            reader_slept = ",".join(_bands(sig)) or "none"
            got_c = rbuf.raw[:rc] if rc > 0 else b""
    finally:
        _bands(sig, 0)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        signal.signal(sig, old_handler)
        signal.signal(signal.SIGUSR2, old_usr2)
    if not (wait_numbers("send") and wait_numbers("recvfrom")):
        raise HarnessError("this machine's system call numbers are unknown: /proc cannot show a thread asleep")
    # what the kernel did around the checks below: each could fail on its own
    spec.check("BLOCK-14", ",".join(before_a + before_b) or "none", expected="none", soft=True,
               sent="signals while the budget filled (MSG_MORE|MSG_DONTWAIT sends until EAGAIN)")
    for who, call, st in (("writer", "send(4096) after EAGAIN", wst), ("reader", "recv(16) of a 5-byte request", rst)):
        spec.check("BLOCK-14", "asleep" if st.get("asleep") else "not-seen-asleep", expected="asleep", soft=True,
                   sent=f"the blocking {call}, as /proc shows this thread (5 s)")
        spec.check("BLOCK-14", st.get("error", "ok"), expected="ok", soft=True,
                   sent=f"the other thread's call that releases the {who}")
    spec.check("BLOCK-14", "completed" if wrote["rc"] == len(page) else f"rc={wrote['rc']} errno={wrote['errno']}",
               expected="completed", soft=True,
               sent="the blocked 4096-byte send once another thread read a page (SIGUSR2 after 10 s)")
    spec.check("BLOCK-14", "completed" if read["rc"] == 16 else f"rc={read['rc']} errno={read['errno']}",
               expected="completed", soft=True,
               sent="the blocked recv(16) once another thread sent the block's last 11 bytes (SIGUSR2 after 10 s)")
    spec.check("BLOCK-14", f"refused-writer: read:{read_a} send:{send_a}; slept-writer: read+send:{slept}; "
                           f"slept-reader: send+read:{reader_slept}",
               sent="cbc(aes) op socket, SO_SNDBUF 4096, O_ASYNC (F_SETOWN_EX to this thread, F_SETSIG a "
                    "real-time signal): (refused) pages with MSG_MORE|MSG_DONTWAIT until EAGAIN, recv(4096), "
                    "send(16, MSG_MORE); (slept) the same fill, a blocking send(4096) asleep, another thread's "
                    "recv(4096), the send completes; (reader) 5 bytes with MSG_MORE, a blocking recv(16) asleep, "
                    "another thread's send(11 bytes, MSG_MORE), the read completes",
               note=f"a Unix stream socket refused with EAGAIN, its peer then reading: {unix}")
    spec.check("BLOCK-14", out_a + got_b + got_c, CBC.oracle(key, iv, sent, True) + CBC.oracle(key, iv, sent_b, True)
               + CBC.oracle(key, iv, data_c, True), sent="what the three sockets returned (oracle)")


# -- BLOCK-15: io_uring task work while an AF_ALG call sleeps ---------------------------------------

# The timeout this thread submits before it blocks: long enough for it to be asleep in its call
# when the timer fires (a few Python statements, under TCG too), short for the test's time.
TASK_WORK_AFTER = 1.0


def _ring_or_skip() -> iouring.Ring:
    try:
        return iouring.Ring()
    except OSError as e:
        why = {errno.EPERM: "disabled", errno.ENOSYS: "missing"}.get(e.errno)   # io_uring_disabled / no CONFIG_IO_URING
        if why is None:
            raise HarnessError(f"io_uring ring: {e}") from e
        pytest.skip(f"unsupported:io-uring-{why} (io_uring_setup: {errno_name(e.errno)})")


def _after_completion(ring: iouring.Ring, user_data: int, submitted: float, release, seen: dict):
    """For _act_once_asleep: once this thread sleeps, wait (10 s at most) for the timeout's
    completion, which the kernel posts only by running task work in this thread, then release()."""
    def action():
        seen["asleep_after"] = time.monotonic() - submitted
        res = ring.wait_for(user_data, 10.0)
        if res is not None:
            seen["res"] = res
        return release()
    return action


def _join_or_error(t: threading.Thread) -> None:
    """The helper ends within about 35 s (5 s to see the sleep, 10 s for the completion, its
    bounded SIGUSR2 fallback); it must not outlive the ring whose memory it reads."""
    t.join(40.0)
    if t.is_alive():
        raise HarnessError("the helper thread of BLOCK-15 did not end within 40 s")


def _restart_state(seen: dict, rc: int, err: int, want: int) -> str:
    if "res" not in seen:
        return "no-task-work-during-call"
    if seen["res"] != -errno.ETIME:                 # refused, not expired: no timer ran
        return f"timeout-res={seen['res']}"
    if rc == want:
        return "restarted"
    return f"rc={rc}" if rc >= 0 else errno_name(err)


@pytest.mark.clause("BLOCK-15")
def test_io_uring_task_work_restarts_a_blocked_call(spec, alg_socket):
    key, iv = os.urandom(16), os.urandom(16)
    page = os.urandom(4096)
    ring = _ring_or_skip()
    old_usr2 = signal.signal(signal.SIGUSR2, lambda *_: None)      # no SA_RESTART: a stuck call gets EINTR
    try:
        with ring:
            # a writer asleep for send budget, nothing of its own copied yet (the socket is full)
            with _cbc_op(alg_socket, key) as op:
                set_sndbuf(op, 4096)
                op.request(b"", ENC, iv, flags=MSG_MORE)
                sent = _fill(lambda d: op.send(d, MSG_MORE | MSG_DONTWAIT), page)
                buf = ctypes.create_string_buffer(page, len(page))
                wseen: dict = {}
                at = time.monotonic()
                ring.timeout(TASK_WORK_AFTER, 1)
                t, wst = _act_once_asleep("send", _after_completion(
                    ring, 1, at, lambda: op.recv(4096, MSG_DONTWAIT), wseen))
                try:
                    rc = libc.send(op.fileno(), buf, len(page), MSG_MORE)    # blocks; task work; the read
                    wrote = (rc, ctypes.get_errno())
                finally:
                    wst["done"].set()
                _join_or_error(t)
                got_w = wst.get("result") or b""
                sent += page[:max(rc, 0)]
                op.send(b"")
                got_w += op.recv(len(sent) - len(got_w), MSG_DONTWAIT)

            # a reader asleep for the rest of a block
            with _cbc_op(alg_socket, key) as op:
                data = os.urandom(16)
                op.request(data[:5], ENC, iv, flags=MSG_MORE)
                rbuf = ctypes.create_string_buffer(16)
                rseen: dict = {}
                at = time.monotonic()
                ring.timeout(TASK_WORK_AFTER, 2)
                t, rst = _act_once_asleep("recvfrom", _after_completion(
                    ring, 2, at, lambda: op.send(data[5:], MSG_MORE | MSG_DONTWAIT), rseen))
                try:
                    rc = libc.recv(op.fileno(), rbuf, 16, 0)                 # blocks; task work; the send
                    read = (rc, ctypes.get_errno())
                finally:
                    rst["done"].set()
                _join_or_error(t)
                got_r = rbuf.raw[:rc] if rc > 0 else b""
    finally:
        signal.signal(signal.SIGUSR2, old_usr2)
    if not (wait_numbers("send") and wait_numbers("recvfrom")):
        raise HarnessError("this machine's system call numbers are unknown: /proc cannot show a thread asleep")
    for who, st, seen in (("send(4096) into a full socket", wst, wseen), ("recv(16) of a 5-byte request", rst, rseen)):
        spec.check("BLOCK-15", "asleep" if st.get("asleep") else "not-seen-asleep", expected="asleep", soft=True,
                   sent=f"the blocking {who}, as /proc shows this thread (5 s)")
        if st.get("asleep") and seen.get("asleep_after", 0) >= TASK_WORK_AFTER:
            raise HarnessError(f"the {who} was first seen asleep {seen['asleep_after']:.2f} s after the "
                               f"{TASK_WORK_AFTER:g} s timeout was submitted: the task work may have run before it slept")
        spec.check("BLOCK-15", st.get("error", "ok"), expected="ok", soft=True,
                   sent=f"the other thread's call that ends the {who}")
        spec.check("BLOCK-15", seen.get("res"), expected=-errno.ETIME, soft=True,
                   sent="the timeout's completion (res -ETIME), posted while the call slept")
    spec.check("BLOCK-15", f"send: {_restart_state(wseen, *wrote, len(page))}; "
                           f"recv: {_restart_state(rseen, *read, 16)}",
               sent=f"cbc(aes) op socket: an io_uring IORING_OP_TIMEOUT of {TASK_WORK_AFTER:g} s submitted by this "
                    "thread, then (send) SO_SNDBUF 4096, pages with MSG_MORE|MSG_DONTWAIT until EAGAIN, a blocking "
                    "send(4096, MSG_MORE), another thread reading a page once the completion is posted; (recv) 5 "
                    "bytes with MSG_MORE, a blocking recv(16), another thread sending the last 11 once posted")
    spec.check("BLOCK-15", got_w + got_r, CBC.oracle(key, iv, sent, True) + CBC.oracle(key, iv, data, True),
               sent="what the two sockets returned (oracle)")
