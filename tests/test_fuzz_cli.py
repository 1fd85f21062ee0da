"""Host-side tests of `afalg-conform fuzz` plumbing: crash signatures, dedup, log parsing,
the host refusal, and build-kernel's target registration. No VM."""

from __future__ import annotations

import json
import os
import tomllib

import pytest

from afalg_conformance.harness import cli
from afalg_conformance.fuzz import cli as fuzzcli
from afalg_conformance.harness.results import klog
from afalg_conformance.vms import build_kernel

SYSRQ_CONSOLE = """\
[   40.100000] afalg-fuzz: start fuzz_setsockopt
[   41.200000] sysrq: Trigger a crash
[   41.200100] Kernel panic - not syncing: sysrq triggered crash
[   41.200200] CPU: 1 UID: 0 PID: 321 Comm: python3 Not tainted 6.12.117+deb12-amd64 #1  Debian 6.12.117-1~deb12u1
[   41.200300] Call Trace:
[   41.200400]  <TASK>
[   41.200500]  dump_stack_lvl+0x5d/0x80
[   41.200600]  panic+0x118/0x2f0
[   41.200700]  ? sysrq_handle_crash+0x5/0x20
[   41.200800]  sysrq_handle_crash+0x16/0x20
[   41.200900]  __handle_sysrq.cold+0x9b/0xe2
[   41.201000]  write_sysrq_trigger+0x68/0x80
[   41.201100]  proc_reg_write+0x59/0xa0
[   41.201200]  vfs_write+0xf6/0x460
[   41.201300]  ksys_write+0x6d/0xf0
[   41.201400]  do_syscall_64+0x82/0x190
[   41.201500]  entry_SYSCALL_64_after_hwframe+0x76/0x7e
"""


def test_kernel_signature_uses_the_top_frames():
    sig, excerpt = klog.signature(SYSRQ_CONSOLE.splitlines())
    assert sig.startswith("panic: Kernel panic - not syncing: sysrq triggered crash")
    assert "sysrq_handle_crash < __handle_sysrq.cold < write_sysrq_trigger < proc_reg_write < vfs_write" in sig
    assert any("Call Trace" in x for x in excerpt)
    # timestamps, pids and addresses do not change the signature
    other = SYSRQ_CONSOLE.replace("41.2", "99.9").replace("PID: 321", "PID: 999")
    assert klog.signature(other.splitlines())[0] == sig


def test_no_signature_on_a_clean_console():
    assert klog.signature(["[ 1.0] virtme-ng-init: ok", "[ 2.0] NET: Registered PF_ALG"]) is None


def test_python_signature_from_libfuzzer_report():
    log = ("=== Uncaught Python exception: ===\n"
           "AssertionError: cbc(aes) enc: output differs from the oracle: got 00ff want 11ee (key 0011)\n"
           "Traceback (most recent call last):\n")
    assert fuzzcli.python_signature(log) == "python: AssertionError: cbc(aes) enc: output differs from the oracle: got X want Y"


def test_a_deadly_signal_is_signed_by_the_line_that_names_its_cause():
    """2026-12-01: three campaigns died in glibc's futex check, signed `python: crash` alike."""
    log = ("#7231\tNEW    cov: 3839 ft: 3952 corp: 681/93Kb lim: 302 exec/s: 19 rss: 101Mb L: 186/302\n"
           "The futex facility returned an unexpected error code.\n==84== ERROR: libFuzzer: deadly signal\n")
    assert fuzzcli.python_signature(log) == ("python: deadly signal after: The futex facility returned an "
                                             "unexpected error code.")
    bare = "#7231\tNEW    cov: 3839 ft: 3952\n==84== ERROR: libFuzzer: deadly signal\n"
    assert fuzzcli.python_signature(bare) == "python: deadly signal"
    assert fuzzcli.python_signature("#1 INITED cov: 3\n") is None


def test_crash_store_deduplicates_by_signature(tmp_path):
    st = fuzzcli.CrashStore(tmp_path)
    p1, new1 = st.add(b"one", {"signature": "panic: x | a < b", "fuzzer": "fuzz_cmsg", "kind": "kernel"})
    p2, new2 = st.add(b"two", {"signature": "panic: x | a < b", "fuzzer": "fuzz_cmsg", "kind": "kernel"})
    p3, new3 = st.add(b"three", {"signature": "python: E", "fuzzer": "fuzz_cmsg", "kind": "python"})
    assert new1 and not new2 and new3 and p1 == p2 != p3
    idx = json.loads((tmp_path / "crashes" / "index.json").read_text())
    assert idx["panic: x | a < b"]["count"] == 2
    assert json.loads(p1.with_name(p1.name + ".json").read_text())["fuzzer"] == "fuzz_cmsg"


def test_a_crash_from_another_decoder_version_is_not_replayed_as_something_else(tmp_path, capsys):
    """A saved crash records its decoder's version; --reproduce refuses one saved by another
    (the same bytes would decode to another program), before any guest boots."""
    from afalg_conformance.fuzz.decoders import DECODER_VERSION
    st = fuzzcli.CrashStore(tmp_path)
    p, _ = st.add(b"seq", {"signature": "panic: y", "fuzzer": "fuzz_sequence", "kind": "kernel"})
    meta = json.loads(p.with_name(p.name + ".json").read_text())
    assert meta["decoder_version"] == DECODER_VERSION["fuzz_sequence"]
    fuzzcli.check_decoder_version(str(p), "fuzz_sequence", meta)            # same version: fine
    fuzzcli.check_decoder_version(str(p), "fuzz_sequence", {})              # a raw input: decoded as today
    old = {k: v for k, v in meta.items() if k != "decoder_version"}         # saved before versions
    with pytest.raises(fuzzcli.HarnessError, match=f"decoder version 1; this tree.s is version {DECODER_VERSION['fuzz_sequence']}"):
        fuzzcli.check_decoder_version(str(p), "fuzz_sequence", old)
    p.with_name(p.name + ".json").write_text(json.dumps(old))
    assert cli.main(["fuzz", "--reproduce", str(p), "--kernel", "debian-6.12"]) != 0
    assert "decoder version 1" in capsys.readouterr().err


