"""fuzz_sequence's epoll and fasync ops: a waiter on an op socket's queue and SOCK_FASYNC,
for the branches of af_alg's waits and wake-ups nothing else takes (af_alg_poll's poll_wait,
the sk_wake_async calls). Decoding, the reproducer's lines, and what each does to a socket
(host sockets: the calls are the same for AF_ALG's)."""

from __future__ import annotations

import fcntl
import os
import signal
import socket

from afalg_conformance.fuzz import decoders, program
from afalg_conformance.fuzz.program import EncodingSource, FdpSource, Names
from afalg_conformance.fuzz.seeds import Spec


def _decode(op: str):
    want = {"steps": 2, "seq-op": ["accept", op], "slot-random": 7, "slot": [0, 1], "accept-dst": 1}
    # the seeds' Spec: wanted choices by tag, the common branch of every other gate
    src = EncodingSource(Spec(**want))
    decoders.decode_sequence(src, Names())
    return decoders.decode_sequence(FdpSource(src.data()), Names())


def test_the_ops_decode_on_an_op_socket_and_print_as_reproducer_lines():
    for op, line in (("epoll", "call(lambda: epoll_add(s[1]))"), ("fasync", "call(lambda: set_async(s[1]))")):
        prog = _decode(op)
        calls = [c for c in prog.calls if c.op == op]
        assert [(c.op, c.slot) for c in calls] == [(op, 1)]
        assert line in prog.to_python()
        assert "fault" not in calls[0].args            # not a fault site of its own


class _Sock:
    def __init__(self, s: socket.socket):
        self.s = s

    def fileno(self) -> int:
        return self.s.fileno()


def test_epoll_add_registers_the_socket_and_fasync_sets_o_async():
    a, b = socket.socketpair()
    with a, b:
        program.epoll_add(_Sock(a))
        ep = program._EPOLL[0]
        b.send(b"x")
        assert [fd for fd, _ev in ep.poll(1)] == [a.fileno()]      # registered, and nothing else
        try:
            program.epoll_add(_Sock(a))
            raise AssertionError("a second registration of the same socket succeeded")
        except FileExistsError:
            pass                                                   # EEXIST: an outcome like any
        old = signal.getsignal(signal.SIGIO)
        try:
            program.set_async(_Sock(b))
            assert fcntl.fcntl(b.fileno(), fcntl.F_GETFL) & os.O_ASYNC
            assert signal.getsignal(signal.SIGIO) == signal.SIG_IGN
        finally:
            signal.signal(signal.SIGIO, old)
