"""Programs: what a fuzz input decodes to, how it runs, and how it prints.

A fuzzer turns bytes into a Program (a list of Calls over numbered socket
slots) without touching the kernel, so decoding runs anywhere (CI, dry runs,
the reproducer printer). The Executor then makes the system calls, records an
outcome per call -- (call, detail, length class, errno) -- and lets a tracer
(fuzz/coverage.py) collect kernel PCs around each system call.

Sources of choices: a decoder asks a Source for integers in a range and for
byte strings; FdpSource (fuzz/source.py) reads them as atheris.FuzzedDataProvider does, and
EncodingSource goes the other way (choices -> bytes), which is how the seed
corpus is written.
"""

from __future__ import annotations

import atexit
import ctypes
import errno as errno_mod
import fcntl
import os
import signal
import socket
import time
from dataclasses import dataclass, field

from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg import cmsg as cm
from afalg_conformance.harness.afalg.client import AfalgSocket, errno_name, sockaddr_alg
from afalg_conformance.harness.afalg.constants import AF_ALG, MSG_DONTWAIT, MSG_MORE, SOL_ALG, AlgOp, AlgOpt
from afalg_conformance.harness.afalg.bounded import asleep_in, kicked, wait_numbers
from afalg_conformance.harness.afalg.faults import FailNth
from afalg_conformance.harness.afalg import kmod
from afalg_conformance.harness.afalg.keys import KEY_NAMES, named_payload, named_serial
from afalg_conformance.harness.afalg import cgroupbpf, iouring
from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.afalg.libc import Aio, forbidden_page, libc, recv_into, recv_raw
from afalg_conformance.harness.afalg.netns import PrivateNetns, Unavailable

from . import surface
# in a module of its own so that engine.py imports it before atheris instruments this one;
# callers import the names from here
from .source import U32_MAX, FdpSource, Source  # noqa: F401

MAX_SLOTS = 8


# -- choice sources (Source and FdpSource: fuzz/source.py) -----------------------------------

def _nbytes(r: int) -> int:
    k = 0
    while k < 8 and (r >> (8 * k)) > 0:
        k += 1
    return k


class EncodingSource(Source):
    """Makes the bytes that FdpSource would decode into the same choices.

    FuzzedDataProvider takes integers from the end of the input (first byte taken
    is the most significant) and byte strings from the front; `want(tag, lo, hi)`
    says which value to choose (None: the lowest). Call data() at the end.
    """

    def __init__(self, want=None, payload=None):
        self.want = want or (lambda tag, lo, hi: None)
        self.payload = payload or (lambda tag, n: bytes(n))
        self.front = bytearray()
        self.back: list[bytes] = []
        self.budget = 1 << 30

    def int(self, lo, hi, tag=""):
        v = self.want(tag, lo, hi)
        v = lo if v is None else max(lo, min(hi, v))
        self.back.append((v - lo).to_bytes(_nbytes(hi - lo), "big"))
        return v

    def bytes(self, n, tag=""):
        b = self.payload(tag, n)[:n]
        b = b + bytes(n - len(b))
        self.front += b
        return b

    def remaining(self):
        return self.budget

    def pick(self, seq, tag=""):
        item = self.want(tag, None, seq)
        idx = seq.index(item) if item is not None and item in seq else None
        v = 0 if idx is None else idx
        self.back.append(v.to_bytes(_nbytes(len(seq) - 1), "big"))
        return seq[v]

    def pick_or_raw(self, seq, tag="", cap=U32_MAX):
        # a wanted int that is not in the table is encoded as the raw value
        item = self.want(tag, None, seq)
        if isinstance(item, int) and item not in seq:
            self.back.append(len(seq).to_bytes(_nbytes(len(seq)), "big"))
            v = item % (cap + 1)
            self.back.append(v.to_bytes(4, "big"))
            return v
        v = seq.index(item) if item is not None and item in seq else 0
        self.back.append(v.to_bytes(_nbytes(len(seq)), "big"))
        return seq[v]

    def data(self) -> bytes:
        return bytes(self.front) + b"".join(self.back)[::-1]


# -- programs ------------------------------------------------------------------------------

@dataclass
class Call:
    op: str                 # socket bind setsockopt accept sendmsg recv splice close module epoll fasync
    #                         background optmem sockopt-cgroup check
    slot: int = 0
    args: dict = field(default_factory=dict)

    def to_python(self) -> str:
        a = self.args
        s = f"s[{self.slot}]"
        if self.op == "socket":
            return f"s[{self.slot}] = sock({a['type_name']}, {a['proto']})"
        if self.op == "bind":
            addrlen = "" if a.get("addrlen") is None else f", addrlen={a['addrlen']}"
            return _faulted(a, f"{s}.bind_raw(sockaddr_alg({a['type']!r}, {a['name']!r}, "
                               f"feat={a['feat']:#x}, mask={a['mask']:#x}){addrlen})")
        if self.op == "setsockopt":
            val = "None" if a["value"] is None else _hexlit(a["value"])
            if a.get("key_name"):
                val = f"key_serial({a['key_name']!r}, {a['optlen']})"
            return _faulted(a, f"{s}.setsockopt({_level(a['level'])}, {a['opt']}, {val}, "
                               f"optlen={a['optlen']})") + f"  # {a['name']}"
        if self.op == "accept":
            return f"s[{a['dst']}] = " + _faulted(a, f"accept({s})")
        if self.op == "sendmsg":
            ctl = "None" if a["control"] is None else _hexlit(a["control"])
            flags = surface.flag_names(surface.SEND_FLAGS, a["flags"])
            if a.get("block"):
                raw = _faulted(a, f"{s}.sendmsg_raw([{_hexlit(a['data'])}], {ctl}, {flags}, "
                                  f"controllen={a['controllen']})")
                return f"blocking({s}, 'sendmsg', lambda: {raw}{_wake(a)})  # {a.get('desc', '')}"
            return _faulted(a, f"{s}.sendmsg_raw([{_hexlit(a['data'])}], {ctl}, {flags}|MSG_DONTWAIT, "
                               f"controllen={a['controllen']})") + f"  # {a.get('desc', '')}"
        if self.op == "recv":
            flags = surface.flag_names(surface.RECV_FLAGS, a["flags"])
            if a.get("aio"):
                return _faulted(a, f"aio_read({s}, {a['n']})")
            if a.get("block"):
                raw = _faulted(a, f"recv_raw({s}.fileno(), {a['n']}, {flags})")
                return f"blocking({s}, 'recvfrom', lambda: {raw}{_wake(a)})"
            if a.get("buf", "own") != "own":
                return _faulted(a, f"recv_into_page({s}, {a['n']}, {flags}|MSG_DONTWAIT, {a['buf']!r})")
            return _faulted(a, f"{s}.sock.recv({a['n']}, {flags}|MSG_DONTWAIT)")
        if self.op == "splice":
            return _faulted(a, f"splice_own_pipe({s}, {_hexlit(a['data'])}, flags={a['flags']:#x})")
        if self.op == "close":
            return f"{s}.close()"
        if self.op == "module":
            return _faulted(a, f"module_op({a['action']!r}, {a['module']!r})")
        if self.op == "epoll":
            return f"epoll_add({s})"
        if self.op == "fasync":
            return f"set_async({s})"
        if self.op == "background":
            return f"background_send({s}, {a['n']})"
        if self.op == "optmem":
            return f"set_optmem({a['value']})"
        if self.op == "sockopt-cgroup":
            return "in_sockopt_cgroup()"
        if self.op == "check":
            return f"check_{a['what']}({s}{', ' + repr(a.get('param')) if a.get('param') is not None else ''})"
        return f"# unknown call {self.op} {a}"


