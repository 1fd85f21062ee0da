"""`afalg-conform coverage` without a guest: a fake System.map, fake objdump text and fake
results make the expected map and summary line; the guest side's per-test KCOV record and
the buffer reduction are checked with fakes."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
import types

import pytest

from afalg_conformance.fuzz import covmap
from afalg_conformance.harness.afalg import kcov
from afalg_conformance.harness.cli import coverage as cli
from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.guest import plugin
from afalg_conformance.harness.host.vm import PROJECT_ROOT
from afalg_conformance.harness.results.model import Run, RunInfo, TestResult

SYSTEM_MAP = """\
ffffffff81000000 T _text
ffffffff81001000 T crypto_alg_lookup
ffffffff81002ff0 t __pfx_alg_create
ffffffff81003000 t alg_create
ffffffff81003040 t alg_bind
ffffffff81003080 t hash_sendmsg
ffffffff810030c0 t aead_sock_destruct
ffffffff81003100 t rng_recvmsg
ffffffff81003140 T asymmetric_key_eds_op
ffffffff81200000 T __sanitizer_cov_trace_pc
"""
# what `objdump -d --no-show-raw-insn --start-address --stop-address vmlinux` prints
OBJDUMP = """
vmlinux:     file format elf64-x86-64


Disassembly of section .text:

ffffffff81003000 <alg_create>:
ffffffff81003000:\tendbr64
ffffffff81003004:\tcall   ffffffff81200000 <__sanitizer_cov_trace_pc>
ffffffff81003009:\tmov    %rdi,%rax
ffffffff8100300c:\tje     ffffffff81003016 <alg_create+0x16>
ffffffff8100300e:\tcall   ffffffff81200000 <__sanitizer_cov_trace_pc>
ffffffff81003013:\tmov    $0xffffffea,%eax
ffffffff81003016:\tret

ffffffff81003040 <alg_bind>:
ffffffff81003040:\tcall   ffffffff81200000 <__sanitizer_cov_trace_pc>
ffffffff81003045:\tcall   ffffffff81001000 <crypto_alg_lookup>
ffffffff8100304a:\tret

ffffffff81003080 <hash_sendmsg>:
ffffffff81003080:\tcall   ffffffff81200000 <__sanitizer_cov_trace_pc>
ffffffff81003085:\tret

ffffffff810030c0 <aead_sock_destruct>:
ffffffff810030c0:\tcall   ffffffff81200000 <__sanitizer_cov_trace_pc>
ffffffff810030c5:\tret

