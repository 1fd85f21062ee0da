"""Host-side tests of the KCOV feedback plumbing (no KCOV needed: fake kallsyms and PCs)."""

from __future__ import annotations

import pytest

from afalg_conformance.fuzz import coverage

KALLSYMS = """\
ffffffffa1000000 T _text
ffffffffa1001000 T do_page_fault
ffffffffa1002000 T crypto_alg_lookup
ffffffffa1002ef0 T __pfx_ghash_update
ffffffffa1002f00 T ghash_update
ffffffffa1002f40 T __pfx_af_alg_poll
ffffffffa1002f50 T af_alg_poll
ffffffffa1003000 t alg_create
ffffffffa1003100 t alg_bind
ffffffffa1003200 T af_alg_sendmsg
ffffffffa1003300 t hash_sendmsg
ffffffffa1003400 t skcipher_recvmsg
ffffffffa1003500 t aead_recvmsg
ffffffffa1003600 t aead_sock_destruct
ffffffffa1003700 t aead_accept_parent_nokey
ffffffffa1003780 t __pfx_aead_recvmsg_nokey
ffffffffa1003790 t aead_recvmsg_nokey
ffffffffa10037f0 t __pfx_asymmetric_key_eds_op
ffffffffa1003800 T asymmetric_key_eds_op
ffffffffa1003900 t jent_measure_jitter
ffffffffa1003a00 t drbg_kcapi_random
ffffffffa1004000 t sha256_update [sha256_generic]
"""
OFF = 0xFFFFFFFFA1000000 - coverage.Symbols.CANONICAL_TEXT


@pytest.fixture
def syms(tmp_path):
    p = tmp_path / "kallsyms"
    p.write_text(KALLSYMS)
    return coverage.Symbols(str(p))


def test_symbols_are_rebased_to_kcovs_canonical_addresses(syms):
    assert syms.ok
    assert syms.name_of(0xFFFFFFFF81002010) == "crypto_alg_lookup"
    assert syms.name_of(0xFFFFFFFF81003110) == "alg_bind"
    assert "sha256_update" not in syms.names      # module symbols are left out


def test_afalg_range_spans_af_alg_and_algif(syms):
    lo, hi = syms.range_of(coverage.AFALG_ANCHORS)
    # af_alg_poll precedes the first anchor (with its __pfx_ padding symbol); past the last
    # anchor come aead_accept_parent_nokey and aead_recvmsg_nokey; ghash and asymmetric
    # keys are neighbours, not members
    assert lo == 0xFFFFFFFF81002F40
    assert hi == 0xFFFFFFFF810037F0


def test_zero_addresses_mean_no_symbols(tmp_path):
    p = tmp_path / "kallsyms"
    p.write_text("0000000000000000 T _text\n0000000000000000 T alg_bind\n")
    assert not coverage.Symbols(str(p)).ok


def test_pc_filter_edges_and_statistics(syms):
    fb = coverage.Feedback("python")
    fb.symbols = syms
    fb.afalg_range = syms.range_of(coverage.AFALG_ANCHORS)
    fb.input_begin()
    pcs = [0xFFFFFFFF81001010, 0xFFFFFFFF81003110, 0xFFFFFFFF81003210, 0xFFFFFFFF81002010]
    fb._pcs(pcs)
    assert fb.input_pcs == 4
    edges = fb.edges()                            # PCs are named and counted once, here
    assert len(fb.distinct_pcs) == 4
    assert len(fb.afalg_pcs) == 2                 # alg_bind, af_alg_sendmsg
    assert len(edges) == 3                        # do_page_fault is filtered out
    assert fb.pc_cache[0xFFFFFFFF81001010] is False
    assert all(0 <= e < coverage.EDGE_COUNTERS for e in edges)
    assert fb.edges() == edges                    # seen pairs map to the same counters
    fb._pcs([0xFFFFFFFF81003910, 0xFFFFFFFF81003A10])
    fb.edges()
    assert fb.pc_cache[0xFFFFFFFF81003910] is False      # jitterentropy: timing noise, not fed
    assert fb.pc_cache[0xFFFFFFFF81003A10] is True
    assert fb.snapshot()["afalg_functions"] == {"af_alg_sendmsg": 1, "alg_bind": 1}


