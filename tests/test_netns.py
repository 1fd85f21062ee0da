"""harness/afalg/netns.py on the host: the private namespace a test lowers optmem_max in is
its own, and the worker's thread is back in its namespace afterwards (AF_ALG itself runs only
in guests; this is the namespace machinery alone)."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest

from afalg_conformance.harness.afalg import netns


def _here() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def test_private_namespace_has_its_own_optmem_max_and_is_left():
    home, outside = _here(), open(netns.OPTMEM_MAX).read()
    try:
        ns = netns.PrivateNetns().__enter__()
    except netns.Unavailable as e:
        pytest.skip(f"unsupported:{e}")
    try:
        assert _here() != home
        ns.optmem_max = 1024
        assert ns.optmem_max == 1024
    finally:
        ns.__exit__(None, None, None)
    assert _here() == home
    assert open(netns.OPTMEM_MAX).read() == outside


def test_refusals_are_skip_reasons(monkeypatch):
    def refuse(code):
        def unshare(flags):
            ctypes.set_errno(code)
            return -1
        return unshare
    for code, reason in ((errno.EPERM, "needs-root=CLONE_NEWNET"), (errno.EINVAL, "config-missing=CONFIG_NET_NS")):
        monkeypatch.setattr(netns.libc, "unshare", refuse(code))
        with pytest.raises(netns.Unavailable, match=reason):
            netns.PrivateNetns().__enter__()
    monkeypatch.setattr(netns.libc, "unshare", refuse(errno.ENOMEM))
    with pytest.raises(OSError):
        netns.PrivateNetns().__enter__()
