"""The one binding of the C library: every raw call the client, the tests and the fuzzers
make where CPython's own wrappers do not fit (no EINTR retry, no recv(0) short cut, an
address buffer for accept(), sendmsg with lying control messages, vmsplice, splice,
syscall, and mmap/ioctl for KCOV).

One CDLL object, its prototypes declared once: two modules declaring the same function
differently on a shared CDLL would silently change each other's calls."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os
import time

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
libc.send.argtypes = [_c.c_int, _c.c_void_p, _c.c_size_t, _c.c_int]
libc.send.restype = _c.c_ssize_t
libc.vmsplice.argtypes = [_c.c_int, _c.POINTER(IoVec), _c.c_size_t, _c.c_uint]
libc.vmsplice.restype = _c.c_ssize_t
libc.splice.argtypes = [_c.c_int, _c.c_void_p, _c.c_int, _c.c_void_p, _c.c_size_t, _c.c_uint]
libc.splice.restype = _c.c_ssize_t
libc.syscall.restype = _c.c_long
libc.mmap.restype = _c.c_void_p
libc.mmap.argtypes = [_c.c_void_p, _c.c_size_t, _c.c_int, _c.c_int, _c.c_int, _c.c_long]
libc.munmap.argtypes = [_c.c_void_p, _c.c_size_t]
libc.ioctl.argtypes = [_c.c_int, _c.c_ulong, _c.c_ulong]


def raise_errno(what: str) -> None:
    e = ctypes.get_errno()
    raise OSError(e, f"{what}: {os.strerror(e)}")


def forbidden_page(readable: bool = False, size: int = 4096) -> int:
    """The address of a fresh anonymous mapping of our own that the kernel may not write
    (PROT_READ) or not touch at all (PROT_NONE): a recv into it, or a send from it, is the
    user-copy fault a program with a stale buffer makes, with nobody else's memory involved.
    The caller keeps it or unmaps it (libc.munmap)."""
    addr = libc.mmap(None, size, mmap.PROT_READ if readable else 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise_errno("mmap")
    return addr


def recv_into(fd: int, buf, n: int, flags: int = 0) -> int:
    """recv() of up to n bytes into buf (a ctypes buffer or an address): the count, or OSError
    (no EINTR retry)."""
    r = libc.recv(fd, buf, n, flags)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def recv_raw(fd: int, n: int, flags: int = 0) -> bytes:
    """recv() itself: CPython's recv(0) returns b'' without a system call, and its recv
    retries after EINTR; this one does neither."""
    buf = ctypes.create_string_buffer(max(n, 1))
    r = recv_into(fd, buf, n, flags)
    return buf.raw[:r]


def splice_raw(fd_in: int, fd_out: int, n: int, flags: int = 0) -> int:
    """splice(): unlike os.splice, an EINTR is returned, not retried."""
    r = libc.splice(fd_in, None, fd_out, None, n, flags)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


# -- kernel AIO (io_setup/io_submit/io_getevents; glibc has no wrappers) -----------------------
# A read submitted through io_submit reaches algif_skcipher/aead's recvmsg with an iocb that is
# not synchronous: the branch that hands the request a completion callback (af_alg_async_cb)
# and returns -EIOCBQUEUED when the driver works asynchronously. read(2) never takes it.
NR_IO_SETUP, NR_IO_DESTROY, NR_IO_GETEVENTS, NR_IO_SUBMIT = 206, 207, 208, 209   # x86_64
IOCB_CMD_PREAD = 0


class Iocb(ctypes.Structure):
    _fields_ = [("aio_data", _c.c_uint64), ("aio_key", _c.c_uint32), ("aio_rw_flags", _c.c_int32),
                ("aio_lio_opcode", _c.c_uint16), ("aio_reqprio", _c.c_int16), ("aio_fildes", _c.c_uint32),
                ("aio_buf", _c.c_uint64), ("aio_nbytes", _c.c_uint64), ("aio_offset", _c.c_int64),
                ("aio_reserved2", _c.c_uint64), ("aio_flags", _c.c_uint32), ("aio_resfd", _c.c_uint32)]


class IoEvent(ctypes.Structure):
    _fields_ = [("data", _c.c_uint64), ("obj", _c.c_uint64), ("res", _c.c_int64), ("res2", _c.c_int64)]


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", _c.c_long), ("tv_nsec", _c.c_long)]


class Aio:
    """One AIO context for reads. A socket's read runs inside io_submit (a blocking socket
    waits there for data: use non-blocking ones); it stays in flight only when an asynchronous
    driver queued the request, and then its buffer is kept until close(), which waits for it
    (io_destroy)."""

    def __init__(self, nr: int = 8):
        ctx = _c.c_ulong(0)
        if libc.syscall(_c.c_long(NR_IO_SETUP), _c.c_long(nr), _c.byref(ctx)) < 0:
            raise_errno("io_setup")
        self.ctx = ctx.value
        self.pending: dict[int, tuple] = {}
        self.serial = 0

    def read(self, fd: int, n: int, timeout: float = 1.0) -> bytes:
        """The read's bytes; OSError(its errno), or EINPROGRESS when it is still in flight."""
        buf = ctypes.create_string_buffer(max(n, 1))
        self.serial += 1
        cb = Iocb(aio_data=self.serial, aio_lio_opcode=IOCB_CMD_PREAD, aio_fildes=fd,
                  aio_buf=ctypes.addressof(buf), aio_nbytes=n)
        cbs = (_c.POINTER(Iocb) * 1)(_c.pointer(cb))
        if libc.syscall(_c.c_long(NR_IO_SUBMIT), _c.c_ulong(self.ctx), _c.c_long(1), cbs) < 0:
            raise_errno("io_submit")
        self.pending[self.serial] = (buf, cb)    # the kernel writes there until the event comes
        ev = IoEvent()
        end = time.monotonic() + timeout
        while True:
            left = max(0.0, end - time.monotonic())
            ts = Timespec(int(left), int((left % 1) * 1e9))
            got = libc.syscall(_c.c_long(NR_IO_GETEVENTS), _c.c_ulong(self.ctx), _c.c_long(1), _c.c_long(1),
                               _c.byref(ev), _c.byref(ts))
            if got < 0:
                raise_errno("io_getevents")
            if got == 0:
                raise OSError(errno.EINPROGRESS, f"AIO read still in flight after {timeout:g} s")
            self.pending.pop(ev.data, None)
            if ev.data == self.serial:           # not an earlier read that came in late
                break
        if ev.res < 0:
            raise OSError(-ev.res, os.strerror(-ev.res))
        return buf.raw[:ev.res]

    def close(self) -> None:
        if self.ctx:
            libc.syscall(_c.c_long(NR_IO_DESTROY), _c.c_ulong(self.ctx))
            self.ctx = 0
            self.pending.clear()
libc.unshare.argtypes = [_c.c_int]
libc.setns.argtypes = [_c.c_int, _c.c_int]
libc.mount.argtypes = [_c.c_char_p, _c.c_char_p, _c.c_char_p, _c.c_ulong, _c.c_void_p]
libc.umount2.argtypes = [_c.c_char_p, _c.c_int]
