"""KCOV on the calling thread, and where the AF_ALG code sits in the kernel's text.

Shared by the fuzzers' feedback (fuzz/coverage.py) and the coverage map
(`afalg-conform coverage`: harness/guest/plugin.py records, per test, the KCOV PCs that
fall inside af_alg.c and algif_*.c; fuzz/covmap.py maps them to the kernel's KCOV sites).

  Kcov      /sys/kernel/debug/kcov in KCOV_TRACE_PC mode on the thread that creates it
            (KCOV is per task: threads and forked children are not traced), its buffer
            mapped with libc.mmap; distinct() reduces the trace to a set of PCs at C speed
  Symbols   text symbols from /proc/kallsyms or a System.map, rebased to KCOV's
            (KASLR-canonical) addresses; range_of(AFALG_ANCHORS) is the af_alg/algif text
  AfalgText that text plus the algif interfaces a kernel builds as modules: a module's PCs
            are placed at a fixed slot after af_alg's text (canon), so a site has one
            address whatever the module's load address, on the guest and on the host alike
"""

from __future__ import annotations

import bisect
import ctypes
import os
import re
import struct
from array import array
from pathlib import Path

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
        # module name -> its text symbols (real addresses, as read; /proc/kallsyms only)
        self.module_text: dict[str, list[tuple[int, str]]] = {}
        self.offset = 0
        try:
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) < 3 or parts[1] not in "tTwW":
                        continue
                    a = int(parts[0], 16)
                    if len(parts) > 3:     # a module's symbol ([mod]): kept apart
                        self.module_text.setdefault(parts[3].strip("[]"), []).append((a, parts[2]))
                        continue
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
        offset = self.offset = (text_addr - self.CANONICAL_TEXT) if text_addr else 0
        order = sorted(range(len(addrs)), key=addrs.__getitem__)
        self.addrs = [addrs[i] - offset for i in order]
        self.names = [names[i] for i in order]

    @classmethod
    def from_pairs(cls, pairs) -> "Symbols":
        """Symbols from (address, name) pairs already in KCOV's address space."""
        s = cls.__new__(cls)
        pairs = sorted(pairs)
        s.addrs, s.names = [a for a, _n in pairs], [n for _a, n in pairs]
        s.ok, s.offset, s.module_text = bool(pairs), 0, {}
        return s

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


# The algif interfaces a kernel may build as modules (Debian: all four; kcov-6.12: all but hash),
# each with a fixed slot after af_alg's text: slot i starts at the core text's end rounded up
# to MODULE_SLOT, plus i * MODULE_SLOT (an interface's .text is 2-9 KiB).
AFALG_MODULES = ("algif_aead", "algif_hash", "algif_rng", "algif_skcipher")
MODULE_SLOT = 0x10000
# x86-64's module area (MODULES_VADDR): a real address at or above it is module text
MODULES_VADDR = 0xFFFFFFFFC0000000


def module_files(root: Path) -> dict[str, Path]:
    """The algif interfaces built as modules under root (a /lib/modules/REL folder): name ->
    its .ko file (compressed or not)."""
    out = {}
    for m in AFALG_MODULES:
        for ext in ("", ".xz", ".zst", ".gz"):
            f = root / "kernel" / "crypto" / f"{m}.ko{ext}"
            if f.is_file():
                out[m] = f
                break
    return out


def build_modules(folder: Path) -> dict[str, tuple[Path, int]]:
    """A kernel build's interfaces built as modules (build-kernel installs them into
    folder/lib/modules/REL): name -> (.ko, its .text size). Compressed ones are left out
    (objdump cannot read them)."""
    out = {}
    for root in sorted((folder / "lib" / "modules").glob("*/")):
        for m, f in module_files(root).items():
            size = elf_text_size(f)
            if size is not None:
                out[m] = (f, size)
    return out


def elf_text_size(path: Path) -> int | None:
    """The size of a relocatable ELF64's .text section (an uncompressed .ko), or None."""
    try:
        data = path.read_bytes()
        if data[:4] != b"\x7fELF" or data[4] != 2:
            return None
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        def sh(i):
            return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)   # name type flags addr off size
        strtab_off = sh(shstrndx)[4]
        for i in range(shnum):
            name, _type, _flags, _addr, _off, size = sh(i)
            end = data.index(b"\0", strtab_off + name)
            if data[strtab_off + name:end] == b".text":
                return size
    except (OSError, ValueError, struct.error, IndexError):
        return None
    return None


