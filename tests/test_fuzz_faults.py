"""Fault injection in fuzz_sequence: decoding, the executor's arming around one call, the
oracle's restraint after a faulted setsockopt, and the reproducer's lines."""

from __future__ import annotations

import errno
import os
import random
import socket as socket_mod
from pathlib import Path

import pytest

from afalg_conformance.fuzz import decoders, program
from afalg_conformance.fuzz.program import Executor, FdpSource, Names, Program
from afalg_conformance.harness.afalg import faults
from afalg_conformance.harness.afalg.constants import SOL_ALG, AlgOpt

ROOT = Path(__file__).resolve().parents[1]


class FakeFailNth:
    """fail-nth as the kernel keeps it: armed with N, counts sites down, 0 once fired."""

    def __init__(self, sites_before_call: int = 0):
        self.left = 0
        self.log: list = []
        self.sites = sites_before_call
        self.fired = False

    def call(self, nth, fn):
        self.log.append(("arm", nth))
        try:
            return fn()
        finally:
            self.fired = nth <= self.sites
            self.log.append(("disarm", self.fired))


def test_one_call_in_eight_carries_a_fault_numbered_1_to_8_and_the_lowest_choice_none():
    vals = [decoders.decode_fault(_Fixed(v)) for v in range(decoders.FAULT_ONE_IN * decoders.FAULT_MAX_NTH)]
    assert vals.count(0) == (decoders.FAULT_ONE_IN - 1) * decoders.FAULT_MAX_NTH
    assert sorted(v for v in vals if v) == list(range(1, decoders.FAULT_MAX_NTH + 1))
    assert vals[0] == 0


class _Fixed(program.Source):
    def __init__(self, v):
        self.v = v

    def int(self, lo, hi, tag=""):
        assert tag == "fault" and lo <= self.v <= hi
        return self.v


def test_random_sequences_put_faults_only_on_calls_that_can_take_one():
    rng = random.Random(5)
    seen = 0
    for _ in range(400):
        prog = decoders.decode_sequence(FdpSource(rng.randbytes(rng.randint(0, 400))), Names())
        for c in prog.calls:
            if c.args.get("fault"):
                seen += 1
                assert c.op in ("bind", "setsockopt", "accept", "sendmsg", "recv", "splice", "module")
                assert 1 <= c.args["fault"] <= decoders.FAULT_MAX_NTH
    assert seen > 20


def _fake_sockets(monkeypatch, setsockopt=None):
    real = socket_mod.socket
    monkeypatch.setattr(program.socket, "socket", lambda *a, **k: real(socket_mod.AF_INET, socket_mod.SOCK_DGRAM))
    monkeypatch.setattr(program.AfalgSocket, "bind_raw", lambda self, addr, n=None: None)
    monkeypatch.setattr(program.AfalgSocket, "setsockopt", setsockopt or (lambda self, *a, **k: None))


def _keyed(fault: int | None) -> Program:
    prog = Program("fuzz_sequence")
    prog.add("socket", 0, type=5, type_name="SOCK_SEQPACKET", proto=0)
    prog.add("bind", 0, type="skcipher", name="cbc(aes)", feat=0, mask=0, addrlen=None)
    c = prog.add("setsockopt", 0, name="ALG_SET_KEY", level=SOL_ALG, opt=int(AlgOpt.SET_KEY), value=b"k" * 16,
                 optlen=16)
    if fault:
        c.args["fault"] = fault
    prog.add("check", 0, what="usable")
    return prog


def test_a_fault_is_armed_around_its_call_alone_and_marks_the_outcome(monkeypatch):
    inside = []
    fail = FakeFailNth(sites_before_call=1)

    def setsockopt(self, *a, **k):
        inside.append(list(fail.log))         # armed, not yet disarmed, when the call runs
        raise OSError(errno.ENOMEM, "injected")
    _fake_sockets(monkeypatch, setsockopt)
    monkeypatch.setattr(program, "check_usable",
                        lambda st, tracer=None: "n/a" if st.faulted else "would-check")
    ex = Executor(faults=fail)
    assert ex.run(_keyed(1)) == ["ok", "ok", "ENOMEM (fault 1)", "n/a"]
    assert inside == [[("arm", 1)]]
    assert fail.log == [("arm", 1), ("disarm", True)]
    assert ("setsockopt", "ALG_SET_KEY:fault", "16", "ENOMEM") in ex.outcomes


