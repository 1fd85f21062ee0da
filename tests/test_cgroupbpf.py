"""harness/afalg/cgroupbpf.py on the host: the setsockopt program is attached to a cgroup of
its own, sockets made while joined carry it, and the process is back home afterwards (the
AF_ALG calls through it run in guests: OPT-27, OPT-28)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from afalg_conformance.harness.afalg import cgroupbpf


def _cgroup() -> str:
    return next(line for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::"))


def test_program_applies_to_sockets_made_inside_only():
    home = _cgroup()
    try:
        cg = cgroupbpf.SockoptCgroup(cgroupbpf.DENY).__enter__()
    except cgroupbpf.Unavailable as e:
        pytest.skip(f"unsupported:{e}")
    try:
        with cg.joined():
            assert _cgroup().endswith(cg.path.name)
            inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        assert _cgroup() == home
        outside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with inside, outside:
            outside.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            with pytest.raises(PermissionError):          # the program said no
                inside.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    finally:
        cg.__exit__(None, None, None)
    assert not cg.path.exists()


def test_pass_program_lets_options_through():
    try:
        cg = cgroupbpf.SockoptCgroup().__enter__()
    except cgroupbpf.Unavailable as e:
        pytest.skip(f"unsupported:{e}")
    try:
        with cg.joined():
            inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with inside:
            inside.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            assert inside.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 2 * 65536
    finally:
        cg.__exit__(None, None, None)