ffffffff81003100 <rng_recvmsg>:
ffffffff81003100:\tret
"""
RANGE = (0xFFFFFFFF81002FF0, 0xFFFFFFFF81003140)
S = {"create0": 0xFFFFFFFF81003009, "create1": 0xFFFFFFFF81003013, "bind": 0xFFFFFFFF81003045,
     "hash": 0xFFFFFFFF81003085, "aead": 0xFFFFFFFF810030C5}


@pytest.fixture
def kernel(tmp_path):
    m = tmp_path / "System.map"
    m.write_text(SYSTEM_MAP)
    syms = kcov.Symbols(str(m))
    sites = covmap.parse_sites(OBJDUMP)
    covmap.name_sites(sites, syms)
    return sites, covmap.functions_in(syms, RANGE), syms, m


def fake_run(tests: dict[str, dict | None]) -> Run:
    run = Run(run=RunInfo(target="kcov-fake", kernel_release="6.12.0-fake"))
    for tid, k in tests.items():
        run.tests.append(TestResult(id=tid, name=tid, outcome="pass" if k is not None else "crash", kcov=k or {}))
    return run


def test_sites_are_the_tracer_calls_with_their_return_addresses(kernel):
    sites, functions, syms, _m = kernel
    assert [s.pc for s in sites] == sorted(S.values())
    assert [s.label for s in sites] == ["alg_create+0x4", "alg_create+0xe", "alg_bind+0x0", "hash_sendmsg+0x0",
                                        "aead_sock_destruct+0x0"]
    assert sites[2].after[0] == "call <crypto_alg_lookup>"      # what the site leads to
    assert functions == ["alg_create", "alg_bind", "hash_sendmsg", "aead_sock_destruct", "rng_recvmsg"]
    assert syms.range_of(kcov.AFALG_ANCHORS) == RANGE


def test_map_summary_per_function_unreached_and_unmatched(kernel):
    sites, functions, _syms, _m = kernel
    suite = {"conformance/test_a.py::test_bind": {S["create0"], S["bind"]},
             "conformance/test_a.py::test_hash": {S["create0"], S["hash"], 0xFFFFFFFF81003010}}   # not a site
    # crypto_alg_lookup ended with `jmp __sanitizer_cov_trace_pc`: its PC is alg_bind's return address
    fuzz = {"seeds/fuzz_cmsg/x": {S["create0"], S["create1"], 0xFFFFFFFF8100304A}}
    after = covmap.call_returns(OBJDUMP)
    assert after == {0xFFFFFFFF8100304A}
    cov = covmap.build(sites, RANGE, functions, suite, fuzz, {"target": "kcov-fake"}, after)
    assert covmap.summary_line(cov) == "sites reached: suite 3, fuzz 2, union 4 of 5"
    assert cov["summary"]["suite_only"] == 2 and cov["summary"]["fuzz_only"] == 1
    assert cov["unmatched_pcs"] == {"suite": ["0xffffffff81003010"], "fuzz": []}
    assert cov["callee_pcs"] == {"suite": [], "fuzz": ["0xffffffff8100304a"]}
    fn = {f["name"]: f for f in cov["functions"]}
    assert (fn["alg_create"]["sites"], fn["alg_create"]["suite"], fn["alg_create"]["fuzz"]) == (2, 1, 2)
    assert fn["hash_sendmsg"]["file"] == "algif_hash.c" and fn["aead_sock_destruct"]["file"] == "algif_aead.c"
    assert cov["unreached_functions"] == ["aead_sock_destruct"]
    assert cov["functions_without_sites"] == ["rng_recvmsg"]
    assert cov["unreached_sites"] == ["aead_sock_destruct+0x0"]
    row = next(r for r in cov["sites"] if r["site"] == "alg_create+0x4")
    assert row["suite"] == sorted(suite) and row["fuzz"] == ["seeds/fuzz_cmsg/x"]
    text = covmap.render_text(cov)
    assert "sites reached: suite 3, fuzz 2, union 4 of 5" in text
    assert "## Unreached functions (1)\n\n  aead_sock_destruct" in text
    assert "+0x4     SF  suite 2: test_bind, test_hash; fuzz 1: seeds/fuzz_cmsg/x" in text
    page = covmap.render_html(cov)
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")   # self-contained
    assert "class=none" in page and "aead_sock_destruct" in page


def test_results_and_replay_records_are_read_back(tmp_path):
    run = fake_run({"t1": {"pcs": [hex(S["bind"])], "truncated": True, "distinct": 9}, "t2": None})
    suite, trunc, missing = covmap.suite_pcs(run)
    assert suite == {"t1": {S["bind"]}} and trunc == ["t1"] and missing == ["t2"]
    f = tmp_path / "fuzz-kcov.jsonl"
    f.write_text(json.dumps({"kcov": {"range": ["0x1", "0x2"], "inputs": 3}}) + "\n"
                 + json.dumps({"input": "/r/fuzz-inputs/seeds/fuzz_cmsg/a", "fuzzer": "fuzz_cmsg",
                               "pcs": [hex(S["hash"])], "truncated": False, "failure": "AssertionError: x"}) + "\n"
                 + '{"input": "/r/fuzz-inp')                      # torn by a dying guest
    fuzz, ftrunc, info = covmap.fuzz_pcs(f)
    assert fuzz == {"seeds/fuzz_cmsg/a": {S["hash"]}} and not ftrunc
    assert info["ran"] == 1 and info["planned"] == 3 and not info["ended"]
    assert info["failures"] == {"seeds/fuzz_cmsg/a": "AssertionError: x"}


def test_corpus_sources(tmp_path):
    seeds = covmap.corpus_sources([], seeds=True)
    assert {n for _l, n, _p in seeds} == set(covmap.FUZZERS) and {lbl for lbl, _n, _p in seeds} == {"seeds"}
    (tmp_path / "camp" / "corpus" / "fuzz_cmsg").mkdir(parents=True)
    (tmp_path / "cmsg").mkdir()
    got = covmap.corpus_sources([str(tmp_path / "camp"), str(tmp_path / "cmsg")], seeds=False)
    assert [(lbl, n) for lbl, n, _p in got] == [("camp", "fuzz_cmsg"), ("cmsg", "fuzz_cmsg")]
    with pytest.raises(HarnessError, match="no fuzz inputs"):
        covmap.corpus_sources([str(tmp_path)], seeds=False)


def test_remap_writes_the_three_files_and_prints_the_summary(kernel, tmp_path, monkeypatch, capsys):
    sites, functions, syms, m = kernel
    res = tmp_path / "res"
    res.mkdir()
    fake_run({"conformance/test_a.py::test_bind": {"pcs": [hex(S["bind"]), hex(S["create0"])]},
              "conformance/test_a.py::test_crash": None}).save(str(res / "results.json"))
    (res / cli.REPLAY_FILE).write_text(json.dumps({"kcov": {"inputs": 1}}) + "\n" + json.dumps(
        {"input": "x/seeds/fuzz_sequence/rng", "pcs": [hex(S["aead"])]}) + "\n" + '{"end": 1}\n')
    monkeypatch.setattr(covmap, "load_sites", lambda v, s: (RANGE, sites, functions, syms, set()))
    monkeypatch.setattr(cli, "kernel_files", lambda t, v, s: (tmp_path / "vmlinux", m))
    monkeypatch.setattr(cli.vm, "resolve_target", lambda n: types.SimpleNamespace(name=n))
    a = types.SimpleNamespace(remap=str(res), kernel="kcov-6.12", kernel_given=True, vmlinux=None, system_map=None)
    assert cli.cmd_coverage(a) == 0
    out = capsys.readouterr()
    assert out.out == "sites reached: suite 2, fuzz 1, union 3 of 5\n"
    assert "unreached functions: 1 (hash_sendmsg)" in out.err
    cov = json.loads((res / "coverage.json").read_text())
    assert cov["untraced_tests"] == ["conformance/test_a.py::test_crash"]
    assert cov["unreached_functions"] == ["hash_sendmsg"]
    assert (res / "coverage.html").read_text().startswith("<!doctype html>")
    assert "1 tests have no trace" in (res / "coverage.txt").read_text()


def test_a_target_without_kcov_is_refused_before_boot(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text("CONFIG_CRYPTO_USER_API_HASH=y\n# CONFIG_KCOV is not set\n")
    img = tmp_path / "bzImage"
    img.write_bytes(b"")
    with pytest.raises(HarnessError, match="has no KCOV"):
        cli.check_kcov_config(types.SimpleNamespace(name="x", config=str(cfg)))
    cfg.write_text("CONFIG_KCOV=y\n")
    cli.check_kcov_config(types.SimpleNamespace(name="x", config=str(cfg)))
    assert cli.kcov_problem([{"error": "no kcov"}]) == "no kcov"
    assert cli.kcov_problem([{"error": "no kcov"}, {"range": ["0x1", "0x2"]}]) is None


def test_kcov_distinct_reduces_the_buffer_and_flags_a_full_one():
    buf = (ctypes.c_uint64 * 8)()
    k = kcov.Kcov.__new__(kcov.Kcov)
    k.size, k.addr, k.area, k.truncated = 8, ctypes.addressof(buf), buf, 0
    k.mem = memoryview(buf).cast("B")
    buf[0], buf[1], buf[2], buf[3] = 3, 0x10, 0x20, 0x10
    assert k.distinct() == ({0x10, 0x20}, False)
    buf[0] = 7
    pcs, full = k.distinct()
    assert full and k.truncated == 1 and 0x10 in pcs


def test_guest_records_only_af_alg_pcs_of_each_test(monkeypatch):
    class FakeKcov:
        def __init__(self, entries):
            self.pcs = set()

        def reset(self):
            self.pcs = set()

        def distinct(self):
            return self.pcs, False
    monkeypatch.setattr(plugin, "kcov_available", lambda: (True, "ok"))
    monkeypatch.setattr(plugin, "Symbols", lambda: types.SimpleNamespace(ok=True, range_of=lambda a: (0x100, 0x200)))
    monkeypatch.setattr(kcov, "module_files", lambda root: {})      # not the host's /lib/modules
    monkeypatch.setattr(plugin, "Kcov", FakeKcov)
    monkeypatch.setattr(plugin.sys, "addaudithook", lambda hook: None)
    t = plugin.TestKcov(64)
    assert t.status["range"] == ["0x100", "0x200"]
    t.begin()
    t.kcov.pcs = {0x50, 0x100, 0x1ff, 0x200}
    assert t.end() == {"pcs": ["0x100", "0x1ff"], "truncated": False, "distinct": 4, "drains": 0}


def test_a_long_test_is_drained_in_its_own_thread_before_the_buffer_fills():
    """The audit hook sets the PCs aside, in the traced thread only, once the buffer is half full."""
    buf = (ctypes.c_uint64 * 8)()
    k = kcov.Kcov.__new__(kcov.Kcov)
    k.size, k.addr, k.area, k.truncated = 8, ctypes.addressof(buf), buf, 0
    k.mem = memoryview(buf).cast("B")
    t = plugin.TestKcov.__new__(plugin.TestKcov)
    t.kcov, t.range, t.half, t.thread, t.busy = k, (0x100, 0x200), 4, plugin.threading.get_ident(), False
    t.text = kcov.AfalgText(types.SimpleNamespace(ok=True, range_of=lambda a: (0x100, 0x200)), modules={})
    t.begin()
    buf[0], buf[1], buf[2], buf[3], buf[4], buf[5] = 5, 0x110, 0x50, 0x120, 0x110, 0x60
    other = plugin.threading.Thread(target=t._audit, args=("open", ()))   # another thread: never
    other.start()
    other.join()
    t._audit("socket.__new__", ())
    assert t.drains == 1 and buf[0] == 0 and t.kept == {0x110, 0x120}
    buf[0], buf[1] = 1, 0x130
    t._audit("socket.sendmsg", ())         # under half full: left alone
    assert t.drains == 1
    assert t.end() == {"pcs": ["0x110", "0x120", "0x130"], "truncated": False, "distinct": 5, "drains": 1}


def test_plugin_without_kcov_says_why_in_the_session_event(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_one():\n    pass\n")
    ev = tmp_path / "ev.jsonl"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "afalg_conformance.harness.guest.plugin", "-p", "no:cacheprovider",
                        "--afalg-events", str(ev), "--afalg-kcov", "1024", "test_x.py"],
                       cwd=tmp_path, env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    events = [json.loads(x) for x in ev.read_text().splitlines()]
    session = next(e for e in events if e["event"] == "session")
    result = next(e for e in events if e["event"] == "result")
    if session["kcov"].get("error"):                   # a host without KCOV: said once, no PCs
        assert result["kcov"] == {}
    else:
        assert "pcs" in result["kcov"]


def test_covreplay_reads_its_folders_from_a_list_file(tmp_path):
    from afalg_conformance.fuzz import covreplay
    d = tmp_path / "fed-s1" / "fuzz_cmsg"
    d.mkdir(parents=True)
    (d / "a").write_bytes(b"x")
    (d / "stats.json").write_text("{}")
    listing = tmp_path / "dirs.txt"
    listing.write_text(f"fuzz_cmsg={d}\n\n")
    assert [(n, p.name) for n, p in covreplay.inputs([line for line in listing.read_text().splitlines() if line])] \
        == [("fuzz_cmsg", "a")]


CHECKS_OBJDUMP = """
ffffffff81003000 <alg_create>:
ffffffff81003000:\tcall   ffffffff81200000 <__sanitizer_cov_trace_pc>
ffffffff81003005:\tnop
ffffffff81003006:\tud2
ffffffff81003008:\tcall   ffffffff81200000 <__sanitizer_cov_trace_pc>
ffffffff8100300d:\tmov    $0x3,%esi
ffffffff81003012:\tcall   ffffffff81001000 <refcount_warn_saturate>
ffffffff81003017:\tcall   ffffffff81200000 <__sanitizer_cov_trace_pc>
ffffffff8100301c:\tjmp    ffffffff81003000 <alg_create>
ffffffff81003021:\tcall   ffffffff81001000 <__stack_chk_fail>
ffffffff81003026:\tret
"""


def test_sites_only_a_kernel_in_error_reaches_are_counted_apart(kernel):
    """A BUG/WARN or a refcount/list report after a site makes it a kernel check: reaching it is
    a bug found, not coverage to aim at; judged on the site's own block (a jump ends it)."""
    _sites, functions, syms, _m = kernel
    sites = covmap.parse_sites(CHECKS_OBJDUMP)
    covmap.name_sites(sites, syms)
    assert [s.check for s in sites] == [True, True, False]
    cov = covmap.build(sites, RANGE, functions, {"t": {sites[2].pc}}, {})
    assert (cov["summary"]["check_sites"], cov["summary"]["check_reached"]) == (2, 0)
    assert covmap.checks_line(cov).endswith("the union over the other 1: 1")
    assert "alg_create+0x0  (kernel check)" in covmap.render_text(cov)


