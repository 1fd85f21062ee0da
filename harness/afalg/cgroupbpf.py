"""A cgroup with a pass-through BPF setsockopt program attached, for sockets made inside it.

Where a cgroup has a BPF_CGROUP_SETSOCKOPT program (a systemd unit's
`BPFProgram=setsockopt:...`, container runtimes, service meshes), every setsockopt of a socket
created in that cgroup first copies the option into a kernel buffer and runs the program; a
program that returns 1 without touching anything passes the call on, with the option now in
kernel memory (do_sock_setsockopt: KERNEL_SOCKPTR). af_alg's options must behave as they do
without it.

The program lets every call through but one: optname SENTINEL, which it refuses (EPERM). That
refusal is how a test knows its socket really goes through the program (`goes_through`):
without it, a cgroup that did not take would make every comparison pass.

The calling process joins the cgroup only while it makes its sockets (a socket keeps the
cgroup it was created in) and then goes back; leaving, and removing the cgroup, are checked:
a worker left inside would send every later test's options through the program.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import tempfile
from pathlib import Path

from afalg_conformance.harness.afalg.libc import libc
from afalg_conformance.harness.errors import HarnessError

SYS_BPF = {"x86_64": 321, "aarch64": 280}
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_SOCKOPT = 25
BPF_CGROUP_SETSOCKOPT = 22
SENTINEL = 0x7FFF
# r2 = ctx->optname (struct bpf_sockopt: optname at 28); if r2 == SENTINEL goto refuse;
# r0 = 1; exit; refuse: r0 = 0; exit
PROGRAM = bytes.fromhex("61121c0000000000" "15020200" + SENTINEL.to_bytes(4, "little").hex()
                        + "b700000001000000" "9500000000000000"
                        + "b700000000000000" "9500000000000000")
MNT_DETACH = 2


class Unavailable(Exception):
    """No cgroup2, no BPF, no privilege: a skip reason."""


def _bpf(cmd: int, attr: bytes) -> int:
    nr = SYS_BPF.get(platform.machine())
    if nr is None:
        raise Unavailable(f"arch={platform.machine()} (no bpf() number known)")
    buf = ctypes.create_string_buffer(attr, 128)
    r = libc.syscall(nr, cmd, buf, 128)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"bpf({cmd}): {os.strerror(e)}")
    return r


def _own_cgroup() -> str:
    """This process's cgroup2 path (the "0::" line of /proc/self/cgroup)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    raise Unavailable("no-cgroup2 (/proc/self/cgroup has no unified line)")