def test_a_fault_that_did_not_fire_leaves_the_call_and_the_oracle_as_they_were(monkeypatch):
    _fake_sockets(monkeypatch)
    fail = FakeFailNth(sites_before_call=0)
    checked = []
    monkeypatch.setattr(program, "check_usable", lambda st, tracer=None: checked.append(st.key) or "n/a")
    ex = Executor(faults=fail)
    assert ex.run(_keyed(3)) == ["ok", "ok", "ok", "n/a"]
    assert checked == [b"k" * 16]
    assert all(":fault" not in o[1] for o in ex.outcomes)


def test_without_an_injector_a_faulted_call_runs_plainly(monkeypatch):
    _fake_sockets(monkeypatch)
    monkeypatch.setattr(program, "check_usable", lambda st, tracer=None: "n/a")
    assert Executor().run(_keyed(2)) == ["ok", "ok", "ok", "n/a"]


def test_the_real_check_refuses_to_judge_a_socket_whose_setsockopt_drew_a_fault(monkeypatch):
    """gcm's setkey can fail inside the algorithm (the tfm then needs a key) or in the copy
    before it (the old key stays): after a fired fault the model cannot know which."""
    st = program.SlotState(sock=None, state="keyed", alg_type="skcipher", alg_name="cbc(aes)",
                           key=b"k" * 16, key_ok=True, faulted=True)
    assert program.check_usable(st) == "n/a"


def test_a_memory_error_from_the_interpreter_is_an_outcome_not_a_crash(monkeypatch):
    def setsockopt(self, *a, **k):
        raise MemoryError
    _fake_sockets(monkeypatch, setsockopt)
    monkeypatch.setattr(program, "check_usable", lambda st, tracer=None: "n/a")
    assert Executor(faults=FakeFailNth(1)).run(_keyed(1))[2] == "python:MemoryError (fault 1)"


def test_reproducers_print_faults_where_the_executor_arms_them_and_compile():
    prog = Program("fuzz_sequence")
    prog.add("socket", 0, type=5, type_name="SOCK_SEQPACKET", proto=0)
    prog.add("accept", 0, dst=1, fault=2)
    prog.add("sendmsg", 1, data=b"x" * 16, control=None, controllen=0, flags=0, desc="", desc_class="",
             block=True, fault=3)
    prog.add("recv", 1, n=16, flags=0, fault=1)
    prog.add("splice", 1, data=b"y", flags=0, fault=4)
    text = prog.to_python()
    assert "s[1] = fault(2, lambda: accept(s[0]))" in text
    # a blocking call takes no fault (a hand-made program may give it one): its kicker thread
    assert "blocking(s[1], 'sendmsg', lambda: s[1].sendmsg_raw(" in text and "fault(3" not in text
    assert not program.takes_fault(prog.calls[2].args) and program.takes_fault(prog.calls[3].args)
    assert "fault(1, lambda: s[1].sock.recv(16, 0|MSG_DONTWAIT))" in text
    assert "fault(4, lambda: splice_own_pipe(s[1], b'y', flags=0x0))" in text
    compile(text, "<reproducer>", "exec")


def test_the_fault_seeds_decode_to_faulted_calls():
    for label, op, nth in [("skcipher-fault-recv", "recv", 1), ("aead-fault-send", "sendmsg", 2),
                           ("rng-cavp-fault-entropy", "setsockopt", 1), ("rng-cavp-fault-addtl", "sendmsg", 2),
                           ("hash-fault-recv", "recv", 2)]:
        seed = ROOT / "fuzz" / "corpus" / "fuzz_sequence" / label
        prog = decoders.decode_sequence(FdpSource(seed.read_bytes()), Names())
        faulted = [(c.op, c.args["fault"]) for c in prog.calls if c.args.get("fault")]
        assert faulted == [(op, nth)], label