def test_a_trace_seen_before_gives_its_edges_from_the_cache(syms, monkeypatch):
    fb = coverage.Feedback("python")
    fb.symbols = syms
    trace = [0xFFFFFFFF81003110, 0xFFFFFFFF81003210, 0xFFFFFFFF81002010, 0xFFFFFFFF81003110]
    fb.input_begin()
    fb._pcs(trace)
    first = fb.edges()
    assert first and (fb.trace_hits, fb.trace_misses) == (0, 1)
    fb.input_begin()
    fb._pcs(trace)
    assert fb.edges() == first and (fb.trace_hits, fb.trace_misses) == (1, 1)
    # a trace that differs in one PC is its own entry, and both calls' edges count
    fb.input_begin()
    fb._pcs(trace[:-1])
    fb._pcs(trace)
    assert fb.trace_misses == 2 and fb.edges() >= first and fb.input_pcs == 7
    assert fb.snapshot()["trace_cache"] == {"hits": 2, "misses": 2, "cut": 0, "inputs_repeated": 0}
    # full: emptied, then filled again (memory stays bounded)
    monkeypatch.setattr(coverage, "TRACE_CACHE", 2)
    fb.input_begin()
    fb._pcs(trace[:2])
    assert len(fb.trace_edges) == 1


def test_auto_mode_falls_back_to_python_without_kcov(monkeypatch):
    monkeypatch.setattr(coverage, "KCOV_PATH", "/nonexistent/kcov")
    fb = coverage.Feedback("auto")
    assert fb.mode == "python" and not fb.feed and "does not exist" in fb.why
    assert "coverage mode: python" in fb.describe()
    with pytest.raises(RuntimeError):
        coverage.Feedback("kcov")


def test_auto_mode_per_fuzzer_with_kcov(monkeypatch):
    # auto on a KCOV kernel feeds kernel edges, except to the fuzzers where campaigns showed no
    # feed reaching more (AUTO_MEASURED): those count PCs and are guided by Python coverage
    monkeypatch.setattr(coverage, "kcov_available", lambda: (True, ""))
    seq = coverage.Feedback("auto", fuzzer="fuzz_sequence")
    assert (seq.mode, seq.feed, seq.coverage_label) == ("kcov-measure", False, "kcov-measure")
    cmsg = coverage.Feedback("auto", fuzzer="fuzz_cmsg")
    assert (cmsg.mode, cmsg.feed) == ("kcov", True)
    forced = coverage.Feedback("kcov", fuzzer="fuzz_sequence")
    assert (forced.mode, forced.feed) == ("kcov", True)
    assert coverage.auto_kcov_mode("fuzz_setsockopt") == "kcov"
    # before the first input kallsyms is not read yet: the line must not say it is missing
    assert "read at the first input" in cmsg.describe() and "no kallsyms" not in cmsg.describe()


def _fed_pairs(fb, counters) -> set[tuple[int, int]]:
    """The (previous PC, PC) pairs, as low halves, that fb numbered with one of counters."""
    low = 0xFFFFFFFF
    items = [((k & low), k >> 32, c) for _, index in fb.by_top.values() for k, c in index.items()]
    items += [(a & low, b & low, c) for (a, b), c in fb.edge_index.items()]
    return {(a, b) for a, b, c in items if c >= 0 and c in counters}