def test_parse_libfuzzer_log():
    log = ("#21\tINITED cov: 355 ft: 386 corp: 15/1652b exec/s: 2 rss: 51Mb\n"
           "#31\tNEW    cov: 394 ft: 515 corp: 18/1976b lim: 148 exec/s: 1 rss: 51Mb L: 113/148 MS: 3 x\n"
           "#31\tDONE   cov: 394 ft: 515 corp: 18/1976b lim: 148 exec/s: 1 rss: 51Mb\n"
           "Done 31 runs in 18 second(s)\n"
           "stat::number_of_executed_units: 31\n")
    p = fuzzcli.parse_log(log)
    assert p["execs"] == 31 and p["corpus"] == 18 and p["cov"] == 394


def test_summary_line_names_the_fuzzer_as_typed_and_the_guiding_coverage(tmp_path):
    (tmp_path / "fuzz-fuzz_cmsg.log").write_text("#31\tDONE   cov: 394 ft: 515 corp: 18/1976b exec/s: 1 rss: 51Mb\n"
                                                  "stat::number_of_executed_units: 31\n")
    (tmp_path / "stats-fuzz_cmsg.json").write_text(json.dumps({"execs": 30, "seconds": 10.0,
                                                               "coverage": "kcov-measure"}))
    line = fuzzcli.summary_line("fuzz_cmsg", tmp_path, 0, "python")
    assert line == "fuzz cmsg: 31 execs, 3.0 execs/s, corpus 18, crashes 0, coverage kcov-measure"


def test_fuzz_refuses_the_host_kernel(capsys):
    assert cli.main(["fuzz", "cmsg", "--kernel", "host"]) == 2
    assert "refusing to fuzz the host kernel" in capsys.readouterr().err


def test_unknown_fuzzer_is_a_harness_error(capsys):
    assert cli.main(["fuzz", "nosuch", "--kernel", "host"]) == 2
    assert "unknown fuzzer" in capsys.readouterr().err


def test_build_kernel_registers_a_build_target(tmp_path):
    b = build_kernel.BUILDS["kcov-6.12"]
    targets = tmp_path / "targets.toml"
    build_kernel.register(b, tmp_path / "bzImage", targets)
    build_kernel.register(b, tmp_path / "bzImage2", targets)       # replaced, not duplicated
    data = tomllib.loads(targets.read_text())
    assert data["kcov-6.12"]["kind"] == "build"
    assert data["kcov-6.12"]["image"] == str(tmp_path / "bzImage2")
    assert "KCOV" in data["kcov-6.12"]["needs"]


def test_kcov_fragment_has_what_the_fuzzers_need():
    want = build_kernel.fragment_lines(build_kernel.VMS_DIR / "kcov.config")
    for opt in ("CONFIG_KCOV", "CONFIG_KCOV_ENABLE_COMPARISONS", "CONFIG_DEBUG_FS", "CONFIG_CRYPTO_USER_API",
                "CONFIG_CRYPTO_USER_API_HASH", "CONFIG_CRYPTO_MANAGER_DISABLE_TESTS", "CONFIG_DEBUG_INFO_NONE",
                "CONFIG_MODULES", "CONFIG_MODULE_UNLOAD"):
        assert want[opt] == "y", opt
    # modules, so that their (un)registration runs in the fuzzer's task (fuzz_sequence's module op)
    for opt in ("CONFIG_CRYPTO_USER_API_SKCIPHER", "CONFIG_CRYPTO_USER_API_AEAD", "CONFIG_CRYPTO_USER_API_RNG"):
        assert want[opt] == "m", opt


def test_kcov_is_scoped_to_the_code_under_test_in_every_kcov_build(tmp_path):
    """CONFIG_KCOV_INSTRUMENT_ALL off, and the Makefiles of the scope's folders and files
    turn it on: appended once after a marker, replaced (not added twice) on a rebuild."""
    assert build_kernel.fragment_lines(build_kernel.VMS_DIR / "kcov.config")["CONFIG_KCOV_INSTRUMENT_ALL"] == "n"
    assert all(b.kcov_scope == build_kernel.KCOV_SCOPE for b in build_kernel.BUILDS.values())
    scope = {"crypto/Makefile": ("KCOV_INSTRUMENT := y", "KCOV_INSTRUMENT_jitterentropy.o := n"),
             "net/Makefile": ("KCOV_INSTRUMENT_socket.o := y",)}
    (tmp_path / "crypto").mkdir()
    (tmp_path / "net").mkdir()
    (tmp_path / "crypto" / "Makefile").write_text("obj-y += af_alg.o\n")
    (tmp_path / "net" / "Makefile").write_text("obj-y := socket.o\n\n")
    assert build_kernel.scope_kcov(tmp_path, scope) == ["crypto/Makefile", "net/Makefile"]
    once = (tmp_path / "crypto" / "Makefile").read_text()
    assert once == f"obj-y += af_alg.o\n\n{build_kernel.KCOV_MARK}\nKCOV_INSTRUMENT := y\nKCOV_INSTRUMENT_jitterentropy.o := n\n"
    assert build_kernel.scope_kcov(tmp_path, scope) == []                       # as it was: untouched
    scope["crypto/Makefile"] = ("KCOV_INSTRUMENT := y",)
    assert build_kernel.scope_kcov(tmp_path, scope) == ["crypto/Makefile"]
    assert (tmp_path / "crypto" / "Makefile").read_text().count("KCOV_INSTRUMENT") == 1
    with pytest.raises(build_kernel.BuildError, match="fs/Makefile"):
        build_kernel.scope_kcov(tmp_path, {"fs/Makefile": ("KCOV_INSTRUMENT_splice.o := y",)})


def test_kasan_build_layers_its_fragment_on_the_kcov_one():
    b = build_kernel.BUILDS["kasan-6.12"]
    assert b.fragments == ("kcov.config", "kasan.config")
    text = b.fragment_text()
    assert text.index("CONFIG_KCOV=y") < text.index("CONFIG_KASAN=y")
    want = build_kernel.fragment_lines(build_kernel.VMS_DIR / "kasan.config")
    assert want["CONFIG_KASAN"] == "y" and want["CONFIG_LKDTM"] == "y"
    assert {"KASAN", "LKDTM", "KCOV"} <= set(b.needs)