def _wake(a: dict) -> str:
    return "" if a.get("wake", "signal") == "signal" else f", wake={a['wake']!r}"


def takes_fault(a: dict) -> bool:
    """Whether the call runs with its injected fault: never a blocking one (the decoder gives
    them none; a hand-made program may): its kicker is a second thread, whose GIL the calling
    thread waits for with futex calls that are fault sites, and its signal lands in the window."""
    return bool(a.get("fault")) and not a.get("block")


def _faulted(a: dict, code: str) -> str:
    """code, run with fault number a['fault'] injected when the call takes one."""
    return f"fault({a['fault']}, lambda: {code})" if takes_fault(a) else code


def _hexlit(b: bytes) -> str:
    if len(b) <= 16 and b and all(32 <= c < 127 and c not in (34, 39, 92) for c in b):
        return repr(b)
    if len(b) > 1 and b == bytes([b[0]]) * len(b):
        return f"{bytes([b[0]])!r} * {len(b)}"
    tail = len(b) - len(b.rstrip(b[-1:]))
    if tail >= 64:              # the decoders pad short inputs to large lengths with one byte
        return f"{_hexlit(b[:-tail])} + {_hexlit(b[-tail:])}"
    return f"bytes.fromhex({b.hex()!r})"


def _level(level: int) -> str:
    return {SOL_ALG: "SOL_ALG", socket.SOL_SOCKET: "SOL_SOCKET", socket.SOL_IP: "SOL_IP"}.get(level, str(level))


@dataclass
class Program:
    fuzzer: str
    calls: list[Call] = field(default_factory=list)

    def add(self, op: str, slot: int = 0, **args) -> Call:
        c = Call(op, slot, args)
        self.calls.append(c)
        return c

    def to_python(self, results: list | None = None) -> str:
        lines = [f"# {self.fuzzer}: {len(self.calls)} calls. Guest only: python3 -m afalg_conformance.fuzz.replay FILE",
                 "from afalg_conformance.fuzz.replay_api import *   # sock, accept, check_*, splice_own_pipe, SOL_ALG, ...",
                 "s = {}"]
        if any(c.op == "optmem" for c in self.calls):
            # as the executor ran it: every socket of the program in a namespace of its own
            lines.append("enter_private_netns()")
        if any(c.op == "sockopt-cgroup" for c in self.calls):
            lines.append("join_sockopt_cgroup()")
        for kind in sorted({c.args["buf"] for c in self.calls if c.args.get("buf", "own") != "own"}):
            lines.append(f"page_of({kind!r})   # mapped before any fault window, as the executor does")
        for i, c in enumerate(self.calls):
            code, _, comment = c.to_python().partition("  # ")
            if c.op == "check":
                code, comment = f"# {code}", "semantic oracle, run by fuzz.replay"
            elif c.op not in ("socket", "accept"):
                code = f"call(lambda: {code})"
            if c.op == "recv":          # the executor polls before every recv
                lines.append(f"call(lambda: s[{c.slot}].poll_mask())")
            line = code + (f"  # {comment}" if comment else "")
            if results is not None and i < len(results):
                line += f"{'  #' if not comment else ';'} -> {results[i]}"
            lines.append(line)
        if any(c.op == "background" for c in self.calls):
            lines.append("end_background()   # the writer still asleep, as the executor ends it")
        return "\n".join(lines) + "\n"


# -- execution ------------------------------------------------------------------------------

class NullTracer:
    """No coverage: just the call boundaries."""

    def begin(self) -> None:
        pass

    def end(self, key: tuple | None) -> None:
        pass

    # Around a call that may unload or load an interface module: a module's PCs mean another
    # site once it moves, so what was traced before is read first and the layout after.
    def modules_changing(self) -> None:
        pass

    def modules_changed(self) -> None:
        pass


@dataclass
class SlotState:
    sock: AfalgSocket
    kind: str = "tfm"              # tfm | op
    state: str = "unbound"
    alg_type: str = ""
    alg_name: str = ""
    key: bytes | None = None
    key_ok: bool = False
    authsize: int | None = None
    children: int = 0
    parent: int | None = None
    # a setsockopt here drew an injected fault: whether the algorithm's setkey ran (and left the
    # tfm needing a key) or the copy before it failed is not known, so no oracle judges it
    faulted: bool = False
    sends: list = field(default_factory=list)   # successful sendmsg calls on an op socket