def test_fail_nth_protocol_against_a_file_that_behaves_like_procfs(tmp_path, monkeypatch):
    """FailNth writes N, reads back 0 when the fault fired, else resets to 0."""
    writes = []
    state = {"v": b"0"}
    monkeypatch.setattr(faults.os, "open", lambda *a, **k: 99)
    monkeypatch.setattr(faults.os, "write", lambda fd, b: writes.append(b) or state.update(v=b) or len(b))
    monkeypatch.setattr(faults.os, "pread", lambda fd, n, off: state["v"])
    f = faults.FailNth("/proc/thread-self/fail-nth")

    def fires():
        state["v"] = b"0"
    assert f.call(2, fires) is None and f.fired and f.injected == 1
    assert writes == [b"2"]
    assert f.call(5, lambda: "r") == "r" and not f.fired
    assert writes == [b"2", b"5", b"0"]
    with pytest.raises(OSError):
        f.call(1, lambda: (_ for _ in ()).throw(OSError(errno.ENOMEM, "x")))
    assert not f.fired            # the fake never counted down: the reset still happened
    assert writes[-1] == b"0"


def test_available_says_what_the_kernel_lacks(monkeypatch):
    monkeypatch.setattr(faults, "FAIL_NTH", "/nonexistent/fail-nth")
    ok, why = faults.available()
    assert not ok and "CONFIG_FAULT_INJECTION" in why


def test_guest_faults_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("AFALG_FUZZ_FAULTS", "0")
    f, note = program.guest_faults()
    assert f is None and "off" in note


def test_the_kcov_kernel_config_has_fault_injection():
    text = (ROOT / "vms" / "kcov.config").read_text()
    for opt in ("FAULT_INJECTION", "FAILSLAB", "FAIL_PAGE_ALLOC", "FAULT_INJECTION_USERCOPY",
                "FAULT_INJECTION_DEBUG_FS"):
        assert f"CONFIG_{opt}=y" in text.splitlines(), opt
    assert os.path.basename(faults.FAIL_NTH) == "fail-nth"


# -- AIO reads ---------------------------------------------------------------------------------

def test_an_aio_read_returns_what_read_would_and_errors_as_errnos():
    from afalg_conformance.harness.afalg.libc import Aio
    a, b = socket_mod.socketpair()
    aio = Aio()
    try:
        b.setblocking(False)
        a.send(b"hello, aio")
        assert aio.read(b.fileno(), 5) == b"hello"
        assert aio.read(b.fileno(), 64) == b", aio"
        with pytest.raises(OSError) as e:
            aio.read(b.fileno(), 8)                  # non-blocking and empty
        assert e.value.errno == errno.EAGAIN
        assert not aio.pending
    finally:
        aio.close()
        a.close()
        b.close()


def test_sequences_decode_aio_reads_and_reproducers_print_them():
    seed = ROOT / "fuzz" / "corpus" / "fuzz_sequence" / "skcipher-aio"
    prog = decoders.decode_sequence(FdpSource(seed.read_bytes()), Names())
    aio = [c for c in prog.calls if c.args.get("aio")]
    assert [(c.op, c.args["n"]) for c in aio] == [("recv", 32)]
    text = prog.to_python()
    assert "call(lambda: aio_read(s[1], 32))" in text
    compile(text, "<reproducer>", "exec")
    from afalg_conformance.fuzz import replay_api
    assert callable(replay_api.aio_read)


def test_disarm_takes_an_efault_of_its_own_read_or_reset_as_not_fired(monkeypatch):
    """With usercopy fault injection the read and the reset of fail-nth are fault sites: an
    EFAULT there is the fault landing on them, never an error of the call."""
    writes = []
    monkeypatch.setattr(faults.os, "open", lambda *a, **k: 99)
    f = faults.FailNth("/proc/thread-self/fail-nth")

    def efault(*a):
        raise OSError(errno.EFAULT, "Bad address")
    monkeypatch.setattr(faults.os, "write", lambda fd, b: writes.append(b) or len(b))
    monkeypatch.setattr(faults.os, "pread", efault)
    assert f.call(5, lambda: "bound") == "bound" and not f.fired     # count was 1 at the read
    monkeypatch.setattr(faults.os, "pread", lambda fd, n, off: b"2\n")
    monkeypatch.setattr(faults.os, "write", lambda fd, b: efault() if b == b"0" else len(b))
    assert f.call(5, lambda: "keyed") == "keyed" and not f.fired     # the reset drew it
    monkeypatch.setattr(faults.os, "pread", lambda fd, n, off: (_ for _ in ()).throw(OSError(errno.EBADF, "x")))
    with pytest.raises(OSError):
        f.call(1, lambda: None)                                      # anything else is ours


# -- the corpus comes home as one archive ------------------------------------------------------