def test_raw_trace_edges_equal_the_pair_by_pair_edges(syms):
    """The u64-pair path (PCs sharing their upper half) and the tuple path feed the same
    edges, statistics and filter; a trace whose upper halves differ takes the tuple path.
    (Counters are numbered in first-seen order, so two Feedbacks compare by the pairs.)"""
    from array import array
    trace = [0xFFFFFFFF81003110, 0xFFFFFFFF81003210, 0xFFFFFFFF81001010, 0xFFFFFFFF81003110,
             0xFFFFFFFF81003210, 0xFFFFFFFF81003A10, 0xFFFFFFFF81003910, 0xFFFFFFFF81002010]
    fast, ref = coverage.Feedback("python"), coverage.Feedback("python")
    for fb in (fast, ref):
        fb.symbols = syms
        fb.afalg_range = syms.range_of(coverage.AFALG_ANCHORS)
    got = fast._edges_of_raw(array("Q", trace).tobytes())
    want = ref._edges_of(array("Q", trace))
    assert len(got) == len(want) == 5       # 7 distinct pairs: do_page_fault, jitterentropy not fed
    assert _fed_pairs(fast, got) == _fed_pairs(ref, want) and len(_fed_pairs(fast, got)) == 5
    assert fast.pc_cache == ref.pc_cache and fast.afalg_pcs == ref.afalg_pcs
    assert fast._edges_of_raw(array("Q", trace).tobytes()) == got      # known pairs: same counters
    mixed = trace[:3] + [0x00007F0000001000, 0x0000000081003110]   # the last: a kept PC's low half
    first = fast._edges_of_raw(array("Q", trace[:3]).tobytes())
    got, want = fast._edges_of_raw(array("Q", mixed).tobytes()), ref._edges_of(array("Q", mixed))
    assert _fed_pairs(fast, got) == _fed_pairs(ref, want) and len(got) == len(want)
    assert first <= got                 # the same edges keep their counters on the tuple path
    assert fast.pc_cache == ref.pc_cache and fast.distinct_pcs == ref.distinct_pcs


def test_stable_counters_do_not_depend_on_the_order_edges_were_met(syms):
    """-merge and -fork compare feature numbers between processes: a stable Feedback hashes
    (and so gives an edge the same counter in every process); the default numbers edges in
    the order one process met them."""
    from array import array
    a = [0xFFFFFFFF81003110, 0xFFFFFFFF81003210]
    b = [0xFFFFFFFF81003910, 0xFFFFFFFF81002010]
    counters = {}
    for stable in (True, False):
        for order in ((a, b), (b, a)):
            fb = coverage.Feedback("python", stable=stable)
            fb.symbols = syms
            fb.afalg_range = syms.range_of(coverage.AFALG_ANCHORS)
            got = [fb._edges_of_raw(array("Q", t).tobytes()) for t in order]
            counters[(stable, order[0] is a)] = got[0] if order[0] is a else got[1]
            assert all(0 <= c < fb.edge_counters for e in got for c in e)
    assert counters[(True, True)] == counters[(True, False)]
    assert counters[(True, True)] == {coverage.edge_counter(0, 0x81003110), coverage.edge_counter(0x81003110, 0x81003210)}
    assert counters[(False, True)] != counters[(False, False)]
    assert coverage.Feedback("python", stable=True).edge_counters == coverage.EDGE_COUNTERS_STABLE
    assert all(f.startswith(coverage.CROSS_PROCESS_FLAGS) for f in ("-merge=1", "-merge_inner=1", "-fork=2",
                                                                     "-merge_control_file=x", "-features_dir=d"))


FEED_SCRIPT = r"""
import ctypes, os, sys
import atheris
from afalg_conformance.fuzz import coverage

def one(data):
    fb = coverage.Feedback("python")
    fb.feed = True                            # feed edges (python mode: no KCOV file opened)
    fb.start()
    assert fb.counters, "atheris' counters not found"
    fb.input_begin()
    fb.input_image = coverage.image_of({5, 9, coverage.EDGE_COUNTERS - 1})
    fb.input_end()
    mem = fb.counters
    got = [i for i, v in enumerate(mem) if v]
    atheris._trace_branch(fb.edge_base + 9)   # the same memory as atheris' own counter
    print("FED", got, mem[9], flush=True)
    os._exit(0)

atheris.Setup(sys.argv, one)
atheris.Fuzz()
"""


def _atheris_line(tmp_path, script: str, tag: str) -> str:
    """Run script under atheris for one input (counters exist only once Fuzz() has started);
    its output line that starts with tag."""
    pytest.importorskip("atheris")
    import os
    import subprocess
    import sys
    path = tmp_path / f"{tag.lower()}.py"
    path.write_text(script)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, str(path), "-runs=1"], capture_output=True, text=True,
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=root), timeout=120)
    line = [x for x in out.stdout.splitlines() if x.startswith(tag)]
    assert line, out.stdout + out.stderr
    return line[0]


def test_edges_are_written_into_atheris_counters(tmp_path):
    """The block write lands where _trace_branch counts (atheris' counter memory)."""
    assert _atheris_line(tmp_path, FEED_SCRIPT, "FED") == f"FED [5, 9, {coverage.EDGE_COUNTERS - 1}] 2"