class Executor:
    """Runs programs. Every socket is closed at the end of each program."""

    def __init__(self, tracer=None, checks: bool = True, faults: FailNth | None = None):
        self.tracer = tracer or NullTracer()
        self.checks = checks
        self.outcomes: list[tuple] = []
        # fail-nth of the thread that runs the calls (harness.afalg.faults); None: calls that
        # carry a fault number run without it
        self.faults = faults
        self._fired = False
        self.aio: Aio | None = None
        self.unloaded: set[str] = set()     # interface modules the program left unloaded
        self.optmem_set = False             # the program changed its namespace's optmem_max
        self.in_cgroup = False              # the program runs in the sockopt cgroup

    def _aio(self) -> Aio:
        """The executor's AIO context, made on first use and kept for its life (io_setup per
        program would be two more system calls an input)."""
        if self.aio is None:
            self.aio = Aio()
        return self.aio

    def _sys(self, a: dict, fn):
        """fn(), the call's one system call, with its injected fault armed around it alone."""
        if not takes_fault(a) or self.faults is None:
            return fn()
        try:
            return self.faults.call(a["fault"], fn)
        finally:
            self._fired = self.faults.fired

    # outcome feature helpers
    def _record(self, call: Call, detail: str, length: int | None, err: int | None) -> None:
        key = (call.op, detail, surface.length_class(length), errno_name(err))
        self.outcomes.append(key)
        self.tracer.end(key)

    def run(self, prog: Program) -> list[str]:
        """Run every call; returns one result string per call ('ok', 'EINVAL', 'ok:16'...)."""
        self.outcomes = []
        self.unloaded: set[str] = set()
        slots: dict[int, SlotState] = {}
        results: list[str] = []
        try:
            if any(c.op == "optmem" for c in prog.calls):
                # before the first socket: all of the program's sockets see the namespace's limit
                enter_private_netns()
            if any(c.op == "sockopt-cgroup" for c in prog.calls):
                self.in_cgroup = not join_sockopt_cgroup()
            for call in prog.calls:
                results.append(self._one(call, slots))
        finally:
            # an oracle's AssertionError in flight stays the one raised; on a normal end the
            # first failure of the teardown (ours) is
            errors = self._teardown(slots)
        if errors:
            raise errors[0]
        return results

    def _teardown(self, slots: dict[int, SlotState]) -> list[Exception]:
        """End what the program left: each step on its own, so a failing one skips no other;
        the failures are returned. A flag is cleared only once its step succeeded (the next
        program's teardown tries again)."""
        errors: list[Exception] = []

        def step(fn) -> bool:
            try:
                fn()
                return True
            except Exception as e:      # noqa: BLE001 -- collected, raised by run()
                errors.append(e)
                return False
        # writers still asleep hold the program's sockets: ended first (untraced: their calls
        # are another process's)
        step(end_background)
        # Traced like a call: the release and destruct paths (af_alg_release_parent, the
        # types' sock_destruct freeing what is still queued) run here, unless a request
        # still in flight holds the socket, and the feedback of fuzzers without a close
        # call of their own (cmsg, setsockopt) never saw them. No outcome (key None):
        # what the program did is in its calls' outcomes already.
        for st in slots.values():
            self.tracer.begin()
            try:
                st.sock.close()
            except OSError:
                pass
            self.tracer.end(None)
        # an interface the program unloaded is loaded again, so the next program finds
        # the kernel as this one did (and its bind does not wait for a modprobe)
        for m in sorted(self.unloaded):
            self.tracer.modules_changing()
            self.tracer.begin()
            try:
                kmod.load(m)
            except OSError:
                pass
            self.tracer.end(None)
            self.tracer.modules_changed()
        if self.optmem_set and step(restore_optmem):
            self.optmem_set = False
        if self.in_cgroup and step(leave_sockopt_cgroup):   # the sockets keep their cgroup
            self.in_cgroup = False
        return errors

    def _one(self, call: Call, slots: dict[int, SlotState]) -> str:
        a = call.args
        st = slots.get(call.slot)
        op = call.op
        if op == "check":
            return self._check(call, slots)
        if op not in ("socket", "module", "optmem", "sockopt-cgroup") and st is None:
            return "no-socket"
        err = None
        length = None
        detail = op
        out = "ok"
        woke: dict = {}
        self._fired = False
        # a bind with an interface unloaded has the kernel load it (request_module)
        moves = op == "module" or (op == "bind" and bool(self.unloaded))
        if moves:
            self.tracer.modules_changing()
        self.tracer.begin()
        try:
            if op == "socket":
                detail = a["type_name"]
                s = socket.socket(AF_ALG, a["type"], a["proto"])
                if call.slot in slots:
                    slots[call.slot].sock.close()
                slots[call.slot] = SlotState(AfalgSocket(s))
                detail = a["type_name"]
            elif op == "bind":
                detail = a["type"] or "''"
                addr = sockaddr_alg(a["type"], a["name"], a["feat"], a["mask"])
                length = a.get("addrlen")
                self._sys(a, lambda: st.sock.bind_raw(addr, length))
                st.alg_type, st.alg_name, st.state = a["type"], a["name"], "bound"
                # a second bind on a socket without children succeeds and swaps in a fresh,
                # unkeyed transform (alg_bind): what was set on the old one is gone
                st.key, st.key_ok, st.authsize = None, False, None
            elif op == "setsockopt":
                detail = a["name"]
                length = a["optlen"]
                value = key_serial(a["key_name"], a["optlen"]) if a.get("key_name") else a["value"]
                self._sys(a, lambda: st.sock.setsockopt(a["level"], a["opt"], value, a["optlen"]))
                if a["level"] == SOL_ALG and a["opt"] == AlgOpt.SET_KEY:
                    # The kernel keys with the first optlen bytes (optlen may be shorter than the buffer).
                    st.key, st.key_ok, st.state = (a["value"] or b"")[:a["optlen"]], True, "keyed"
                elif a["level"] == SOL_ALG and a["opt"] == AlgOpt.SET_KEY_BY_KEY_SERIAL:
                    # keyed with the key's payload: check_usable holds the kernel to that key
                    payload = named_payload(a.get("key_name") or "")
                    st.key, st.key_ok, st.state = payload, payload is not None, "keyed"
                elif a["level"] == SOL_ALG and a["opt"] == AlgOpt.SET_AEAD_AUTHSIZE:
                    st.authsize = a["optlen"]
            elif op == "accept":
                detail = st.alg_type or "unbound"
                ns, _ = self._sys(a, st.sock.sock.accept)
                ns.setblocking(False)
                if a["dst"] in slots and a["dst"] != call.slot:
                    slots[a["dst"]].sock.close()
                child = SlotState(AfalgSocket(ns, st.alg_type, st.alg_name, is_op=True), kind="op", state="op",
                                  alg_type=st.alg_type, alg_name=st.alg_name, key=st.key,
                                  key_ok=st.key_ok, authsize=st.authsize, parent=call.slot)
                st.children += 1
                st.state = "accepted"
                if a["dst"] == call.slot:
                    st.sock.close()          # the slot now holds the child; drop the parent
                slots[a["dst"]] = child
            elif op == "sendmsg":
                detail = f"{st.alg_type or 'x'}:{a.get('desc_class', '')}" + (":block" if a.get("block") else "")
                length = len(a["data"])
                if a.get("block"):
                    try:
                        n = blocking(st.sock, "sendmsg",
                                     lambda: st.sock.sendmsg_raw([a["data"]], a["control"], a["flags"], a["controllen"]),
                                     a.get("wake", "signal"), woke)
                    finally:
                        detail += _wake_detail(a, woke)
                else:
                    n = self._sys(a, lambda: st.sock.sendmsg_raw([a["data"]], a["control"],
                                                                 a["flags"] | MSG_DONTWAIT, a["controllen"]))
                st.sends.append((call, n))
                out = f"ok:{n}"
            elif op == "recv":
                # poll first: af_alg_poll is reached by nothing else, and no input byte decides
                # it (the corpora and seeds keep their meaning); what it says is in the outcome
                detail = f"{st.alg_type or 'x'}:{st.sock.poll_mask()}" + (":block" if a.get("block") else "")
                if a.get("aio"):
                    detail += ":aio"
                    data = self._sys(a, lambda: self._aio().read(st.sock.fileno(), a["n"]))
                elif a.get("block"):
                    try:
                        data = blocking(st.sock, "recvfrom", lambda: recv_raw(st.sock.fileno(), a["n"], a["flags"]),
                                        a.get("wake", "signal"), woke)
                    finally:
                        detail += _wake_detail(a, woke)
                elif a.get("buf", "own") != "own":
                    # what lands in the page is not ours to read back (no-access): a count
                    detail += f":{a['buf']}"
                    data = None
                    page_of(a["buf"])         # mapped outside the call's fault window
                    length = self._sys(a, lambda: recv_into_page(st.sock, a["n"], a["flags"] | MSG_DONTWAIT,
                                                                 a["buf"]))
                else:
                    data = self._sys(a, lambda: st.sock.sock.recv(a["n"], a["flags"] | MSG_DONTWAIT))
                if data is not None:
                    length = len(data)
                    a["_got"] = data
                out = f"ok:{length}"
            elif op == "splice":
                detail = st.alg_type or "x"
                length = len(a["data"])
                n = splice_own_pipe(st.sock, a["data"], a["flags"], lambda fn: self._sys(a, fn))
                st.sends.append((call, n))
                out = f"ok:{n}"
            elif op == "close":
                st.sock.close()
                del slots[call.slot]
            elif op == "epoll":
                epoll_add(st.sock)
            elif op == "fasync":
                set_async(st.sock)
            elif op == "background":
                out = background_send(st.sock, a["n"])
                detail = f"{st.alg_type or 'x'}:{out.split(':')[0]}"
            elif op == "optmem":
                why = set_optmem(a["value"])
                self.optmem_set = self.optmem_set or not why
                detail = why or "set"
            elif op == "sockopt-cgroup":
                # joined (or not) before the program's first call; here only what came of it
                detail = "joined" if self.in_cgroup else "not-joined"
            elif op == "module":
                detail = f"{a['action']}:{a['module']}"
                m = a["module"]
                if a["action"] == "reload":
                    # two calls: between them the module is out, and is loaded at the end
                    # should the load fail
                    kmod.unload(m)          # the injected fault (if any) is the load's
                    self.unloaded.add(m)
                    self._sys(a, lambda: kmod.load(m))
                else:
                    self._sys(a, lambda: module_op(a["action"], m))
                (self.unloaded.add if a["action"] == "unload" else self.unloaded.discard)(m)
        except OSError as e:
            err = e.errno or errno_mod.EIO
            out = errno_name(err)
            if (op == "setsockopt" and a["level"] == SOL_ALG and a["opt"] == AlgOpt.SET_KEY
                    and err not in (errno_mod.EBUSY, errno_mod.ENOMEM, errno_mod.EFAULT, errno_mod.ENOPROTOOPT)
                    and _rearms_need_key(st)):
                # the algorithm refused the key: one that needs a key gets NEED_KEY again, or
                # (OPT-25: an skcipher length refused before that) keeps the old one; either way
                # no key is known any more, and no oracle judges the socket
                st.key, st.key_ok = None, False
            elif (op == "setsockopt" and a["level"] == SOL_ALG and a["opt"] == AlgOpt.SET_KEY_BY_KEY_SERIAL
                  and err == errno_mod.EINVAL and a["optlen"] == 4 and named_payload(a.get("key_name") or "")
                  and _rearms_need_key(st)):
                # the key was found and read, the algorithm's setkey refused it (NEED_KEY again)
                st.key, st.key_ok = None, False
        except (ValueError, OverflowError) as e:   # Python refused before any syscall
            err = errno_mod.EINVAL
            out = f"python:{type(e).__name__}"
        except MemoryError:
            # the injected fault hit the interpreter's own allocation (an mmap between arming and
            # the call), not the call: an outcome like any other, not a crash of the fuzzer
            err = errno_mod.ENOMEM
            out = "python:MemoryError"
        if self._fired:
            detail += ":fault"
            out += f" (fault {a['fault']})"
            if op == "setsockopt" and st is not None:
                st.faulted = True
        self._record(call, detail, length, err)
        if moves:
            self.tracer.modules_changed()
        return out

    # -- semantic oracles ----------------------------------------------------------------------
    def _check(self, call: Call, slots: dict[int, SlotState]) -> str:
        """Semantic checks; a failure raises AssertionError (a libFuzzer crash)."""
        if not self.checks:
            return "skipped"
        if self.optmem_set:
            # the oracle's request is judged at the namespace's own limit: under the one the
            # program set, its accept and read are refused (ENOMEM), the program's doing (the
            # first campaigns with the optmem op, 2026-12-04: a false oracle failure)
            self.optmem_set = False
            restore_optmem()
        st = slots.get(call.slot)
        what = call.args["what"]
        if what == "usable":
            return check_usable(st, self.tracer)
        if what == "request":
            return check_request(st, call.args.get("param"))
        return "unknown-check"