def _cgroup2_mount() -> tuple[Path, str, bool]:
    """(mount point, the cgroup it shows as its root, whether we mounted it ourselves)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _sep, post = line.partition(" - ")
        if post.split()[:1] == ["cgroup2"]:
            fields = pre.split()
            return Path(fields[4]), fields[3], False
    where = Path(tempfile.mkdtemp(prefix="afalg-cgroup2-"))
    if libc.mount(b"cgroup2", str(where).encode(), b"cgroup2", 0, None) != 0:
        e = ctypes.get_errno()
        where.rmdir()
        raise Unavailable(f"no-cgroup2 (mount: {errno.errorcode.get(e, e)})")
    return where, "/", True


class SockoptCgroup:
    """with SockoptCgroup() as cg: with cg.joined(): make sockets; cg.goes_through(sock)."""

    def __init__(self, program: bytes = PROGRAM):
        self.program = program
        self._prog = -1
        self._mounted = False
        self.path: Path | None = None

    def __enter__(self) -> "SockoptCgroup":
        self._cgroup = _own_cgroup()            # first: nothing to undo if there is none
        self._root, shown, self._mounted = _cgroup2_mount()
        try:
            rel = os.path.relpath(self._cgroup, shown)
            self._home = (self._root / rel).resolve()
            if rel.startswith("..") or not (self._home / "cgroup.procs").exists():
                raise Unavailable(f"cgroup-not-visible (this process's cgroup {self._cgroup} is not under "
                                  f"the cgroup2 mount {self._root}, which shows {shown})")
            # the pid and a random part: a cgroup a process that died without leaving it (a
            # fuzzer's replay child exits by os._exit) must not be found by a later one
            self.path = self._root / f"afalg-sockopt-{os.getpid()}-{os.urandom(3).hex()}"
            try:
                self.path.mkdir()
            except PermissionError:
                self.path = None
                raise Unavailable("needs-root=cgroup2") from None
            self._attach()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _attach(self) -> None:
        insns = ctypes.create_string_buffer(self.program, len(self.program))
        license_ = ctypes.create_string_buffer(b"GPL")
        log = ctypes.create_string_buffer(4096)
        load = struct.pack("=IIQQIIQII16sII", BPF_PROG_TYPE_CGROUP_SOCKOPT, len(self.program) // 8,
                           ctypes.addressof(insns), ctypes.addressof(license_), 1, len(log),
                           ctypes.addressof(log), 0, 0, b"afalg_pass", 0, BPF_CGROUP_SETSOCKOPT)
        try:
            self._prog = _bpf(BPF_PROG_LOAD, load)
        except OSError as e:
            if e.errno in (errno.EPERM, errno.EACCES):
                raise Unavailable("needs-root=bpf") from None
            if e.errno == errno.ENOSYS:
                raise Unavailable("config-missing=CONFIG_BPF_SYSCALL") from None
            # the fixture already skipped kernels built without CONFIG_CGROUP_BPF: this is ours
            raise HarnessError(f"BPF_PROG_LOAD of the setsockopt program: {os.strerror(e.errno)}; "
                               f"verifier: {log.value.decode(errors='replace').strip()[-400:]}") from None
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            _bpf(BPF_PROG_ATTACH, struct.pack("=IIII", fd, self._prog, BPF_CGROUP_SETSOCKOPT, 0))
        except OSError as e:
            if e.errno == errno.EPERM:
                # an ancestor's program was attached without BPF_F_ALLOW_MULTI/OVERRIDE
                raise Unavailable("bpf-attach-refused (a cgroup above already has a setsockopt program "
                                  "that allows no other)") from None
            raise
        finally:
            os.close(fd)

    def joined(self) -> "_Joined":
        return _Joined(self)

    def goes_through(self, sock, level: int) -> str:
        """setsockopt(level, SENTINEL) on sock: "EPERM" when the program ran (it refuses that
        one option), otherwise what the protocol itself said."""
        try:
            sock.setsockopt(level, SENTINEL, b"\0" * 4)
            return "ok"
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))

    def __exit__(self, *exc) -> None:
        problems = []
        if self._prog >= 0:
            os.close(self._prog)
            self._prog = -1
        if (now := _own_cgroup()) != self._cgroup:
            problems.append(f"this process is in {now}, not back in {self._cgroup}")
            try:            # put it back all the same: later tests must not go through the program
                (self._home / "cgroup.procs").write_text(f"{os.getpid()}\n")
            except OSError as e:
                problems.append(f"moving it back: {e.strerror}")
        if self.path is not None:
            try:
                self.path.rmdir()       # refused only while a process is inside: sockets do not count
            except OSError as e:
                problems.append(f"rmdir {self.path}: {e.strerror}")
            self.path = None
        if self._mounted:
            libc.umount2(str(self._root).encode(), MNT_DETACH)
            self._root.rmdir()
            self._mounted = False
        if problems:
            raise HarnessError("leaving the setsockopt cgroup: " + "; ".join(problems))


class _Joined:
    def __init__(self, cg: SockoptCgroup):
        self.cg = cg

    def __enter__(self) -> None:
        (self.cg.path / "cgroup.procs").write_text(f"{os.getpid()}\n")

    def __exit__(self, *exc) -> None:
        try:
            (self.cg._home / "cgroup.procs").write_text(f"{os.getpid()}\n")
        except OSError as e:
            raise HarnessError(f"could not leave the setsockopt cgroup for {self.cg._home}: {e.strerror}") from None
