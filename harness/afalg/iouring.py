"""The smallest io_uring BLOCK-15 needs: one ring, IORING_OP_TIMEOUT, completions read from the
ring's memory (glibc has no wrappers; liburing is not a dependency).

Why a timeout: its completion is io_uring task work. The timer's callback queues it on the
task that submitted the request (task_work_add with TWA_SIGNAL unless the ring was set up
with COOP_TASKRUN or DEFER_TASKRUN), which sets TIF_NOTIFY_SIGNAL and wakes the task from an
interruptible sleep: a thread asleep in an AF_ALG call is woken as by a signal, with no
signal, and the completion is posted only when that thread has run the work on its way out
of the call. So the completion appearing while the thread is still in its call is the
kernel's own evidence that the call was interrupted and restarted."""

from __future__ import annotations

import ctypes
import os
import time

from afalg_conformance.harness.afalg.libc import libc, raise_errno

_c = ctypes
NR_IO_URING_SETUP, NR_IO_URING_ENTER = 425, 426        # the same on every architecture
IORING_OFF_SQ_RING, IORING_OFF_CQ_RING, IORING_OFF_SQES = 0, 0x8000000, 0x10000000
IORING_OP_TIMEOUT = 11
PROT_READ_WRITE, MAP_SHARED_POPULATE = 0x3, 0x1 | 0x8000
SQE_SIZE, CQE_SIZE = 64, 16


class SqOffsets(ctypes.Structure):
    _fields_ = [("head", _c.c_uint32), ("tail", _c.c_uint32), ("ring_mask", _c.c_uint32),
                ("ring_entries", _c.c_uint32), ("flags", _c.c_uint32), ("dropped", _c.c_uint32),
                ("array", _c.c_uint32), ("resv1", _c.c_uint32), ("user_addr", _c.c_uint64)]


class CqOffsets(ctypes.Structure):
    _fields_ = [("head", _c.c_uint32), ("tail", _c.c_uint32), ("ring_mask", _c.c_uint32),
                ("ring_entries", _c.c_uint32), ("overflow", _c.c_uint32), ("cqes", _c.c_uint32),
                ("flags", _c.c_uint32), ("resv1", _c.c_uint32), ("user_addr", _c.c_uint64)]


class Params(ctypes.Structure):
    _fields_ = [("sq_entries", _c.c_uint32), ("cq_entries", _c.c_uint32), ("flags", _c.c_uint32),
                ("sq_thread_cpu", _c.c_uint32), ("sq_thread_idle", _c.c_uint32), ("features", _c.c_uint32),
                ("wq_fd", _c.c_uint32), ("resv", _c.c_uint32 * 3), ("sq_off", SqOffsets), ("cq_off", CqOffsets)]


class KernelTimespec(ctypes.Structure):
    _fields_ = [("tv_sec", _c.c_int64), ("tv_nsec", _c.c_int64)]


class Sqe(ctypes.Structure):
    """The 64-byte submission entry, with the fields a timeout uses."""
    _fields_ = [("opcode", _c.c_uint8), ("flags", _c.c_uint8), ("ioprio", _c.c_uint16), ("fd", _c.c_int32),
                ("off", _c.c_uint64), ("addr", _c.c_uint64), ("len", _c.c_uint32),
                ("timeout_flags", _c.c_uint32), ("user_data", _c.c_uint64), ("pad", _c.c_uint64 * 3)]


assert ctypes.sizeof(Params) == 120 and ctypes.sizeof(Sqe) == SQE_SIZE


class Ring:
    """One io_uring of the calling thread's process (default flags: task work by TWA_SIGNAL).
    OSError from the constructor: ENOSYS (no CONFIG_IO_URING), EPERM (kernel.io_uring_disabled)."""

    def __init__(self, entries: int = 4):
        self.p = Params()
        fd = libc.syscall(_c.c_long(NR_IO_URING_SETUP), _c.c_long(entries), _c.byref(self.p))
        if fd < 0:
            raise_errno("io_uring_setup")
        self.fd = fd
        self.maps: list[tuple[int, int]] = []
        try:
            p = self.p
            self.sq = self._map(p.sq_off.array + p.sq_entries * 4, IORING_OFF_SQ_RING)
            self.cq = self._map(p.cq_off.cqes + p.cq_entries * CQE_SIZE, IORING_OFF_CQ_RING)
            self.sqes = self._map(p.sq_entries * SQE_SIZE, IORING_OFF_SQES)
        except OSError:
            self.close()
            raise

    def _map(self, size: int, offset: int) -> int:
        addr = libc.mmap(None, size, PROT_READ_WRITE, MAP_SHARED_POPULATE, self.fd, offset)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise_errno("mmap io_uring")
        self.maps.append((addr, size))
        return addr

    def _u32(self, addr: int) -> _c.c_uint32:
        return _c.c_uint32.from_address(addr)

    def timeout(self, seconds: float, user_data: int) -> None:
        """Submit a relative IORING_OP_TIMEOUT; its completion (res -ETIME) is task work."""
        p = self.p
        ts = KernelTimespec(int(seconds), int((seconds % 1) * 1e9))   # copied by the kernel at submission
        tail = self._u32(self.sq + p.sq_off.tail)
        mask = self._u32(self.sq + p.sq_off.ring_mask).value
        i = tail.value & mask
        sqe = Sqe.from_address(self.sqes + i * SQE_SIZE)
        ctypes.memset(ctypes.addressof(sqe), 0, SQE_SIZE)
        sqe.opcode, sqe.fd, sqe.off, sqe.len = IORING_OP_TIMEOUT, -1, 0, 1
        sqe.addr, sqe.user_data = ctypes.addressof(ts), user_data
        self._u32(self.sq + p.sq_off.array + 4 * i).value = i
        tail.value += 1          # read by this thread's io_uring_enter below (no SQPOLL thread)
        n = libc.syscall(_c.c_long(NR_IO_URING_ENTER), _c.c_long(self.fd), _c.c_long(1), _c.c_long(0),
                         _c.c_long(0), None, _c.c_long(0))
        if n != 1:
            if n < 0:
                raise_errno("io_uring_enter")
            raise OSError(0, f"io_uring_enter submitted {n} of 1")

    def completions(self) -> list[tuple[int, int]]:
        """(user_data, res) of every completion posted since the last look, consumed (a caller
        waiting for one user_data drops the others: one request in flight at a time). Another
        thread than the submitter's may call it while the ring is open; x86-64 keeps the
        kernel's stores in order, a weaker architecture would want an acquire load of the tail."""
        p = self.p
        head = self._u32(self.cq + p.cq_off.head)
        tail = self._u32(self.cq + p.cq_off.tail).value
        mask = self._u32(self.cq + p.cq_off.ring_mask).value
        out = []
        h = head.value
        while h != tail:
            at = self.cq + p.cq_off.cqes + (h & mask) * CQE_SIZE
            out.append((_c.c_uint64.from_address(at).value, _c.c_int32.from_address(at + 8).value))
            h = (h + 1) & 0xFFFFFFFF
        head.value = h
        return out

    def wait_for(self, user_data: int, limit: float) -> int | None:
        """The res of user_data's completion once it is posted, polling at most limit seconds
        (None: not within them); other completions seen meanwhile are dropped. The submitter
        thread posts it by running task work: in its AF_ALG call, or in this wait's sleep."""
        end = time.monotonic() + limit
        while True:
            for ud, res in self.completions():
                if ud == user_data:
                    return res
            if time.monotonic() >= end:
                return None
            time.sleep(0.005)

    def close(self) -> None:
        for addr, size in self.maps:
            libc.munmap(addr, size)
        self.maps = []
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