@pytest.mark.parametrize("argv", [["build-kernel", "kcov-6.12", "--dry-run"], ["build-kernel", "kasan-6.12", "--dry-run"]])
def test_build_kernel_dry_run(argv, capsys):
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "nice -n 19 make -j2" in out and "virtme-configkernel --defconfig --custom" in out


def test_journal_holds_the_last_input_in_one_record(tmp_path, monkeypatch):
    from afalg_conformance.fuzz.engine import Journal, read_journal
    monkeypatch.delenv("AFALG_FUZZ_JOURNAL_FSYNC", raising=False)
    j = Journal(str(tmp_path / "journal"), kmsg=False)
    j.write(b"a much longer first input")
    j.write(b"second")
    raw = (tmp_path / "journal").read_bytes()
    assert raw.startswith(b"AFJ1") and read_journal(raw) == b"second"
    assert read_journal(b"plain old journal") == b"plain old journal"


def test_shared_memory_journal_reaches_the_host_as_the_journal_file(tmp_path, monkeypatch):
    """The guest stores each input into the ivshmem memory (a file of the host's own, outside
    the results folder); after the guest, the host writes it out as journal-NAME for
    collect_crashes and removes the memory's folder."""
    from afalg_conformance.fuzz.engine import Journal, read_journal
    monkeypatch.delenv("AFALG_FUZZ_JOURNAL_FSYNC", raising=False)
    shm = fuzzcli.make_journal_shm()
    assert not shm.startswith(str(tmp_path))
    j = Journal(str(tmp_path / "journal-fuzz_cmsg"), kmsg=False, shm=shm, name="fuzz_cmsg")
    j.write(b"a much longer first input")
    j.write(b"second")
    assert (tmp_path / "journal-fuzz_cmsg").read_bytes() == b""      # nothing went over 9p
    assert fuzzcli.journal_from_shm(shm, tmp_path) == "fuzz_cmsg"
    assert read_journal((tmp_path / "journal-fuzz_cmsg").read_bytes()) == b"second"
    assert not os.path.exists(os.path.dirname(shm))


def test_an_empty_input_is_journalled_and_a_torn_store_leaves_the_previous_input(tmp_path):
    """libFuzzer runs the empty input first: it is an input, not 'none yet'. Inputs alternate
    between two slots and the slot word is stored last, so memory caught between the stores
    gives the previous input whole."""
    from afalg_conformance.fuzz import engine
    shm = fuzzcli.make_journal_shm()
    j = engine.Journal(None, kmsg=False, shm=shm, name="fuzz_cmsg")
    j.write(b"")
    assert engine.shm_record(bytes(j.shm)) == ("fuzz_cmsg", b"")
    j.write(b"a long first input")
    # the next input's bytes and length stored in the other slot, its slot word not yet
    cur = int.from_bytes(j.shm[engine.SHM_CUR:engine.SHM_CUR + 4], "little")
    other = 1 - cur
    at = engine.SHM_HEADER + other * j.slot
    j.shm[at:at + 3] = b"new"
    j.shm[engine.SHM_LENS + 4 * other:engine.SHM_LENS + 4 * other + 4] = (3).to_bytes(4, "little")
    assert engine.shm_record(bytes(j.shm)) == ("fuzz_cmsg", b"a long first input")
    fuzzcli.journal_from_shm(shm, tmp_path)


