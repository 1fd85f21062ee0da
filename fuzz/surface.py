"""The fuzzable AF_ALG surface, as data (in the spirit of syzkaller's descriptions).

Every fuzzer is generic over these tables: adding a socket option, a control
message type, a bind type or a send flag is one line here, and the decoders,
the reproducer printer and the outcome features pick it up.

Tables:
  SOCKET_TYPES   socket(AF_ALG, type, proto) variants
  BIND_TYPES     salg_type strings (valid and not)
  static names   generic algorithm names from harness.afalg.algorithms, plus ill-formed ones;
                 driver names come from /proc/crypto at run time (runtime_names())
  OPTIONS        setsockopt (level, optname, value shape)
  CMSGS          control message (level, type, payload shape)
  CMSG_LEN_CLASSES  how cmsg_len relates to the payload (honest, short, lying...)
  SEND_FLAGS / RECV_FLAGS / SPLICE_FLAGS
  STATES         the socket state machine (unbound, bound, keyed, accepted, op)
  LENGTH_CLASSES buckets for outcome features: (call, detail, length class, errno)
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg.constants import (MSG_DONTWAIT, MSG_MORE, MSG_OOB, MSG_PEEK, MSG_TRUNC, SOL_ALG,
                               SO_SNDBUFFORCE, SPLICE_F_MORE, SPLICE_F_MOVE, SPLICE_F_NONBLOCK, AlgOpt)
from afalg_conformance.harness.afalg.kcov import AFALG_MODULES

# -- sockets and binds ---------------------------------------------------------------------

SOCKET_TYPES: list[tuple[str, int]] = [
    ("SOCK_SEQPACKET", socket.SOCK_SEQPACKET),   # the only type AF_ALG accepts
    ("SOCK_STREAM", socket.SOCK_STREAM),
    ("SOCK_DGRAM", socket.SOCK_DGRAM),
    ("SOCK_RAW", socket.SOCK_RAW),
    ("SOCK_SEQPACKET|SOCK_NONBLOCK", socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK),
    ("SOCK_SEQPACKET|SOCK_CLOEXEC", socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC),
]
SOCKET_PROTOS = [0, 1, 0xFF]

BIND_TYPES: list[str] = ["hash", "skcipher", "aead", "rng",
                         "akcipher", "kpp", "", "HASH", "skcipher\0x", "x" * 14]

# bind feat/mask values worth trying (CRYPTO_ALG_* bits)
BIND_FLAGS = [0, 0x1000, 0x80, 0x200, 0xFFFFFFFF, 0x10000]
# sockaddr lengths: full, minimum, short of the name, longer than sockaddr_alg_new
ADDR_LEN_CLASSES = ["full", "min", "short", "long", "zero"]

_MALFORMED_NAMES = [
    "", "cbc(", "cbc()", "cbc(aes", "cbc(aes))", "cbc(cbc(aes))", "gcm(ccm(aes))",
    "authenc(hmac(sha256),cbc(aes)", "hmac(hmac(sha256))", "xts(ecb(aes))", "rfc4106(ccm(aes))",
    "pcrypt(gcm(aes))", "cryptd(cbc(aes))", "ecb(cipher_null)", "ctr(sha256)", "a" * 63, "b" * 64,
    "cmac(sha256)", "hmac(aes)", "seqiv(rfc4106(gcm(aes)))", "ghash", "poly1305", "drbg_nopr_sha256",
    "drbg_pr_ctr_aes128", "jitterentropy_rng", "ansi_cprng", "chacha20", "xchacha20",
    "essiv(cbc(aes),sha256)", "lrw(aes)", "cts(cbc(aes))", "kw(aes)", "ofb(aes)", "pcbc(aes)",
    # asynchronous drivers that instantiate (cryptd(cbc(aes)) is EEXIST on a kernel with
    # aesni's wrappers): with an AIO read, the request is queued and completes through
    # af_alg_async_cb in a worker
    "cryptd(cbc(aes-generic))", "cryptd(gcm_base(ctr(aes-generic),ghash-generic))",
    # and a hash one: every hash step waits for its completion (hash_sendmsg/hash_recvmsg's
    # crypto_wait_req), which no synchronous driver makes them do
    "cryptd(sha256-generic)", "cryptd(hmac(sha256-generic))",
]


def static_names() -> list[tuple[str, str]]:
    """(type, name) pairs that do not depend on the running kernel: index-stable."""
    out = [(a.type, a.name) for a in algorithms.ALGORITHMS.values()]
    out += [("", n) for n in _MALFORMED_NAMES]
    return out


def runtime_names(proc_crypto: str = "/proc/crypto") -> list[tuple[str, str]]:
    """(type, driver name) pairs of the running kernel, sorted (so stable per kernel)."""
    from afalg_conformance.harness.afalg import proccrypto
    out = set()
    for e in proccrypto.read(proc_crypto):
        if e.internal:
            continue
        for t, kinds in proccrypto.BINDABLE.items():
            if e.type in kinds:
                out.add((t, e.driver))
                out.add((t, e.name))
    return sorted(out)


# -- setsockopt --------------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """One setsockopt target. shape says how the value is made:
      bytes     a byte string (key, entropy) of a fuzzed length class
      optlen    NULL optval, the value *is* optlen (ALG_SET_AEAD_AUTHSIZE)
      u32       a 32-bit integer (SO_* ints, ALG_SET_OP), optlen 4 unless lying
      serial    a key serial: one of this process's named keys (harness.afalg.keys.KEY_NAMES:
                made on first use, so an input names a key, not a number) or a u32
    """
    name: str
    level: int
    opt: int
    shape: str
    only: str = ""          # socket type it is meant for (documentation; not enforced)


OPTIONS: list[Option] = [
    Option("ALG_SET_KEY", SOL_ALG, AlgOpt.SET_KEY, "bytes"),
    Option("ALG_SET_AEAD_AUTHSIZE", SOL_ALG, AlgOpt.SET_AEAD_AUTHSIZE, "optlen", only="aead"),
    Option("ALG_SET_DRBG_ENTROPY", SOL_ALG, AlgOpt.SET_DRBG_ENTROPY, "bytes", only="rng"),
    Option("ALG_SET_KEY_BY_KEY_SERIAL", SOL_ALG, AlgOpt.SET_KEY_BY_KEY_SERIAL, "serial"),
    Option("ALG_SET_IV(opt)", SOL_ALG, AlgOpt.SET_IV, "bytes"),
    Option("ALG_SET_OP(opt)", SOL_ALG, AlgOpt.SET_OP, "u32"),
    Option("ALG_SET_AEAD_ASSOCLEN(opt)", SOL_ALG, AlgOpt.SET_AEAD_ASSOCLEN, "u32"),
    Option("SOL_ALG:unknown", SOL_ALG, 8, "bytes"),
    Option("SOL_ALG:0", SOL_ALG, 0, "u32"),
    Option("SO_SNDBUF", socket.SOL_SOCKET, socket.SO_SNDBUF, "u32"),
    # root's SO_SNDBUFFORCE lifts an op socket's send budget past MAX_SGL_ENTS pages (126): a
    # request in more than one TX scatterlist block (af_alg_sendmsg's second block, the walk to
    # it in af_alg_count_tsgl); SO_SNDBUF stops at wmem_max
    Option("SO_SNDBUFFORCE", socket.SOL_SOCKET, SO_SNDBUFFORCE, "u32"),
    Option("SO_RCVBUF", socket.SOL_SOCKET, socket.SO_RCVBUF, "u32"),
    Option("SO_RCVLOWAT", socket.SOL_SOCKET, socket.SO_RCVLOWAT, "u32"),
    Option("SOL_IP:IP_TOS", socket.SOL_IP, socket.IP_TOS, "u32"),
]

def sol_alg_option(v: int) -> Option:
    """The option a raw optname (Source.pick_or_raw) names at SOL_ALG: the table's own entry
    when there is one (so the value gets its shape: a dictionary word of 5 is the AEAD tag
    size, not bytes), else an unknown option given bytes."""
    for o in OPTIONS:
        if o.level == SOL_ALG and o.opt == v:
            return o
    # one name for every unknown number: the name is the outcome feature's detail (the number
    # is in the call)
    return Option("SOL_ALG:raw", SOL_ALG, v - (1 << 32) if v >= 1 << 31 else v, "bytes")


# Raw lengths (Source.pick_or_raw) are taken modulo these: the process makes the buffers, and
# past them the kernel answers by limits these already cross (optmem_max for keys and
# control data, the send budget for data).
RAW_BYTES_CAP = 1 << 17
RAW_IV_CAP = 8192
RAW_DATA_CAP = 1 << 18
DATA_BYTES = 256            # of a write's data, the bytes the input holds (decoders._data)
RAW_OPTLEN_CAP = 256        # for u32 values: the buffer is the value, then zeros up to optlen
U32_OPTLENS = [4, 0, 1, 3, 8]

# Lengths for "bytes" values: 0, 1, the algorithm's valid key sizes (chosen by the
# decoder), around block sizes, big, and beyond optmem.
BYTES_LEN_CHOICES = [0, 1, 4, 7, 8, 15, 16, 17, 20, 24, 28, 31, 32, 33, 36, 40, 48, 56, 64, 65,
                     128, 129, 256, 1024, 4096]
# authsize values (as optlen) and u32 values
AUTHSIZE_CHOICES = list(range(0, 34)) + [64, 255, 256, 4096, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
U32_CHOICES = [0, 1, 2, 3, 4, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 4096, 1 << 20]
# optlen that lies about the value: (name, function of the honest length)
OPTLEN_LIES = [("honest", lambda n: n), ("zero", lambda n: 0), ("minus1", lambda n: max(n - 1, 0)),
               ("plus1", lambda n: n + 1), ("huge", lambda n: 1 << 20)]


# -- control messages ----------------------------------------------------------------------

@dataclass(frozen=True)
class CmsgKind:
    """One control message type. payload shape:
      u32   a 32-bit value (op, assoclen)
      iv    struct af_alg_iv {u32 ivlen; u8 iv[]} with ivlen honest or lying
      bytes raw bytes
    """
    name: str
    level: int
    type: int
    shape: str


CMSGS: list[CmsgKind] = [
    CmsgKind("ALG_SET_OP", SOL_ALG, AlgOpt.SET_OP, "u32"),
    CmsgKind("ALG_SET_IV", SOL_ALG, AlgOpt.SET_IV, "iv"),
    CmsgKind("ALG_SET_AEAD_ASSOCLEN", SOL_ALG, AlgOpt.SET_AEAD_ASSOCLEN, "u32"),
    CmsgKind("ALG_SET_KEY(cmsg)", SOL_ALG, AlgOpt.SET_KEY, "bytes"),
    CmsgKind("ALG_SET_AEAD_AUTHSIZE(cmsg)", SOL_ALG, AlgOpt.SET_AEAD_AUTHSIZE, "u32"),
    CmsgKind("ALG_SET_DRBG_ENTROPY(cmsg)", SOL_ALG, AlgOpt.SET_DRBG_ENTROPY, "bytes"),
    CmsgKind("ALG_SET_KEY_BY_KEY_SERIAL(cmsg)", SOL_ALG, AlgOpt.SET_KEY_BY_KEY_SERIAL, "u32"),
    CmsgKind("SOL_ALG:0", SOL_ALG, 0, "u32"),
    CmsgKind("SOL_ALG:unknown", SOL_ALG, 99, "bytes"),
    CmsgKind("SOL_SOCKET:SCM_CREDENTIALS", socket.SOL_SOCKET, 2, "bytes"),
    CmsgKind("SOL_IP:IP_TTL", socket.SOL_IP, 2, "u32"),
]

def sol_alg_cmsg(v: int) -> CmsgKind:
    """The control message a raw cmsg_type names at SOL_ALG: the table's entry (with its
    payload shape) when there is one, else an unknown type carrying bytes."""
    for c in CMSGS:
        if c.level == SOL_ALG and c.type == v:
            return c
    return CmsgKind("SOL_ALG:raw", SOL_ALG, v, "bytes")


OP_VALUES = [1, 0, 2, 3, 0xFFFFFFFF]                 # ENCRYPT, DECRYPT, then invalid
ASSOCLEN_VALUES = [0, 1, 8, 13, 16, 20, 32, 64, 4096, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
IV_LEN_CHOICES = list(range(0, 18)) + [24, 32, 64, 255, 256, 4096]

# cmsg_len relative to the payload: honest, various lies. The function takes the
# honest length CMSG_LEN(payload) and returns the length written in the header.
CMSG_LEN_CLASSES: list[tuple[str, object]] = [
    ("honest", lambda n: n),
    ("zero", lambda n: 0),
    ("below-header", lambda n: 15),
    ("header-only", lambda n: 16),
    ("minus1", lambda n: n - 1),
    ("plus1", lambda n: n + 1),
    ("beyond-buffer", lambda n: n + 64),
    ("huge", lambda n: 1 << 31),
]
# what sits after the last cmsg in msg_control, and how msg_controllen relates to it
CONTROL_TRAILERS = [b"", b"\0" * 8, b"\xff" * 4, b"\0" * 15]
CONTROLLEN_CLASSES = [("honest", lambda n: n), ("short", lambda n: max(n - 8, 0)),
                      ("minus1", lambda n: max(n - 1, 0)), ("zero", lambda n: 0),
                      ("header-only", lambda n: min(n, 16))]

# -- data path -----------------------------------------------------------------------------

# Every fuzzer send/recv is made non-blocking (the op socket is O_NONBLOCK too):
# a blocking recv with a larger buffer than the output waits forever.
# The interface modules the sequence fuzzer's module op loads and unloads (harness.afalg.kmod;
# one built in answers ENOENT)
INTERFACE_MODULES: list[str] = list(AFALG_MODULES)

SEND_FLAGS: list[tuple[str, int]] = [("MSG_MORE", MSG_MORE), ("MSG_DONTWAIT", MSG_DONTWAIT),
                                     ("MSG_OOB", MSG_OOB)]
RECV_FLAGS: list[tuple[str, int]] = [("MSG_PEEK", MSG_PEEK), ("MSG_TRUNC", MSG_TRUNC),
                                     ("MSG_OOB", MSG_OOB)]
SPLICE_FLAGS: list[tuple[str, int]] = [("SPLICE_F_MORE", SPLICE_F_MORE), ("SPLICE_F_MOVE", SPLICE_F_MOVE),
                                       ("SPLICE_F_NONBLOCK", SPLICE_F_NONBLOCK)]
# The large ones: a hash write of more than ALG_MAX_PAGES (16) pages loops in hash_sendmsg; a
# write beyond the default send budget (wmem_default, 208 KiB) ends short or in EAGAIN
# (af_alg_sendmsg), and reading it back spans many pages (af_alg_get_rsgl).
DATA_LEN_CHOICES = [0, 1, 3, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 100, 128, 255, 256, 1000,
                    4095, 4096, 4097, 65537, 262144]
RECV_LEN_CHOICES = [0, 1, 15, 16, 17, 20, 28, 32, 48, 64, 100, 128, 256, 4096, 65536, 262144]

# -- state machine ---------------------------------------------------------------------------

STATES = ["unbound", "bound", "keyed", "accepted", "op"]
# which calls make sense from which state (the sequence fuzzer biases towards these,
# but may issue any call on any socket)
TRANSITIONS = {
    "unbound": ["bind", "setsockopt", "accept", "sendmsg", "recv", "close"],
    "bound": ["setsockopt", "accept", "bind", "close"],
    "keyed": ["setsockopt", "accept", "close"],
    "accepted": ["accept", "setsockopt", "close"],
    "op": ["sendmsg", "recv", "splice", "accept", "setsockopt", "close"],
}


def send_flags_mask(bits: int) -> int:
    """A send flags value from a bitmask over SEND_FLAGS."""
    return _mask(SEND_FLAGS, bits)


def recv_flags_mask(bits: int) -> int:
    return _mask(RECV_FLAGS, bits)


def splice_flags_mask(bits: int) -> int:
    return _mask(SPLICE_FLAGS, bits)


def _mask(table, bits: int) -> int:
    v = 0
    for i, (_n, f) in enumerate(table):
        if bits & (1 << i):
            v |= f
    return v


def flag_names(table, value: int) -> str:
    names = [n for n, f in table if value & f]
    rest = value & ~sum(f for _n, f in table)
    if rest:
        names.append(hex(rest))
    return "|".join(names) or "0"


# -- outcome features --------------------------------------------------------------------

def length_class(n: int | None) -> str:
    """A coarse bucket for lengths in outcome features."""
    if n is None:
        return "none"
    if n < 0:
        return "neg"
    if n == 0:
        return "0"
    if n < 16:
        return "<16"
    if n in (16, 20, 24, 28, 32, 36, 48, 64):
        return str(n)
    if n < 64:
        return "<64"
    if n <= 256:
        return "<=256"
    if n <= 4096:
        return "<=4096"
    if n < 1 << 20:
        return "<1M"
    return "huge"


def describe() -> dict:
    """The whole surface as plain data (for docs and tests)."""
    return {
        "socket_types": [n for n, _ in SOCKET_TYPES],
        "bind_types": BIND_TYPES,
        "static_names": len(static_names()),
        "options": [o.name for o in OPTIONS],
        "cmsgs": [c.name for c in CMSGS],
        "cmsg_len_classes": [n for n, _ in CMSG_LEN_CLASSES],
        "send_flags": [n for n, _ in SEND_FLAGS],
        "states": STATES,
    }