def test_a_campaigns_corpus_is_replayed_with_the_names_it_was_decoded_with(tmp_path):
    """A results folder's corpus goes to the guest with its fuzzer's runtime names
    (names-NAME.json, engine.save_names); the replay decodes that folder with them."""
    from afalg_conformance.fuzz import covreplay, engine
    from afalg_conformance.harness.cli import coverage
    camp = tmp_path / "camp"
    (camp / "corpus" / "fuzz_cmsg").mkdir(parents=True)
    (camp / "corpus" / "fuzz_cmsg" / "a").write_bytes(b"x")
    (camp / "cmsg").mkdir()
    (camp / "cmsg" / "b").write_bytes(b"y")
    engine.save_names(str(camp / "names-fuzz_cmsg.json"), [("hash", "sha1-avx")])
    sources = covmap.corpus_sources([str(camp), str(camp / "cmsg")], seeds=False)
    pairs = coverage.copy_inputs(sources, tmp_path / "inputs")
    copied = [tmp_path / p.partition("=")[2] for p in pairs]
    assert engine.load_names(str(copied[0] / engine.NAMES_FILE)) == [("hash", "sha1-avx")]
    assert not (copied[1] / engine.NAMES_FILE).exists()           # not a campaign's: the guest's names
    todo = covreplay.inputs(pairs)
    assert [f.name for _n, f in todo] == ["a", "b"]                  # the names are not an input
    assert coverage.count_inputs(pairs) == len(todo) == 2             # nor in the count the host prints
    assert {k: v.runtime for k, v in covreplay.saved_names(todo).items()} == {str(copied[0]): [("hash", "sha1-avx")]}
    # a --jobs campaign: job-1/ onwards hold the lists, the corpus is shared
    jobs = tmp_path / "jobs"
    (jobs / "corpus" / "fuzz_cmsg").mkdir(parents=True)
    (jobs / "job-1").mkdir()
    engine.save_names(str(jobs / "job-1" / "names-fuzz_cmsg.json"), [("hash", "md5")])
    assert covmap.corpus_names(jobs / "corpus" / "fuzz_cmsg", "fuzz_cmsg") == jobs / "job-1" / "names-fuzz_cmsg.json"
    # a file that is not a list of names: an error on the host
    (camp / "names-fuzz_cmsg.json").write_text('{"runtime": [["hash"]]}')
    with pytest.raises(HarnessError, match="names-fuzz_cmsg.json is not a list of runtime names"):
        covmap.corpus_names(camp / "corpus" / "fuzz_cmsg", "fuzz_cmsg")