def test_an_input_too_large_for_the_shared_memory_goes_to_the_file(tmp_path, monkeypatch):
    from afalg_conformance.fuzz.engine import SHM_BYTES, Journal, read_journal
    monkeypatch.delenv("AFALG_FUZZ_JOURNAL_FSYNC", raising=False)
    shm = fuzzcli.make_journal_shm()
    j = Journal(str(tmp_path / "journal-fuzz_cmsg"), kmsg=False, shm=shm, name="fuzz_cmsg")
    j.write(b"small")
    big = bytes(range(256)) * (SHM_BYTES // 2 // 256 + 1)
    j.write(big)
    assert fuzzcli.journal_from_shm(shm, tmp_path) == "fuzz_cmsg"
    assert read_journal((tmp_path / "journal-fuzz_cmsg").read_bytes()) == big   # not "small"


@pytest.mark.parametrize("name", ["../../etc/x", "fuzz_cmsg/../../x", "notafuzzer"])
def test_the_guest_cannot_name_a_journal_outside_the_results(tmp_path, name):
    from afalg_conformance.fuzz.engine import Journal
    shm = fuzzcli.make_journal_shm()
    Journal(None, kmsg=False, shm=shm, name=name).write(b"input")
    assert fuzzcli.journal_from_shm(shm, tmp_path) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_host_writes_the_journal_over_a_link_the_guest_left_not_through_it(tmp_path):
    """The results folder is the guest's: a link it made at journal-NAME (or at the temporary
    name) must not make the host write elsewhere."""
    from afalg_conformance.fuzz.engine import Journal, read_journal
    outside = tmp_path / "outside"
    outside.write_bytes(b"host file")
    results = tmp_path / "results"
    results.mkdir()
    (results / "journal-fuzz_cmsg").symlink_to(outside)
    shm = fuzzcli.make_journal_shm()
    Journal(None, kmsg=False, shm=shm, name="fuzz_cmsg").write(b"input")
    assert fuzzcli.journal_from_shm(shm, results) == "fuzz_cmsg"
    assert outside.read_bytes() == b"host file"
    assert not (results / "journal-fuzz_cmsg").is_symlink()
    assert read_journal((results / "journal-fuzz_cmsg").read_bytes()) == b"input"


def test_no_shared_memory_journal_when_no_fuzzer_used_it(tmp_path):
    shm = fuzzcli.make_journal_shm()
    assert fuzzcli.journal_from_shm(shm, tmp_path) is None and not list(tmp_path.iterdir())
    assert fuzzcli.journal_from_shm(None, tmp_path) is None


def test_memory_that_does_not_keep_stores_falls_back_to_the_file(tmp_path, monkeypatch):
    """A BAR whose memory decoding is off reads back nothing: the journal goes to the file."""
    from afalg_conformance.fuzz import engine

    class Dead(bytearray):
        def __setitem__(self, k, v):
            pass
    monkeypatch.setattr(engine, "open_shm", lambda path: Dead(4096))
    j = engine.Journal(str(tmp_path / "journal-fuzz_cmsg"), kmsg=False, shm="/sys/x/resource2", name="fuzz_cmsg")
    assert j.shm is None
    j.write(b"input")
    assert engine.read_journal((tmp_path / "journal-fuzz_cmsg").read_bytes()) == b"input"


def test_guest_finds_the_ivshmem_device_and_enables_it(tmp_path):
    from afalg_conformance.fuzz import guestrun
    for dev, ids in (("0000:00:01.0", ("0x8086", "0x7000")), ("0000:00:0a.0", guestrun.IVSHMEM)):
        d = tmp_path / dev
        d.mkdir()
        (d / "vendor").write_text(ids[0] + "\n")
        (d / "device").write_text(ids[1] + "\n")
        (d / "resource2").write_bytes(b"")
    assert guestrun.journal_shm(tmp_path) == str(tmp_path / "0000:00:0a.0" / "resource2")
    assert (tmp_path / "0000:00:0a.0" / "enable").read_text() == "1"
    assert guestrun.journal_shm(tmp_path / "0000:00:01.0") is None


def test_merge_keeps_what_libfuzzer_kept_and_only_on_success(tmp_path, monkeypatch):
    """guestrun merge: the host corpus becomes libFuzzer's merged output, the inputs it left
    out are moved to corpus-dropped/ (nothing is deleted); a failed merge leaves the corpus as
    it was; the campaign's statistics and guest.json are not overwritten."""
    import argparse
    import json
    from pathlib import Path
    from afalg_conformance.fuzz import guestrun
    host = tmp_path / "corpus" / "fuzz_cmsg"
    host.mkdir(parents=True)
    for n in "abcd":
        (host / n).write_bytes(n.encode())
    (tmp_path / "guest.json").write_text("campaign")
    seen = {}

    def fake_run(cmd, env, log):
        seen["cmd"], seen["env"] = cmd, env
        out = Path(cmd[3])
        (out / "b").write_bytes(b"b")
        (out / "e").write_bytes(b"e")          # a unit libFuzzer re-saved under another name
        return seen.get("rc", 0)
    monkeypatch.setattr(guestrun, "run_logged", fake_run)
    monkeypatch.setattr(guestrun, "guest_info", lambda: {})
    monkeypatch.setattr(guestrun, "MERGE_ROOT", tmp_path / "merge-out")
    a = argparse.Namespace(results=str(tmp_path), names="fuzz_cmsg", coverage="kcov", feed="afalg")
    seen["rc"] = 1
    assert guestrun.cmd_merge(a, []) == 1
    assert sorted(p.name for p in host.iterdir()) == ["a", "b", "c", "d"]
    seen["rc"] = 0
    assert guestrun.cmd_merge(a, []) == 0
    assert seen["cmd"][2] == "-merge=1" and Path(seen["cmd"][3]).parent == tmp_path / "merge-out"
    assert seen["cmd"][4] == str(host)
    assert seen["env"]["AFALG_FUZZ_STATS"].endswith("merge-stats-fuzz_cmsg.json")
    assert sorted(p.name for p in host.iterdir()) == ["b", "e"]
    assert sorted(p.name for p in (tmp_path / "corpus-dropped" / "fuzz_cmsg").iterdir()) == ["a", "c", "d"]
    assert (tmp_path / "guest.json").read_text() == "campaign"
    rec = json.loads((tmp_path / guestrun.MERGE_RECORD).read_text())["merged"]["fuzz_cmsg"]
    assert rec == {"rc": 0, "before": 4, "dropped": 3, "after": 2}


def test_merge_needs_an_earlier_campaigns_corpus(tmp_path, capsys):
    assert cli.main(["fuzz", "cmsg", "--merge", "--kernel", "debian-6.12", "--results", str(tmp_path)]) != 0
    assert "no corpus/fuzz_cmsg to merge" in capsys.readouterr().err


def test_replay_minimises_a_python_level_failure(monkeypatch):
    from afalg_conformance.fuzz import replay
    from afalg_conformance.fuzz.program import Program
    prog = Program("fuzz_sequence")
    for i in range(6):
        prog.add("close", i)
    prog.add("check", 3, what="usable")

    def fake_run(p):
        ops = [(c.op, c.slot) for c in p.calls]
        ok = ("close", 1) in ops and ("check", 3) in ops
        return [], ("AssertionError: boom" if ok else None)
    small = replay.minimize(prog, "AssertionError: boom", fake_run)
    assert [(c.op, c.slot) for c in small.calls] == [("close", 1), ("check", 3)]


def test_failures_compare_by_kind_and_kernel_reports_by_title():
    from afalg_conformance.fuzz.replay import same_failure
    k = "KernelReport: warning: WARNING: CPU: N PID: N at x | a < b"
    assert same_failure(k, "KernelReport: warning: WARNING: CPU: N PID: N at x | c < d")
    assert not same_failure(k, "KernelReport: oops: BUG: kernel NULL pointer | a")
    assert not same_failure(k, "AssertionError: boom") and not same_failure(k, None)
    assert same_failure("AssertionError: x", "AssertionError: y")


def _sock_prog():
    from afalg_conformance.fuzz.program import Program
    prog = Program("fuzz_sequence")
    prog.add("close", 0)
    return prog


@pytest.mark.parametrize("behaviour, expect", [
    ("assert", "AssertionError: oracle said no"),
    ("segv", "ChildDied: signal SIGSEGV"),
    ("hang", "StuckSyscall: still running after 0.5 s"),
    ("fine", None),
])
def test_each_attempt_runs_in_a_child_and_reports_how_it_failed(monkeypatch, behaviour, expect):
    import os
    import signal
    import time

    from afalg_conformance.fuzz import replay

    def fake_run(self, prog):
        if behaviour == "assert":
            raise AssertionError("oracle said no")
        if behaviour == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        if behaviour == "hang":
            time.sleep(30)
        return ["ok"]
    monkeypatch.setattr(replay.Executor, "run", fake_run)
    results, failure = replay.Attempt(b"", timeout=0.5)(_sock_prog())
    assert failure == expect
    assert results == (["ok"] if behaviour == "fine" else [])


def test_a_kernel_report_during_an_attempt_is_the_failure(monkeypatch):
    from afalg_conformance.fuzz import replay
    monkeypatch.setattr(replay.Executor, "run", lambda self, prog: ["ok"])
    att = replay.Attempt(b"", timeout=5)

    class Watch:
        def problem(self):
            return "warning: WARNING: CPU: N PID: N at x | afalg_fuzz_selftest_warn < af_alg_accept"
    att.watch = Watch()
    results, failure = att(_sock_prog())
    assert results == ["ok"] and failure.startswith("KernelReport: warning: WARNING")


def test_a_kernel_report_the_guest_survived_is_one_kernel_crash(tmp_path):
    """The fuzz engine raised KernelReport (libFuzzer saved the input); the same WARNING also
    reached the console. One crash, kind kernel, keyed by the kernel signature."""
    sig = ("warning: WARNING: CPU: N PID: N at fuzz/engine.py:N afalg_fuzz_selftest_warn+N/N (synthetic: "
           "--crash-hook) | afalg_fuzz_selftest_warn < af_alg_accept")
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "fuzz_cmsg-crash-abc").write_bytes(b"AFALG-FUZZ-KMSG-WARN...")
    (tmp_path / "fuzz-fuzz_cmsg.log").write_text(f"=== Uncaught Python exception: ===\nKernelReport: {sig}\n")
    console = tmp_path / "console-fuzz.log"
    console.write_text("[   12.5] WARNING: CPU: 0 PID: 321 at fuzz/engine.py:1 afalg_fuzz_selftest_warn+0x0/0x10"
                       " (synthetic: --crash-hook)\n[   12.5] Call Trace:\n[   12.5]  afalg_fuzz_selftest_warn+0x0/0x10\n"
                       "[   12.5]  af_alg_accept+0x0/0x10\n")
    store = fuzzcli.CrashStore(tmp_path)
    counts = fuzzcli.collect_crashes(tmp_path, ["fuzz_cmsg"], console, 0, store, "warn",
                                     {"fuzzers": {"fuzz_cmsg": {"rc": 1}}})
    assert counts == {"fuzz_cmsg": 1}
    (entry,) = store.index.values()
    assert entry["kind"] == "kernel" and list(store.index) == [sig]


