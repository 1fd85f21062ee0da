"""Helpers for the socket, setsockopt, control message, hash and rng tests.

Raw system calls that CPython does not expose the way these tests need them:
accept() with an address buffer and a minimal NETLINK_CRYPTO client (the keyring
calls, shared with the fuzzers, are in harness/afalg/keys.py). Everything returns tokens ("ok" or an errno name)
so a table-driven test can compare them with a clause.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct

from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg.client import AfalgSocket, errno_name, outcome
from afalg_conformance.harness.afalg.constants import SOL_ALG
from afalg_conformance.harness.afalg.libc import libc as _libc, recv_raw  # noqa: F401 (recv_raw: the tests' us.recv_raw)

NETLINK_CRYPTO = 21
CRYPTO_MSG_DELALG = 0x11
CRYPTO_MSG_GETALG = 0x13
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 0x2
CRYPTO_USER_ALG = struct.Struct("=64s64s64sIIII")   # struct crypto_user_alg


# errno_name already spells 95 as the kernel does (EOPNOTSUPP).
errno_token = errno_name


def socket_raw(family: int, type_: int, proto: int) -> int:
    """libc socket(): CPython turns proto -1 into 0."""
    r = _libc.socket(family, type_, proto)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def oracle(name: str, msg: bytes, key: bytes | None = None) -> bytes:
    return algorithms.get(name).oracle(key, msg)


def digestsize(name: str) -> int:
    return algorithms.get(name).digestsize


# -- accept with an address buffer -----------------------------------------------------------

def accept_with_addr(fd: int) -> int:
    """libc accept(fd, &addr, &len): returns the new fd or raises OSError."""
    buf = ctypes.create_string_buffer(128)
    ln = ctypes.c_uint32(128)
    r = _libc.accept(fd, ctypes.cast(buf, ctypes.c_void_p), ctypes.cast(ctypes.pointer(ln), ctypes.c_void_p))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def getsockopt_raw(fd: int, level: int, opt: int, size: int = 64) -> bytes:
    buf = ctypes.create_string_buffer(size)
    ln = ctypes.c_uint32(size)
    if _libc.getsockopt(fd, level, opt, ctypes.cast(buf, ctypes.c_void_p),
                        ctypes.cast(ctypes.pointer(ln), ctypes.c_void_p)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return buf.raw[:ln.value]


# -- NETLINK_CRYPTO ----------------------------------------------------------------------------

def crypto_netlink(msg_type: int, name: str = "", driver: str = "", flags: int = NLM_F_REQUEST,
                   seq: int = 1) -> tuple[str, bytes]:
    """Send one crypto_user request; returns (token, payload of the first reply).

    token is "ok" for a non-error reply (or an ack with error 0), else the errno name.
    """
    body = CRYPTO_USER_ALG.pack(name.encode(), driver.encode(), b"", 0, 0, 0, 0)
    hdr = struct.pack("=IHHII", 16 + len(body), msg_type, flags, seq, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_CRYPTO) as s:
        s.settimeout(5.0)    # a netlink socket, not AF_ALG: timeouts are fine here
        s.bind((0, 0))
        s.send(hdr + body)
        data = s.recv(65536)
    ln, typ, _fl, _seq, _pid = struct.unpack_from("=IHHII", data)
    payload = data[16:ln]
    if typ == NLMSG_ERROR:
        err = struct.unpack_from("=i", payload)[0]
        return ("ok" if err == 0 else errno_token(-err)), payload
    return "ok", payload


def parse_crypto_user_alg(payload: bytes) -> dict:
    name, driver, module, typ, mask, refcnt, flags = CRYPTO_USER_ALG.unpack_from(payload)
    z = lambda b: b.split(b"\0", 1)[0].decode(errors="replace")   # noqa: E731
    return {"name": z(name), "driver": z(driver), "module": z(module), "flags": flags}


def run_as_nobody(fn) -> str:
    """Run fn() in a forked child with uid/gid 65534 (no capabilities); returns its token."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:    # child: never return into pytest
        tok = "child-error"
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            tok = fn()
        except OSError as e:
            tok = errno_token(e.errno)
        except BaseException as e:   # noqa: BLE001
            tok = f"child-error:{type(e).__name__}"
        finally:
            try:
                os.write(w, str(tok).encode()[:200])
            finally:
                os._exit(0)
    os.close(w)
    try:
        out = b""
        while True:
            chunk = os.read(r, 256)
            if not chunk:
                break
            out += chunk
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    return out.decode()


# -- option helper -----------------------------------------------------------------------------

def setopt_token(sock: AfalgSocket, opt: int, length: int | None, null: bool = False,
                 level: int = SOL_ALG, fill: int = 0x11, value: bytes | None = None) -> str:
    """setsockopt(level, opt) with optlen `length` and optval NULL, `value`, or `length` bytes.

    Lengths above 1 MiB are passed with a small real buffer: every such case is
    rejected (ENOMEM, EINVAL, EBUSY, ENOPROTOOPT) before the kernel reads optval.
    """
    if null:
        data = None
    elif value is not None:
        data = value
    else:
        n = length or 0
        data = bytes([fill]) * (n if n <= (1 << 20) else 64)
    optlen = length if length is not None else len(data or b"")
    _res, tok = outcome(sock.setsockopt, level, opt, data, optlen & 0xFFFFFFFF)
    return tok