def _rearms_need_key(st: SlotState) -> bool:
    """Whether the model forgets the key after a setkey the algorithm refused. An algorithm
    that needs a key gets NEED_KEY again (crypto_shash_setkey's shash_set_needkey and its
    siblings) or keeps the old key (OPT-25): unknown, so forgotten. An optionally keyed hash
    (blake2b: keylen 0 or > 64 is EINVAL) keeps the key it had, so the model keeps it too
    (OPT-29; a fuzz_sequence campaign's false oracle failure). An algorithm the registry
    does not know: forgotten, and no oracle judges it anyway."""
    alg = algorithms.ALGORITHMS.get(st.alg_name)
    return alg is None or alg.keyed


def _valid_key(alg: algorithms.Algorithm, key: bytes | None) -> bool:
    if not alg.keyed:
        # an optionally keyed hash is judged keyed too (its oracle takes the key): what OPT-29
        # found stays under the fuzzers' watch
        return key is None or len(key) in alg.optional_key_sizes
    if key is None:
        return False
    if alg.make_key:    # authenc: a blob; trust only the project's own construction
        return len(key) >= 8 and len(key) - 8 - 32 in (16, 24, 32)
    return len(key) in alg.key_sizes


def check_usable(st: SlotState | None, tracer=None) -> str:
    """A tfm socket whose bind and setkey (and authsize) succeeded must serve a valid
    request, and the answer must equal harness.afalg.algorithms' oracle."""
    if st is None or st.kind != "tfm" or st.state not in ("bound", "keyed", "accepted") or st.faulted:
        return "n/a"
    alg = algorithms.ALGORITHMS.get(st.alg_name)
    if alg is None or alg.oracle is None or alg.type != st.alg_type or not _valid_key(alg, st.key):
        return "n/a"
    if alg.keyed and not st.key_ok:
        return "n/a"
    if alg.type == "aead" and st.authsize is not None and st.authsize not in alg.authsizes:
        return "n/a"
    try:
        op = st.sock.accept()
    except OSError as e:
        raise AssertionError(f"setup of {alg.name} succeeded but accept() failed: {errno_name(e.errno)}") from None
    try:
        # non-blocking, so harness.afalg.client never arms its SIGALRM deadline (SIGALRM is libFuzzer's)
        op.set_nonblocking(True)
        return _valid_request(op, alg, st)
    finally:
        op.close()


