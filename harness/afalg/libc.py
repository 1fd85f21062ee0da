"""The one binding of the C library: every raw call the client, the tests and the fuzzers
make where CPython's own wrappers do not fit (no EINTR retry, no recv(0) short cut, an
address buffer for accept(), sendmsg with lying control messages, vmsplice, splice,
syscall, and mmap/ioctl for KCOV).

One CDLL object, its prototypes declared once: two modules declaring the same function
differently on a shared CDLL would silently change each other's calls."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(IoVec)), ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


_c = ctypes
libc.sendmsg.argtypes = [_c.c_int, _c.POINTER(MsgHdr), _c.c_int]
libc.sendmsg.restype = _c.c_ssize_t
libc.bind.argtypes = [_c.c_int, _c.c_char_p, _c.c_uint32]
libc.setsockopt.argtypes = [_c.c_int, _c.c_int, _c.c_int, _c.c_void_p, _c.c_uint32]
libc.getsockopt.argtypes = [_c.c_int, _c.c_int, _c.c_int, _c.c_void_p, _c.c_void_p]
libc.accept.argtypes = [_c.c_int, _c.c_void_p, _c.c_void_p]
libc.socket.argtypes = [_c.c_int, _c.c_int, _c.c_int]
libc.recv.argtypes = [_c.c_int, _c.c_void_p, _c.c_size_t, _c.c_int]
libc.recv.restype = _c.c_ssize_t
libc.vmsplice.argtypes = [_c.c_int, _c.POINTER(IoVec), _c.c_size_t, _c.c_uint]
libc.vmsplice.restype = _c.c_ssize_t
libc.splice.argtypes = [_c.c_int, _c.c_void_p, _c.c_int, _c.c_void_p, _c.c_size_t, _c.c_uint]
libc.splice.restype = _c.c_ssize_t
libc.syscall.restype = _c.c_long
libc.mmap.restype = _c.c_void_p
libc.mmap.argtypes = [_c.c_void_p, _c.c_size_t, _c.c_int, _c.c_int, _c.c_int, _c.c_long]
libc.ioctl.argtypes = [_c.c_int, _c.c_ulong, _c.c_ulong]


def raise_errno(what: str) -> None:
    e = ctypes.get_errno()
    raise OSError(e, f"{what}: {os.strerror(e)}")


def recv_raw(fd: int, n: int, flags: int = 0) -> bytes:
    """recv() itself: CPython's recv(0) returns b'' without a system call, and its recv
    retries after EINTR; this one does neither."""
    buf = ctypes.create_string_buffer(max(n, 1))
    r = libc.recv(fd, buf, n, flags)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return buf.raw[:r]


def splice_raw(fd_in: int, fd_out: int, n: int, flags: int = 0) -> int:
    """splice(): unlike os.splice, an EINTR is returned, not retried."""
    r = libc.splice(fd_in, None, fd_out, None, n, flags)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r