class AfalgText:
    """af_alg.c and algif_*.c text, wherever each part is: the core range in vmlinux and the
    interfaces loaded as modules, their PCs placed in fixed slots after the core (canon).

    range: (core start, end of the last slot) when the kernel has any interface as a module,
    else the core range; it names the layout (fuzz-report compares it with build.json's).
    Module text moves when a module is unloaded and loaded again: refresh() reads where each
    loaded one is now (/sys/module/M/sections/.text), and moved counts how often a module came
    back at another address than its last. A caller that caches by raw PC must drop those
    caches when stale is set (a module now where other text of ours was: a raw PC there means
    another site; a foreign module loaded there is not seen);
    a caller that unloads or loads a module reads the PCs traced so far first, then refresh()es
    (a module's PCs before and after a move are one buffer otherwise)."""

    def __init__(self, symbols: Symbols, modules: dict[str, int] | None = None,
                 sys_module: Path = Path("/sys/module")):
        self.symbols = symbols
        self.core = symbols.range_of(AFALG_ANCHORS) if symbols.ok else None
        # module name -> .text size; None: read the running kernel's module folder
        if modules is None:
            modules = {}
            for m, f in module_files(Path("/lib/modules") / os.uname().release).items():
                size = elf_text_size(f)
                modules[m] = size if size is not None else MODULE_SLOT
        self.sizes = modules
        self.sys_module = sys_module
        self.loaded: dict[str, int] = {}        # module -> canonical address of its .text
        self.last: dict[str, int] = {}          # module -> where it was last seen loaded
        self.claims: dict[str, int] = {}        # module -> text whose raw PCs a cache may hold as its
        self.moved = 0
        self.stale = False                      # set by refresh, cleared by the cache's owner
        self.spans: list[tuple[int, int, int]] = []     # (start, end, slot base), sorted
        self.rel_syms: dict[str, tuple[list[int], list[str]]] = {}   # module -> (.text offsets, names)
        if self.core is None:
            self.range = None
        elif self.sizes:
            self.range = (self.core[0], self.slot(AFALG_MODULES[-1]) + MODULE_SLOT)
        else:
            self.range = self.core
        self.refresh()
        self.first = dict(self.loaded)          # where the modules were when symbols were read

    def slot(self, module: str) -> int:
        base = (self.core[1] + MODULE_SLOT - 1) & ~(MODULE_SLOT - 1)
        return base + AFALG_MODULES.index(module) * MODULE_SLOT

    def refresh(self) -> bool:
        """Read where the interfaces' modules are loaded now; whether anything changed."""
        if self.core is None or not self.sizes:
            return False
        now = {}
        for m in self.sizes:
            try:
                real = int((self.sys_module / m / "sections" / ".text").read_text(), 16)
            except (OSError, ValueError):
                continue
            now[m] = real - self.symbols.offset
        if now == self.loaded:
            return False
        for m, a in now.items():
            if self.loaded.get(m) == a:
                continue
            if self.last.get(m, a) != a:
                self.moved += 1
            self.last[m] = a
            # raw PCs here meant another module's site (or this one's at another offset)
            over = [o for o, b in self.claims.items() if (o != m or b != a)
                    and a < b + self.sizes[o] and b < a + self.sizes[m]]
            if over:
                self.stale = True
            for o in over:
                del self.claims[o]
            self.claims[m] = a
        self.loaded = now
        self.spans = sorted((a, a + min(self.sizes[m], MODULE_SLOT), self.slot(m)) for m, a in now.items())
        return True

    def contains(self, pc: int) -> bool:
        return self.canon(pc) is not None

    def canon(self, pc: int) -> int | None:
        """pc's place in the af_alg/algif layout, or None outside it. A module PC is looked up
        again after a refresh when it is in no known module (a module loaded since)."""
        core = self.core
        if core is None:
            return None
        if core[0] <= pc < core[1]:
            return pc
        # KCOV subtracts the KASLR offset from module PCs too: the area test is on the real address
        if not self.sizes or pc + self.symbols.offset < MODULES_VADDR:
            return None
        got = self._in_module(pc)
        if got is None and self.refresh():
            got = self._in_module(pc)
        return got

    def _in_module(self, pc: int) -> int | None:
        for lo, hi, base in self.spans:
            if lo <= pc < hi:
                return base + (pc - lo)
        return None

    def name_of(self, pc: int) -> str | None:
        """The function at a canonical PC (core or slot)."""
        if self.core is not None and self.core[1] <= pc and self.sizes:
            for m in self.loaded:
                base = self.slot(m)
                if base <= pc < base + MODULE_SLOT:
                    offs, names = self._module_symbols(m)
                    i = bisect.bisect_right(offs, pc - base) - 1
                    return names[i] if i >= 0 else m
        return self.symbols.name_of(pc)

    def _module_symbols(self, m: str) -> tuple[list[int], list[str]]:
        """m's text symbols as offsets from its .text (the same on every load: kept), from
        /proc/kallsyms as it is now when m was loaded or moved after the Symbols were read."""
        got = self.rel_syms.get(m)
        if got is None:
            # the symbols read at the start name m's text only while m is where it was then
            syms = self.symbols.module_text.get(m) if self.first.get(m) == self.loaded[m] else None
            if not syms:
                syms = Symbols().module_text.get(m, [])
            start = self.loaded[m] + self.symbols.offset
            pairs = sorted((a - start, n) for a, n in syms if a >= start)
            got = self.rel_syms[m] = ([a for a, _n in pairs], [n for _a, n in pairs])
        return got


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
