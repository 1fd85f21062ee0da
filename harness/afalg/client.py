"""A thin, honest AF_ALG client shared by the tests and the fuzzers.

Rules it keeps:
- every error surfaces as OSError with its errno; nothing is retried or hidden;
- no Python socket timeouts (AF_ALG ignores them and CPython would poll a hash
  op socket that never reports ready): blocking calls are bounded by a signal
  deadline in the main thread and by a non-blocking retry loop elsewhere;
- receives ask for an exact length, because a blocking recv with a larger
  buffer than the request produces waits for the next request forever;
- invalid input is allowed on purpose (odd lengths, wrong levels, lying
  cmsg_len): error-path tests and fuzzers depend on it.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import select
import socket
import struct
import time

from afalg_conformance.harness.afalg import cmsg as cm
from afalg_conformance.harness.afalg.bounded import WaitTimeout, deadline, in_main_thread
from afalg_conformance.harness.afalg.libc import IoVec as _IoVec, MsgHdr as _MsgHdr, libc, raise_errno as _raise_errno
from afalg_conformance.harness.afalg.constants import AF_ALG, MSG_DONTWAIT, SOCK_SEQPACKET, SOL_ALG, AlgOpt

DEFAULT_WAIT = 10.0

_libc = libc

# Called with (type, name) before every bind() system call. The guest plugin records what each
# test asked the kernel for: a self-test that fails inside a bind is logged by cryptomgr's own
# kernel thread, and only the name tells which test's bind started it.
bind_observers: list = []


def errno_name(e: int | None) -> str:
    """The errno's name as the kernel source spells it (Python calls 95 ENOTSUP;
    the socket code returns EOPNOTSUPP, the same number)."""
    if e is None or e == 0:
        return "ok"
    if e == errno_mod.EOPNOTSUPP:
        return "EOPNOTSUPP"
    return errno_mod.errorcode.get(e, f"E{e}")


def outcome(fn, *args, **kw) -> tuple[object, str]:
    """(result, token) of one call: token is "ok", the errno's name, or "blocks" for a
    bounded wait that ran out. Every test, fuzzer and reproducer reads a call this way."""
    try:
        return fn(*args, **kw), "ok"
    except WaitTimeout:
        return None, "blocks"
    except OSError as e:
        return None, errno_name(e.errno)


def afalg_available() -> tuple[bool, str]:
    """Whether this kernel offers AF_ALG, and why not if it does not."""
    try:
        s = socket.socket(AF_ALG, SOCK_SEQPACKET, 0)
    except OSError as e:
        return False, f"socket(AF_ALG) failed: {errno_name(e.errno)} ({e.strerror})"
    s.close()
    return True, "AF_ALG available"


def sockaddr_alg(type_: str | bytes, name: str | bytes, feat: int = 0, mask: int = 0,
                 family: int = AF_ALG, name_len: int | None = None) -> bytes:
    """Raw struct sockaddr_alg: 24-byte header, then the name (any length).

    CPython's own bind() limits names to 63 bytes and feat/mask to 16 bits;
    this encoder does neither, so bind's own checks can be reached.
    """
    t = type_.encode() if isinstance(type_, str) else type_
    n = name.encode() if isinstance(name, str) else name
    head = struct.pack("=H14sII", family, t[:14], feat & 0xFFFFFFFF, mask & 0xFFFFFFFF)
    body = n + b"\0"
    if name_len is not None:
        body = (n + b"\0" * max(0, name_len - len(n)))[:name_len]
    elif len(body) < 64:
        body = body + b"\0" * (64 - len(body))
    return head + body


class AfalgSocket:
    """An AF_ALG socket: the bound tfm socket or an accepted op socket."""

    def __init__(self, sock: socket.socket, alg_type: str | None = None, alg_name: str | None = None,
                 is_op: bool = False):
        self.sock = sock
        self.alg_type = alg_type
        self.alg_name = alg_name
        self.is_op = is_op
        # True while the caller holds a deadline() over a whole exchange (the KAT runner, per
        # vector): the calls then skip their own, which cost five system calls and a signal
        # handler swap each, a fifth of a vector file's time under TCG.
        self.outer_deadline = False

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def new(cls, sock_type: int = SOCK_SEQPACKET, proto: int = 0) -> "AfalgSocket":
        return cls(socket.socket(AF_ALG, sock_type, proto))

    @classmethod
    def bound(cls, alg_type: str, alg_name: str, feat: int = 0, mask: int = 0) -> "AfalgSocket":
        s = cls.new()
        try:
            s.bind(alg_type, alg_name, feat, mask)
        except BaseException:
            s.close()
            raise
        return s

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def poll_mask(self) -> str:
        """poll(POLLIN|POLLOUT) without waiting: "IN+OUT", "IN", "OUT" or "none"."""
        p = select.poll()
        p.register(self.fileno(), select.POLLIN | select.POLLOUT)
        ev = dict(p.poll(0)).get(self.fileno(), 0)
        return "+".join(n for n, bit in (("IN", select.POLLIN), ("OUT", select.POLLOUT)) if ev & bit) or "none"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- tfm socket ------------------------------------------------------------------------
    def bind(self, alg_type: str, alg_name: str, feat: int = 0, mask: int = 0) -> None:
        for observe in bind_observers:
            observe(alg_type, alg_name)
        if len(alg_name.encode()) < 64 and feat <= 0xFFFF and mask <= 0xFFFF:
            self.sock.bind((alg_type, alg_name, feat, mask))
        else:
            self.bind_raw(sockaddr_alg(alg_type, alg_name, feat, mask))
        self.alg_type, self.alg_name = alg_type, alg_name

    def bind_raw(self, addr: bytes, addrlen: int | None = None) -> None:
        """bind() with an exact address buffer and length, for bind's error paths."""
        n = len(addr) if addrlen is None else addrlen
        buf = ctypes.create_string_buffer(addr, max(len(addr), 1))
        if _libc.bind(self.fileno(), buf, n) != 0:
            _raise_errno("bind")

    def setsockopt(self, level: int, opt: int, value: bytes | int | None, optlen: int | None = None) -> None:
        """Raw setsockopt: value may be None (NULL optval) with any optlen."""
        if value is None or optlen is not None:
            data = b"" if value is None else (value if isinstance(value, bytes) else struct.pack("=i", value))
            n = len(data) if optlen is None else optlen
            buf = ctypes.create_string_buffer(data, max(len(data), 1)) if value is not None else None
            ptr = ctypes.cast(buf, ctypes.c_void_p) if buf is not None else None
            if _libc.setsockopt(self.fileno(), level, opt, ptr, n) != 0:
                _raise_errno("setsockopt")
            return
        self.sock.setsockopt(level, opt, value)

    def setkey(self, key: bytes) -> None:
        self.setsockopt(SOL_ALG, AlgOpt.SET_KEY, key)

    def set_authsize(self, authsize: int) -> None:
        # The kernel takes the tag length from optlen and never reads optval.
        self.setsockopt(SOL_ALG, AlgOpt.SET_AEAD_AUTHSIZE, None, authsize)

    def accept(self) -> "AfalgSocket":
        """accept() on a tfm socket, or on a hash op socket (clones its partial state)."""
        s, _ = self.sock.accept()
        return AfalgSocket(s, self.alg_type, self.alg_name, is_op=True)

    # -- op socket: send ---------------------------------------------------------------------
    def send(self, data: bytes = b"", flags: int = 0, cmsgs: list[cm.Cmsg] | tuple = (),
             wait: float | None = DEFAULT_WAIT) -> int:
        """sendmsg(); malformed cmsgs are sent raw. Returns the byte count."""
        cmsgs = list(cmsgs)

        def call(f):
            if all(c.honest for c in cmsgs):
                return self.sock.sendmsg([data] if data else [], [c.as_tuple() for c in cmsgs], f)
            return self.sendmsg_raw([data], cm.build_control(cmsgs), f)
        return self._bounded(call, wait, "sendmsg", flags)

    def sendmsg_raw(self, buffers: list[bytes], control: bytes | None, flags: int = 0,
                    controllen: int | None = None) -> int:
        """libc sendmsg with a msg_control buffer exactly as given (controllen may lie)."""
        keep = [ctypes.create_string_buffer(b, max(len(b), 1)) for b in buffers]
        iov = (_IoVec * max(len(buffers), 1))()
        for i, (b, cbuf) in enumerate(zip(buffers, keep)):
            iov[i].iov_base = ctypes.cast(cbuf, ctypes.c_void_p)
            iov[i].iov_len = len(b)
        msg = _MsgHdr()
        msg.msg_iov = iov
        msg.msg_iovlen = len(buffers)
        ctl = None
        if control is not None:
            ctl = ctypes.create_string_buffer(control, max(len(control), 1))
            msg.msg_control = ctypes.cast(ctl, ctypes.c_void_p)
            msg.msg_controllen = len(control) if controllen is None else controllen
        n = _libc.sendmsg(self.fileno(), ctypes.byref(msg), flags)
        if n < 0:
            _raise_errno("sendmsg")
        return n

    def request(self, data: bytes = b"", op: int | None = None, iv: bytes | None = None,
                assoclen: int | None = None, flags: int = 0, wait: float | None = DEFAULT_WAIT) -> int:
        """Send one request part with the ordinary OP/IV/ASSOCLEN control messages."""
        return self.send(data, flags, cm.request(op, iv, assoclen), wait)

    def recv(self, n: int, flags: int = 0, wait: float | None = DEFAULT_WAIT) -> bytes:
        """One recv() of at most n bytes; bounded when blocking."""
        return self._bounded(lambda f: self.sock.recv(n, f), wait, "recv", flags)

    def recv_into(self, buffer, n: int, flags: int = 0, wait: float | None = DEFAULT_WAIT) -> int:
        """One recv() of at most n bytes into buffer (a writable memoryview: an odd offset
        into a bytearray makes the kernel write to an unaligned user address); bounded."""
        return self._bounded(lambda f: self.sock.recv_into(buffer, n, f), wait, "recv", flags)

    def recvmsg(self, n: int, flags: int = 0, wait: float | None = DEFAULT_WAIT):
        """recvmsg(); returns (data, msg_flags) so MSG_TRUNC can be checked."""
        data, _anc, msg_flags, _addr = self._bounded(lambda f: self.sock.recvmsg(n, 0, f), wait,
                                                     "recvmsg", flags)
        return data, msg_flags

    def recv_exact(self, n: int, wait: float = DEFAULT_WAIT) -> bytes:
        """Exactly n bytes of output (0 allowed), never asking the kernel for more."""
        if n == 0:
            return self.recv(0, wait=wait)
        out = bytearray()
        end = time.monotonic() + wait
        while len(out) < n:
            left = end - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"recv: {len(out)} of {n} bytes after {wait:g} s")
            chunk = self.recv(n - len(out), wait=left)
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def _bounded(self, call, wait: float | None, what: str, flags: int):
        """Run call(flags), a possibly blocking call, so it cannot hang the suite."""
        nonblocking = (flags & MSG_DONTWAIT) or self.sock.getblocking() is False
        if wait is None or nonblocking or self.outer_deadline:
            return call(flags)
        if in_main_thread():
            with deadline(wait, what):
                return call(flags)
        # Other threads cannot take a signal: retry with MSG_DONTWAIT (the socket's own
        # mode is left alone, since another thread may be blocked on it).
        end = time.monotonic() + wait
        delay = 0.001
        while True:
            try:
                return call(flags | MSG_DONTWAIT)
            except BlockingIOError:
                if time.monotonic() >= end:
                    raise WaitTimeout(f"{what} still blocked after {wait:g} s") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    # -- modes and zero-copy paths -------------------------------------------------------------
    def set_nonblocking(self, on: bool = True) -> None:
        self.sock.setblocking(not on)


def vmsplice(pipe_w: int, buf, length: int) -> int:
    """vmsplice(2) of length bytes of a ctypes buffer (user memory of our own) into the write
    end of a pipe of our own; returns the bytes queued. Python has no vmsplice."""
    iov = _IoVec(ctypes.cast(buf, ctypes.c_void_p), length)
    n = _libc.vmsplice(pipe_w, ctypes.byref(iov), 1, 0)
    if n < 0:
        _raise_errno("vmsplice")
    return n


def vmsplice_segments(pipe_w: int, segments: list[tuple[int, int]]) -> int:
    """vmsplice(2) of several (address, length) pieces of our own memory in one call (one
    iovec each) into a pipe of our own; returns the bytes queued."""
    iov = (_IoVec * max(len(segments), 1))()
    for i, (addr, length) in enumerate(segments):
        iov[i].iov_base = addr
        iov[i].iov_len = length
    n = _libc.vmsplice(pipe_w, iov, len(segments), 0)
    if n < 0:
        _raise_errno("vmsplice")
    return n
