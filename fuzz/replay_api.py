"""Names the printed reproducers use (`from afalg_conformance.fuzz.replay_api import *`).

A reproducer printed by `afalg-conform fuzz --reproduce` is plain Python over
harness.afalg.client; every call is wrapped in call(), which prints the errno instead of
stopping, as the fuzzer's executor does. Run it only inside a guest.
"""

import os
import socket

from afalg_conformance.harness.afalg.client import AfalgSocket, errno_name, outcome, sockaddr_alg  # noqa: F401
from afalg_conformance.harness.afalg.constants import (AF_ALG, MSG_DONTWAIT, MSG_MORE, MSG_OOB, MSG_PEEK, MSG_TRUNC,  # noqa: F401
                               SOL_ALG)
from afalg_conformance.fuzz.program import (aio_read, background_send, blocking, end_background,  # noqa: F401
                                            enter_private_netns, epoll_add, fault, in_sockopt_cgroup,
                                            join_sockopt_cgroup, key_serial, module_op, page_of,
                                            recv_into_page, set_async, set_optmem, splice_own_pipe)
from afalg_conformance.harness.afalg.libc import recv_raw  # noqa: F401

SOL_SOCKET = socket.SOL_SOCKET
SOL_IP = socket.SOL_IP
SOCK_SEQPACKET = socket.SOCK_SEQPACKET
SOCK_STREAM = socket.SOCK_STREAM
SOCK_DGRAM = socket.SOCK_DGRAM
SOCK_RAW = socket.SOCK_RAW
SOCK_NONBLOCK = socket.SOCK_NONBLOCK
SOCK_CLOEXEC = socket.SOCK_CLOEXEC


def call(fn):
    r, tok = outcome(fn)
    if tok == "ok" and r is not None:
        tok = f"ok {r if not isinstance(r, bytes) else r.hex()}"
    print(f"  {tok}")
    return r


def sock(type_, proto=0):
    try:
        return AfalgSocket(socket.socket(AF_ALG, type_, proto))
    except OSError as e:
        print(f"  socket: {errno_name(e.errno)}")
        return None


def accept(parent):
    try:
        s, _ = parent.sock.accept()
        s.setblocking(False)
        return AfalgSocket(s, is_op=True)
    except (OSError, AttributeError) as e:
        print(f"  accept: {errno_name(getattr(e, 'errno', None))}")
        return None


__all__ = [n for n in dir() if not n.startswith("_") or n == "_"] + ["os"]