def _valid_request(op: AfalgSocket, alg: algorithms.Algorithm, st: SlotState) -> str:
    msg = bytes(range(32)) if alg.blocksize <= 32 else bytes(alg.blocksize)
    try:
        if alg.type == "hash":
            want = lambda: alg.oracle(st.key, msg)  # noqa: E731
            op.send(msg)
            got = op.recv(alg.digestsize)
        elif alg.type == "skcipher":
            iv = bytes(range(1, alg.ivsize + 1)) if alg.ivsize else None
            want = lambda: alg.oracle(st.key, iv, msg, True)  # noqa: E731
            op.request(msg, AlgOp.ENCRYPT, iv)
            got = op.recv_exact(len(msg))
        elif alg.type == "aead":
            authsize = st.authsize if st.authsize is not None else alg.max_authsize
            iv = algorithms.ccm_iv(bytes(range(1, 12))) if alg.name == "ccm(aes)" else bytes(range(1, alg.ivsize + 1))
            aad = bytes(range(100, 116)) if not alg.assoclen_fixed else bytes(range(100, 108)) + iv
            want = lambda: aad + alg.oracle(st.key, iv, aad, msg, authsize, True)  # noqa: E731
            op.request(aad + msg, AlgOp.ENCRYPT, iv, len(aad))
            got = op.recv_exact(len(aad) + len(msg) + authsize)
        else:
            return "n/a"
    except OSError as e:
        raise AssertionError(f"{alg.name}: a valid request on a successfully set-up socket failed: "
                             f"{errno_name(e.errno)}") from None
    try:
        expected = want()
    except Exception:       # the reference refuses (e.g. XTS with equal key halves): no verdict
        return "n/a"
    if got != expected:
        raise AssertionError(f"{alg.name}: kernel output differs from the oracle: "
                             f"got {got.hex()} want {expected.hex()}")
    return "ok"


def check_request(st: SlotState | None, model: dict | None) -> str:
    """After exactly one complete, well-formed request on an op socket, the output must be
    the oracle's. `model` is the decoder's reading of the request (op, iv, assoclen)."""
    if st is None or st.kind != "op" or not model or len(st.sends) != 1:
        return "n/a"
    call, n = st.sends[0]
    data = call.args["data"]
    if n != len(data) or call.args["flags"] & 0x8000:     # partial send or MSG_MORE
        return "n/a"
    alg = algorithms.ALGORITHMS.get(st.alg_name)
    if alg is None or alg.oracle is None or not _valid_key(alg, st.key) or not st.key_ok:
        return "n/a"
    encrypt = model["op"] == AlgOp.ENCRYPT
    iv = model["iv"]
    if alg.type == "skcipher":
        if iv is None and alg.ivsize:
            iv = bytes(alg.ivsize)      # a fresh op socket's IV is all zero
        if (alg.ivsize and len(iv) != alg.ivsize) or len(data) % alg.blocksize or not data:
            return "n/a"
        if alg.name == "xts(aes)" and len(data) < 16:
            return "n/a"
        try:
            want = alg.oracle(st.key, iv, data, encrypt)
        except Exception:
            return "n/a"
        try:
            got = st.sock.sock.recv(len(data), MSG_DONTWAIT)
        except OSError as e:
            raise AssertionError(f"{alg.name}: recv after a complete valid request failed: "
                                 f"{errno_name(e.errno)}") from None
        if got != want:
            raise AssertionError(f"{alg.name} {'enc' if encrypt else 'dec'}: output differs from the oracle: "
                                 f"got {got.hex()} want {want.hex()} (key {st.key.hex()}, iv {iv.hex() if iv else None})")
        return "ok"
    if alg.type == "aead" and encrypt:
        assoclen = model["assoclen"] or 0
        authsize = st.authsize if st.authsize is not None else alg.max_authsize
        if iv is None or len(iv) != alg.ivsize or assoclen > len(data) or authsize not in alg.authsizes:
            return "n/a"
        if alg.assoclen_fixed or alg.name == "ccm(aes)" and not 1 <= iv[0] <= 7:
            return "n/a"
        if alg.name.startswith("authenc") and (len(data) - assoclen) % 16:
            return "n/a"
        aad, pt = data[:assoclen], data[assoclen:]
        try:
            want = aad + alg.oracle(st.key, iv, aad, pt, authsize, True)
        except Exception:
            return "n/a"
        try:
            got = st.sock.sock.recv(len(want), MSG_DONTWAIT)
        except OSError as e:
            raise AssertionError(f"{alg.name}: recv after a complete valid encryption failed: "
                                 f"{errno_name(e.errno)}") from None
        if got != want:
            raise AssertionError(f"{alg.name} enc: output differs from the oracle: got {got.hex()} "
                                 f"want {want.hex()}")
        return "ok"
    return "n/a"


def blocking(sock: AfalgSocket, call: str, fn, wake: str = "signal", woke: dict | None = None):
    """fn(), a raw libc call on sock, with sock blocking, ended by a signal once the thread
    sleeps in that call (harness.afalg.bounded.kicked; in a fuzzer the watchdog's SIGUSR2
    handler, unfired, does nothing): the kernel's waits for send budget and for data
    (af_alg_wait_for_wmem, af_alg_wait_for_data), which non-blocking calls never reach. EINTR
    when it slept before doing anything. wake (decoders.WAKES): what comes before the signal,
    the kicker thread's send or read on sock once the call is seen asleep, or io_uring task
    work (a timeout this thread submits just before the call). woke["woke"]: whether the wake
    happened while the call slept (the send or read made, the timeout's completion posted)."""
    fd = sock.fileno()
    was = os.get_blocking(fd)
    woke = {} if woke is None else woke
    on_asleep, after = _waker(fd, wake, woke)
    os.set_blocking(fd, True)
    try:
        with kicked(call, first=0.05, every=0.05, limit=5.0, on_asleep=on_asleep):
            return fn()
    finally:
        os.set_blocking(fd, was)
        after()


def _wake_detail(a: dict, woke: dict) -> str:
    """The outcome's word for the wake: the one chosen, and "-none" when it did not happen
    while the call slept (the call never slept, no io_uring, the timer fired after it)."""
    if a.get("wake", "signal") == "signal":
        return ""
    return f":wake-{a['wake']}" + ("" if woke.get("woke") else "-none")


WAKE_SEND = bytes(16)           # one block, no MSG_MORE: the request a reader waits for ends
WAKE_RECV = 65536               # a read of up to 16 pages frees a writer's budget
URING_AFTER = 0.1               # s: a blocked call sleeps within milliseconds under TCG
_URING: list = []               # [Ring] once made, [None] where io_uring is not to be had
_URING_IDS = iter(range(1, 1 << 62))


def _ring():
    if not _URING:
        try:
            _URING.append(iouring.Ring())
        except OSError:         # ENOSYS, EPERM (kernel.io_uring_disabled): signals only
            _URING.append(None)
    return _URING[0]


