"""fuzz_sequence's calls beside another: a blocking call woken by another thread's send or read
or by io_uring task work (decoders.WAKES), a writer process asleep beside the program (the
background op), a read into a page the kernel may not touch, and optmem_max lowered in a
namespace of the fuzzer's own. Decoding, the reproducer's lines, and what each does to a
socket (host sockets: the calls are the same for AF_ALG's; AF_ALG itself runs in guests)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time

import pytest

from afalg_conformance.fuzz import decoders, program
from afalg_conformance.fuzz.program import EncodingSource, FdpSource, Names
from afalg_conformance.fuzz.seeds import Spec
from afalg_conformance.harness.afalg import iouring, netns
from afalg_conformance.harness.afalg.constants import MSG_DONTWAIT
from afalg_conformance.harness.afalg.libc import recv_raw


def _decode(ops: list[str], **more):
    want = {"steps": len(ops), "seq-op": ops, "slot-random": 7, "slot": [0] + [1] * 8, "accept-dst": 1,
            "recv-buf": 15, **more}
    # the seeds' Spec: wanted choices by tag, the common branch of every other gate
    src = EncodingSource(Spec(**want))
    decoders.decode_sequence(src, Names())
    return decoders.decode_sequence(FdpSource(src.data()), Names())


def test_the_new_choices_decode_and_print_as_reproducer_lines():
    prog = _decode(["accept", "background", "recv", "recv", "optmem"], **{
        "background-len": 65536, "block": [7, 0], "wake": "uring", "optmem": 5136, "buf": "no-access",
        "recv-buf": [0]})
    ops = [(c.op, c.slot, {k: v for k, v in c.args.items() if k in ("n", "block", "wake", "buf", "value")})
           for c in prog.calls if c.op in ("background", "recv", "optmem")]
    assert ops[0] == ("background", 1, {"n": 65536})
    assert ops[1][2].get("block") is False and ops[1][2]["buf"] == "no-access"
    assert ops[2][2]["block"] is True and ops[2][2]["wake"] == "uring" and "buf" not in ops[2][2]
    assert ops[3] == ("optmem", 0, {"value": 5136})       # a raw value: not in OPTMEM_CHOICES
    text = prog.to_python()
    lines = text.splitlines()
    # the executor enters the namespace before the program's first socket; so does the reproducer
    assert lines.index("enter_private_netns()") < next(i for i, ln in enumerate(lines) if "sock(" in ln)
    for line in ("call(lambda: background_send(s[1], 65536))", "call(lambda: set_optmem(5136))",
                 "recv_into_page(s[1], ", ", wake='uring'))"):
        assert line in text
    assert "wake=" not in _decode(["accept", "recv"], block=0, wake="signal").to_python()


def test_every_seed_decodes_to_the_ops_it_is_named_for():
    from afalg_conformance.fuzz import seeds
    got = {label: decoders.decode_sequence(FdpSource(data), Names())
           for label, data in seeds.seeds()["fuzz_sequence"].items()}

    def args(label, op):
        return [c.args for c in got[label].calls if c.op == op]
    assert [a.get("wake") for a in args("aead-blocked-read-woken-by-send", "recv")] == ["send"]
    assert [a.get("wake") for a in args("skcipher-blocked-write-woken-by-recv", "sendmsg")] == ["recv"]
    assert [a.get("wake") for a in args("skcipher-uring-blocked-write", "sendmsg")] == ["uring"]
    assert [a["n"] for a in args("skcipher-background-write-ebusy", "background")] == [262144]
    assert [a.get("buf") for a in args("skcipher-recv-no-access", "recv")] == ["no-access", None]
    for label, value in decoders_optmem_seeds().items():
        assert [a["value"] for a in args(label, "optmem")] == [value]
    # no seed outside these draws the new choices by accident
    for label, prog in got.items():
        if "optmem" not in label:
            assert not args(label, "optmem"), label
        if "no-access" not in label:
            assert not [a for a in args(label, "recv") if a.get("buf")], label


def decoders_optmem_seeds() -> dict[str, int]:
    from afalg_conformance.fuzz.seeds import OPTMEM_SEEDS
    return OPTMEM_SEEDS


class _Sock:
    def __init__(self, s: socket.socket):
        self.s = s

    def fileno(self) -> int:
        return self.s.fileno()


def _fill(s: socket.socket) -> None:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    s.setblocking(False)
    try:
        while True:
            s.send(b"x" * 4096)
    except BlockingIOError:
        pass


def test_a_send_wake_acts_on_the_socket_once_the_call_sleeps():
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        start = time.monotonic()
        woke: dict = {}
        with pytest.raises(OSError) as e:
            program.blocking(_Sock(a), "recvfrom", lambda: recv_raw(a.fileno(), 16, 0), "send", woke)
        assert e.value.errno == errno.EINTR                  # nothing came: the signal ended it
        assert woke == {"woke": True}
        assert b.recv(64, MSG_DONTWAIT) == program.WAKE_SEND  # the waker's send, made on a
        assert not os.get_blocking(a.fileno())               # as it was
        assert time.monotonic() - start < 5


def test_a_recv_wake_reads_from_the_socket_while_a_write_sleeps():
    a, b = socket.socketpair()
    with a, b:
        b.send(b"y" * 100)                                   # for a's reader, the waker
        _fill(a)
        with pytest.raises(OSError) as e:
            program.blocking(_Sock(a), "send", lambda: _raw_send(a), "recv")
        assert e.value.errno == errno.EINTR
        with pytest.raises(BlockingIOError):
            a.recv(100, MSG_DONTWAIT)                        # the waker read it


def _raw_send(s: socket.socket) -> int:
    from afalg_conformance.harness.afalg.libc import libc
    import ctypes
    r = libc.send(s.fileno(), b"z" * 4096, 4096, 0)
    if r < 0:
        raise OSError(ctypes.get_errno(), "send")
    return r


def test_a_uring_wake_is_task_work_during_the_call():
    try:
        iouring.Ring().close()
    except OSError as e:
        pytest.skip(f"unsupported:io_uring ({e})")
    a, b = socket.socketpair()
    with a, b:
        start = time.monotonic()
        woke: dict = {}
        with pytest.raises(OSError) as e:
            program.blocking(_Sock(a), "recvfrom", lambda: recv_raw(a.fileno(), 16, 0), "uring", woke)
        took = time.monotonic() - start
        assert e.value.errno == errno.EINTR
        # the timeout's completion was posted by task work while the call slept, and only then
        # did the signals come
        assert woke == {"woke": True}
        assert program.URING_AFTER <= took < 5
        assert program._URING[0].completions() == []        # consumed by the waker


def test_a_wake_waits_for_the_sleep_and_is_reported_when_it_never_came(monkeypatch):
    a, b = socket.socketpair()
    with a, b:
        b.send(b"r" * 8)                                     # the call returns at once
        woke: dict = {}
        assert program.blocking(_Sock(a), "recvfrom", lambda: recv_raw(a.fileno(), 8, 0), "send", woke) == b"r" * 8
        assert woke == {}                                    # never asleep: no send made
        with pytest.raises(BlockingIOError):
            b.recv(64, MSG_DONTWAIT)
        assert program._wake_detail({"wake": "send"}, woke) == ":wake-send-none"
        assert program._wake_detail({"wake": "send"}, {"woke": True}) == ":wake-send"
        assert program._wake_detail({}, {}) == ""


def test_a_background_writer_sleeps_beside_the_program_and_is_ended():
    a, b = socket.socketpair()
    with a, b:
        _fill(a)
        r, w = os.pipe()                                     # an fd the writer must not keep
        assert program.background_send(_Sock(a), 65536) == "asleep"
        pid = program._BACKGROUND[-1]
        # its socket and /dev/null: no pipe of the fuzzer's kept open past the fuzzer
        assert sorted(os.listdir(f"/proc/{pid}/fd"), key=int) == ["0", "1", "2", str(a.fileno())]
        assert os.readlink(f"/proc/{pid}/fd/1") == os.devnull
        os.close(r)
        os.close(w)
        assert not os.get_blocking(a.fileno())               # the program's calls stay non-blocking
        with pytest.raises(BlockingIOError):
            a.send(b"x", MSG_DONTWAIT)
        program.end_background()
        assert program._BACKGROUND == []
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)                      # reaped
    c, d = socket.socketpair()
    with c, d:
        start = time.monotonic()
        assert program.background_send(_Sock(c), 16) == "ok"   # room: it never slept
        assert time.monotonic() - start < 1                     # and was not waited for
        assert program._BACKGROUND == []                        # reaped already
        assert d.recv(64) == bytes(16)


def test_a_read_into_a_forbidden_page_is_efault():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        for kind in ("no-access", "read-only"):
            b.send(b"q" * 10)
            with pytest.raises(OSError) as e:
                program.recv_into_page(_Sock(a), 10, MSG_DONTWAIT, kind)
            assert e.value.errno == errno.EFAULT, kind


def _in_a_process(code: str, unavailable: str) -> str:
    """stdout of code run by a Python of its own (its namespace or cgroup stays its own);
    SKIP when its first line starts with `unavailable` (the reason)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    if out.stdout.startswith(unavailable):
        pytest.skip(f"unsupported:{out.stdout.splitlines()[0].strip()}")
    return out.stdout


