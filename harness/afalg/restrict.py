"""AF_ALG's restriction (Linux 7.3): /proc/sys/crypto/af_alg_restrict and its allowlists.

0 unrestricted; 1 (the default) bind() takes only the names on its type's allowlist, a
shorter list for callers without CAP_NET_ADMIN or CAP_SYS_ADMIN in the initial user
namespace, and answers ENOENT otherwise, exactly as for an algorithm that does not exist;
2 socket(AF_ALG) fails with EAFNOSUPPORT for everyone. Only socket() and bind() are
checked: sockets that exist keep working when the value changes. The sysctl is af_alg.ko's:
it exists only while the module is loaded, and a reload starts again at 1.
Sources: crypto/af_alg.c:32-44,132-167,565 and crypto/algif_*.c of linux-source-7.3 (7.3.4).
"""

from __future__ import annotations

import socket
from pathlib import Path

SYSCTL = Path("/proc/sys/crypto/af_alg_restrict")
CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21

# Verbatim from crypto/algif_{skcipher,hash,aead,rng}.c (7.3.4): name -> AF_ALG_UNPRIVILEGED.
ALLOWLIST = {
    "skcipher": {
        "adiantum(xchacha12,aes)": True, "adiantum(xchacha20,aes)": True, "cbc(aes)": False,
        "cbc(des)": False, "cbc(des3_ede)": False, "cbc(paes)": False, "ctr(aes)": False,
        "ecb(aes)": False, "ecb(des)": False, "hctr2(aes)": True, "xts(aes)": True,
        "xts(camellia)": True, "xts(serpent)": True, "xts(twofish)": True,
    },
    "hash": {
        "cmac(aes)": False, "hmac(md5)": False, "hmac(sha1)": False, "hmac(sha224)": False,
        "hmac(sha256)": False, "hmac(sha384)": False, "hmac(sha512)": False, "md4": False,
        "md5": False, "sha1": True, "sha224": False, "sha256": False, "sha384": False, "sha512": False,
    },
    "aead": {"ccm(aes)": False},
    "rng": {},
}

_held: list[socket.socket] = []


def read() -> int | None:
    """The current mode, or None where the kernel has no such sysctl (or af_alg is not loaded)."""
    try:
        return int(SYSCTL.read_text().strip())
    except (OSError, ValueError):
        return None


def write(mode: int) -> None:
    SYSCTL.write_text(f"{mode}\n")


def hold_af_alg() -> bool:
    """Load af_alg (an AF_ALG socket autoloads it) and keep it loaded for this process, so
    the sysctl exists and a value written to it is not lost to a module reload."""
    if _held:
        return True
    try:
        _held.append(socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0))
        return True
    except OSError:
        return False


def release() -> None:
    """Close the socket hold_af_alg() kept, so af_alg.ko can be unloaded again (the mutants
    batch swaps the module between runs in one process)."""
    while _held:
        _held.pop().close()


def privileged() -> bool:
    """CAP_NET_ADMIN or CAP_SYS_ADMIN in the effective set (the guest runs in the initial
    user namespace, where the kernel checks them)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                caps = int(line.split()[1], 16)
                return bool(caps & (1 << CAP_NET_ADMIN | 1 << CAP_SYS_ADMIN))
    except OSError:
        pass
    return False


def allowed(alg_type: str, name: str, mode: int | None, is_privileged: bool) -> bool:
    """Would bind(alg_type, name) pass the restriction in this mode for this caller?"""
    if not mode:
        return True
    if mode >= 2:
        return False
    entry = ALLOWLIST.get(alg_type, {}).get(name)
    return entry is not None and (entry or is_privileged)


def refusal(alg_type: str, name: str) -> str | None:
    """The skip reason when the running kernel's restriction refuses this bind to this
    process (`unsupported:restricted=NAME (af_alg_restrict=N)`), else None."""
    mode = read()
    if allowed(alg_type, name, mode, privileged()):
        return None
    return f"unsupported:restricted={name} (af_alg_restrict={mode})"