def _waker(fd: int, wake: str, woke: dict):
    """(on_asleep for kicked, after: run once the call is over) for a wake of decoders.WAKES."""
    if wake in ("send", "send-more"):
        flags = MSG_DONTWAIT | (MSG_MORE if wake == "send-more" else 0)

        def send():
            woke["woke"] = libc.send(fd, WAKE_SEND, len(WAKE_SEND), flags) >= 0
        return send, (lambda: None)
    if wake == "recv":
        buf = ctypes.create_string_buffer(WAKE_RECV)

        def recv():
            woke["woke"] = libc.recv(fd, buf, WAKE_RECV, MSG_DONTWAIT) >= 0
        return recv, (lambda: None)
    ring = _ring() if wake == "uring" else None
    if ring is None:
        return None, (lambda: None)
    ud = next(_URING_IDS)
    try:
        ring.timeout(URING_AFTER, ud)
    except OSError:             # a ring that refuses the request: the signal alone
        return None, (lambda: None)
    posted: list = []

    def during():
        # a completion already there when the sleep is seen came before it: not a wake
        if ring.wait_for(ud, 0) is not None:
            posted.append(True)
        elif ring.wait_for(ud, 1.0) is not None:
            posted.append(True)
            woke["woke"] = True

    def after():
        # a timer that fired after the call (one that never slept) posts its completion here,
        # in this sleep: none is left to land in a later call
        if not posted:
            ring.wait_for(ud, 1.0)
    return during, after


def page_of(kind: str) -> int:
    """The process's forbidden page of this kind (made on first use, kept): made before any
    fault window, so an injected fault never falls on its mmap."""
    if kind not in _PAGES:
        _PAGES[kind] = forbidden_page(readable=kind == "read-only")
    return _PAGES[kind]


def recv_into_page(sock: AfalgSocket, n: int, flags: int, kind: str) -> int:
    """recv(2) of up to a page into a page of ours the kernel may not touch ("no-access") or
    not write ("read-only"); the count, or OSError (EFAULT, as a rule)."""
    return recv_into(sock.fileno(), page_of(kind), min(n, 4096), flags)


_PAGES: dict[str, int] = {}
_BACKGROUND: list[int] = []     # writer processes of background_send not yet ended
PR_SET_PDEATHSIG = 1


def background_send(sock: AfalgSocket, n: int) -> str:
    """A child process makes a blocking write of n zero bytes (MSG_MORE) on sock (the same
    open file, so the same socket). Returns "asleep" once /proc shows it asleep in the write;
    how it ended ("ok", an errno's name, "exit:N") when it ended first; "running" when it did
    neither within 2 s. end_background() ends it.

    A process, not a thread: a second Python thread takes the GIL now and then, and the main
    thread waiting to get it back calls futex with a timeout, a fault site; inside an injected
    fault's window of a later call glibc aborts (fuzz.engine.Watchdog). A process shares no
    GIL, has no fault armed (fail-nth is the task's) and no KCOV of its own (kcov is too)."""
    fd = sock.fileno()
    was = os.get_blocking(fd)
    parent = os.getpid()
    os.set_blocking(fd, True)       # read at the write's entry: restored once it sleeps or ends
    try:
        pid = os.fork()
        if pid == 0:
            _background_child(parent, fd, n)
        _BACKGROUND.append(pid)     # at once: whatever ends this call, end_background finds it
        state = _asleep_or_ended(pid, 2.0)
    finally:
        os.set_blocking(fd, was)
    if state is not None and not state.startswith("asleep"):
        _BACKGROUND.remove(pid)
    return state or "running"


def _background_child(parent: int, fd: int, n: int) -> None:
    """The writer: holds only its socket and /dev/null, dies with the fuzzer (should the
    fuzzer die without ending it, a writer asleep for good would keep the fuzzer's output
    pipe open, and the guest run waiting for its end), and leaves without Python's exit."""
    try:
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0 or os.getppid() != parent:
            os._exit(253)
        if fd < 3:                  # out of the way of 0-2, which become /dev/null
            fd = fcntl.fcntl(fd, fcntl.F_DUPFD, 3)
        null = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(null, std)
        os.closerange(3, fd)
        os.closerange(fd + 1, 1 << 20)
        buf = ctypes.create_string_buffer(n)
        r = libc.send(fd, buf, n, MSG_MORE)
        os._exit(0 if r >= 0 else min(ctypes.get_errno(), 252) or 252)
    finally:
        os._exit(254)


def _asleep_or_ended(pid: int, limit: float) -> str | None:
    """Poll the writer: "asleep" in its write, how it ended, or None after limit seconds."""
    numbers = wait_numbers("send")
    end = time.monotonic() + limit
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return "ok" if code == 0 else errno_name(code) if 0 < code < 252 else f"exit:{code}"
        if numbers and asleep_in(pid, numbers, pid):
            return "asleep"
        time.sleep(0.002)
    return None


def end_background() -> None:
    """End every background_send writer (SIGKILL: the sleeping write breaks on the fatal
    signal) and reap it."""
    for pid in list(_BACKGROUND):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        _BACKGROUND.remove(pid)     # only once reaped: an exception above leaves it listed


_NETNS: list = []               # [PrivateNetns] or [reason it is not to be had], once


def enter_private_netns() -> str:
    """Move this thread (the executor's) into a network namespace of its own, once for the
    process: optmem_max is then the fuzzer's to change. "" or why not (6.1: one value for the
    whole machine; no CLONE_NEWNET)."""
    if not _NETNS:
        ns = PrivateNetns()
        try:
            ns.__enter__()      # never left: every later socket of the fuzzer lives there
            _NETNS.append(ns)
        except (Unavailable, OSError) as e:
            _NETNS.append(f"no-private-netns: {e}")
    return _NETNS[0] if isinstance(_NETNS[0], str) else ""


def set_optmem(value: int) -> str:
    """net.core.optmem_max of the private namespace: "" or why it was not set."""
    why = enter_private_netns()
    if why:
        return why
    _NETNS[0].optmem_max = value
    return ""


def restore_optmem() -> None:
    if _NETNS and not isinstance(_NETNS[0], str):
        _NETNS[0].optmem_max = _NETNS[0].default


_CGROUP: list = []              # [SockoptCgroup] or [reason it is not to be had], once


def join_sockopt_cgroup() -> str:
    """Move this process into the cgroup of harness.afalg.cgroupbpf (made once, with its
    pass-through setsockopt program): sockets made from now on get their options through it.
    "" or why not (no cgroup2, no BPF, a program above that allows no other)."""
    if not _CGROUP:
        cg = cgroupbpf.SockoptCgroup()
        try:
            cg.__enter__()
        except (cgroupbpf.Unavailable, HarnessError, OSError) as e:
            _CGROUP.append(f"no-sockopt-cgroup: {e}")
        else:
            _CGROUP.append(cg)
            atexit.register(remove_sockopt_cgroup)
    if isinstance(_CGROUP[0], str):
        return _CGROUP[0]
    _CGROUP[0].joined().__enter__()
    return ""


def _made_cgroup():
    """The process's SockoptCgroup, or None (not made, or not to be had)."""
    return _CGROUP[0] if _CGROUP and not isinstance(_CGROUP[0], str) else None