def test_fuzz_bench_all_means_every_fuzzer(monkeypatch):
    seen = []

    def target(a):
        seen.append(a.name)
        raise fuzzcli.HarnessError("stop here")
    monkeypatch.setattr(fuzzcli, "_target", target)
    assert cli.main(["fuzz-bench", "all"]) == 2 and seen == ["all"]     # not 'unknown fuzzer fuzz_all'


@pytest.mark.parametrize("argv", [
    ["fuzz", "all", "--kernel", "kcov-6.12", "--time", "600", "--", "-seed=1", "-max_len=512"],
    ["fuzz", "all", "--", "-seed=1", "-max_len=512"],
])
def test_libfuzzer_flags_after_double_dash_with_options_between(monkeypatch, argv):
    """`fuzz NAME [options] -- FLAGS` (README): argparse alone refused FLAGS once an option stood
    between NAME and `--` (the campaigns of 2026-11-30 stopped at that)."""
    seen = []

    def run(a):
        seen.append(a.libfuzzer)
        return 0
    monkeypatch.setattr(fuzzcli, "cmd_fuzz", run)
    monkeypatch.setattr(fuzzcli, "_target", lambda a: None)
    assert cli.main(argv) == 0 and seen == [["-seed=1", "-max_len=512"]]


def test_double_dash_elsewhere_keeps_its_argparse_meaning(monkeypatch):
    """Only fuzz's libFuzzer flags are split off at `--`: `run -- PATH` still gives run its path."""
    from afalg_conformance.harness.cli import run as runcli
    seen = []
    monkeypatch.setattr(runcli, "cmd_run", lambda a: seen.append(a.paths) or 0)
    assert cli.main(["run", "--", "conformance/test_aead.py"]) == 0
    assert seen == [["conformance/test_aead.py"]]


def test_jobs_share_one_corpus_and_one_crash_store(tmp_path, monkeypatch, capsys):
    """`fuzz NAME --jobs N`: each guest gets its own job-I/ and the shared corpus, writes only
    within the campaign's folder; the same finding in two jobs is one crash seen twice; a job
    that never booted leaves the others' results standing."""
    seen = []

    class T:
        name, release, is_host, image = "kcov-6.12", "6.12", False, "/boot/x"

    def run_guest(target, results, gargs, a, timeout, label, base_append=None, rw=None):
        seen.append((results.name, gargs, rw))
        assert gargs[gargs.index("--results") + 1] == str(results)
        shared = gargs[gargs.index("--corpus-root") + 1]
        assert gargs[-2:] == ["--", "-seed=1"] and rw == tmp_path / "camp"
        console = results / f"console-{label}.log"
        results.mkdir(parents=True, exist_ok=True)
        if results.name == "job-3":
            console.write_text("Kernel panic during boot (TCG)\n")
            return None, console, 5.0              # never started: no guest.json
        console.write_text("afalg-fuzz: end fuzz_cmsg rc=0\n")
        (results / "guest.json").write_text(json.dumps({"kernel_release": "6.12", "fuzzers": {"fuzz_cmsg": {"rc": 0}}}))
        i = int(results.name[-1])
        (results / "stats-fuzz_cmsg.json").write_text(json.dumps(
            {"execs": 100 * i, "seconds": 10.0, "coverage": "kcov", "afalg_pc_list": ["0x1", f"0x{i + 1}"]}))
        (results / "artifacts").mkdir(exist_ok=True)
        (results / "artifacts" / f"fuzz_cmsg-crash-{i}").write_bytes(b"same finding %d" % i)
        from pathlib import Path
        (Path(shared) / "fuzz_cmsg").mkdir(parents=True, exist_ok=True)
        (Path(shared) / "fuzz_cmsg" / f"unit-{i}").write_bytes(b"x")
        return 0, console, 12.0

    monkeypatch.setattr(fuzzcli, "run_guest", run_guest)
    monkeypatch.setattr(fuzzcli, "_target", lambda a: T())
    rc = cli.main(["fuzz", "cmsg", "--jobs", "3", "--results", str(tmp_path / "camp"), "--time", "5", "--", "-seed=1"])
    assert rc == 1                                            # a crash was found
    assert sorted(r for r, _g, _rw in seen) == ["job-1", "job-2", "job-3", "job-3"]   # job-3 booted twice
    summary = json.loads((tmp_path / "camp" / "summary.json").read_text())
    assert summary["jobs_started"] == 2 and summary["job"]["job-3"]["started"] is False
    f = summary["fuzzers"]["fuzz_cmsg"]
    assert (f["execs"], f["execs_per_s"], f["corpus"], f["afalg_pcs_union"], f["crashes"]) == (300, 30.0, 2, 3, 2)
    index = json.loads((tmp_path / "camp" / "crashes" / "index.json").read_text())
    assert len(index) == 1 and next(iter(index.values()))["count"] == 2
    out = capsys.readouterr().out
    assert "fuzz cmsg: 2 jobs, 300 execs, 30.0 execs/s together" in out


