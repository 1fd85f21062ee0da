"""Helpers shared by the skcipher, AEAD, blocking, splice and oracle tests.

Everything here is bounded: receives ask for exact lengths or use MSG_DONTWAIT,
threads never block in the kernel, and a blocking call that does not finish
in time is reported as the token "blocks" instead of hanging the suite.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import socket
import threading
import time

import pytest

from afalg_conformance.conformance.conftest import absent_reason, bind_focused
from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg.client import AfalgSocket, errno_name, outcome, vmsplice
from afalg_conformance.harness.afalg.bounded import deadline, kicked
from afalg_conformance.harness.afalg.constants import MSG_DONTWAIT, MSG_MORE, AlgOp
from afalg_conformance.harness.afalg.libc import forbidden_page, libc
from afalg_conformance.harness.results import klog

ENC, DEC = AlgOp.ENCRYPT, AlgOp.DECRYPT
PAGE = 4096


def recv_token(op: AfalgSocket, n: int, flags: int = 0, wait: float = 5.0):
    """One recv of n bytes: (data or b"", token)."""
    data, tok = outcome(op.recv, n, flags, wait)
    return (data or b""), tok


def skc_key(alg: algorithms.Algorithm, size: int | None = None, seed: bytes = b"") -> bytes:
    n = size or alg.key_sizes[0]
    raw = bytes((i * 7 + 3 + sum(seed)) & 0xFF for i in range(n)) if seed else os.urandom(n)
    if alg.name.startswith("xts"):
        # xts rejects identical key halves in FIPS mode; random halves differ.
        raw = os.urandom(n)
    return alg.key_from(raw)


def setup_op(alg_socket, alg: algorithms.Algorithm, key: bytes, authsize: int | None = None):
    tfm = alg_socket(alg.type, alg.name)
    tfm.setkey(key)
    if authsize is not None:
        tfm.set_authsize(authsize)
    return tfm, tfm.accept()


def aead_key(alg: algorithms.Algorithm) -> bytes:
    if alg.name.startswith("authenc"):
        return alg.key_from(os.urandom(48))
    return os.urandom(alg.key_sizes[0])


def aead_iv(alg: algorithms.Algorithm) -> bytes:
    if alg.name == "ccm(aes)":
        return algorithms.ccm_iv(os.urandom(12))
    return os.urandom(alg.ivsize)


def aead_aad(alg: algorithms.Algorithm, iv: bytes, n: int = 16) -> bytes:
    """An AAD region valid for alg: rfc4106 needs 16 or 20 bytes ending in the IV."""
    if alg.assoclen_fixed:
        return os.urandom(8) + iv
    return os.urandom(n)


def aead_pt(alg: algorithms.Algorithm, n: int = 48) -> bytes:
    if alg.blocksize > 1:
        n -= n % alg.blocksize
    return os.urandom(n)


def set_sndbuf(op: AfalgSocket, value: int) -> int:
    """SO_SNDBUF on the op socket; returns the value the kernel keeps (doubled)."""
    op.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, value)
    return op.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)


def send_budget(sndbuf: int) -> int:
    """The TX budget af_alg_sndbuf() gives an empty op socket."""
    return max(sndbuf & ~(PAGE - 1), PAGE)


class PollingReader(threading.Thread):
    """Drains an op socket with MSG_DONTWAIT reads until `want` bytes arrived or time runs out.

    Never blocks in the kernel (the fact sheet's observation: a blocking reader is not
    woken while a blocking writer overfills the send buffer).
    """

    def __init__(self, op: AfalgSocket, want: int, step: int = PAGE, limit: float = 20.0):
        super().__init__(daemon=True)
        self.op, self.want, self.step, self.limit = op, want, step, limit
        self.out = bytearray()
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.timeline: list[tuple[float, int]] = []

    def run(self):
        end = time.monotonic() + self.limit
        while len(self.out) < self.want and not self.stop.is_set() and time.monotonic() < end:
            n = min(self.step, self.want - len(self.out))
            try:
                chunk = self.op.sock.recv(n, MSG_DONTWAIT)
            except BlockingIOError:
                time.sleep(0.005)
                continue
            except OSError as e:
                self.errors.append(errno_name(e.errno))
                return
            if not chunk:
                time.sleep(0.005)
                continue
            self.out += chunk
            self.timeline.append((time.monotonic(), len(self.out)))

    def finish(self, timeout: float = 20.0) -> bytes:
        self.join(timeout)
        self.stop.set()
        self.join(2.0)
        return bytes(self.out)


def splits(data: bytes, points) -> list[bytes]:
    """data cut at the given offsets (clipped, deduplicated, sorted)."""
    cuts = sorted({p for p in points if 0 < p < len(data)})
    out, last = [], 0
    for c in cuts + [len(data)]:
        out.append(data[last:c])
        last = c
    return out


def send_parts(op: AfalgSocket, parts: list[bytes], op_value=None, iv=None, assoclen=None) -> int:
    """A request in several sendmsg calls: control data on the first, MSG_MORE on all but the last."""
    total = 0
    for i, p in enumerate(parts):
        flags = MSG_MORE if i < len(parts) - 1 else 0
        if i == 0:
            total += op.request(p, op_value, iv, assoclen, flags)
        else:
            total += op.send(p, flags)
    return total


def splice_parts(op: AfalgSocket, parts: list[bytes], last_more: bool = False) -> int:
    """Each part written to a pipe of our own and spliced in; SPLICE_F_MORE on all but the last."""
    from afalg_conformance.harness.afalg.constants import SPLICE_F_MORE
    total = 0
    r, w = os.pipe()
    try:
        for i, p in enumerate(parts):
            more = i < len(parts) - 1 or last_more
            os.write(w, p)
            left = len(p)
            while left:
                with deadline(10.0, "splice"):
                    n = os.splice(r, op.fileno(), left, flags=SPLICE_F_MORE if more else 0)
                if n <= 0:
                    break
                left -= n
                total += n
    finally:
        os.close(r)
        os.close(w)
    return total


class VmspliceBuffer:
    """User memory of our own, vmspliced into a pipe of our own; kept so a test can change it later."""

    def __init__(self, data: bytes):
        self._ctypes = ctypes
        self.buf = ctypes.create_string_buffer(data, max(len(data), 1))
        self.len = len(data)
        self.r, self.w = os.pipe()
        try:
            self.queued = vmsplice(self.w, self.buf, len(data))
        except OSError:
            self.close()
            raise

    def splice_to(self, op: AfalgSocket, flags: int = 0) -> int:
        total = 0
        while total < self.queued:
            with deadline(10.0, "splice"):
                n = os.splice(self.r, op.fileno(), self.queued - total, flags=flags)
            if n <= 0:
                break
            total += n
        return total

    def overwrite(self, data: bytes) -> None:
        self._ctypes.memmove(self.buf, data, min(len(data), self.len))

    def close(self) -> None:
        for fd in (self.r, self.w):
            try:
                os.close(fd)
            except OSError:
                pass


class UserPages:
    """Page-aligned anonymous memory of our own (mmap), so data can start at any page offset."""

    def __init__(self, npages: int):
        self.mm = mmap.mmap(-1, npages * PAGE)
        self._anchor = ctypes.c_char.from_buffer(self.mm)
        self.base = ctypes.addressof(self._anchor)

    def put(self, offset: int, data: bytes) -> tuple[int, int]:
        """data written at offset; returns its (address, length) for vmsplice."""
        self.mm[offset:offset + len(data)] = data
        return self.base + offset, len(data)

    def close(self) -> None:
        del self._anchor
        self.mm.close()


def pipe_to_op(r: int, op: AfalgSocket, n: int, more: bool) -> int:
    """Splice n bytes already in the pipe r into op; SPLICE_F_MORE when more."""
    from afalg_conformance.harness.afalg.constants import SPLICE_F_MORE
    total = 0
    while total < n:
        with deadline(10.0, "splice"):
            got = os.splice(r, op.fileno(), n - total, flags=SPLICE_F_MORE if more else 0)
        if got <= 0:
            break
        total += got
    return total


def tmpfs_dir() -> str | None:
    """A private new directory on a tmpfs of the running system (the guest's RAM), or None.
    Only files made there by the tests are ever spliced: never a host file."""
    import tempfile
    mounts = []
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                mounts.append((parts[1].replace("\\040", " "), parts[2]))
    for cand in ("/dev/shm", "/tmp", "/run"):
        real = os.path.realpath(cand)
        best = max((m for m in mounts if real == m[0] or real.startswith(m[0].rstrip("/") + "/")),
                   key=lambda m: len(m[0]), default=None)
        if best and best[1] == "tmpfs" and os.access(real, os.W_OK):
            d = tempfile.mkdtemp(prefix="afalg-splice-", dir=real)
            os.chmod(d, 0o700)
            return d
    return None


class TxBudget:
    """The kernel's TX queue arithmetic for one op socket, to predict exactly how many bytes a
    write is accepted before it would wait (crypto/af_alg.c, the same in 6.1 and 6.12):

    - af_alg_sendmsg first fills the free tail of the last page if ctx->merge says it is
      partly filled, WITHOUT looking at the budget;
    - then, while bytes remain: if af_alg_writable() is false (budget < PAGE_SIZE) it waits
      (MSG_DONTWAIT: -EAGAIN; a signal: -ERESTARTSYS) and returns what it copied so far;
      else it copies min(left, budget) into new pages (whole pages, the last one partial) and
      sets ctx->merge to the last page's fill, so the next round merges into it again;
    - budget = af_alg_sndbuf() = max(max(sk_sndbuf & PAGE_MASK, PAGE_SIZE) - ctx->used, 0);
    - af_alg_pull_tsgl (a read) consumes bytes from the front page by page (offset += n),
      frees emptied pages and clears ctx->merge only when ctx->used reaches 0.
    MAX_SGL_ENTS (126 pages per SGL) only chains a new SGL; it does not change the count.
    """

    def __init__(self, sndbuf: int):
        self.cap = max(sndbuf & ~(PAGE - 1), PAGE)
        self.pages: list[list[int]] = []     # [offset, length] per queued page
        self.merge = 0

    @property
    def used(self) -> int:
        return sum(ln for _off, ln in self.pages)

    def budget(self) -> int:
        return max(self.cap - self.used, 0)

    def send(self, size: int) -> int:
        """One af_alg_sendmsg of size bytes: the count it returns before it would wait."""
        copied = 0
        while size:
            if self.merge:
                last = self.pages[-1]
                n = min(size, PAGE - last[0] - last[1])
                last[1] += n
                self.merge = (last[0] + last[1]) & (PAGE - 1)
                copied += n
                size -= n
                continue
            if self.budget() < PAGE:
                return copied
            n = min(size, self.budget())
            plen = 0
            while n:
                plen = min(n, PAGE)
                self.pages.append([0, plen])
                n -= plen
                copied += plen
                size -= plen
            self.merge = plen & (PAGE - 1)
        return copied

    def calls(self, sizes: list[int]) -> int:
        """Several af_alg_sendmsg calls (a splice on 6.1: one per pipe buffer), stopping at the
        first one that comes back short, as splice does."""
        total = 0
        for s in sizes:
            got = self.send(s)
            total += got
            if got < s:
                break
        return total

    def pull(self, n: int) -> None:
        """af_alg_pull_tsgl(n): a read consumed n bytes."""
        while n and self.pages:
            take = min(n, self.pages[0][1])
            self.pages[0][0] += take
            self.pages[0][1] -= take
            n -= take
            if self.pages[0][1]:
                break
            self.pages.pop(0)
        if not self.used:
            self.merge = 0
            self.pages = []


def pipe_buffers(data_len: int, first_offset: int = 0) -> list[int]:
    """The pipe buffers a pipe of our own holds for data_len bytes: write() fills whole pages,
    vmsplice() from user memory at first_offset in its page gives one buffer per page piece."""
    out, left, off = [], data_len, first_offset
    while left:
        n = min(left, PAGE - off)
        out.append(n)
        left -= n
        off = 0
    return out


class ForbiddenPage:
    """A page of our own the kernel may not write (PROT_READ) or not touch at all (PROT_NONE):
    a recv into it or a send from it is the user-copy fault a program with a stale or wrong
    buffer makes, without handing the kernel anyone else's memory."""

    def __init__(self, readable: bool = False):
        self.addr = forbidden_page(readable, PAGE)

    def recv(self, op: AfalgSocket, n: int, flags: int = 0) -> str:
        """recv(2) of up to n bytes into the page: "ok N" or the errno's name."""
        return self._call(lambda: libc.recv(op.fileno(), self.addr, min(n, PAGE), flags))

    def send(self, op: AfalgSocket, n: int, flags: int = 0) -> str:
        """send(2) of n bytes from the page: "ok N" or the errno's name."""
        return self._call(lambda: libc.send(op.fileno(), self.addr, min(n, PAGE), flags))

    @staticmethod
    def _call(fn) -> str:
        with deadline(10.0, "call into a forbidden page"):
            r = fn()
        return f"ok {r}" if r >= 0 else errno_name(ctypes.get_errno())

    def close(self) -> None:
        libc.munmap(self.addr, PAGE)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def interrupted(fn, call: str | None = None, first: float = 0.4, every: float = 0.25, limit: float = 10.0):
    """Run fn() in the main thread while a helper thread signals it (harness.afalg.bounded.kicked:
    SIGUSR2, a handler that does nothing, no SA_RESTART) until it returns: a blocking AF_ALG
    write that sleeps for send budget then returns the count it accepted before sleeping (or
    EINTR for none). fn must be a raw libc call (CPython's own calls retry on EINTR).
    Returns (result, token)."""
    with kicked(call, first, every, limit):
        return outcome(fn)


def cryptd_aead(spec, request, name: str, clause: str = "AEAD-18") -> AfalgSocket:
    """A bound cryptd AEAD tfm socket; XFAIL naming clause when it does not bind because its
    self-test found the request struct changed, the defect 256f9e53ae12 fixed upstream (the
    kernel's own log is the evidence); any other refusal goes the usual way (SKIP when the
    kernel does not offer it, FAIL with the evidence when it does)."""
    try:
        s = bind_focused("aead", name)
    except OSError as e:
        err = e
    else:
        request.addfinalizer(s.close)
        return s
    seen = [line for line in klog.KmsgReader(from_start=True).read()
            if line.startswith(f"alg: aead: {name} ") and "corrupted request struct" in line]
    if not seen:
        pytest.skip(absent_reason("aead", name, err))
    spec.observe(clause, errno_name(err.errno), sent=f"bind(aead, {name})", note=f"kernel log: {seen[-1]}")
    # testmgr's WARN on this self-test is the defect's own report, not another problem
    spec.rec.explain(lambda p: (klog.selftest_failure(p) or ("", ""))[1] == name,
                     f"{clause} known defect: the self-test failure the XFAIL names")
    pytest.xfail(f"{clause} known kernel defect: {name} failed its self-test ({seen[-1].split(' corrupted')[0]} "
                 "corrupted request struct): cryptd's AEAD hands the caller's request to its child; fixed "
                 "upstream by 256f9e53ae12 'crypto: cryptd - Use subreq for AEAD' (v6.3)")


def recv_without_optmem(spec, clause: str, ns, cases, what: str) -> None:
    """SKC-22 / AEAD-21: the read of a queued request under a lowered optmem_max (ns: the
    test's PrivateNetns). cases: two (start, n, want, label), a request on one TX page and one
    on two; start() opens a fresh op socket with that request queued, at the namespace's own
    limit; the read must return `want` (n bytes). For each case:

    - at limit 1 the read's first allocation (the request) is refused;
    - at B - 1, B the lowest limit at which the read succeeds (bisection: every fresh socket
      holds the same option memory, so success is monotonic in the limit), its last one is.

    Each refusal must be ENOMEM, and the next read once the limit is back must be `want`.
    Which allocation is the last one is measured, not assumed: where it is the request's TX
    list (one scatterlist entry per TX page), B grows with the request's pages; where a kernel
    allocates no TX list (AEAD encryption in place, 6.8 until the out-of-place revert) it
    does not, and the check's text says which."""
    def probe(start, n, limit: int):
        op = start()
        try:
            ns.optmem_max = limit
            try:
                out, tok = recv_token(op, n, MSG_DONTWAIT)
            finally:
                ns.optmem_max = ns.default
            after = recv_token(op, n, MSG_DONTWAIT) if tok != "ok" else None
            return out, tok, after
        finally:
            op.close()

    def refused(start, n, want, label, limit: int, why: str) -> None:
        out, tok, after = probe(start, n, limit)
        spec.check(clause, tok, sent=f"{what}, {label}: recv({n}, MSG_DONTWAIT) with optmem_max {limit} ({why})",
                   soft=True)
        if after is not None:
            data, tok2 = after
            spec.check(clause, data.hex() or tok2, want.hex(), soft=True,
                       sent=f"{what}, {label}: optmem_max back to {ns.default}, recv({n}): the whole request's output")

    lowest = []
    for start, n, want, label in cases:
        out, tok, _ = probe(start, n, ns.default)
        if tok != "ok" or out != want:
            spec.check(clause, out.hex() or tok, want.hex(),
                       sent=f"{what}, {label}: recv({n}) at the default optmem_max {ns.default}")
            return
        lo, hi = 1, ns.default              # the read fails at lo and succeeds at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if probe(start, n, mid)[1] == "ok":
                hi = mid
            else:
                lo = mid
        lowest.append(hi)
    grows = lowest[1] - lowest[0]
    last = (f"its TX list: the lowest limit grows by {grows} bytes with one more TX page" if grows > 0 else
            "the request again: the lowest limit does not grow with the TX pages, no TX list here")
    for (start, n, want, label), hi in zip(cases, lowest):
        refused(start, n, want, label, 1, "the request refused")
        refused(start, n, want, label, hi - 1, f"one below {hi}, the lowest limit that serves the read: {last}")
        out, tok, _ = probe(start, n, hi)
        spec.check(clause, out.hex() or tok, want.hex(), soft=True,
                   sent=f"{what}, {label}: recv({n}) with optmem_max {hi}")