OUTCOME_SCRIPT = """
import os, sys
import atheris
from afalg_conformance.fuzz import coverage

def one(data):
    for _ in range(100):                      # the outcome counters do not start at atheris' 0
        atheris._reserve_counter()
    fb = coverage.Feedback("python")
    fb.start()
    assert fb.out_counters and fb.out_base == 100, "atheris' counters not found"
    key = ("recv", "skcipher:1", "16", "ok")
    fb.end(key)
    fb.end(key)
    fb.end(("bind", "aead", "none", "ENOENT"))
    h = fb.out_index[key]
    atheris._trace_branch(fb.out_base + h)    # atheris' own count lands on the same byte
    print("OUT", fb.out_counters[h], sum(1 for v in fb.out_counters if v), flush=True)
    os._exit(0)

atheris.Setup(sys.argv, one)
atheris.Fuzz()
"""


def test_outcomes_are_counted_in_atheris_counters(tmp_path):
    """An outcome is counted where _trace_branch would count it, once per call (an outcome
    twice in an input is another feature than once), without a call into atheris."""
    assert _atheris_line(tmp_path, OUTCOME_SCRIPT, "OUT") == "OUT 3 2"


def test_a_long_trace_gives_the_edges_of_its_head_and_tail(syms, monkeypatch):
    """Past 2 x TRACE_ENDS PCs only both ends count (a DRBG seeding in the middle of a bind
    filled KCOV's buffer with jitterentropy); the PCs are still counted in full."""
    monkeypatch.setattr(coverage, "TRACE_ENDS", 2)
    head = [0xFFFFFFFF81003110, 0xFFFFFFFF81003210]
    middle = [0xFFFFFFFF81002010] * 3 + [0xFFFFFFFF81003A10]
    tail = [0xFFFFFFFF81003310, 0xFFFFFFFF81003410]
    fb = coverage.Feedback("python")
    fb.symbols = syms
    fb.afalg_range = syms.range_of(coverage.AFALG_ANCHORS)
    fb.input_begin()
    fb._pcs(head + middle + tail)
    ref = coverage.Feedback("python")
    ref.symbols = syms
    ref.input_begin()
    ref._pcs(head + tail)
    assert fb.edges() == ref.edges() and fb.input_pcs == 8
    assert 0xFFFFFFFF81002010 not in fb.distinct_pcs and fb.snapshot()["trace_cache"]["cut"] == 1
    fb.input_begin()
    fb._pcs(head + tail)                       # short enough: taken whole
    assert fb.snapshot()["trace_cache"]["cut"] == 1


def test_each_outcome_has_one_counter(monkeypatch):
    """An outcome (call, detail, length class, errno) is a libFuzzer feature: the same outcome
    hits the same counter every time, a different one another (counters in first-seen order)."""
    import sys
    import types
    hits = []
    monkeypatch.setitem(sys.modules, "atheris", types.SimpleNamespace(_trace_branch=hits.append))
    fb = coverage.Feedback("python")
    fb.out_base = 1000
    for key in [("bind", "aead", "none", "ENOENT"), ("bind", "aead", "none", "ok"),
                ("bind", "aead", "none", "ENOENT")]:
        fb.end(key)
    assert hits == [1000, 1001, 1000]
    assert len(fb.outcomes) == 2


def test_edge_counters_wrap_after_the_last(syms):
    """Past EDGE_COUNTERS named edges the numbers start again at 0 (edges then share
    counters): never an index outside libFuzzer's counters."""
    from array import array
    fb = coverage.Feedback("python")
    fb.symbols = syms
    fb.afalg_range = syms.range_of(coverage.AFALG_ANCHORS)
    fb.edges_named = coverage.EDGE_COUNTERS - 1
    got = fb._edges_of_raw(array("Q", [0xFFFFFFFF81003110, 0xFFFFFFFF81003210]).tobytes())
    assert got == {coverage.EDGE_COUNTERS - 1, 0}
    assert fb.snapshot()["edges_named"] == coverage.EDGE_COUNTERS + 1