def test_jobs_is_checked_before_any_guest(capsys):
    assert cli.main(["fuzz", "cmsg", "--jobs", "0"]) == 2
    assert "--jobs 0: expected 1 to" in capsys.readouterr().err


def test_a_shared_corpus_root_is_written_in_place(tmp_path, monkeypatch):
    from afalg_conformance.fuzz import guestrun
    monkeypatch.setenv("AFALG_FUZZ_CORPUS_ROOT", str(tmp_path / "shared"))
    d = guestrun.corpus_dir("fuzz_cmsg", tmp_path / "job-1")
    assert d == tmp_path / "shared" / "fuzz_cmsg"
    d.mkdir(parents=True)
    (d / "u1").write_bytes(b"1")
    assert guestrun.copy_corpus("fuzz_cmsg", tmp_path / "job-1") == 1
    assert not (tmp_path / "job-1" / "corpus").exists()       # nothing copied: it is on the host


def test_a_shared_corpus_is_reloaded_every_30_s_not_every_second(tmp_path, monkeypatch):
    """fuzz --jobs: the corpus lives on the host (9p), where libFuzzer's default -reload=1 spent
    most of a job's time listing it; a fuzzer alone never rereads its own folder; a -reload
    the user gives wins."""
    from afalg_conformance.fuzz import guestrun
    monkeypatch.delenv("AFALG_FUZZ_CORPUS_ROOT", raising=False)
    cmd = guestrun.fuzzer_cmd("fuzz_cmsg", tmp_path, 60, None, [], [])
    assert [x for x in cmd if x.startswith("-reload")] == ["-reload=0"]
    cmd = guestrun.fuzzer_cmd("fuzz_cmsg", tmp_path, 60, None, ["-reload=2"], [])
    assert [x for x in cmd if x.startswith("-reload")] == ["-reload=2"]
    cmd = guestrun.fuzzer_cmd("fuzz_cmsg", tmp_path, 60, None, ["-jobs=2"], [])
    assert not [x for x in cmd if x.startswith("-reload")]      # libFuzzer's workers share by reloading
    monkeypatch.setenv("AFALG_FUZZ_CORPUS_ROOT", str(tmp_path / "shared"))
    (tmp_path / "job-1").mkdir()
    cmd = guestrun.fuzzer_cmd("fuzz_cmsg", tmp_path / "job-1", 60, None, [], [])
    assert [x for x in cmd if x.startswith("-reload")] == ["-reload=30"]
    cmd = guestrun.fuzzer_cmd("fuzz_cmsg", tmp_path / "job-1", 60, None, ["-reload=5"], [])
    assert [x for x in cmd if x.startswith("-reload")] == ["-reload=5"]


def test_fuzzer_output_reaches_the_log_whole_and_batched(tmp_path, monkeypatch):
    """The fuzzer writes into a pipe; the log on the host gets all of it, in a few writes
    (libFuzzer's unbuffered Printf is a write each), and the fuzzer's exit code."""
    import os
    import sys
    from afalg_conformance.fuzz import guestrun
    monkeypatch.setattr(guestrun, "LOG_BATCH_S", 0.05)
    child = ("import os, time\n"
             "for i in range(300):\n"
             "    os.write(2, b'#%d NEW' % i); os.write(2, b' cov: 1\\n')\n"
             "    if i % 100 == 99: time.sleep(0.3)\n"
             "os.write(1, b'done\\n'); raise SystemExit(3)\n")
    writes = []
    real_open = open

    class Counting:
        def __init__(self, f):
            self.f = f
        def write(self, b):
            writes.append(len(b))
            return self.f.write(b)
        def __enter__(self):
            return self
        def __exit__(self, *a):
            self.f.close()

    monkeypatch.setattr(guestrun, "open", lambda *a, **k: Counting(real_open(*a, **k)), raising=False)
    log = tmp_path / "fuzz-x.log"
    rc = guestrun.run_logged([sys.executable, "-c", child], dict(os.environ), log)
    lines = log.read_text().splitlines()
    assert rc == 3
    assert lines[:2] == ["#0 NEW cov: 1", "#1 NEW cov: 1"] and len(lines) == 301 and lines[-1] == "done"
    assert 1 <= len(writes) <= 12, writes        # 600 writes of the child, a few of the log


