"""One request, many delivery paths: write, MSG_MORE parts, splice(), vmsplice().

Only pipes and user memory these tests create are ever spliced.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import pytest

from afalg_conformance.conformance._util_cipher import (DEC, ENC, PAGE, UserPages, VmspliceBuffer, outcome, pipe_to_op, send_parts,
                                      splice_parts, splits, tmpfs_dir)
from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg.bounded import deadline
from afalg_conformance.harness.afalg.client import vmsplice_segments
from afalg_conformance.harness.afalg.constants import MSG_MORE, SPLICE_F_MORE, SPLICE_F_MOVE

CBC = algorithms.get("cbc(aes)")
GCM = algorithms.get("gcm(aes)")
SIZE = 3 * 4096 + 96           # 12384: whole cbc blocks, spans four pages
SPLIT_SETS = {
    "1": [1], "15": [15], "16": [16], "17": [17],
    "4095": [4095], "4096": [4096], "4097": [4097], "4095+4096+4097": [4095, 4096, 4097],
}


@dataclass
class Target:
    """One socket type: how to open an op socket, send control data, read, and what to expect."""
    kind: str
    alg_socket: object

    def __post_init__(self):
        if self.kind == "hash":
            self.tfm = self.alg_socket("hash", "sha256")
        elif self.kind == "skcipher":
            self.key, self.iv = os.urandom(16), os.urandom(16)
            self.tfm = self.alg_socket("skcipher", CBC.name)
            self.tfm.setkey(self.key)
        else:
            self.key, self.iv, self.aad = os.urandom(16), os.urandom(12), os.urandom(16)
            self.tfm = self.alg_socket("aead", GCM.name)
            self.tfm.setkey(self.key)
            self.tfm.set_authsize(16)

    @property
    def assoclen(self):
        return 16 if self.kind == "aead" else None

    @property
    def iv_(self):
        return None if self.kind == "hash" else self.iv

    def data(self, n: int = SIZE) -> bytes:
        return os.urandom(n)

    def expected(self, data: bytes) -> bytes:
        if self.kind == "hash":
            return hashlib.sha256(data).digest()
        if self.kind == "skcipher":
            return CBC.oracle(self.key, self.iv, data, True)
        return data[:16] + GCM.oracle(self.key, self.iv, data[:16], data[16:], 16, True)

    def control_part(self, op) -> None:
        """Control data for a request whose data comes by splice: an empty MSG_MORE sendmsg."""
        if self.kind != "hash":
            op.request(b"", ENC, self.iv, self.assoclen, flags=MSG_MORE)

    def one_write(self, op, data: bytes) -> None:
        if self.kind == "hash":
            op.send(data)
        else:
            op.request(data, ENC, self.iv, self.assoclen)

    def more_writes(self, op, parts: list[bytes]) -> None:
        if self.kind == "hash":
            for i, p in enumerate(parts):
                op.send(p, MSG_MORE if i < len(parts) - 1 else 0)
        else:
            send_parts(op, parts, ENC, self.iv, self.assoclen)

    def read(self, op, n: int) -> bytes:
        if self.kind == "hash":
            with deadline(10.0, "recv"):
                return op.recv(32)
        return op.recv_exact(n + (16 if self.kind == "aead" else 0))


KINDS = ["hash", "skcipher", "aead"]
METHODS = ["one-write", "msg-more-writes", "splice-more", "vmsplice"]


def deliver(t: Target, op, data: bytes, method: str, points=(1, 4095, 4096, 4097, 8209)) -> None:
    if method == "one-write":
        t.one_write(op, data)
    elif method == "msg-more-writes":
        t.more_writes(op, splits(data, points))
    elif method == "splice-more":
        t.control_part(op)
        n = splice_parts(op, splits(data, points))
        assert n == len(data), f"spliced {n} of {len(data)}"
    elif method == "vmsplice":
        t.control_part(op)
        vb = VmspliceBuffer(data)
        try:
            assert vb.queued == len(data), f"vmsplice queued {vb.queued} of {len(data)}"
            n = vb.splice_to(op)
        finally:
            vb.close()
        assert n == len(data), f"spliced {n} of {len(data)}"
    else:
        raise ValueError(method)


@pytest.mark.clause("SPLICE-1")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", KINDS)
def test_delivery_paths_agree(spec, alg_socket, kind, method):
    t = Target(kind, alg_socket)
    data = t.data()
    with t.tfm.accept() as op:
        deliver(t, op, data, method)
        out = t.read(op, len(data))
    spec.check("SPLICE-1", out, t.expected(data), sent=f"{kind}: {len(data)} bytes by {method}")


@pytest.mark.clause("SPLICE-2")
@pytest.mark.parametrize("kind", ["skcipher", "aead"])
def test_proposal_two_splices_one_request(spec, alg_socket, kind):
    t = Target(kind, alg_socket)
    data = t.data(8192 + 32)
    first, second = data[:4096 + 16], data[4096 + 16:]
    r, w = os.pipe()
    try:
        with t.tfm.accept() as op:
            t.control_part(op)
            os.write(w, first)
            with deadline(10.0, "splice"):
                n1 = os.splice(r, op.fileno(), len(first), flags=SPLICE_F_MOVE | SPLICE_F_MORE)
            os.write(w, second)
            with deadline(10.0, "splice"):
                n2 = os.splice(r, op.fileno(), len(second), flags=SPLICE_F_MOVE)
            out, tok = outcome(t.read, op, len(data))
    finally:
        os.close(r)
        os.close(w)
    assert (n1, n2) == (len(first), len(second)), f"spliced {n1}+{n2}"
    seen = "one-request" if tok == "ok" and out == t.expected(data) else f"{tok}"
    spec.check("SPLICE-2", seen, sent=f"{kind}: splice(MOVE|MORE) {len(first)} + splice(MOVE) {len(second)}")


@pytest.mark.clause("SPLICE-3")
@pytest.mark.parametrize("method", ["msg-more-writes", "splice-more"])
@pytest.mark.parametrize("kind", KINDS)
def test_odd_split_points(spec, alg_socket, kat, kind, method):
    t = Target(kind, alg_socket)
    for name, points in SPLIT_SETS.items():
        data = t.data(8192 + 32)
        with t.tfm.accept() as op:
            deliver(t, op, data, method, points)
            out, tok = outcome(t.read, op, len(data))
        ok = tok == "ok" and out == t.expected(data)
        kat.case(f"{kind} {method} split@{name}", "pass" if ok else "fail", "" if ok else f"seen {tok}")
    spec.check("SPLICE-3", kat.counts["fail"], expected="0",
               sent=f"{kind} by {method} at {len(SPLIT_SETS)} split sets")


@pytest.mark.clause("SPLICE-4")
def test_splice_without_more_ends_request(spec, alg_socket):
    t = Target("skcipher", alg_socket)
    a, b = os.urandom(64), os.urandom(64)
    r, w = os.pipe()
    try:
        with t.tfm.accept() as op:
            t.control_part(op)
            os.write(w, a)
            with deadline(10.0, "splice"):
                n = os.splice(r, op.fileno(), len(a))
            assert n == len(a)
            os.write(w, b)

            def second():
                with deadline(10.0, "splice"):
                    return os.splice(r, op.fileno(), len(b))
            _n2, tok = outcome(second)
            out, tok_r = outcome(op.recv_exact, len(a))
    finally:
        os.close(r)
        os.close(w)
    ended = tok == "EINVAL" and tok_r == "ok" and out == t.expected(a)
    spec.check("SPLICE-4", "ends-request" if ended else f"splice2:{tok}/recv:{tok_r}",
               sent="splice 64 bytes without SPLICE_F_MORE, then another splice before reading")


@pytest.mark.clause("SPLICE-5")
@pytest.mark.parametrize("kind", KINDS)
def test_spliced_data_is_copied(spec, alg_socket, kind):
    t = Target(kind, alg_socket)
    data = t.data(8192)
    with t.tfm.accept() as op:
        t.control_part(op)
        vb = VmspliceBuffer(data)
        try:
            n = vb.splice_to(op, SPLICE_F_MORE if kind == "hash" else 0)
            vb.overwrite(bytes(len(data)))          # zero our memory after the splice
        finally:
            vb.close()
        assert n == len(data)
        if kind == "hash":
            op.send(b"")                            # finalise
        out = t.read(op, len(data))
    if out == t.expected(data):
        seen = "copied"
    elif out == t.expected(bytes(len(data))):
        seen = "zero-copy"
    else:
        seen = "other"
    spec.check("SPLICE-5", seen, sent=f"{kind}: vmsplice+splice 8 KiB, overwrite the user buffer, then read")


# -- SPLICE-6: page offsets, pieces, a file of our own, mixed with sendmsg ---------------------

# A request as pieces, each queued its own way; all but the last with MSG_MORE/SPLICE_F_MORE.
#   ("send", n)                        sendmsg of n bytes (the first carries the control data)
#   ("vm", [[(offset, n), ...], ...])  one vmsplice call per inner list (one iovec per (offset, n)
#                                      in page-aligned memory of our own), then one splice of all
#   ("file", offset, n)                n bytes of a tmpfs file this test made, from that file offset
#                                      into a pipe of our own, then into the op socket
SCENARIOS = {
    "vmsplice-mid-page": [("vm", [[(100, 3 * PAGE + 96)]])],
    "vmsplice-pieces": [("vm", [[(1, 17)], [(PAGE - 1, PAGE + 1), (2 * PAGE + 2049, 5000)],
                                [(5 * PAGE + 4000, 999)]])],
    "file-odd-offsets": [("file", 1, 4095), ("file", 4097, 3001), ("file", 2 * PAGE - 1, 6000)],
    "mixed": [("send", 33), ("vm", [[(PAGE - 3, 4100)]]), ("file", 4099, 2049), ("send", 7),
              ("vm", [[(1, 15)], [(2 * PAGE + 2048, 3000)]]), ("file", 3, 1000), ("send", 27)],
}


def _whole_blocks(pieces: list, kind: str) -> list:
    """The last piece lengthened so the request is whole cbc blocks (skcipher)."""
    if kind != "skcipher":
        return pieces
    total = sum(p[1] if p[0] == "send" else p[2] if p[0] == "file" else sum(n for c in p[1] for _o, n in c)
                for p in pieces)
    pad = -total % 16
    last = pieces[-1]
    if last[0] == "send":
        last = ("send", last[1] + pad)
    elif last[0] == "file":
        last = ("file", last[1], last[2] + pad)
    else:
        calls = [list(c) for c in last[1]]
        off, n = calls[-1][-1]
        calls[-1][-1] = (off, n + pad)
        last = ("vm", calls)
    return pieces[:-1] + [last]


def run_pieces(t: Target, op, pieces: list, file_path: str, content: bytes) -> bytes:
    """Queue the pieces into op as one request; returns the data queued, in order."""
    data = bytearray()
    mem = UserPages(8)
    fd = os.open(file_path, os.O_RDONLY)
    r, w = os.pipe()
    try:
        if pieces[0][0] != "send":
            t.control_part(op)
        for i, p in enumerate(pieces):
            more = i < len(pieces) - 1
            if p[0] == "send":
                chunk = os.urandom(p[1])
                if i == 0 and t.kind != "hash":
                    n = op.request(chunk, ENC, t.iv, t.assoclen, flags=MSG_MORE if more else 0)
                else:
                    n = op.send(chunk, MSG_MORE if more else 0)
            elif p[0] == "vm":
                chunk = b""
                for call in p[1]:
                    segs, part = [], b""
                    for off, ln in call:
                        b = os.urandom(ln)
                        segs.append(mem.put(off, b))
                        part += b
                    q = vmsplice_segments(w, segs)
                    assert q == len(part), f"vmsplice queued {q} of {len(part)}"
                    chunk += part
                n = pipe_to_op(r, op, len(chunk), more)
            else:
                off, ln = p[1], p[2]
                chunk, got = content[off:off + ln], 0
                while got < ln:
                    with deadline(10.0, "splice"):
                        k = os.splice(fd, w, ln - got, offset_src=off + got)
                    assert k > 0, f"splice from the file returned {k}"
                    got += k
                n = pipe_to_op(r, op, ln, more)
            assert n == len(chunk), f"piece {i} ({p[0]}): queued {n} of {len(chunk)}"
            data += chunk
    finally:
        os.close(r)
        os.close(w)
        os.close(fd)
        mem.close()
    return bytes(data)


@pytest.fixture
def own_tmpfs_file():
    """A file of random bytes this test created on the guest's tmpfs: (path, content)."""
    d = tmpfs_dir()
    if d is None:
        pytest.skip("unsupported:no-tmpfs (no writable tmpfs for a file of our own)")
    path = os.path.join(d, "splice-source.bin")
    content = os.urandom(6 * 4096)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content)
    finally:
        os.close(fd)
    yield path, content
    os.unlink(path)
    os.rmdir(d)


@pytest.mark.clause("SPLICE-6")
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("kind", KINDS)
def test_offsets_pieces_and_files(spec, alg_socket, own_tmpfs_file, kind, scenario):
    t = Target(kind, alg_socket)
    path, content = own_tmpfs_file
    pieces = _whole_blocks(SCENARIOS[scenario], kind)
    with t.tfm.accept() as op:
        data = run_pieces(t, op, pieces, path, content)
        out, tok = outcome(t.read, op, len(data))
    spec.check("SPLICE-6", (out or b"").hex() or tok, t.expected(data).hex(),
               sent=f"{kind}: {len(data)} bytes as {scenario}: {pieces}"[:400])
    with open(path, "rb") as f:
        assert f.read() == content, "the spliced file changed"