def leave_sockopt_cgroup() -> None:
    if cg := _made_cgroup():
        cg.joined().__exit__(None, None, None)


def in_sockopt_cgroup() -> bool:
    """Reproducers: whether this process is in the sockopt cgroup (joined at the top)."""
    cg = _made_cgroup()
    return cg is not None and cgroupbpf._own_cgroup().endswith(cg.path.name)


def remove_sockopt_cgroup() -> None:
    """Leave and remove the process's sockopt cgroup (at exit; a child that leaves by
    os._exit calls it itself)."""
    if cg := _made_cgroup():
        try:
            leave_sockopt_cgroup()
            cg.__exit__(None, None, None)
        except (HarnessError, OSError):
            pass


def guest_faults() -> tuple[FailNth | None, str]:
    """The fault injector for an executor in a guest, opened on the calling thread (the one
    that will run the calls), and what to log about it; AFALG_FUZZ_FAULTS=0 turns it off.
    Never on the host: the tests' executors run without one."""
    if os.environ.get("AFALG_FUZZ_FAULTS", "1") == "0":
        return None, "fault injection: off (AFALG_FUZZ_FAULTS=0)"
    return FailNth.open_or_none()


_REPLAY_AIO: list = []         # the reproducer's AIO context, made on first use


def aio_read(sock: AfalgSocket, n: int) -> bytes:
    """Reproducers: a read of n bytes through io_submit, as the executor makes it."""
    if not _REPLAY_AIO:
        _REPLAY_AIO.append(Aio())
    return _REPLAY_AIO[0].read(sock.fileno(), n)


_REPLAY_FAULTS: list = []      # the reproducer's FailNth, made on first use


def fault(nth: int, fn):
    """Reproducers: fn() with the nth fault site of this thread failing, as the executor ran
    it (harness.afalg.faults); prints whether the fault fired."""
    if not _REPLAY_FAULTS:
        _REPLAY_FAULTS.append(guest_faults())
    fail, why = _REPLAY_FAULTS[0]
    if fail is None:
        print(f"  fault {nth}: not injected ({why})")
        return fn()
    try:
        return fail.call(nth, fn)
    finally:
        print(f"  fault {nth}: {'fired' if fail.fired else 'not reached'}")


def module_op(action: str, name: str) -> None:
    """load, unload or reload an algif interface module in this task (harness.afalg.kmod)."""
    getattr(kmod, action)(name)


_EPOLL: list = []


def epoll_add(sock: AfalgSocket) -> None:
    """Register sock with this process's epoll instance (one, made on first use): the socket's
    poll runs with a wait table (af_alg_poll's poll_wait) and its wait queue has a sleeper from
    then on, so the wake-ups of later sends and reads (af_alg_wmem_wakeup, af_alg_data_wakeup)
    take their waiter branch. Nothing waits on the instance; closing the socket unregisters it."""
    import select
    if not _EPOLL:
        _EPOLL.append(select.epoll())
    _EPOLL[0].register(sock.fileno(), select.EPOLLIN | select.EPOLLOUT | select.EPOLLET)


def set_async(sock: AfalgSocket) -> None:
    """O_ASYNC on sock (sock_fasync: SOCK_FASYNC, the sk_wake_async branches of af_alg's
    waits and wake-ups). No F_SETOWN: with no owner the kernel sends no SIGIO; it is ignored
    anyway, should an owner be set by other means."""
    signal.signal(signal.SIGIO, signal.SIG_IGN)
    fd = sock.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)


def key_serial(name: str, optlen: int) -> bytes:
    """The optval for ALG_SET_KEY_BY_KEY_SERIAL naming this process's key `name`, optlen
    bytes long (4 is honest; a lying optlen gets the serial then zeros, or a prefix of it)."""
    raw = named_serial(name).to_bytes(4, "little", signed=True)
    return raw[:optlen] + bytes(max(0, optlen - 4))


def splice_own_pipe(sock: AfalgSocket, data: bytes, flags: int, around=None) -> int:
    """Splice data into sock from a non-blocking pipe made here (never a file's pages).
    around(fn), when given, runs the splice call itself (the executor's fault injection)."""
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if data:
            os.write(w, data)
        fn = lambda: os.splice(r, sock.fileno(), max(len(data), 1), flags=flags)  # noqa: E731
        return around(fn) if around else fn()
    finally:
        os.close(r)
        os.close(w)


# -- shared decoding helpers ------------------------------------------------------------------

class Names:
    """Algorithm names a decoder can bind: static (index-stable) + this kernel's drivers."""

    def __init__(self, runtime: list[tuple[str, str]] | None = None):
        self.static = surface.static_names()
        self.runtime = runtime if runtime is not None else []

    def choose(self, src: Source) -> tuple[str, str]:
        # always consume the same choices, with or without runtime names (stable seeds)
        if src.int(0, 3, "name-from-proc") == 3 and self.runtime:
            return src.pick(self.runtime, "runtime-name")
        return src.pick(self.static, "name")


def decode_key(src: Source, alg: algorithms.Algorithm | None) -> bytes:
    """A key: usually a valid size for alg (when known), else any length class."""
    if alg is not None and alg.keyed and src.int(0, 3, "key-valid") != 0:
        size = src.pick(alg.key_sizes, "key-size")
        material = src.bytes(size, "key")
        if alg.make_key:
            return alg.key_from(material.ljust(size, b"k"))
        return material.ljust(size, b"\0")
    n = src.pick_or_raw(surface.BYTES_LEN_CHOICES, "key-len", surface.RAW_BYTES_CAP)
    return src.bytes(n, "key").ljust(n, b"\0")


def decode_bind(src: Source, prog: Program, slot: int, names: Names) -> tuple[str, str]:
    t, name = names.choose(src)
    if not t or src.int(0, 7, "type-override") == 0:
        t = src.pick(surface.BIND_TYPES, "bind-type")
    feat = src.pick(surface.BIND_FLAGS, "feat") if src.int(0, 7, "bind-feat?") == 0 else 0
    mask = src.pick(surface.BIND_FLAGS, "mask") if src.int(0, 7, "bind-mask?") == 0 else 0
    lc = src.pick(surface.ADDR_LEN_CLASSES, "addrlen")
    addrlen = {"full": None, "min": 88, "short": 24 + min(len(name), 8), "long": 200, "zero": 0}[lc]
    prog.add("bind", slot, type=t, name=name, feat=feat, mask=mask, addrlen=addrlen)
    return t, name


def socket_call(prog: Program, slot: int, src: Source | None = None) -> None:
    if src is not None and src.int(0, 15, "socket-type") == 0:
        name, t = src.pick(surface.SOCKET_TYPES, "socket-variant")
        proto = src.pick(surface.SOCKET_PROTOS, "proto")
    else:
        (name, t), proto = surface.SOCKET_TYPES[0], 0
    prog.add("socket", slot, type=t, type_name=name, proto=proto)