def test_fuzz_bench_prints_both_plain_loops_and_passes_libfuzzer_flags(tmp_path, monkeypatch, capsys):
    """fuzz-bench: the fuzzer's rate beside a plain loop over its corpus and one over a sample of
    the inputs it ran; a bench.json of an older guest side (no sample) prints '-'; flags after
    `--` reach the guest's fuzzer."""
    seen = []

    class T:
        name, release, is_host, image = "kcov-6.12", "6.12", False, "/boot/x"

    def run_guest(target, results, gargs, a, timeout, label, base_append=None, rw=None):
        seen.append(gargs)
        results.mkdir(parents=True, exist_ok=True)
        stats = {"execs_per_s": 50.0, "mode": "kcov"}
        (results / "bench.json").write_text(json.dumps({"guest": {"kernel_release": "6.12", "kcov": True}, "fuzzers": {
            "fuzz_cmsg": {"fuzz_stats": stats, "plain": {"execs_per_s": 200.0}, "plain_ran": {"execs_per_s": 80.0}},
            "fuzz_setsockopt": {"fuzz_stats": stats, "plain": {"execs_per_s": 100.0}},       # an older guest
            "fuzz_sequence": {"fuzz_stats": stats, "plain": {"execs_per_s": 25.0}, "plain_ran": None}}}))
        return 0, results / "console-bench.log", 1.0

    monkeypatch.setattr(fuzzcli, "run_guest", run_guest)
    monkeypatch.setattr(fuzzcli, "_target", lambda a: T())
    rc = cli.main(["fuzz-bench", "cmsg,setsockopt,sequence", "--results", str(tmp_path / "b"), "--time", "5", "--",
                   "-entropic=0"])
    assert rc == 0 and seen[0][-2:] == ["--", "-entropic=0"]
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith("fuzz_")}
    assert rows["fuzz_cmsg"][1:6] == ["50.0", "200.0", "0.25", "80.0", "0.62"]
    assert rows["fuzz_setsockopt"][1:6] == ["50.0", "100.0", "0.50", "-", "-"]
    assert rows["fuzz_sequence"][1:6] == ["50.0", "25.0", "2.00", "-", "-"]          # no sample