def test_afalg_scope_feeds_only_edges_into_af_alg_and_algif(syms):
    """--feed afalg: an edge guides the fuzzer when it lands in the af_alg/algif text; crypto
    API code (crypto_alg_lookup, drbg) is counted in the statistics but not fed."""
    from array import array
    alg_bind, af_alg_sendmsg = 0xFFFFFFFF81003110, 0xFFFFFFFF81003210
    lookup, drbg = 0xFFFFFFFF81002010, 0xFFFFFFFF81003A10
    trace = [alg_bind, lookup, af_alg_sendmsg, drbg, alg_bind]
    scoped, wide = coverage.Feedback("python", scope="afalg"), coverage.Feedback("python")
    for fb in (scoped, wide):
        fb.symbols = syms
        fb.afalg_range = syms.range_of(coverage.AFALG_ANCHORS)
    got = scoped._edges_of_raw(array("Q", trace).tobytes())
    # counters in the order edges are first seen: the three fed edges take 0, 1, 2
    assert got == {0, 1, 2} and scoped.edges_named == 3
    low = 0xFFFFFFFF
    fed = {k: c for k, c in scoped.by_top[0xFFFFFFFF << 32][1].items() if c >= 0}
    assert sorted(((k & low), k >> 32) for k in fed) == sorted(
        [(0, alg_bind & low), (lookup & low, af_alg_sendmsg & low), (drbg & low, alg_bind & low)])
    assert scoped._edges_of_raw(array("Q", trace).tobytes()) == got     # seen pairs keep their counters
    assert len(wide._edges_of_raw(array("Q", trace).tobytes())) == 5
    assert scoped.afalg_pcs == wide.afalg_pcs == {alg_bind, af_alg_sendmsg}
    both = coverage.Feedback("python", scope="afalg+python")
    assert (both.kernel_scope, both.python_too, scoped.python_too) == ("afalg", True, False)
    with pytest.raises(ValueError):
        coverage.Feedback("python", scope="everything")


def _fake_kcov(size, records=()):
    """A Kcov over a plain array: records are KCOV_TRACE_CMP's (type, arg1, arg2, pc)."""
    import ctypes
    k = coverage.Kcov.__new__(coverage.Kcov)
    k.size, k.truncated, k.mode = size, 0, coverage.KCOV_TRACE_CMP
    k.area = (ctypes.c_uint64 * size)()
    k.addr = ctypes.addressof(k.area)
    k.mem = memoryview(k.area).cast("B")
    k.calls = []
    k.enable, k.disable = (lambda: k.calls.append("enable")), (lambda: k.calls.append("disable"))

    def fill(recs):
        k.area[0] = len(recs)
        for i, rec in enumerate(recs):
            for j, word in enumerate(rec):
                if 1 + 4 * i + j < size:          # the kernel writes whole records that fit
                    k.area[1 + 4 * i + j] = word
    k.fill = fill
    fill(records)
    return k


def test_comparison_records_are_read_from_word_one_four_words_each():
    from afalg_conformance.harness.afalg import kcov
    recs = [(kcov.KCOV_CMP_CONST | 4, 16, 12, 0xFFFFFFFF81003210), (6, 2, 3, 0xFFFFFFFF81000010)]
    k = _fake_kcov(64, recs)
    assert k.comparisons() == (recs, False)
    small = _fake_kcov(9, recs * 3)                 # room for (9 - 1) // 4 = 2 records
    assert small.comparisons() == (recs, True) and small.truncated == 1


def test_one_input_in_cmp_every_feeds_its_af_alg_comparisons_to_libfuzzer(monkeypatch):
    import sys
    import types
    fed = []
    monkeypatch.setitem(sys.modules, "atheris", types.SimpleNamespace(
        _trace_cmp=lambda a, b, op, idx, const: fed.append((a, b, op, idx)) or a == b,
        _trace_branch=lambda i: None))
    fb = coverage.Feedback("python", scope="crypto+cmp")
    assert fb.cmp_too and not fb.feed
    fb.feed, fb.cmp_base, fb.afalg_range = True, 1000, (0xFFFFFFFF81003000, 0xFFFFFFFF81004000)
    fb.kcov = _fake_kcov(8)
    fb.kcov_cmp = _fake_kcov(64)
    inside, outside = 0xFFFFFFFF81003210, 0xFFFFFFFF81000010
    for i in range(coverage.CMP_EVERY):
        fb.input_begin()
        assert fb.cmp_now == (i == coverage.CMP_EVERY - 1)
        fb.begin()
        fb.kcov_cmp.fill([(5, 16, 12, inside), (5, 16, 12, inside), (7, 1, 2, outside)])
        fb.end(("sendmsg", "ok"))
        fb.input_end()
    # only the comparison input swapped the PC tracing out and back, and fed once per distinct record
    assert fb.kcov.calls == ["disable", "enable"] and fb.kcov_cmp.calls == ["enable", "disable"]
    assert [(a, b, op) for a, b, op, _ in fed] == [(16, 12, 2)]
    assert 1000 <= fed[0][3] < 1000 + coverage.CMP_COUNTERS
    assert fb.snapshot()["comparisons"] == {"inputs": 1, "fed": 1, "sites": 1}
    assert fb.snapshot()["feed_scope"] == "crypto+cmp"


