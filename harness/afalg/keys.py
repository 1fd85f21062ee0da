"""Kernel keyrings, for ALG_SET_KEY_BY_KEY_SERIAL: add_key and keyctl through syscall(2), and
the fuzzers' named keys.

The suite's keyring test (conformance/test_setsockopt.py) and the fuzzers both need a key the
kernel can look up by serial; a serial is only known once the key exists, so a fuzz input names
a key (`user-32`, `revoked`, ...) and the executor asks `named_serial` for the serial in the
process that runs it. Keys live in the process keyring: they go when the process does.
"""

from __future__ import annotations

import ctypes

from afalg_conformance.harness.afalg.libc import libc, raise_errno

NR_ADD_KEY = 248      # x86_64
NR_KEYCTL = 250
KEY_SPEC_PROCESS_KEYRING = -2
KEYCTL_REVOKE = 3
KEYCTL_SETPERM = 5
KEYCTL_UNLINK = 9
KEY_POS_ALL_BUT_SEARCH = 0x37000000   # view|read|write|link|setattr, no search
KEY_USR_ALL_BUT_SEARCH = 0x00370000


def add_key(key_type: str, desc: str, payload: bytes, keyring: int = KEY_SPEC_PROCESS_KEYRING) -> int:
    """add_key(type, desc, payload, keyring): the new key's serial."""
    buf = ctypes.create_string_buffer(payload, max(len(payload), 1))
    r = libc.syscall(ctypes.c_long(NR_ADD_KEY), ctypes.c_char_p(key_type.encode()),
                     ctypes.c_char_p(desc.encode()), buf, ctypes.c_size_t(len(payload)), ctypes.c_int(keyring))
    if r < 0:
        raise_errno("add_key")
    return r


def add_user_key(desc: str, payload: bytes, keyring: int = KEY_SPEC_PROCESS_KEYRING) -> int:
    return add_key("user", desc, payload, keyring)


def keyctl(cmd: int, *args: int) -> int:
    cargs = [ctypes.c_long(a) for a in args] + [ctypes.c_long(0)] * (4 - len(args))
    r = libc.syscall(ctypes.c_long(NR_KEYCTL), ctypes.c_long(cmd), *cargs)
    if r < 0:
        raise_errno("keyctl")
    return r


def unlink_key(serial: int, keyring: int = KEY_SPEC_PROCESS_KEYRING) -> None:
    try:
        keyctl(KEYCTL_UNLINK, serial, keyring)
    except OSError:
        pass


# -- named keys for the fuzzers --------------------------------------------------------------------

def named_payload(name: str) -> bytes | None:
    """The payload a named key holds (what the algorithm is keyed with), None for the names
    whose lookup or type the kernel refuses before any key is read."""
    kind, _, size = name.rpartition("-")
    if kind in ("user", "logon") and size.isdigit():
        return bytes((7 * i + 3) & 0xFF for i in range(int(size)))
    return None


# name -> what it exercises in alg_setkey_by_key_serial (crypto/af_alg.c)
KEY_NAMES = [
    "user-16", "user-24", "user-32", "user-64", "user-1",   # key_data_ptr_user, then the setkey
    "logon-32",            # the other type read the same way
    "revoked",             # a user key revoked after it was made: EKEYREVOKED
    "no-search",           # a user key without SEARCH permission: lookup_user_key's EACCES
    "keyring",             # the process keyring itself: a key of another type, ENOPROTOOPT
]

_serials: dict[str, int] = {}


def named_serial(name: str) -> int:
    """The serial of this process's key `name` (KEY_NAMES), made on first use. An OSError
    (no keyrings in this kernel) is the caller's to report."""
    if name in _serials:
        return _serials[name]
    if name == "keyring":
        return KEY_SPEC_PROCESS_KEYRING    # a special id lookup_user_key resolves (and creates)
    payload = named_payload(name)
    if name.startswith("logon-") and payload is not None:
        serial = add_key("logon", f"afalg:{name}", payload)          # logon descriptions need "prefix:"
    elif payload is not None:
        serial = add_key("user", f"afalg-fuzz:{name}", payload)
    elif name in ("revoked", "no-search"):
        serial = add_key("user", f"afalg-fuzz:{name}", named_payload("user-32"))
        if name == "revoked":
            keyctl(KEYCTL_REVOKE, serial)
        else:
            keyctl(KEYCTL_SETPERM, serial, KEY_POS_ALL_BUT_SEARCH | KEY_USR_ALL_BUT_SEARCH)
    else:
        raise ValueError(f"no key named {name!r}")
    _serials[name] = serial
    return serial
