"""The control-message encoder against the C library's own layout (socket.CMSG_*)."""

import socket
import struct

from afalg_conformance.harness.afalg import cmsg
from afalg_conformance.harness.afalg.constants import SOL_ALG, AlgOp, AlgOpt


def test_lengths_match_libc():
    for n in (0, 1, 4, 7, 8, 20, 100):
        assert cmsg.cmsg_len(n) == socket.CMSG_LEN(n)
        assert cmsg.cmsg_space(n) == socket.CMSG_SPACE(n)


def test_op_iv_assoclen_layout():
    raw = cmsg.build_control(cmsg.request(AlgOp.ENCRYPT, b"\x01" * 12, 20))
    length, level, type_ = struct.unpack_from("=QiI", raw, 0)
    assert (length, level, type_) == (20, SOL_ALG, AlgOpt.SET_OP)
    assert struct.unpack_from("=I", raw, 16)[0] == 1
    off = socket.CMSG_SPACE(4)
    length, level, type_ = struct.unpack_from("=QiI", raw, off)
    assert (length, level, type_) == (socket.CMSG_LEN(16), SOL_ALG, AlgOpt.SET_IV)
    assert struct.unpack_from("=I", raw, off + 16)[0] == 12          # af_alg_iv.ivlen
    assert raw[off + 20:off + 32] == b"\x01" * 12
    off += socket.CMSG_SPACE(16)
    assert struct.unpack_from("=QiI", raw, off)[2] == AlgOpt.SET_AEAD_ASSOCLEN
    assert len(raw) == off + socket.CMSG_SPACE(4)


def test_lying_lengths_are_kept():
    c = cmsg.iv(b"\0" * 16, ivlen=1000)
    assert struct.unpack_from("=I", c.data, 0)[0] == 1000
    raw = cmsg.raw(SOL_ALG, 99, b"abcd", length=4096).encode()
    assert struct.unpack_from("=Q", raw, 0)[0] == 4096
    assert not cmsg.raw(SOL_ALG, 99, b"", length=3).honest
    # A truncated header is expressible as trailing bytes.
    assert cmsg.build_control([], trailer=b"\x10\0\0") == b"\x10\0\0"


def test_well_formed_messages_go_through_python_tuples():
    c = cmsg.assoclen(0xFFFFFFFF)
    assert c.honest and c.as_tuple() == (SOL_ALG, AlgOpt.SET_AEAD_ASSOCLEN, b"\xff\xff\xff\xff")
