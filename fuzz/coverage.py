"""Feedback for the fuzzers: kernel PCs from KCOV, or Python coverage, plus outcomes.

Modes (AFALG_FUZZ_COVERAGE, default auto):
  kcov          /sys/kernel/debug/kcov on the fuzzing thread; around each system call
                the PC stream is turned into edges (syzkaller-style hashing), filtered to
                crypto/socket functions (by kallsyms name), and fed to libFuzzer through
                atheris counters (atheris._reserve_counter, then stores into atheris'
                counter memory; atheris._trace_branch where that is not found)
  kcov-measure  KCOV PCs are collected and counted for the statistics but NOT fed to
                libFuzzer (the "without kernel feedback" arm of a comparison); Python
                coverage + outcomes guide the fuzzer instead
  python        no KCOV: atheris instruments the harness/fuzz modules (Python coverage)
  auto          kcov if the KCOV file exists and works (kcov-measure for the fuzzers in
                AUTO_MEASURED), else python
In every mode each call's outcome (call, detail, length class, errno) is a feature.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import sys
import time
import zlib
from array import array
from itertools import chain

# KCOV itself and the af_alg/algif text range live in the AF_ALG leaf, which the guest's
# coverage map uses too; the names stay importable from here.
from afalg_conformance.harness.afalg.kcov import (AFALG_ANCHORS, AfalgText, COVER_SIZE, KCOV_DISABLE, KCOV_ENABLE,  # noqa: F401
                                KCOV_INIT_TRACE, KCOV_PATH, KCOV_TRACE_CMP, KCOV_TRACE_PC, Kcov, Symbols,
                                kcov_available)

# Edges and outcomes get their counters in the order they are first seen (no hashing, so no
# two share one until there are more than the counters): libFuzzer clears and scans every
# counter after each input, and under TCG that cost grows with their number (an input with an
# empty callback: 0.11 ms with 6,144 counters, 0.53 ms with 73,728, 1.3 ms with 200,000;
# kcov-6.12 guest, 2026-12-02). 60-second benches named 1,800-3,000 edges (edges_named in the
# statistics); beyond EDGE_COUNTERS the numbers wrap (edges then share counters). Ten-minute
# cmsg campaigns have met 1,400-3,100 distinct outcomes (3,029 and 3,064 on 2026-12-02): the
# outcome counters stay at 4,096.
# First-seen numbers are this process's own: where libFuzzer compares feature numbers across
# processes (-merge, whose child is restarted after a crash; -fork's children) a Feedback is
# made `stable`: edges hashed into EDGE_COUNTERS_STABLE (syzkaller-style), outcomes by CRC.
EDGE_COUNTERS = 1 << 14
EDGE_COUNTERS_STABLE = 1 << 16
OUTCOME_COUNTERS = 1 << 12
# libFuzzer flags under which feature numbers travel between processes (engine.main)
CROSS_PROCESS_FLAGS = ("-merge", "-set_cover_merge", "-fork", "-features_dir")
# Call traces whose edges are remembered (by a hash of the trace): a fuzzer repeats the same
# calls with the same kernel paths most of the time, and turning a trace into edges is most of
# the feedback's cost. Cleared when full (a bound on memory, not an eviction policy).
TRACE_CACHE = 50_000
# ... and a bound on their images' bytes (an image is as long as its highest counter: 2.5 KB
# on average in a 60 s cmsg bench, up to 64 KiB with a stable Feedback's hashed counters)
TRACE_CACHE_BYTES = 64 << 20
# The same for whole inputs' traces (Feedback._input_trace)
INPUT_CACHE_BYTES = 32 << 20
# A call that leaves this many PCs in the buffer has the input's traces so far read at once
# (a quarter of the buffer: the next call still has room for 3 * COVER_SIZE / 4)
FLUSH_PCS = COVER_SIZE // 4
# A call's edges come from the first and last TRACE_ENDS PCs of its trace. A bind that seeds a
# DRBG runs jitterentropy and fills KCOV's buffer (262,143 PCs: sha3 and jent_* loops whose
# timing-dependent paths make every such trace new): 9 of them were 6.4 s of a 60 s setsockopt
# campaign (2026-12-01). The AF_ALG code of a call is where it enters and where it returns;
# the bulk in between (a DRBG's seeding, a large request's cipher loops) is left out.
TRACE_ENDS = 1 << 14

# Functions whose PCs guide the fuzzer: crypto API, algorithms, AF_ALG, socket and
# splice plumbing. Interpreter noise (page faults, allocator, scheduler) is left out.
FILTER_RE = re.compile(
    r"crypto|alg_|_alg|aes|sha|ghash|gcm|ccm|xts|cbc|ecb|ctr|chacha|poly1305|hmac|cmac|xcbc"
    r"|drbg|rng|skcipher|aead|ahash|shash|hash_|scatterwalk|sg_|sock|skb|splice|pipe"
    r"|fpu|cryptd|simd|iov_iter|msg|cmsg|accept|bind|setsockopt|authenc|seqiv|keyring|key_")
# Coverage that is noise, not progress: jitterentropy's sampling loops take timing-dependent
# paths, so every drbg seeding looks "new" and kernel feedback filled a sequence campaign's
# corpus with rng binds (30% of inputs, 53,000 PCs each, 1.9 execs/s; 2026-11-27 run).
NOISE_RE = re.compile(r"^jent_|jitterentropy")

# What guides the fuzzer under KCOV (AFALG_FUZZ_FEED, `fuzz --feed`): kernel edges whose second
# PC is in scope, and with "+python" also Python coverage of the harness and decoders (what
# alone guides a kcov-measure run: a new decoder branch is a new shape of program).
FEED_SCOPES = {
    "afalg": "edges into af_alg.c and algif_*.c (the text between AFALG_ANCHORS), the code under test",
    "crypto": "edges into crypto API, algorithm, socket and splice code (FILTER_RE on kallsyms names)",
    "afalg+python": "afalg's edges and Python coverage of the harness and decoders",
    "crypto+cmp": "crypto's edges, and on one input in CMP_EVERY the comparisons af_alg/algif code made "
                  "(KCOV_TRACE_CMP) as libFuzzer's value profile (-use_value_profile=1)",
}
FEED_DEFAULT = "crypto"
# Fuzzers whose `auto` counts kernel PCs without feeding them (kcov-measure): where ten-minute
# campaigns on kcov-6.12, fed against counted-only on the same seeds, found no feed that
# reached more af_alg/algif sites. fuzz_sequence, seeds 2 and 3, sites of 658
# (docs/examples/fuzz-campaigns-2026-12-02.md, last section): counted-only 556 / 551, fed
# crypto 554 / 539, afalg 541 / 534, afalg+python 537 / 558, crypto+cmp 552 / 547 (and seed 1:
# 548 counted-only, 535 crypto). The fed arms ran 2-23 % fewer inputs a second. Its
# programs are many calls long: each call's outcome and the decoder's branches (Python
# coverage) already tell them apart, and the kernel's edges added inputs, not sites.
# `--coverage kcov` feeds it all the same.
AUTO_MEASURED = frozenset({"fuzz_sequence"})
# One input in CMP_EVERY runs with KCOV in comparison mode instead (a task has one KCOV at a
# time): its af_alg/algif comparisons, operands and site, go to libFuzzer through
# atheris._trace_cmp; a new (site, distance between the operands) is a new feature, so an input
# that brings a length or an option closer to what the kernel compares it with is kept.
CMP_EVERY = 4
CMP_COUNTERS = 1 << 10
# seconds between two writes of the statistics (AFALG_FUZZ_STATS), each a point of the growth
# curve; fuzz-report reads the curve with the same step
STATS_EVERY = 10
# points of the statistics' growth curve: one a dump (every 10 s or so); beyond this many,
# every other point is dropped and points are taken half as often: one every N dumps
GROWTH_POINTS = 720


def atheris_counters(first: int, count: int) -> int | None:
    """The address of atheris' counters first..first+count-1, or None (then _trace_branch).

    atheris keeps every counter it hands out in one mapping (`atheris::counters`, an exported
    pointer in its libFuzzer module; index modulo `atheris::max_counters`), and libFuzzer
    clears them before each input: a store into that memory is what _trace_branch does, without
    a call into atheris per edge."""
    mod = sys.modules.get("atheris.core_with_libfuzzer")
    try:
        lib = ctypes.CDLL(mod.__file__)
        base = ctypes.c_void_p.in_dll(lib, "_ZN7atheris8countersE").value
        limit = ctypes.c_int.in_dll(lib, "_ZN7atheris12max_countersE").value
    except (AttributeError, OSError, ValueError, TypeError):
        return None
    if not base or first < 0 or first + count > limit:
        return None
    return base + first


def auto_kcov_mode(fuzzer: str) -> str:
    """What `auto` means for this fuzzer on a kernel with KCOV: kcov (fed), or kcov-measure."""
    return "kcov-measure" if fuzzer in AUTO_MEASURED else "kcov"


# An input's edges are an image of the edge counters as one Python int (byte i is 1 when edge
# counter i was met), and so is each cached trace's: a call's edges join the input's with one
# OR, and the input's image reaches libFuzzer's counters as one copy (its bytes are the counter
# values). A Python statement per edge cost more under TCG: storing a cmsg input's 430 edges
# one by one was 202 us, joining ten calls' sets of edges 77 us, where an OR of two 2.5 KB ints
# is 4 us and an image's to_bytes and copy 14 us (kcov-6.12 guest, 2026-12-03). A bitmap (a bit
# a counter) is 8 times smaller, but spreading its bits over the counters took 146 us.
def image_of(edges) -> int:
    """The counter image of a collection of edge counters."""
    if not edges:
        return 0
    ba = bytearray(max(edges) + 1)
    for e in edges:
        ba[e] = 1
    return int.from_bytes(ba, "little")


def image_bytes(img: int) -> bytes:
    """The counter values of an image, from counter 0 to its last edge."""
    return img.to_bytes((img.bit_length() + 7) >> 3, "little")


def indices_of(img: int) -> list[int]:
    """The edge counters of an image, ascending."""
    return [i for i, v in enumerate(image_bytes(img)) if v]


def edge_counter(prev: int, pc: int) -> int:
    """The stable counter of the edge prev -> pc (syzkaller-style hashing; only the low 20 bits
    of prev and the low 16 of pc count, so low halves of the PCs are enough)."""
    return (pc ^ ((prev & 0xFFFFF) * 0x9E3779B1)) & (EDGE_COUNTERS_STABLE - 1)


class Feedback:
    """The tracer the Executor calls around every system call."""

    def __init__(self, mode: str = "auto", feed: bool = True, stats_path: str | None = None,
                 scope: str = FEED_DEFAULT, stable: bool = False, fuzzer: str = ""):
        if scope not in FEED_SCOPES:
            raise ValueError(f"feed scope {scope!r}: expected one of {', '.join(FEED_SCOPES)}")
        self.scope = scope
        self.kernel_scope = scope.split("+")[0]
        self.python_too = scope.endswith("+python")
        self.cmp_too = scope.endswith("+cmp")
        self.kcov_cmp: Kcov | None = None
        self.cmp_base = -1
        self.cmp_now = False
        self.cmp_inputs = self.cmp_records = 0
        self.cmp_sites: set[int] = set()
        self.input_cmps: set[tuple[int, int, int]] = set()
        self.requested = mode
        self.kcov: Kcov | None = None
        self.symbols: Symbols | None = None
        self.why = ""
        if mode in ("auto", "kcov", "kcov-measure"):
            ok, why = kcov_available()
            if ok:
                self.mode = auto_kcov_mode(fuzzer) if mode == "auto" else mode
            elif mode == "auto":
                self.mode, self.why = "python", why
            else:
                raise RuntimeError(f"coverage mode {mode} needs KCOV: {why}")
        else:
            self.mode = "python"
        self.feed = feed and self.mode == "kcov"
        self.edge_base = None
        self.out_base = None
        self.pc_cache: dict[int, bool] = {}
        self.edge_index: dict[tuple[int, int], int] = {}     # PC pair -> counter, -1: not fed
        self.edges_named = 0                                 # fed edges numbered (see EDGE_COUNTERS)
        self.stable = stable
        self.edge_counters = EDGE_COUNTERS_STABLE if stable else EDGE_COUNTERS
        self.out_index: dict[tuple, int] = {}                # outcome -> its counter
        # per upper half of the PCs: (low half -> fed?, u64 pair of low halves -> counter)
        self.by_top: dict[int, tuple[dict[int, bool], dict[int, int]]] = {}
        self.trace_edges: dict[int, int] = {}                # trace's hash -> its edges' image
        self.trace_cached_bytes = 0
        self.input_traces: dict[int, int] = {}               # an input's whole trace -> its edges' image
        self.input_cached_bytes = 0
        self.input_hits = 0
        self.trace_hits = self.trace_misses = self.trace_cut = 0
        self.afalg_range = None
        self.afalg_text: AfalgText | None = None     # af_alg/algif text, modules included
        self.stale_drops = 0                         # caches dropped as a module moved
        self.counters = None          # a view of the edge counters in atheris' memory, when found
        self.out_counters = None      # the same for the outcome counters
        self.input_begin()
        # statistics
        self.stats_path = stats_path
        self.execs = 0
        self.pcs_total = 0
        self.edges_total = 0
        self.distinct_pcs: set[int] = set()
        self.afalg_pcs: set[int] = set()
        self.outcomes: set[tuple] = set()
        self.crash_hook_used = False
        self.started = time.time()
        self.last_dump = 0.0
        # (seconds, execs, af_alg/algif PCs, outcomes) at every dump: how fast a campaign got
        # where it got, which two arms that end at the same plateau differ in
        self.growth: list[list] = []
        self.growth_stride = 1        # dumps between two points of the curve
        self.growth_dumps = 0
        self.growth_last: list | None = None    # the latest dump's point, kept or not
        # the summary names what guided the fuzzer; kcov-measure is python-guided
        self.coverage_label = self.mode
        # execute_s and feedback_s include kcov_s (the KCOV buffer read after each call and
        # turned into edges; kcov_miss_s the part of it spent on traces not seen before);
        # between_s is the time outside the callback, libFuzzer's own
        self.timing = {"journal_s": 0.0, "decode_s": 0.0, "execute_s": 0.0, "feedback_s": 0.0, "kcov_s": 0.0,
                       "kcov_miss_s": 0.0, "between_s": 0.0}

    # called in the first TestOneInput (after atheris.Fuzz() replaced the stubs)
    def start(self) -> None:
        import atheris
        if self.edge_base is None:
            self.out_base = atheris._reserve_counter()
            for _ in range(OUTCOME_COUNTERS - 1):
                atheris._reserve_counter()
            if self.feed:
                self.edge_base = atheris._reserve_counter()
                for _ in range(self.edge_counters - 1):
                    atheris._reserve_counter()
            else:
                self.edge_base = -1
            if self.feed and self.cmp_too:
                self.cmp_base = atheris._reserve_counter()     # the "PCs" of kernel comparison sites
                for _ in range(CMP_COUNTERS - 1):
                    atheris._reserve_counter()
        if self.feed and self.counters is None:
            addr = atheris_counters(self.edge_base, self.edge_counters)
            if addr:
                self.counters = memoryview((ctypes.c_ubyte * self.edge_counters).from_address(addr)).cast("B")
        if self.out_counters is None:
            addr = atheris_counters(self.out_base, OUTCOME_COUNTERS)
            if addr:
                self.out_counters = memoryview((ctypes.c_ubyte * OUTCOME_COUNTERS).from_address(addr)).cast("B")
        if self.mode.startswith("kcov") and self.kcov is None:
            self.symbols = Symbols()
            if self.symbols.ok:
                self.afalg_text = AfalgText(self.symbols)
                self.afalg_range = self.afalg_text.range
            if self.kernel_scope == "afalg" and self.afalg_range is None:
                self.kernel_scope = "crypto"     # no af_alg/algif text to scope to: the wider filter
            self.kcov = Kcov()
            if self.feed and self.cmp_too and self.afalg_range is not None:
                self.kcov_cmp = Kcov(mode=KCOV_TRACE_CMP, enable=False)

    def describe(self) -> str:
        extra = ""
        if self.mode.startswith("kcov") and self.kcov is None:
            # before the first input (start): kallsyms is read then, so say nothing of it yet
            extra = "; PC filter and af_alg/algif text: read at the first input"
        elif self.mode.startswith("kcov"):
            rng = self.afalg_range
            extra = (f"; PC filter {'by kallsyms names' if self.symbols and self.symbols.ok else 'off (no kallsyms)'}"
                     f"; af_alg/algif text {hex(rng[0]) + '-' + hex(rng[1]) if rng else 'unknown'}")
        also = " + Python coverage" if self.python_too else \
            f" + af_alg/algif comparisons of 1 input in {CMP_EVERY}" if self.kcov_cmp is not None else \
            " (no comparisons: KCOV_TRACE_CMP needs the af_alg/algif text)" if self.cmp_too and self.kcov else ""
        fed = f"fed to libFuzzer ({self.kernel_scope} edges{also})" \
            if self.feed else \
            "measured only" if self.mode == "kcov-measure" else ""
        return f"coverage mode: {self.mode} {fed}{extra}{' (' + self.why + ')' if self.why else ''}"

    # -- per input
    # Under TCG a call's trace is thousands of PCs (4,000 per input on average in a setsockopt
    # campaign); a Python statement per PC cost more than the system calls. So each trace is
    # taken in C: the buffer copied once, its consecutive PC pairs and distinct PCs put into
    # sets; Python then looks only at what it has not seen before (a new PC to name and count,
    # a new pair to number), and the pairs seen before map to their counters through a dict, in
    # C as well. A trace seen before (the same bytes: its hash) gives its edges at once
    # (a campaign of 2026-11-30 spent half its time, 26 ms an input, turning traces into edges).
    # "What it has not seen" is set.difference(dict): `set - dict.keys()` copies and walks the
    # whole dict, so each miss got slower as the campaign learned more edges.
    # The buffer is read once an input, at its end: each call only notes the buffer's count
    # before and after it (marks), and the input's whole trace, with its marks, is looked up
    # first; only an input not seen before has its calls' traces (the stretches between their
    # marks) looked up one by one. 87 % of a cmsg campaign's inputs repeat an earlier input's
    # trace exactly (18,468 inputs, 2,308 distinct, kcov-6.12, 2026-12-03), and a lookup per
    # call was most of the feedback's cost there. Anything traced between two calls (an
    # oracle's own requests) is in the whole trace but in no call's.
    def modules_changing(self) -> None:
        """Before a call that may unload or load an interface module: the calls traced so far
        are read now, against the layout they ran in."""
        if self.afalg_text is None or not self.afalg_text.sizes or self.kcov is None or self.cmp_now:
            return
        if self.marks:
            t0 = time.perf_counter()
            self._calls_traces()
            self.kcov.area[0] = 0
            self.timing["kcov_s"] += time.perf_counter() - t0

    def modules_changed(self) -> None:
        """After it: where the modules are now (the call's own trace is af_alg's register and
        unregister, core text, read at the input's end)."""
        if self.afalg_text is not None and self.afalg_text.sizes:
            self.afalg_text.refresh()
            self._drop_stale()

    def _drop_stale(self) -> None:
        """A module now where other text was: every cache keyed by raw PCs goes (a raw PC there
        is another site now). Rare: a module reloaded elsewhere, a few times a campaign."""
        text = self.afalg_text
        if text is None or not text.stale:
            return
        text.stale = False
        self.stale_drops += 1
        self.pc_cache.clear()
        self.by_top.clear()
        self.edge_index.clear()
        self.trace_edges.clear()
        self.trace_cached_bytes = 0
        self.input_traces.clear()
        self.input_cached_bytes = 0

    def input_begin(self) -> None:
        # a module found moved by a lookup during the last input (a bind's modprobe)
        self._drop_stale()
        self.input_image = 0                  # this input's edges so far (image_of)
        self.input_pcs = 0
        self.marks: list[int] = []            # the buffer's count before and after each call
        self.input_split = False              # a call's trace was read before the input's end
        if self.kcov_cmp is not None and self.execs % CMP_EVERY == CMP_EVERY - 1:
            self.kcov.disable()
            self.kcov_cmp.enable()
            self.cmp_now = True
            self.input_cmps = set()
        elif self.kcov is not None:
            self.kcov.area[0] = 0

    def begin(self) -> None:
        if self.cmp_now:
            self.kcov_cmp.area[0] = 0
        elif self.kcov is not None:
            self.marks.append(self.kcov.area[0])

    def end(self, key: tuple | None) -> None:
        if self.cmp_now:
            t0 = time.perf_counter()
            self._comparisons()
            self.timing["kcov_s"] += time.perf_counter() - t0
        elif self.kcov is not None:
            n = self.kcov.area[0]
            self.marks.append(n)
            if n >= FLUSH_PCS:
                # a long trace (a DRBG's seeding): the calls so far are read now, so the
                # buffer never fills with later calls' PCs still to come
                t0 = time.perf_counter()
                self._calls_traces()
                self.kcov.area[0] = 0
                self.timing["kcov_s"] += time.perf_counter() - t0
        if key is None:                       # traced, but no outcome (the executor's closes)
            return
        self.outcomes.add(key)
        if self.out_base is not None:
            h = self.out_index.get(key)
            if h is None:
                h = self.out_index[key] = (zlib.crc32(repr(key).encode()) if self.stable
                                           else len(self.out_index)) % OUTCOME_COUNTERS
            view = self.out_counters
            if view is not None:
                # a count, as _trace_branch keeps (an outcome twice is another feature than once;
                # atheris' byte wraps at 256, this one stops at 255), without a pybind11 call
                # into atheris for each of an input's ~7 calls
                if view[h] < 255:
                    view[h] += 1
            else:
                import atheris
                atheris._trace_branch(self.out_base + h)

    def _calls_traces(self) -> None:
        """The traces of the calls marked so far, one by one (from one copy of the buffer)."""
        marks, self.marks = self.marks, []
        self.input_split = True
        if len(marks) < 2:
            return
        raw, _full = self.kcov.trace_bytes()
        n = len(raw) // 8
        for i in range(0, len(marks) - 1, 2):
            self._trace(raw[8 * min(marks[i], n):8 * min(marks[i + 1], n)])

    def _input_trace(self) -> None:
        """The input's edges: its whole trace's, from the cache when seen before."""
        marks = self.marks
        if self.input_split or len(marks) % 2 or marks[-1] >= self.kcov.size - 1:
            self._calls_traces()
            return
        self.marks = []
        raw = self.kcov.mem[8:8 + 8 * marks[-1]].tobytes()
        key = hash((raw, tuple(marks)))
        img = self.input_traces.get(key)
        if img is not None:
            self.input_hits += 1
            self.input_image = img
            self.input_pcs = sum(marks[1::2]) - sum(marks[0::2])
            return
        for i in range(0, len(marks), 2):
            self._trace(raw[8 * marks[i]:8 * marks[i + 1]])
        img = self.input_image
        size = (img.bit_length() + 7) >> 3
        if self.input_cached_bytes + size > INPUT_CACHE_BYTES:
            self.input_traces.clear()
            self.input_cached_bytes = 0
        self.input_traces[key] = img
        self.input_cached_bytes += size

    def _comparisons(self) -> None:
        """One call's comparisons in af_alg/algif code, as (site counter, arg1, arg2): the
        rest (crypto loops over data, the allocator) is many records and no progress."""
        records, _full = self.kcov_cmp.comparisons()
        self.kcov_cmp.area[0] = 0
        canon = self._canon
        for _type, a1, a2, pc in records:
            c = canon(pc)
            if c is not None:
                self.input_cmps.add((zlib.crc32(c.to_bytes(8, "little")) % CMP_COUNTERS, a1, a2))
                self.cmp_sites.add(c)

    def _feed_comparisons(self) -> None:
        """libFuzzer gets each comparison as if its own code had made it (value profile: a new
        site x distance is a new feature; the table of recent compares feeds its CMP mutations)."""
        import atheris
        base = self.cmp_base
        for site, a1, a2 in self.input_cmps:
            atheris._trace_cmp(a1, a2, 2, base + site, False)
        self.cmp_inputs += 1
        self.cmp_records += len(self.input_cmps)

    def _trace(self, raw: bytes) -> None:
        """One call's trace (native u64 PCs): its edges, from the cache when seen before."""
        if not raw:
            return
        self.input_pcs += len(raw) // 8
        if len(raw) > 16 * TRACE_ENDS:
            raw = raw[:8 * TRACE_ENDS] + raw[-8 * TRACE_ENDS:]
            self.trace_cut += 1
        # Python's own bytes hash (64-bit SipHash, keyed per process): 2 us for a 5 KB trace
        # natively where blake2b took 13 us, and ~7 calls an input each pay it under TCG's
        # slowdown. Two traces of a 50,000-entry cache share a hash with odds of about 1e-10.
        digest = hash(raw)
        img = self.trace_edges.get(digest)
        if img is None:
            self.trace_misses += 1
            t0 = time.perf_counter()
            img = image_of(self._edges_of_raw(raw))
            self.timing["kcov_miss_s"] += time.perf_counter() - t0
            size = (img.bit_length() + 7) >> 3
            if len(self.trace_edges) >= TRACE_CACHE or self.trace_cached_bytes + size > TRACE_CACHE_BYTES:
                self.trace_edges.clear()
                self.trace_cached_bytes = 0
            self.trace_edges[digest] = img
            self.trace_cached_bytes += size
        else:
            self.trace_hits += 1
        self.input_image |= img

    def _pcs(self, pcs) -> None:
        """One call's trace given as PCs (tests, replays)."""
        self._trace(array("Q", pcs).tobytes())

    def _edges_of_raw(self, raw: bytes) -> frozenset[int]:
        """_edges_of for a raw trace, without a Python object per pair: kernel text shares its
        upper 32 bits (0xffffffff on x86-64), so a pair is one u64, its PCs' low halves side
        by side, built by array slicing in C. Tuples of two ints per pair, hashed and compared,
        were most of the miss cost (perf in a guest, 2026-12-01). Falls back when the upper
        halves differ within the trace."""
        words = array("I", raw)
        hi = words[1::2]
        # one memcmp, where array.count made an int of every element (10 us a miss natively)
        if hi.tobytes() != hi[:1].tobytes() * len(hi):
            return self._edges_of(array("Q", raw))
        lo = words[0::2]
        n = len(lo)
        pair = array("I", bytes(8 * n))
        pair[1::2] = lo                       # this PC in the upper half
        pair[2::2] = lo[:-1]                  # the previous one in the lower (the first: 0)
        keys = set(array("Q", pair.tobytes()))
        top = hi[0] << 32
        keep_lo, index = self.by_top.setdefault(top, ({}, {}))
        # One lookup per pair: in a guest the index holds every pair the campaign has seen,
        # and a lookup in it is a cache miss more often than not (the miss path was 2.4-3.3 ms
        # of a cmsg input under TCG, 2026-12-02; it looked every pair up twice).
        out = set(map(index.get, keys))
        if None in out:
            out.discard(None)
            # a new PC makes every pair that ends in it new: PCs are named while pairs are
            for k in keys.difference(index):
                b = k >> 32
                keep = keep_lo.get(b)
                if keep is None:
                    keep = keep_lo[b] = self._keep(top | b)
                out.add(c := self._number(k & 0xFFFFFFFF, b) if keep else -1)
                index[k] = c
        out.discard(-1)
        return frozenset(out)

    def _edges_of(self, pcs: array) -> frozenset[int]:
        """A trace's edges into kept code as counter indices: its (previous PC, PC) pairs, the
        first from 0; a pair counts when its second PC is kept (its function is crypto/socket
        code, not jitterentropy's noise). Each new PC is named and counted here, once. A pair
        whose PCs share their upper half (or that starts the trace) is looked up where
        _edges_of_raw keeps it, so an edge has one counter whichever path met it."""
        pairs = set(zip(chain((0,), pcs), pcs))
        for pc in set(pcs).difference(self.pc_cache):
            self._keep(pc)
        out = set()
        for a, b in pairs:
            top = b & ~0xFFFFFFFF
            if a == 0 or a & ~0xFFFFFFFF == top:
                index, k = self.by_top.setdefault(top, ({}, {}))[1], ((b & 0xFFFFFFFF) << 32) | (a & 0xFFFFFFFF)
            else:
                index, k = self.edge_index, (a, b)
            c = index.get(k)
            if c is None:
                c = index[k] = self._number(a & 0xFFFFFFFF, b & 0xFFFFFFFF) if self.pc_cache[b] else -1
            out.add(c)
        out.discard(-1)
        return frozenset(out)

    def _number(self, a: int, b: int) -> int:
        """The counter of a new fed edge a -> b (low halves of the PCs): the next one, or in a
        stable Feedback the hash."""
        self.edges_named += 1
        if self.stable:
            return edge_counter(a, b)
        return (self.edges_named - 1) & (EDGE_COUNTERS - 1)

    def _keep(self, pc: int) -> bool:
        """Whether pc guides the fuzzer (its function's name), and its statistics, once."""
        keep = self.pc_cache.get(pc)
        if keep is None:
            filt = self.symbols if self.symbols is not None and self.symbols.ok else None
            canon = self._canon(pc)
            in_afalg = canon is not None
            if filt is None:
                keep = True
            elif self.kernel_scope == "afalg" or in_afalg:
                keep = in_afalg
            else:
                name = filt.name_of(pc) or ""
                keep = bool(FILTER_RE.search(name)) and not NOISE_RE.search(name)
            self.pc_cache[pc] = keep
            self.distinct_pcs.add(pc)
            if in_afalg:
                self.afalg_pcs.add(canon)
        return keep

    def _canon(self, pc: int) -> int | None:
        """pc's address in the af_alg/algif layout (a module's PCs at its slot), None outside."""
        if self.afalg_text is not None:
            return self.afalg_text.canon(pc)
        rng = self.afalg_range
        return pc if rng and rng[0] <= pc < rng[1] else None

    def edges(self) -> set[int]:
        """This input's edge counters so far (every call's trace)."""
        return set(indices_of(self.input_image))

    def input_end(self) -> None:
        self.execs += 1
        t0 = time.perf_counter()
        if self.cmp_now:
            self.cmp_now = False
            self.kcov_cmp.disable()
            self.kcov.enable()
            self._feed_comparisons()         # kcov_cmp exists only when fed (start)
        if self.marks:                       # (none on a comparisons input)
            self._input_trace()
        self.pcs_total += self.input_pcs
        raw = image_bytes(self.input_image)
        self.edges_total += raw.count(1)
        if self.feed and self.counters is not None:
            # one copy into libFuzzer's counter memory (the image's bytes are the counters'
            # values), not a call into atheris per edge (2.9 us an edge in a TCG guest)
            self.counters[:len(raw)] = raw
        elif self.feed and self.edge_base is not None and self.edge_base >= 0:
            import atheris
            base = self.edge_base
            for e, v in enumerate(raw):
                if v:
                    atheris._trace_branch(base + e)
        self.timing["kcov_s"] += time.perf_counter() - t0
        now = time.time()
        if self.stats_path and now - self.last_dump > STATS_EVERY:
            self.dump()

    def snapshot(self) -> dict:
        el = max(time.time() - self.started, 1e-6)
        return {
            "mode": self.mode, "fed": self.feed,
            "feed_scope": (self.kernel_scope + ("+python" if self.python_too else "+cmp" if self.cmp_too else ""))
            if self.feed else None,
            "comparisons": {"inputs": self.cmp_inputs, "fed": self.cmp_records, "sites": len(self.cmp_sites)}
            if self.kcov_cmp is not None else None,
            "coverage": self.coverage_label,
            "execs": self.execs, "seconds": round(el, 1), "execs_per_s": round(self.execs / el, 2),
            "outcomes": len(self.outcomes),
            "pcs_per_input": round(self.pcs_total / self.execs, 1) if self.execs else 0,
            "edges_per_input": round(self.edges_total / self.execs, 1) if self.execs else 0,
            "edges_named": self.edges_named,
            "distinct_pcs": len(self.distinct_pcs),
            "distinct_afalg_pcs": len(self.afalg_pcs),
            "afalg_range": [hex(x) for x in self.afalg_range] if self.afalg_range else None,
            # where the interfaces built as modules are (their PCs are counted at their slots),
            # and how often one came back at another address
            "afalg_modules": {"loaded": sorted(self.afalg_text.loaded), "moved": self.afalg_text.moved,
                              "caches_dropped": self.stale_drops}
            if self.afalg_text is not None and self.afalg_text.sizes else None,
            "afalg_functions": self._afalg_functions(),
            "afalg_pc_list": sorted(hex(pc) for pc in self.afalg_pcs),
            "kcov_truncated": self.kcov.truncated if self.kcov else 0,
            "trace_cache": {"hits": self.trace_hits, "misses": self.trace_misses, "cut": self.trace_cut,
                            "inputs_repeated": self.input_hits},
            "timing": {k: round(v, 2) for k, v in self.timing.items()},
            "outcome_list": sorted("|".join(k) for k in self.outcomes),
            "growth": self.growth + ([self.growth_last] if self.growth_last is not None
                                     and (not self.growth or self.growth[-1] is not self.growth_last) else []),
        }

    def _grow(self) -> None:
        point = [round(time.time() - self.started, 1), self.execs, len(self.afalg_pcs), len(self.outcomes)]
        if self.growth_dumps % self.growth_stride == 0:
            self.growth.append(point)
            if len(self.growth) > GROWTH_POINTS:
                self.growth = self.growth[::2]
                self.growth_stride *= 2
        self.growth_dumps += 1
        self.growth_last = point

    def _afalg_functions(self) -> dict[str, int]:
        """af_alg/algif functions reached, with how many of their PCs (which code, not just how much)."""
        if not self.afalg_pcs or self.symbols is None or not self.symbols.ok:
            return {}
        out: dict[str, int] = {}
        name_of = self.afalg_text.name_of if self.afalg_text is not None else self.symbols.name_of
        for pc in self.afalg_pcs:
            name = name_of(pc) or hex(pc)
            out[name] = out.get(name, 0) + 1
        return dict(sorted(out.items()))

    def dump(self) -> None:
        self.last_dump = time.time()
        self._grow()
        tmp = self.stats_path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(self.snapshot(), f)
            os.replace(tmp, self.stats_path)
        except OSError:
            pass