def test_optmem_is_set_in_a_namespace_of_the_process_and_restored():
    outside = open(netns.OPTMEM_MAX).read()
    code = ("from afalg_conformance.fuzz import program as p\n"
            "why = p.set_optmem(777)\n"
            "print(why or open('/proc/sys/net/core/optmem_max').read().strip())\n"
            "p.restore_optmem()\n"
            "print(why or open('/proc/sys/net/core/optmem_max').read().strip() == str(p._NETNS[0].default))\n")
    assert _in_a_process(code, "no-private-netns").split() == ["777", "True"]
    assert open(netns.OPTMEM_MAX).read() == outside          # the host's own is untouched


def test_the_sockopt_cgroup_is_joined_for_a_program_and_left():
    code = ("import socket\n"
            "from afalg_conformance.fuzz import program as p\n"
            "from afalg_conformance.harness.afalg import cgroupbpf\n"
            "home = cgroupbpf._own_cgroup()\n"
            "why = p.join_sockopt_cgroup()\n"
            "if why:\n"
            "    print(why); raise SystemExit(0)\n"
            "inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "print(p.in_sockopt_cgroup(), p._CGROUP[0].goes_through(inside, socket.SOL_SOCKET))\n"
            "p.leave_sockopt_cgroup()\n"
            "outside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "print(p.in_sockopt_cgroup(), cgroupbpf._own_cgroup() == home,\n"
            "      p._CGROUP[0].goes_through(inside, socket.SOL_SOCKET),\n"
            "      p._CGROUP[0].goes_through(outside, socket.SOL_SOCKET))\n")
    out = _in_a_process(code, "no-sockopt-cgroup")
    # the program refuses its sentinel option: sockets made inside go through it, for good;
    # one made after leaving does not
    assert out.split() == ["True", "EPERM", "False", "True", "EPERM", "ENOPROTOOPT"]


def test_the_oracle_runs_at_the_namespaces_own_optmem_max(monkeypatch):
    restored = []
    monkeypatch.setattr(program, "restore_optmem", lambda: restored.append(True))
    monkeypatch.setattr(program, "check_usable", lambda st, tracer=None: f"checked after {len(restored)} restore")
    ex = program.Executor()
    ex.optmem_set = True            # as after an optmem op of the program
    call = program.Call("check", 0, {"what": "usable"})
    assert ex._check(call, {}) == "checked after 1 restore"
    assert not ex.optmem_set
    assert ex._check(call, {}) == "checked after 1 restore"     # once


def test_the_executor_runs_the_new_calls_on_a_socket():
    a, b = socket.socketpair()
    with a, b:
        _fill(a)
        ex = program.Executor()
        slots = {1: program.SlotState(program.AfalgSocket(a), kind="op")}
        assert ex._one(program.Call("background", 1, {"n": 65536}), slots) == "asleep"
        assert ex.outcomes[-1][:2] == ("background", "x:asleep")
        assert len(program._BACKGROUND) == 1
        b.send(b"s" * 10)
        assert ex._one(program.Call("recv", 1, {"n": 10, "flags": 0, "buf": "no-access"}), slots) == "EFAULT"
        assert ex.outcomes[-1][1].endswith(":no-access")
        program.end_background()
        assert program._BACKGROUND == []


def test_no_wake_for_a_call_that_was_slow_but_never_asleep_in_it():
    a, b = socket.socketpair()
    with a, b:
        b.send(b"r" * 8)
        woke: dict = {}
        # 0.7 s in nanosleep (longer than the waker watches), then a read of data that is there
        got = program.blocking(_Sock(a), "recvfrom",
                               lambda: (time.sleep(0.7), recv_raw(a.fileno(), 8, 0))[1], "send", woke)
        assert got == b"r" * 8 and woke == {}
        with pytest.raises(BlockingIOError):
            b.recv(64, MSG_DONTWAIT)                         # no send was made for it


def test_a_wake_whose_call_fails_is_no_wake():
    a, b = socket.socketpair()
    with a, b:
        woke: dict = {}
        with pytest.raises(OSError):
            # a blocked read, "woken" by a read of the same socket: EAGAIN, nothing happened
            program.blocking(_Sock(a), "recvfrom", lambda: recv_raw(a.fileno(), 16, 0), "recv", woke)
        assert woke == {"woke": False}
        assert program._wake_detail({"wake": "recv"}, woke) == ":wake-recv-none"


def test_the_writer_dies_with_the_fuzzer():
    a, b = socket.socketpair()
    with a, b:
        _fill(a)
        r, w = os.pipe()
        middle = os.fork()
        if middle == 0:                  # a fuzzer that dies without ending its writer
            try:
                program._BACKGROUND.clear()
                state = program.background_send(_Sock(a), 65536)
                os.write(w, f"{state} {program._BACKGROUND[-1]}".encode())
            finally:
                os._exit(0)
        os.close(w)
        state, pid = os.read(r, 100).decode().split()
        os.close(r)
        os.waitpid(middle, 0)
        assert state == "asleep"
        end = time.monotonic() + 2
        alive = True
        while alive and time.monotonic() < end:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    alive = f.read().rpartition(")")[2].split()[0] != "Z"
            except FileNotFoundError:
                alive = False
            time.sleep(0.02)
        assert not alive, "the writer outlived the process that started it"


def test_the_writer_is_listed_before_anything_can_interrupt_the_wait(monkeypatch):
    a, b = socket.socketpair()
    with a, b:
        _fill(a)

        def interrupted(pid, limit):
            raise KeyboardInterrupt
        monkeypatch.setattr(program, "_asleep_or_ended", interrupted)
        with pytest.raises(KeyboardInterrupt):
            program.background_send(_Sock(a), 65536)
        assert len(program._BACKGROUND) == 1                 # end_background still finds it
        assert not os.get_blocking(a.fileno())
        program.end_background()
        assert program._BACKGROUND == []


def test_the_forbidden_page_is_mapped_outside_the_fault_window(monkeypatch):
    class Faults:
        fired = False

        def call(self, nth, fn):
            assert "read-only" in program._PAGES, "the page's mmap fell in the fault window"
            return fn()
    monkeypatch.setattr(program, "_PAGES", {})
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        b.send(b"q" * 4)
        ex = program.Executor(faults=Faults())
        slots = {1: program.SlotState(program.AfalgSocket(a), kind="op")}
        out = ex._one(program.Call("recv", 1, {"n": 4, "flags": 0, "buf": "read-only", "fault": 2}), slots)
        assert out == "EFAULT"
    prog = _decode(["accept", "recv"], **{"block": 7, "recv-buf": [0], "buf": "read-only", "fault": 0})
    lines = prog.to_python().splitlines()
    assert lines.index("page_of('read-only')   # mapped before any fault window, as the executor does") < \
        next(i for i, ln in enumerate(lines) if "recv_into_page" in ln)


def test_a_failing_teardown_step_skips_no_other_and_is_raised(monkeypatch):
    left = []

    def refuse():
        raise OSError(errno.EIO, "optmem_max")
    monkeypatch.setattr(program, "restore_optmem", refuse)
    monkeypatch.setattr(program, "leave_sockopt_cgroup", lambda: left.append(True))
    ex = program.Executor()
    ex.optmem_set = ex.in_cgroup = True
    errors = ex._teardown({})
    assert [e.errno for e in errors] == [errno.EIO]
    assert left == [True] and not ex.in_cgroup
    assert ex.optmem_set                                     # tried again after the next program
