"""A cgroup with a pass-through BPF setsockopt program attached, for sockets made inside it.

Where a cgroup has a BPF_CGROUP_SETSOCKOPT program (systemd units, container runtimes and
service meshes attach them), every setsockopt of a socket created in that cgroup first copies
the option into a kernel buffer and runs the program; a program that returns 1 without
touching anything passes the call on, with the option now in kernel memory
(do_sock_setsockopt: KERNEL_SOCKPTR). af_alg's options must behave as they do without it.

The program is two instructions (r0 = 1; exit). The calling process joins the cgroup only
while it makes its sockets (a socket keeps the cgroup it was created in) and then goes back.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import tempfile
from pathlib import Path

from afalg_conformance.harness.afalg.libc import libc

SYS_BPF = 321                                   # x86_64
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_SOCKOPT = 25
BPF_CGROUP_SETSOCKOPT = 22
PASS = bytes.fromhex("b700000001000000" "9500000000000000")   # BPF_MOV64_IMM(r0, 1); BPF_EXIT
DENY = bytes.fromhex("b700000000000000" "9500000000000000")   # r0 = 0: every setsockopt EPERM
MNT_DETACH = 2


class Unavailable(Exception):
    """No cgroup2, no BPF, no privilege: a skip reason."""


def _bpf(cmd: int, attr: bytes) -> int:
    buf = ctypes.create_string_buffer(attr, 128)
    r = libc.syscall(SYS_BPF, cmd, buf, 128)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"bpf({cmd}): {os.strerror(e)}")
    return r


def _cgroup2_root() -> tuple[Path, bool]:
    """(where cgroup2 is mounted, whether we mounted it ourselves)."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[2] == "cgroup2":
            return Path(parts[1]), False
    where = Path(tempfile.mkdtemp(prefix="afalg-cgroup2-"))
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    if libc.mount(b"cgroup2", str(where).encode(), b"cgroup2", 0, None) != 0:
        e = ctypes.get_errno()
        where.rmdir()
        raise Unavailable(f"no-cgroup2 (mount: {errno.errorcode.get(e, e)})")
    return where, True


class SockoptCgroup:
    """with SockoptCgroup() as cg: with cg.joined(): make sockets. program=DENY refuses every
    setsockopt instead (how the host tests see that the program is attached)."""

    def __init__(self, program: bytes = PASS):
        self.program = program

    def __enter__(self) -> "SockoptCgroup":
        self._root, self._mounted = _cgroup2_root()
        self.path = self._root / f"afalg-sockopt-{os.getpid()}"
        home = next((line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines()
                     if line.startswith("0::")), "/")
        self._home = self._root / home.lstrip("/")
        try:
            self.path.mkdir()
        except PermissionError:
            self._unmount()
            raise Unavailable("needs-root=cgroup2") from None
        self._prog = -1
        try:
            self._attach()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _attach(self) -> None:
        insns = ctypes.create_string_buffer(self.program, len(self.program))
        license_ = ctypes.create_string_buffer(b"GPL")
        load = struct.pack("=IIQQIIQII16sII", BPF_PROG_TYPE_CGROUP_SOCKOPT, len(self.program) // 8,
                           ctypes.addressof(insns), ctypes.addressof(license_), 0, 0, 0, 0, 0,
                           b"afalg_pass", 0, BPF_CGROUP_SETSOCKOPT)
        try:
            self._prog = _bpf(BPF_PROG_LOAD, load)
        except OSError as e:
            if e.errno in (errno.EPERM, errno.EACCES):
                raise Unavailable("needs-root=bpf") from None
            if e.errno in (errno.EINVAL, errno.ENOSYS):
                raise Unavailable(f"config-missing=CONFIG_CGROUP_BPF ({errno.errorcode[e.errno]} loading a "
                                  "BPF_PROG_TYPE_CGROUP_SOCKOPT program)") from None
            raise
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            _bpf(BPF_PROG_ATTACH, struct.pack("=IIII", fd, self._prog, BPF_CGROUP_SETSOCKOPT, 0))
        finally:
            os.close(fd)

    def joined(self) -> "_Joined":
        return _Joined(self)

    def _unmount(self) -> None:
        if self._mounted:
            libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
            libc.umount2(str(self._root).encode(), MNT_DETACH)
            self._root.rmdir()

    def __exit__(self, *exc) -> None:
        if self._prog >= 0:
            os.close(self._prog)
            self._prog = -1
        try:
            self.path.rmdir()               # the cgroup lives on while its sockets do
        except OSError:
            pass
        self._unmount()


class _Joined:
    def __init__(self, cg: SockoptCgroup):
        self.cg = cg

    def __enter__(self) -> None:
        (self.cg.path / "cgroup.procs").write_text(f"{os.getpid()}\n")

    def __exit__(self, *exc) -> None:
        (self.cg._home / "cgroup.procs").write_text(f"{os.getpid()}\n")