def decode_option(src: Source, alg: algorithms.Algorithm | None, prog: Program, slot: int) -> None:
    opt = src.pick_or_raw(surface.OPTIONS, "option")
    if isinstance(opt, int):
        opt = surface.sol_alg_option(opt)
    if opt.shape == "bytes":
        value = decode_key(src, alg) if opt.opt == AlgOpt.SET_KEY else \
            src.bytes(src.pick_or_raw(surface.BYTES_LEN_CHOICES, "len", surface.RAW_BYTES_CAP), "value")
        optlen = len(value)
        # optlen never exceeds our buffer: the kernel must not read our process's other memory
        lie = src.pick(["honest", "zero", "minus1", "null"], "optlen-lie") if src.int(0, 7, "lie") == 0 else "honest"
        if lie == "zero":
            optlen = 0
        elif lie == "minus1":
            optlen = max(optlen - 1, 0)
        elif lie == "null":
            value = None            # NULL optval with a non-zero optlen: the EFAULT path
        prog.add("setsockopt", slot, name=opt.name, level=opt.level, opt=int(opt.opt), value=value,
                 optlen=optlen)
    elif opt.shape == "optlen":
        if alg is not None and alg.authsizes and src.int(0, 1, "authsize-valid"):
            n = src.pick(alg.authsizes, "authsize")
        else:
            n = src.pick_or_raw(surface.AUTHSIZE_CHOICES, "authsize-any")
        prog.add("setsockopt", slot, name=opt.name, level=opt.level, opt=int(opt.opt), value=None, optlen=n)
    elif opt.shape == "serial" and src.int(0, 3, "key-literal") != 0:
        # a named key; its serial is known only where the program runs (Executor, key_serial)
        name = src.pick(KEY_NAMES, "key-name")
        optlen = src.pick_or_raw(surface.U32_OPTLENS, "u32-optlen", surface.RAW_OPTLEN_CAP)
        prog.add("setsockopt", slot, name=opt.name, level=opt.level, opt=int(opt.opt), value=None,
                 optlen=optlen, key_name=name)
    else:
        v = src.pick_or_raw(surface.U32_CHOICES, "u32")
        optlen = src.pick_or_raw(surface.U32_OPTLENS, "u32-optlen", surface.RAW_OPTLEN_CAP)
        value = v.to_bytes(4, "little") + bytes(max(0, optlen - 4))
        prog.add("setsockopt", slot, name=opt.name, level=opt.level, opt=int(opt.opt), value=value,
                 optlen=optlen)


_CMSG_LEN_FN = dict(surface.CMSG_LEN_CLASSES)


def encode_cmsgs(items: list[tuple[surface.CmsgKind, bytes, str]]) -> bytes:
    """msg_control bytes: each (kind, payload, cmsg_len class)."""
    parts = []
    for kind, payload, lclass in items:
        if lclass == "honest":
            length = None
        elif lclass.startswith("len="):       # a raw cmsg_len (decode_cmsg_item)
            length = int(lclass[4:])
        else:
            length = _CMSG_LEN_FN[lclass](cm.cmsg_len(len(payload)))
        parts.append(cm.encode_cmsg(kind.level, kind.type, payload, length))
    return b"".join(parts)


def request_model(items: list[tuple[surface.CmsgKind, bytes, str]]) -> dict | None:
    """The kernel's reading of well-formed control data (last of each type wins; with any
    control data op defaults to DECRYPT and assoclen to 0). None if anything is ill-formed
    or would be rejected."""
    op, iv, assoclen = AlgOp.DECRYPT, None, 0
    for kind, payload, lclass in items:
        if lclass != "honest":
            return None
        if kind.level != SOL_ALG:
            continue
        if kind.type == AlgOpt.SET_OP:
            op = int.from_bytes(payload[:4], "little")
        elif kind.type == AlgOpt.SET_IV:
            ivlen = int.from_bytes(payload[:4], "little")
            if ivlen != len(payload) - 4:
                return None
            iv = payload[4:]
        elif kind.type == AlgOpt.SET_AEAD_ASSOCLEN:
            assoclen = int.from_bytes(payload[:4], "little")
        else:
            return None
    if op not in (0, 1) or assoclen >= 0x80000000:
        return None
    return {"op": op, "iv": iv, "assoclen": assoclen}


def decode_cmsg_item(src: Source, alg: algorithms.Algorithm | None,
                     honest_bias: int = 3) -> tuple[surface.CmsgKind, bytes, str]:
    kind = src.pick_or_raw(surface.CMSGS, "cmsg-kind")
    if isinstance(kind, int):
        kind = surface.sol_alg_cmsg(kind)
    if kind.shape == "u32":
        if kind.type == AlgOpt.SET_OP:
            v = src.pick_or_raw(surface.OP_VALUES, "op")
        elif kind.type == AlgOpt.SET_AEAD_ASSOCLEN:
            v = src.pick_or_raw(surface.ASSOCLEN_VALUES, "assoclen")
        else:
            v = src.pick_or_raw(surface.U32_CHOICES, "u32")
        payload = v.to_bytes(4, "little")
        if src.int(0, 15, "u32-short") == 0:
            payload = payload[:src.int(0, 3, "u32-len")]
    elif kind.shape == "iv":
        if alg is not None and src.int(0, 3, "iv-valid") != 0:
            n = alg.ivsize
        else:
            n = src.pick_or_raw(surface.IV_LEN_CHOICES, "iv-len", surface.RAW_IV_CAP)
        iv = src.bytes(n, "iv").ljust(n, b"\0")
        if alg is not None and alg.name == "ccm(aes)" and n == 16 and src.int(0, 3, "ccm-iv") != 0:
            iv = algorithms.ccm_iv(iv[1:12])
        ivlen = n if src.int(0, 7, "ivlen-lie") != 0 else src.pick_or_raw(surface.IV_LEN_CHOICES + [U32_MAX], "ivlen")
        payload = ivlen.to_bytes(4, "little") + iv
    else:
        payload = src.bytes(src.pick_or_raw(surface.BYTES_LEN_CHOICES[:12], "len", surface.RAW_IV_CAP), "payload")
    if src.int(0, honest_bias, "cmsg-len-honest") != 0:
        lclass = "honest"
    else:
        c = src.pick_or_raw(surface.CMSG_LEN_CLASSES, "cmsg-len")
        lclass = f"len={c}" if isinstance(c, int) else c[0]
    return kind, payload, lclass


def desc_items(items) -> str:
    return ",".join(f"{k.name}[{len(p)}]" + ("" if c == "honest" else f"<{c}>") for k, p, c in items)


def desc_class(items) -> str:
    """A coarse class of a cmsg list for outcome features."""
    if not items:
        return "none"
    kinds = sorted({k.name.split("(")[0].split(":")[0] for k, _p, _c in items})
    bad = any(c != "honest" for _k, _p, c in items)
    return "+".join(kinds) + ("!" if bad else "")
