"""harness/afalg/cgroupbpf.py on the host: the setsockopt program is attached to a cgroup of
its own, sockets made while joined go through it (its one refused option), others do not, and
the process is back home afterwards (the AF_ALG calls through it run in guests: OPT-27, OPT-28)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from afalg_conformance.harness.afalg import cgroupbpf
from afalg_conformance.harness.errors import HarnessError


def _cgroup() -> str:
    return next(line for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::"))


def _enter() -> cgroupbpf.SockoptCgroup:
    try:
        return cgroupbpf.SockoptCgroup().__enter__()
    except cgroupbpf.Unavailable as e:
        pytest.skip(f"unsupported:{e}")


def test_program_applies_to_sockets_made_inside_only():
    home = _cgroup()
    cg = _enter()
    try:
        with cg.joined():
            assert _cgroup().endswith(cg.path.name)
            inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        assert _cgroup() == home
        outside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with inside, outside:
            # the program refuses its sentinel option and passes everything else on
            assert cg.goes_through(inside, socket.SOL_SOCKET) == "EPERM"
            assert cg.goes_through(outside, socket.SOL_SOCKET) == "ENOPROTOOPT"
            inside.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            assert inside.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 2 * 65536
        path = cg.path
    finally:
        cg.__exit__(None, None, None)
    assert not path.exists()


def test_a_process_left_inside_is_a_harness_error():
    home = _cgroup()
    cg = _enter()
    path = cg.path
    cg.joined().__enter__()                              # and never left
    with pytest.raises(HarnessError, match="not back in"):
        cg.__exit__(None, None, None)
    assert _cgroup() == home                             # put back all the same
    assert not path.exists()