def test_a_guest_corpus_archive_unpacks_into_corpus_name_and_nothing_else(tmp_path, monkeypatch):
    import io
    import tarfile

    from afalg_conformance.fuzz import cli, guestrun
    src = tmp_path / "guest-corpus"
    src.mkdir()
    for i in range(5):
        (src / f"{i:040x}").write_bytes(bytes([i]) * (i + 1))
    results = tmp_path / "results"
    results.mkdir()
    os.symlink("/etc/passwd", src / "a-link")              # not a unit: left out
    monkeypatch.setattr(guestrun, "corpus_dir", lambda name, r: src)
    import grp
    import pwd
    for mod, fn in ((pwd, "getpwuid"), (grp, "getgrgid")):   # /etc over 9p in a guest: ms a call
        monkeypatch.setattr(mod, fn, lambda *a: pytest.fail("copy_corpus looked up an owner"))
    assert guestrun.copy_corpus("fuzz_cmsg", results) == 5
    assert (results / "corpus-fuzz_cmsg.tar").is_file() and not (results / "corpus").exists()
    # a hostile archive beside it: a path outside, a symlink, a device, an oversized unit
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        for name, data in [("../escape", b"x"), ("ok-unit", b"fine"), ("big", b"b" * (cli.MAX_UNIT + 1))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    (results / "corpus-fuzz_sequence.tar").write_bytes(evil.getvalue())
    (results / "corpus" / "fuzz_sequence").mkdir(parents=True)
    os.symlink(tmp_path / "outside", results / "corpus" / "fuzz_sequence" / "ok-unit")
    got = cli.unpack_corpora(results)
    assert got == {"fuzz_cmsg": 5, "fuzz_sequence": 0}
    assert sorted(p.read_bytes() for p in (results / "corpus" / "fuzz_cmsg").iterdir()) == \
        sorted(bytes([i]) * (i + 1) for i in range(5))
    assert not (results / "escape").exists() and not (tmp_path / "outside").exists()
    assert not list(results.glob("corpus-*.tar"))


def test_signals_wait_outside_the_fault_window_and_blocking_calls_take_no_fault(monkeypatch):
    import signal
    monkeypatch.setattr(faults.os, "open", lambda *a, **k: 99)
    monkeypatch.setattr(faults.os, "write", lambda fd, b: len(b))
    monkeypatch.setattr(faults.os, "pread", lambda fd, n, off: b"0\n")
    f = faults.FailNth("/proc/thread-self/fail-nth")
    inside = f.call(1, lambda: signal.pthread_sigmask(signal.SIG_BLOCK, []))
    assert signal.SIGUSR2 in inside and signal.SIGALRM in inside
    assert signal.SIGUSR2 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    rng = random.Random(11)
    for _ in range(600):
        prog = decoders.decode_sequence(FdpSource(rng.randbytes(rng.randint(0, 400))), Names())
        assert not any(c.args.get("fault") and c.args.get("block") for c in prog.calls)


def test_the_fuzzers_watchdog_is_a_process_not_a_thread_and_still_interrupts(tmp_path):
    """A second Python thread in the fuzzer makes the main thread wait for the GIL with futex
    calls, inside an injected fault's window too (a campaign died in glibc's futex check,
    2026-12-01): the watchdog's clock is a forked process. It still interrupts a stuck input,
    and it ends with the fuzzer."""
    import subprocess
    import sys
    import textwrap
    script = tmp_path / "wd.py"
    script.write_text(textwrap.dedent("""
        import threading, time
        from afalg_conformance.fuzz.engine import StuckSyscall, Watchdog
        wd = Watchdog(0.4)
        print("threads", threading.active_count(), "child", wd.pid, flush=True)
        wd.arm()
        t0 = time.monotonic()
        try:
            time.sleep(10)
        except StuckSyscall as e:
            print("interrupted", round(time.monotonic() - t0, 1), e, flush=True)
        wd.disarm()
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                         cwd=str(tmp_path))
    lines = out.stdout.splitlines()
    assert lines[0].startswith("threads 1 child "), out
    assert lines[1].startswith("interrupted") and float(lines[1].split()[1]) < 3, out
    child = int(lines[0].split()[-1])
    for _ in range(40):                      # the clock follows its parent out within 0.5 s
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        import time
        time.sleep(0.1)
    else:
        pytest.fail(f"the watchdog process {child} outlived the fuzzer")
