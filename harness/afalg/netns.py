"""A network namespace of the calling thread's own, for the per-namespace sysctl that bounds
socket option memory (net.core.optmem_max).

sock_kmalloc refuses an allocation once the socket's option memory would reach optmem_max, so
lowering it makes af_alg's allocation-failure branches run deterministically, without fault
injection (whose armed window a pytest worker's other threads could fall into). The limit is
read from the socket's namespace at every call: sockets made inside a private namespace see its
value, and the other workers' sockets never do.

unshare(CLONE_NEWNET) moves only the calling thread; leaving the block moves it back (setns on
the namespace it came from). Sockets made inside keep the private namespace after that.
"""

from __future__ import annotations

import ctypes
import errno
import os

from afalg_conformance.harness.afalg.libc import libc
from afalg_conformance.harness.errors import HarnessError

CLONE_NEWNET = 0x40000000
OPTMEM_MAX = "/proc/sys/net/core/optmem_max"


class Unavailable(Exception):
    """The kernel or our privileges do not allow the namespace or its sysctl: a skip reason."""


class PrivateNetns:
    """with PrivateNetns() as ns: ns.optmem_max = 1024; sockets made here see 1024."""

    def __init__(self) -> None:
        self._home = -1

    def __enter__(self) -> "PrivateNetns":
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        if libc.unshare(CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            os.close(self._home)
            if e == errno.EPERM:
                raise Unavailable("needs-root=CLONE_NEWNET")
            if e == errno.EINVAL:
                raise Unavailable("config-missing=CONFIG_NET_NS")
            raise OSError(e, f"unshare(CLONE_NEWNET): {os.strerror(e)}")
        try:
            self._default = self._read()
        except FileNotFoundError:
            self.__exit__(None, None, None)
            # 6.1 registers net.core.optmem_max for the initial namespace only: one value for
            # every socket of the machine, not something a test may change
            raise Unavailable("optmem_max-not-per-netns (net.core.optmem_max is one value for the "
                              "whole machine on this kernel)") from None
        return self

    def __exit__(self, *exc) -> None:
        if self._home < 0:
            return
        home, self._home = self._home, -1
        try:
            if libc.setns(home, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise HarnessError(f"setns back to the worker's network namespace: {os.strerror(e)}")
        finally:
            os.close(home)

    @staticmethod
    def _read() -> int:
        with open(OPTMEM_MAX) as f:
            return int(f.read())

    @property
    def default(self) -> int:
        """optmem_max as the new namespace started (131072 on 6.12)."""
        return self._default

    @property
    def optmem_max(self) -> int:
        return self._read()

    @optmem_max.setter
    def optmem_max(self, value: int) -> None:
        if self._home < 0:
            raise HarnessError("optmem_max set outside the private namespace")
        with open(OPTMEM_MAX, "w") as f:
            f.write(f"{value}\n")
