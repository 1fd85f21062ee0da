"""BLOCK-9's interrupted() (conformance/_util_cipher.py), on the host with an AF_UNIX socket
whose peer reads nothing: the blocking sendmsg sleeps for buffer space as an AF_ALG write
sleeps for send budget. The first signal goes when /proc shows the main thread asleep in the
system call named, and the write returns the count it accepted."""

import os
import platform
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from afalg_conformance.conformance._util_cipher import interrupted
from afalg_conformance.harness.afalg.bounded import SYSCALL_NR, asleep_in
from afalg_conformance.harness.afalg.client import AfalgSocket

pytestmark = pytest.mark.skipif(platform.machine() not in SYSCALL_NR, reason="no system call numbers for this machine")


def _raw_sendmsg(sock: socket.socket, data: bytes) -> int:
    """The libc sendmsg BLOCK-9 calls (AfalgSocket.sendmsg_raw: an EINTR comes back, where
    CPython's own sendmsg would retry it), on any socket."""
    return AfalgSocket.sendmsg_raw(SimpleNamespace(fileno=sock.fileno), [data], None, 0)


def _full_pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    a.setblocking(False)
    try:
        while True:
            a.send(b"x" * 4096)
    except BlockingIOError:
        pass
    a.setblocking(True)
    return a, b


def test_a_thread_asleep_in_sendmsg_is_seen_there_and_not_elsewhere():
    a, b = _full_pair()
    nr = SYSCALL_NR[platform.machine()]
    ready = threading.Event()
    tid = {}

    def writer():
        tid["id"] = threading.get_native_id()
        ready.set()
        try:
            a.sendmsg([b"y" * 65536])         # sleeps: the peer's queue is full
        except OSError:
            pass
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    ready.wait(5)
    end = time.monotonic() + 10
    while not asleep_in(tid["id"], {nr["sendmsg"]}) and time.monotonic() < end:
        time.sleep(0.01)
    try:
        assert asleep_in(tid["id"], {nr["sendmsg"]})
        assert not asleep_in(tid["id"], {nr["splice"]})
        assert not asleep_in(threading.get_native_id(), {nr["sendmsg"]})      # this thread runs
    finally:
        b.close()                             # the writer gets EPIPE/ECONNRESET and ends
        t.join(5)
        a.close()


def test_the_blocked_write_is_interrupted_once_asleep_not_after_the_fallback_delay():
    a, b = _full_pair()
    try:
        t0 = time.monotonic()
        # first=60: without the /proc check nothing would signal the write for a minute
        n, tok = interrupted(lambda: _raw_sendmsg(a, b"z" * 65536), "sendmsg", first=60.0)
        assert time.monotonic() - t0 < 30
        assert n is not None and n > 0 or tok == "EINTR", (n, tok)
    finally:
        a.close()
        b.close()


def test_it_finds_the_write_asleep_in_a_forked_worker_too():
    """The guest's workers are forked after collection, and CPython 3.11 keeps the parent's
    main_thread().native_id in a forked child: the thread to watch is the caller's own."""
    pid = os.fork()
    if pid == 0:                                   # the child: exit 0 only if the write was signalled early
        code = 1
        try:
            threading.main_thread().native_id     # noqa: B018 - the stale value is the trap
            a, b = _full_pair()
            t0 = time.monotonic()
            n, tok = interrupted(lambda: _raw_sendmsg(a, b"z" * 65536), "sendmsg", first=60.0)
            code = 0 if time.monotonic() - t0 < 30 and (n or tok == "EINTR") else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
