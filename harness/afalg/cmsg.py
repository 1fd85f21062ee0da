"""SOL_ALG control messages: well-formed encoders and a raw buffer builder.

Well-formed messages go through socket.sendmsg's (level, type, data) tuples.
Malformed ones (a cmsg_len that lies, a truncated header, bytes after the last
header) cannot be expressed that way, so build_control() lays out the exact
byte string that AF_ALG's af_alg_cmsg_send() will parse, for raw_sendmsg().
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from afalg_conformance.harness.afalg.constants import SOL_ALG, AlgOpt

CMSG_HDR = struct.Struct("=QiI")  # struct cmsghdr on 64-bit Linux: size_t len; int level; int type
CMSG_ALIGN_TO = 8


def cmsg_align(n: int) -> int:
    return (n + CMSG_ALIGN_TO - 1) & ~(CMSG_ALIGN_TO - 1)


def cmsg_len(data_len: int) -> int:
    """CMSG_LEN(): header plus data, without trailing padding."""
    return CMSG_HDR.size + data_len


def cmsg_space(data_len: int) -> int:
    return CMSG_HDR.size + cmsg_align(data_len)


@dataclass(frozen=True)
class Cmsg:
    """One control message. `length` overrides cmsg_len (None: the honest value)."""

    level: int
    type: int
    data: bytes
    length: int | None = None

    def as_tuple(self) -> tuple[int, int, bytes]:
        return (self.level, self.type, self.data)

    @property
    def honest(self) -> bool:
        return self.length is None

    def encode(self) -> bytes:
        """The bytes of this message as they appear in msg_control, padded."""
        return encode_cmsg(self.level, self.type, self.data, self.length)


def encode_cmsg(level: int, type_: int, data: bytes, length: int | None = None) -> bytes:
    """One control message's bytes in msg_control, padded; length overrides cmsg_len. A
    function as well as Cmsg.encode: the fuzzers' decoders pack one or two a send, and under
    TCG a frozen dataclass per message costs microseconds."""
    if length is None:
        length = cmsg_len(len(data))
    raw = CMSG_HDR.pack(length & 0xFFFFFFFFFFFFFFFF, level, type_ & 0xFFFFFFFF) + data
    return raw + b"\0" * (cmsg_align(len(raw)) - len(raw))


def op(value: int) -> Cmsg:
    return Cmsg(SOL_ALG, AlgOpt.SET_OP, struct.pack("=I", value & 0xFFFFFFFF))


def iv(value: bytes, ivlen: int | None = None) -> Cmsg:
    """struct af_alg_iv { u32 ivlen; u8 iv[]; }; ivlen may be made to lie."""
    n = len(value) if ivlen is None else ivlen
    return Cmsg(SOL_ALG, AlgOpt.SET_IV, struct.pack("=I", n & 0xFFFFFFFF) + value)


def assoclen(value: int) -> Cmsg:
    return Cmsg(SOL_ALG, AlgOpt.SET_AEAD_ASSOCLEN, struct.pack("=I", value & 0xFFFFFFFF))


def raw(level: int, type_: int, data: bytes, length: int | None = None) -> Cmsg:
    return Cmsg(level, type_, data, length)


def build_control(cmsgs: list[Cmsg], trailer: bytes = b"") -> bytes:
    """msg_control bytes for cmsgs, followed by arbitrary trailing bytes."""
    return b"".join(c.encode() for c in cmsgs) + trailer


def request(op_value: int | None = None, iv_value: bytes | None = None,
            assoclen_value: int | None = None) -> list[Cmsg]:
    """The control messages of one ordinary request, in the kernel's usual order."""
    out = []
    if op_value is not None:
        out.append(op(op_value))
    if iv_value is not None:
        out.append(iv(iv_value))
    if assoclen_value is not None:
        out.append(assoclen(assoclen_value))
    return out