def test_the_sockets_a_program_leaves_open_are_closed_under_the_tracer(monkeypatch):
    """Release and destruct paths run in the closes after the last call: the tracer must see
    them (begin before, end after each close), and they are no outcome of the program."""
    import socket as socket_mod

    from afalg_conformance.fuzz import program
    real = socket_mod.socket
    closed_at: list[int] = []
    monkeypatch.setattr(program.socket, "socket", lambda *a, **k: real(socket_mod.AF_INET, socket_mod.SOCK_DGRAM))
    monkeypatch.setattr(program.AfalgSocket, "bind_raw", lambda self, addr, n=None: None)
    real_close = program.AfalgSocket.close
    monkeypatch.setattr(program.AfalgSocket, "close", lambda self: closed_at.append(len(log)) or real_close(self))
    log: list = []

    class Recorder:
        def begin(self):
            log.append("begin")

        def end(self, key):
            log.append(key)

    prog = program.Program("fuzz_cmsg")
    prog.add("socket", 0, type=5, type_name="SOCK_SEQPACKET", proto=0)
    prog.add("bind", 0, type="skcipher", name="cbc(aes)", feat=0, mask=0, addrlen=None)
    ex = program.Executor(tracer=Recorder())
    assert ex.run(prog) == ["ok", "ok"]
    assert log[-2:] == ["begin", None]
    assert closed_at == [len(log) - 1]                  # the close ran between the two
    assert all(o[0] != "close" for o in ex.outcomes)
    # the feedback takes the close's trace and records no outcome for it
    fb = coverage.Feedback("python")
    fb.end(("bind", "skcipher", "none", "ok"))
    fb.end(None)
    assert fb.outcomes == {("bind", "skcipher", "none", "ok")}


def test_the_growth_curve_stays_evenly_spaced_as_it_thins_and_ends_on_the_latest_dump(tmp_path, monkeypatch):
    import json
    monkeypatch.setattr(coverage, "GROWTH_POINTS", 8)
    fb = coverage.Feedback("python", stats_path=str(tmp_path / "stats.json"))
    clock = [fb.started]
    monkeypatch.setattr(coverage.time, "time", lambda: clock[0])
    for i in range(1, 61):                      # a dump every 10 s for 10 minutes
        clock[0] = fb.started + 10 * i
        fb.execs = i
        fb.afalg_pcs.add(i)
        fb.dump()
    g = json.loads((tmp_path / "stats.json").read_text())["growth"]
    regular, last = g[:-1], g[-1]
    assert last == [600.0, 60, 60, 0]           # the latest dump, even when not a regular point
    assert len(regular) <= 8
    steps = {b[0] - a[0] for a, b in zip(regular, regular[1:])}
    assert len(steps) == 1 and regular[0][0] == 10.0      # evenly spaced from the first dump
    assert fb.growth_stride == steps.pop() / 10
    # a last dump that is a regular point is not repeated
    fb2 = coverage.Feedback("python", stats_path=str(tmp_path / "stats2.json"))
    for i in range(1, 58):                      # dump 57 is the 56th after the first: stride 8
        clock[0] = fb2.started + 10 * i
        fb2.dump()
    g2 = json.loads((tmp_path / "stats2.json").read_text())["growth"]
    assert g2[-1][0] == 570.0 and len(g2) == len({p[0] for p in g2}) == len(fb2.growth)