def test_fuzz_bench_says_where_an_input_goes(tmp_path, monkeypatch, capsys):
    """The second table splits a fuzzer's input by part (ms, from its timing): tracing comes
    out of the calls, the parts add up to the total, and the plain loop's input is beside it."""
    class T:
        name, release, is_host, image = "kcov-6.12", "6.12", False, "/boot/x"

    timing = {"journal_s": 1.0, "decode_s": 2.0, "execute_s": 9.0, "feedback_s": 1.0, "kcov_s": 3.0,
              "between_s": 4.0}

    def run_guest(target, results, gargs, a, timeout, label, base_append=None, rw=None):
        results.mkdir(parents=True, exist_ok=True)
        stats = {"execs_per_s": 50.0, "mode": "kcov", "execs": 1000, "timing": timing}
        (results / "bench.json").write_text(json.dumps({"guest": {"kernel_release": "6.12", "kcov": True}, "fuzzers": {
            "fuzz_cmsg": {"fuzz_stats": stats, "plain": {"execs_per_s": 200.0}, "plain_ran": {"execs_per_s": 125.0}},
            "fuzz_setsockopt": {"fuzz_stats": {"execs_per_s": 5.0}, "plain": {"execs_per_s": 100.0}}}}))
        return 0, results / "console-bench.log", 1.0

    monkeypatch.setattr(fuzzcli, "run_guest", run_guest)
    monkeypatch.setattr(fuzzcli, "_target", lambda a: T())
    assert cli.main(["fuzz-bench", "cmsg,setsockopt", "--results", str(tmp_path / "b"), "--time", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    i = next(k for k, line in enumerate(out) if line.startswith("# where"))
    assert out[i + 1].split() == ["fuzzer", "journal", "decode", "calls", "kcov", "libfuzzer", "total", "plain"]
    assert out[i + 2].split() == ["fuzz_cmsg", "1.00", "2.00", "7.00", "3.00", "4.00", "17.00", "8.00"]
    assert len(out) == i + 3                          # no timing (an older guest side): no row


def test_a_crash_keeps_the_runtime_names_it_was_decoded_with(tmp_path, monkeypatch, capsys):
    """The bytes of an input bind a /proc/crypto name by its index in the fuzzer's runtime
    list; a fresh guest's list can differ (seen: a fuzz_sequence oracle failure on blake2b-256
    replayed as a bind of sha1-avx). The fuzzer saves its list, the crash's sidecar keeps it,
    and --reproduce decodes with it."""
    from afalg_conformance.fuzz import decoders, engine, guestrun, replay, seeds
    from afalg_conformance.fuzz.program import EncodingSource, FdpSource, Names
    campaign = [("hash", "sha1-avx"), ("hash", "blake2b-256")]
    src = EncodingSource(seeds.Spec(name_from_proc=3, runtime_name=campaign[1]))
    decoders.DECODERS["fuzz_sequence"](src, Names(campaign))
    data = src.data()
    bound = lambda names: next(c.args["name"] for c in decoders.DECODERS["fuzz_sequence"](  # noqa: E731
        FdpSource(data), Names(names)).calls if c.op == "bind")
    assert bound(campaign) == "blake2b-256" and bound(campaign[:1] + [("hash", "md5")]) == "md5"
    # the fuzzer (engine.main) saves its list where fuzzer_env says; collect_crashes reads it
    env = guestrun.fuzzer_env("fuzz_sequence", tmp_path, "python", False)
    engine.save_names(env["AFALG_FUZZ_NAMES"], campaign)
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "fuzz_sequence-crash-abc").write_bytes(data)
    (tmp_path / "fuzz-fuzz_sequence.log").write_text(
        "=== Uncaught Python exception: ===\nAssertionError: blake2b-256: kernel output differs from the oracle: "
        "got 00 want 11\n")
    store = fuzzcli.CrashStore(tmp_path)
    assert fuzzcli.collect_crashes(tmp_path, ["fuzz_sequence"], tmp_path / "console.log", 0, store, False,
                                   {"fuzzers": {"fuzz_sequence": {"rc": 1}}}) == {"fuzz_sequence": 1}
    (entry,) = store.index.values()
    crash = store.root / entry["file"]
    assert json.loads(crash.with_name(crash.name + ".json").read_text())["runtime_names"] == [list(p) for p in campaign]
    # --reproduce hands the list to the guest's replay, which decodes with it
    seen = {}

    def run_guest(target, results, gargs, a, timeout, label, base_append=None, rw=None):
        seen["gargs"] = gargs
        return 0, results / "console.log", 1.0
    monkeypatch.setattr(fuzzcli, "_target", lambda a: type("T", (), {"name": "fake"})())
    monkeypatch.setattr(fuzzcli, "run_guest", run_guest)
    assert cli.main(["fuzz", "--reproduce", str(crash), "--results", str(tmp_path / "repro")]) == 0
    gargs = seen["gargs"]
    names_file = gargs[gargs.index("--names") + 1]
    assert engine.load_names(names_file) == campaign
    capsys.readouterr()
    assert replay.main([str(crash), "--fuzzer", "fuzz_sequence", "--dry-run", "--names", names_file]) == 0
    out = capsys.readouterr().out
    assert "'blake2b-256'" in out and "decoded with the 2 runtime names the campaign had" in out
    # libFuzzer's own artefact in the campaign's folder (no sidecar): the campaign's names too
    assert cli.main(["fuzz", "sequence", "--reproduce", str(tmp_path / "artifacts" / "fuzz_sequence-crash-abc"),
                     "--results", str(tmp_path / "repro2")]) == 0
    gargs = seen["gargs"]
    assert engine.load_names(gargs[gargs.index("--names") + 1]) == campaign
    # a sidecar whose list is not one: a one-line error before any guest boots
    side = crash.with_name(crash.name + ".json")
    side.write_text(json.dumps({**json.loads(side.read_text()), "runtime_names": [["hash"]]}))
    seen.clear()
    capsys.readouterr()
    assert cli.main(["fuzz", "--reproduce", str(crash), "--results", str(tmp_path / "repro3")]) != 0
    assert "runtime_names: not a list of [type, name] string pairs" in capsys.readouterr().err and not seen


def test_a_merge_leaves_the_campaigns_names_as_they_were(tmp_path, monkeypatch):
    """`fuzz --merge` runs the fuzzer again in a new guest, whose list may be another: it writes
    its own file, so the campaign's crashes and corpus keep the list they were decoded with."""
    import types

    from afalg_conformance.fuzz import guestrun
    envs = []
    monkeypatch.setattr(guestrun, "MERGE_ROOT", tmp_path / "merge-root")
    monkeypatch.setattr(guestrun, "guest_info", lambda: {})
    monkeypatch.setattr(guestrun, "run_logged", lambda cmd, env, log: envs.append(env) or 1)
    a = types.SimpleNamespace(results=str(tmp_path), names="fuzz_cmsg", coverage="python", feed=None)
    guestrun.cmd_merge(a, [])
    assert envs[0]["AFALG_FUZZ_NAMES"] == str(tmp_path / "merge-names-fuzz_cmsg.json")
    assert envs[0]["AFALG_FUZZ_NAMES"] != guestrun.fuzzer_env("fuzz_cmsg", tmp_path, "python", False)["AFALG_FUZZ_NAMES"]


def test_kmsg_watch_reads_only_when_the_log_has_a_record(monkeypatch):
    """The watch after each input: nothing new is one poll and no read; a WARNING record
    that arrives is read and named (a pipe stands in for /dev/kmsg)."""
    from afalg_conformance.fuzz import engine
    r, w = os.pipe()
    os.set_blocking(r, False)

    class Reader(klog.KmsgReader):
        def __init__(self, from_start=False):
            self.fd = r
    monkeypatch.setattr(klog, "KmsgReader", Reader)
    reads = []
    real_read = Reader.read
    monkeypatch.setattr(Reader, "read", lambda self: reads.append(1) or real_read(self))
    watch = engine.KmsgWatch()
    try:
        assert watch.problem() is None and reads == []
        os.write(w, b"4,100,2000,-;WARNING: CPU: 0 PID: 7 at crypto/af_alg.c:500 af_alg_sendmsg+0x1/0x2\n")
        sig = watch.problem()
        assert reads == [1] and sig and sig.startswith("warning: WARNING")
        assert watch.problem() is None and reads == [1]
    finally:
        os.close(r)
        os.close(w)


def test_fuzz_bench_boots_again_after_a_kernel_that_died_during_boot(tmp_path, monkeypatch, capsys):
    """TCG can panic a kernel during boot (Oops: int3 in sched_clock_cpu, 2026-12-04: a whole
    bench lost): a boot that died before any fuzzer started is tried once more; a guest that
    started its fuzzers and then died is not (that is a finding, not a flake)."""
    class T:
        name, release, is_host, image = "kcov-6.12", "6.12", False, "/boot/x"

    panic = "[    1.66] Oops: int3: 0000 [#2] PREEMPT SMP NOPTI\n[    1.67] Kernel panic - not syncing: Fatal exception\n"
    boots = []

    def run_guest(target, results, gargs, a, timeout, label, base_append=None, rw=None):
        boots.append(label)
        results.mkdir(parents=True, exist_ok=True)
        console = results / "console-bench.log"
        console.write_text(panic)
        if len(boots) == 2 and mode == "flake":
            (results / "bench.json").write_text(json.dumps({"guest": {"kernel_release": "6.12", "kcov": True},
                                                            "fuzzers": {}}))
        if mode == "started":
            (results / "fuzz-fuzz_cmsg.log").write_text("INFO: Seed: 1\n")
        return 255, console, 1.0

    monkeypatch.setattr(fuzzcli, "run_guest", run_guest)
    monkeypatch.setattr(fuzzcli, "_target", lambda a: T())
    mode = "flake"
    assert cli.main(["fuzz-bench", "cmsg", "--results", str(tmp_path / "a"), "--time", "5"]) == 0
    assert len(boots) == 2 and (tmp_path / "a" / "console-bench-bootfail.log").exists()
    assert "booting once more" in capsys.readouterr().err
    boots.clear()
    mode = "started"
    assert cli.main(["fuzz-bench", "cmsg", "--results", str(tmp_path / "b"), "--time", "5"]) == 2
    assert len(boots) == 1
