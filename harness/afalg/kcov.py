"""KCOV on the calling thread, and where the AF_ALG code sits in the kernel's text.

Shared by the fuzzers' feedback (fuzz/coverage.py) and the coverage map
(`afalg-conform coverage`: harness/guest/plugin.py records, per test, the KCOV PCs that
fall inside af_alg.c and algif_*.c; fuzz/covmap.py maps them to the kernel's KCOV sites).

  Kcov      /sys/kernel/debug/kcov in KCOV_TRACE_PC mode on the thread that creates it
            (KCOV is per task: threads and forked children are not traced), its buffer
            mapped with libc.mmap; distinct() reduces the trace to a set of PCs at C speed
  Symbols   text symbols from /proc/kallsyms or a System.map, rebased to KCOV's
            (KASLR-canonical) addresses; range_of(AFALG_ANCHORS) is the af_alg/algif text
"""

from __future__ import annotations

import bisect
import ctypes
import os
import re
from array import array

from afalg_conformance.harness.afalg.libc import libc

KCOV_PATH = "/sys/kernel/debug/kcov"
KCOV_INIT_TRACE = 0x80086301
KCOV_ENABLE = 0x6364
KCOV_DISABLE = 0x6365
KCOV_TRACE_PC = 0
KCOV_TRACE_CMP = 1
# A KCOV_TRACE_CMP record: type (bit 0 KCOV_CMP_CONST, bits 1-2 log2 of the operand size),
# the two operands, the comparison's PC (include/uapi/linux/kcov.h, kernel/kcov.c write_comp_data)
KCOV_CMP_CONST = 1
COVER_SIZE = 1 << 18


# The AF_ALG core and its four interfaces (crypto/af_alg.c, algif_*.c) for statistics:
# functions between the first and last of these anchors in the (link-ordered) text.
AFALG_ANCHORS = {"af_alg_release", "af_alg_sendmsg", "af_alg_accept", "alg_bind", "alg_setsockopt",
                 "alg_accept", "alg_create", "af_alg_register_type", "af_alg_cmsg_send",
                 "hash_sendmsg", "hash_recvmsg", "hash_accept", "skcipher_sendmsg", "skcipher_recvmsg",
                 "_skcipher_recvmsg", "aead_recvmsg", "_aead_recvmsg", "aead_sendmsg", "rng_recvmsg",
                 "rng_accept_parent", "aead_release", "skcipher_release", "hash_release", "rng_release",
                 "aead_sock_destruct", "skcipher_sock_destruct", "hash_sock_destruct", "rng_sock_destruct"}


class Symbols:
    """Kernel text symbols from /proc/kallsyms, in KCOV's (KASLR-canonical) address space."""

    CANONICAL_TEXT = 0xFFFFFFFF81000000

    def __init__(self, path: str = "/proc/kallsyms"):
        addrs, names = [], []
        text_addr = None
        try:
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) < 3 or parts[1] not in "tTwW" or len(parts) > 3:
                        continue   # only core-kernel text (module symbols carry [mod])
                    a = int(parts[0], 16)
                    if parts[2] == "_text":
                        text_addr = a
                    addrs.append(a)
                    names.append(parts[2])
        except OSError:
            pass
        if not addrs or all(a == 0 for a in addrs[:10]):
            self.ok = False
            self.addrs, self.names = [], []
            return
        self.ok = True
        offset = (text_addr - self.CANONICAL_TEXT) if text_addr else 0
        order = sorted(range(len(addrs)), key=addrs.__getitem__)
        self.addrs = [addrs[i] - offset for i in order]
        self.names = [names[i] for i in order]

    def name_of(self, pc: int) -> str | None:
        i = bisect.bisect_right(self.addrs, pc) - 1
        return self.names[i] if i >= 0 else None

    # names of af_alg.c and algif_*.c functions (the anchors may not be the outermost ones)
    _AFALG_NAME = re.compile(r"^_*(aead|algif|af_alg|alg_|rng_|hash_|skcipher_|crypto_aead_copy)")

    def range_of(self, anchors: set[str]) -> tuple[int, int] | None:
        idx = [i for i, n in enumerate(self.names) if n in anchors]
        if not idx:
            return None
        lo, hi = min(idx), max(idx)
        # Extend both ways over neighbouring af_alg/algif functions. Kernels built with
        # function padding put a `__pfx_<name>` symbol before each function: skip those
        # (they belong to the function that follows), but stop at a foreign function.
        def member(i: int) -> bool:
            n = self.names[i]
            return bool(self._AFALG_NAME.match(n.removeprefix("__pfx_")))
        while lo - 1 >= 0 and member(lo - 1):
            lo -= 1
        while hi + 1 < len(self.names) and member(hi + 1):
            hi += 1
        end = self.addrs[hi + 1] if hi + 1 < len(self.addrs) else self.addrs[hi] + 0x1000
        return self.addrs[lo], end