def test_edge_images_round_trip_and_are_the_counter_values():
    edges = {0, 5, 9, 63, 64, 1000, coverage.EDGE_COUNTERS - 1}
    img = coverage.image_of(edges)
    assert coverage.indices_of(img) == sorted(edges)
    raw = coverage.image_bytes(img)
    assert len(raw) == coverage.EDGE_COUNTERS and raw.count(1) == len(edges) and max(raw) == 1
    assert coverage.image_of(()) == 0 and coverage.indices_of(0) == [] and coverage.image_bytes(0) == b""
    assert coverage.image_of({1}) | coverage.image_of({3}) == coverage.image_of({1, 3})


def test_the_trace_cache_is_bounded_by_its_images_bytes(syms, monkeypatch):
    monkeypatch.setattr(coverage, "TRACE_CACHE_BYTES", 10)
    fb = coverage.Feedback("python")
    fb.symbols = syms
    fb.input_begin()
    for i in range(4):
        fb._pcs([0xFFFFFFFF81003110 + 16 * i, 0xFFFFFFFF81003110 + 16 * i + 8])
    assert len(fb.trace_edges) < 4 and fb.trace_cached_bytes <= 10
    assert len(fb.edges()) == 8                    # the input keeps every call's edges


def test_an_inputs_edges_are_the_union_of_its_calls_edges(syms):
    fb = coverage.Feedback("python")
    fb.symbols = syms
    fb.input_begin()
    fb._pcs([0xFFFFFFFF81003110, 0xFFFFFFFF81003120])         # alg_bind
    one = fb.edges()
    fb._pcs([0xFFFFFFFF81003120, 0xFFFFFFFF81003210])         # alg_bind, af_alg_sendmsg
    assert len(one) == 2 and fb.edges() > one and len(fb.edges()) == 4
    fb.input_begin()
    assert fb.edges() == set()


def _pc_kcov(size):
    """A KCOV_TRACE_PC Kcov over a plain array; emit(pcs) is the kernel tracing a call."""
    k = _fake_kcov(size)
    k.mode = coverage.KCOV_TRACE_PC

    def emit(pcs):
        for pc in pcs:
            n = k.area[0]
            if n + 1 < size:
                k.area[n + 1] = pc
                k.area[0] = n + 1
    k.emit = emit
    return k


def test_an_input_is_read_once_and_a_repeated_input_from_its_whole_trace(syms, monkeypatch):
    a, b, c = 0xFFFFFFFF81003110, 0xFFFFFFFF81003120, 0xFFFFFFFF81003210     # alg_bind x2, af_alg_sendmsg
    fb = coverage.Feedback("python")
    fb.symbols, fb.kcov, fb.feed = syms, _pc_kcov(64), True
    fb.counters = memoryview(bytearray(coverage.EDGE_COUNTERS)).cast("B")

    def one(calls, between=()):
        fb.counters[:] = bytes(coverage.EDGE_COUNTERS)         # libFuzzer's reset
        fb.input_begin()
        for pcs in calls:
            fb.begin()
            fb.kcov.emit(pcs)
            fb.end(("call", "ok"))
            fb.kcov.emit(between)                              # an oracle's own requests
        fb.input_end()
        return {i for i, v in enumerate(fb.counters) if v}

    first = one([[a, b], [b, c]])
    assert len(first) == 4 and (fb.trace_misses, fb.trace_hits, fb.input_hits) == (2, 0, 0)
    assert one([[a, b], [b, c]]) == first and fb.input_pcs == 4
    assert (fb.trace_misses, fb.trace_hits, fb.input_hits) == (2, 0, 1)       # no lookup per call
    assert fb.pcs_total == 8 and fb.edges_total == 8 and fb.execs == 2
    # PCs between the calls are no call's: the same edges, through the calls' own traces
    assert one([[a, b], [b, c]], between=[c, a]) == first
    assert (fb.trace_misses, fb.trace_hits, fb.input_hits) == (2, 2, 1)
    # a call that fills a quarter of the buffer has the traces so far read at once
    monkeypatch.setattr(coverage, "FLUSH_PCS", 3)
    assert one([[a, b, c], [b, c]]) >= first and fb.input_split and fb.input_pcs == 5
    # a full buffer: what fitted counts, nothing is read past it
    monkeypatch.setattr(coverage, "FLUSH_PCS", 1 << 30)
    fb.kcov = _pc_kcov(4)
    assert one([[a, b], [b, c]]) and fb.kcov.truncated == 1