class Kcov:
    """KCOV on the calling thread, mapped with libc.mmap (Python's mmap refuses the file).

    mode KCOV_TRACE_CMP records comparisons instead of PCs. A task has one KCOV enabled at a
    time: a second Kcov is made with enable=False and swapped in with disable()/enable()."""

    def __init__(self, size: int = COVER_SIZE, mode: int = KCOV_TRACE_PC, enable: bool = True):
        self.size = size
        self.fd = os.open(KCOV_PATH, os.O_RDWR)
        if libc.ioctl(self.fd, KCOV_INIT_TRACE, size) != 0:
            raise OSError(ctypes.get_errno(), "KCOV_INIT_TRACE")
        addr = libc.mmap(None, size * 8, 3, 1, self.fd, 0)   # PROT_READ|WRITE, MAP_SHARED
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap kcov")
        self.addr = addr
        self.area = (ctypes.c_uint64 * size).from_address(addr)
        # the same memory as bytes: a slice copy is a memcpy, where ctypes.string_at is a call
        # through libffi (0.74 against 0.32 us natively; a fuzzer copies ~7 traces an input)
        self.mem = memoryview(self.area).cast("B")
        self.mode = mode
        self.truncated = 0
        if enable:
            self.enable()

    def enable(self) -> None:
        if libc.ioctl(self.fd, KCOV_ENABLE, self.mode) != 0:
            raise OSError(ctypes.get_errno(), "KCOV_ENABLE")

    def disable(self) -> None:
        if libc.ioctl(self.fd, KCOV_DISABLE, 0) != 0:
            raise OSError(ctypes.get_errno(), "KCOV_DISABLE")

    def reset(self) -> None:
        self.area[0] = 0

    def trace_bytes(self) -> tuple[bytes, bool]:
        """The PCs recorded since the last reset, as one copy of the buffer (native u64s; no
        Python int made per entry: a trace can hold millions under TCG), and whether the
        buffer filled (later PCs were dropped)."""
        n = self.area[0]
        full = n >= self.size - 1
        if full:
            self.truncated += 1
            n = self.size - 1
        return self.mem[8:8 + n * 8].tobytes(), full

    def comparisons(self) -> tuple[list[tuple[int, int, int, int]], bool]:
        """KCOV_TRACE_CMP mode: the (type, arg1, arg2, pc) records since the last reset, and
        whether the buffer filled."""
        n = self.area[0]
        room = (self.size - 1) // 4           # records after the count word
        full = n >= room
        if full:
            self.truncated += 1
            n = room
        words = array("Q")
        words.frombytes(self.mem[8:8 + n * 32])
        return list(zip(words[0::4], words[1::4], words[2::4], words[3::4])), full

    def distinct(self) -> tuple[set[int], bool]:
        """The distinct PCs of the trace (a set built in C), and whether the buffer filled."""
        raw, full = self.trace_bytes()
        return set(array("Q", raw)), full


def kcov_available() -> tuple[bool, str]:
    if not os.path.exists(KCOV_PATH):
        return False, f"{KCOV_PATH} does not exist (kernel without CONFIG_KCOV, or debugfs not mounted)"
    try:
        fd = os.open(KCOV_PATH, os.O_RDWR)
        os.close(fd)
    except OSError as e:
        return False, f"cannot open {KCOV_PATH}: {e.strerror}"
    return True, "KCOV available"
