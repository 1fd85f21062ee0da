"""Run vector cases (vectors.cases.Case) through one bound AF_ALG tfm socket.

Shared by test_kat.py (the generic algorithm name) and test_drivers.py (each
driver name). Cheap under TCG: one tfm socket per file; the key (and AEAD
authsize) is set on it only when it changes, which needs the op socket closed
first (ALG_SET_KEY is EBUSY while op sockets exist); one op socket then serves
every request under that key (hash op sockets start a new digest after each
final; skcipher/AEAD op sockets take one request after another).

Each case ends in one outcome, reported through `emit(case, outcome, reason)`:
  pass  output equals the vector, or an invalid vector was refused the way the
        clause says (reason `expected-reject:EBADMSG`, `expected-reject:EINVAL@authsize`,
        `expected-reject:tag-mismatch`);
  fail  wrong output, a valid vector refused, an invalid one accepted;
  skip  the interface cannot express the case (`unsupported:...`, counted);
  xfail a known kernel defect with its own clause (KAT-10: xchacha20's stream
        position does not carry), reported as KTAP XFAIL so it stays visible
        without failing every run; a kernel that fixes it turns the clause red.
`tally` keeps, per clause, how many cases it saw and the first deviation, so a
test can record one spec.check per clause instead of one per vector.
"""

from __future__ import annotations

import errno as errno_mod
import struct
from dataclasses import dataclass

from afalg_conformance.harness.afalg.bounded import WaitTimeout, deadline
from afalg_conformance.harness.afalg.client import AfalgSocket, errno_name
from afalg_conformance.harness.afalg.constants import MSG_DONTWAIT, AlgOp

from afalg_conformance.vectors.cases import Case, aes_mct_chain, sha_mct_chain

def _token(e: OSError) -> str:
    """The errno's name, or `blocks` for a call a deadline stopped (WaitTimeout has no errno)."""
    return "blocks" if isinstance(e, WaitTimeout) else errno_name(e.errno)


MCT_WAIT = 300.0        # one Monte Carlo checkpoint (1000 digests, or 500 two-block requests) under one deadline
CASE_WAIT = 10.0        # one vector's calls, under one deadline (each call had its own 10 s)

# clause ids (conformance/spec/kat.toml)
DIGEST, MAC, SKCIPHER, AEAD_ENC, AEAD_DEC, AEAD_BADTAG, AUTHSIZE, SETKEY, CHACHA_WRAP, XCHACHA_CARRY = (
    "KAT-1", "KAT-2", "KAT-3", "KAT-4", "KAT-5", "KAT-6", "KAT-7", "KAT-8", "KAT-9", "KAT-10")
KW_BADMSG, KW_LENGTH = "KAT-11", "KAT-12"


@dataclass
class Tally:
    n: int = 0
    first_bad: str | None = None   # the first observation that deviated, as `seen`
    seen: str | None = None        # the token observed (errno clauses)


class KatRun:
    def __init__(self, tfm: AfalgSocket, emit):
        self.tfm = tfm
        self.emit = emit
        self.tally: dict[str, Tally] = {}
        self.op: AfalgSocket | None = None

    # -- bookkeeping -----------------------------------------------------------------------
    def _note(self, clause: str, ok: bool, seen: str) -> None:
        t = self.tally.setdefault(clause, Tally())
        t.n += 1
        if t.seen is None:
            t.seen = seen
        if not ok and t.first_bad is None:
            t.first_bad = seen

    def _result(self, c: Case, clause: str, ok: bool, seen: str, reason: str) -> None:
        self._note(clause, ok, seen)
        self.emit(c, "pass" if ok else "fail", reason)

    def _close_op(self) -> None:
        if self.op is not None:
            self.op.close()
            self.op = None

    def _op(self) -> AfalgSocket:
        if self.op is None:
            self.op = self.tfm.accept()
            self.op.outer_deadline = True      # run() holds one deadline per vector
        return self.op

    def _refused(self, c: Case, clause: str, e: OSError, where: str) -> None:
        """setkey / set_authsize refused the case's parameters."""
        name = _token(e)
        if c.expect in ("invalid", "acceptable"):
            ok = e.errno == errno_mod.EINVAL
            self._result(c, clause, ok, name,
                         f"expected-reject:{name}@{where}" if ok else f"{where}: {name}, expected EINVAL")
        else:
            self._result(c, clause, False, name, f"valid vector refused at {where}: {name}")

    def run(self, cases: list[Case]) -> None:
        kinds = {c.kind for c in cases}
        if len(kinds) > 1:
            raise ValueError(f"one socket type per run, got {kinds}")
        try:
            for c in cases:
                if c.unsupported:
                    self.emit(c, "skip", c.unsupported)
                    continue
                if c.mct:
                    self._one(c)                  # a Monte Carlo checkpoint bounds itself (MCT_WAIT)
                    continue
                try:
                    with deadline(CASE_WAIT, f"{c.alg} vector {c.name}"):
                        self._one(c)
                except WaitTimeout as e:          # outside a call: the vector as a whole was too slow
                    self._close_op()
                    self.emit(c, "fail", f"{e}")
        finally:
            self._close_op()

    def _one(self, c: Case) -> None:
        getattr(self, f"_{c.kind}")(c)

    # -- hash / MAC --------------------------------------------------------------------------
    _cur_key: bytes | None = None

    def _keyed(self, c: Case) -> bool:
        """Key the tfm with c.key unless it already is (ALG_SET_KEY needs the op socket
        closed). False when the kernel refused the key; the case is then reported."""
        if c.key == self._cur_key:
            return True
        self._close_op()
        self._cur_key = None
        try:
            self.tfm.setkey(c.key)
        except OSError as e:
            self._refused(c, SETKEY, e, "setkey")
            return False
        self._cur_key = c.key
        return True

    def _hash(self, c: Case) -> None:
        clause = MAC if c.key is not None else DIGEST
        if c.key is not None and not self._keyed(c):
            return
        if "mct-sha2" in c.flags or "mct-sha3" in c.flags:
            return self._hash_mct(c)
        try:
            op = self._op()
            op.send(c.pt)
            digest = op.recv(c.algorithm.digestsize)[:len(c.ct)]
        except OSError as e:
            self._close_op()
            return self._result(c, clause, False, _token(e), f"send/recv: {_token(e)}")
        same = digest == c.ct
        if c.expect == "valid":
            self._result(c, clause, same, "match" if same else "mismatch",
                         "" if same else f"digest {digest.hex()[:32]} != {c.ct.hex()[:32]}")
            return
        # invalid / acceptable: the kernel's MAC must still be the right one, not merely differ
        # from a forged tag (a kernel that returned garbage would pass that)
        ref = self._reference_mac(c)
        right = ref is None or digest == ref
        if c.expect == "invalid":
            ok = right and not same
            self._result(c, clause, ok, "match" if ok else "forged-tag-accepted" if same else "mismatch",
                         "expected-reject:tag-mismatch" if ok else "invalid tag equals the kernel's MAC" if same
                         else f"MAC {digest.hex()[:32]} != reference {ref.hex()[:32]}")
        else:
            self._result(c, clause, right, "match" if right else "mismatch",
                         "acceptable" if right else f"MAC {digest.hex()[:32]} != reference {ref.hex()[:32]}")

    def _hash_mct(self, c: Case) -> None:
        """A SHA Monte Carlo checkpoint: 1000 digests on one op socket, each the kernel's own
        answer fed back (raw send/recv under one deadline: the per-call deadline of the client
        would triple the syscalls of 100,000 hashes per file)."""
        ds = c.algorithm.digestsize

        def h(msg: bytes) -> bytes:
            op.sock.send(msg)
            return op.sock.recv(ds)
        try:
            op = self._op()
            with deadline(MCT_WAIT, f"{c.alg} Monte Carlo checkpoint"):
                md = sha_mct_chain(h, c.pt, "mct-sha3" in c.flags)
        except OSError as e:
            self._close_op()
            return self._result(c, DIGEST, False, _token(e), f"send/recv: {_token(e)}")
        same = md == c.ct
        self._result(c, DIGEST, same, "match" if same else "mismatch",
                     "" if same else f"checkpoint {md.hex()[:32]} != {c.ct.hex()[:32]}")

    @staticmethod
    def _reference_mac(c: Case) -> bytes | None:
        """The oracle's MAC, cut to the vector's tag length; None where it cannot compute one."""
        try:
            return c.algorithm.oracle(c.key, c.pt)[:len(c.ct)]
        except (ValueError, TypeError):
            return None

    # -- skcipher ----------------------------------------------------------------------------
    def _skcipher(self, c: Case) -> None:
        if not self._keyed(c):
            return
        if c.alg == "kw(aes)":
            return self._kw(c)
        if "mct-aes" in c.flags:
            return self._aes_mct(c)
        if c.alg in ("chacha20", "xchacha20") and c.expect == "invalid":
            return self._chacha_wrap(c)
        for d in c.ops:
            src, want = (c.pt, c.ct) if d == "encrypt" else (c.ct, c.pt)
            try:
                out = self._crypt(src, AlgOp.ENCRYPT if d == "encrypt" else AlgOp.DECRYPT, c.iv)
            except OSError as e:
                self._close_op()
                return self._result(c, SKCIPHER, False, _token(e), f"{d}: {_token(e)}")
            if out != want:
                if c.alg in ("chacha20", "xchacha20") and out == self._no_carry(c, c.pt if d == "encrypt" else c.ct):
                    return self._known_no_carry(c)
                return self._result(c, SKCIPHER, False, "mismatch", f"{d}: {out.hex()[:32]} != {want.hex()[:32]}")
        self._result(c, SKCIPHER, True, "match", "")

    # A wrap's first semiblock is never all zero (it would be an integrity value the unwrap
    # rejects), so an IV of zeros sent with a wrap cannot stand in for the one the wrap leaves.
    KW_NOT_AN_ICV = bytes(8)

    def _kw(self, c: Case) -> None:
        """kw(aes): the wrapped key's first semiblock is the IV (crypto/keywrap.c). A wrap
        returns semiblocks 2..n+1 and leaves the first in the op socket's IV, where AF_ALG
        keeps it for the next request: unwrapping the output with no IV given must give the
        plaintext back, which checks the first semiblock too. An unwrap whose integrity check
        fails is EBADMSG (KAT-11); data that is not two or more whole semiblocks is EINVAL
        either way (KAT-12)."""
        for d in c.ops:
            src = c.pt if d == "encrypt" else c.ct
            code = AlgOp.ENCRYPT if d == "encrypt" else AlgOp.DECRYPT
            try:
                out = self._crypt(src, code, self.KW_NOT_AN_ICV if d == "encrypt" else c.iv)
                seen = "ok"
            except OSError as e:
                self._close_op()
                out, seen = None, _token(e)
            if c.expect != "valid":
                bad_length = len(src) < 16 or len(src) % 8
                clause, expected = (KW_LENGTH, "EINVAL") if bad_length else (KW_BADMSG, "EBADMSG")
                if c.expect == "acceptable":
                    self._note(clause, True, seen)
                    return self.emit(c, "pass", f"acceptable:{seen}")
                return self._result(c, clause, seen == expected, seen,
                                    f"expected-reject:{seen}" if seen == expected else
                                    f"invalid vector: {d} gave {seen}, expected {expected}")
            if seen != "ok":
                return self._result(c, SKCIPHER, False, seen, f"{d} of a valid vector: {seen}")
            want = c.ct if d == "encrypt" else c.pt
            if out != want:
                return self._result(c, SKCIPHER, False, "mismatch", f"{d}: {out.hex()[:32]} != {want.hex()[:32]}")
            if d == "encrypt":
                try:
                    back = self._crypt(out, AlgOp.DECRYPT, None)
                except OSError as e:
                    self._close_op()
                    return self._result(c, SKCIPHER, False, _token(e),
                                        f"unwrap with the first semiblock the wrap left in the IV: "
                                        f"{_token(e)}")
                if back != c.pt:
                    return self._result(c, SKCIPHER, False, "mismatch", "unwrap with the first semiblock the wrap "
                                        f"left in the IV: {back.hex()[:32]} != {c.pt.hex()[:32]}")
        self._result(c, SKCIPHER, True, "match", "")

    def _aes_mct(self, c: Case) -> None:
        """An AESVS Monte Carlo outer iteration (CBC, OFB, CFB128): 1000 blocks in 500
        two-block requests on one op socket under the vector's key (aes_mct_chain says why
        two); the first carries the IV, the others none, so each continues the chain from the
        IV the previous request left in the op socket."""
        d = c.ops[0]
        src, want = (c.pt, c.ct) if d == "encrypt" else (c.ct, c.pt)
        code = AlgOp.ENCRYPT if d == "encrypt" else AlgOp.DECRYPT

        def first(blocks: bytes, iv: bytes) -> bytes:
            op.request(blocks, code, iv, wait=None)
            return op.sock.recv(len(blocks))

        def more(blocks: bytes) -> bytes:
            op.sock.send(blocks)
            return op.sock.recv(len(blocks))
        try:
            op = self._op()
            with deadline(MCT_WAIT, f"{c.alg} Monte Carlo iteration"):
                out = aes_mct_chain(first, more, c.iv, src)
        except OSError as e:
            self._close_op()
            return self._result(c, SKCIPHER, False, _token(e), f"{d}: {_token(e)}")
        ok = out == want
        self._result(c, SKCIPHER, ok, "match" if ok else "mismatch",
                     "" if ok else f"{d}: {out.hex()[:32]} != {want.hex()[:32]}")

    def _known_no_carry(self, c: Case) -> None:
        """A valid vector whose keystream crosses a 2^32-block boundary of the 64-bit
        stream position: the kernel's answer is the no-carry keystream (KAT-10)."""
        from afalg_conformance.conformance import catalogue
        ok = catalogue.get(XCHACHA_CARRY).linux_expect() == "no-carry"
        self._note(XCHACHA_CARRY, ok, "no-carry")
        self.emit(c, "xfail" if ok else "fail",
                  "known-deviation:KAT-10 stream position wrapped in its low 32 bits without carrying "
                  "(Wycheproof CounterCarry expects the carry)")

    def _crypt(self, src: bytes, op_code: int, iv: bytes | None) -> bytes:
        op = self._op()
        op.request(src, op_code, iv)
        return op.recv_exact(len(src))

    @staticmethod
    def _no_carry(c: Case, data: bytes) -> bytes:
        """data XOR the keystream of a block counter that wraps in its low 32-bit word
        and never carries (chacha20: word 12 of an LE32 counter; xchacha20: the low
        word of the LE64 stream position)."""
        from afalg_conformance.harness.afalg.algorithms import get
        oracle = get(c.alg).oracle
        off = 0 if c.alg == "chacha20" else 24
        ctr = struct.unpack("<I", c.iv[off:off + 4])[0]

        def iv_at(i):
            return c.iv[:off] + struct.pack("<I", (ctr + i) & 0xFFFFFFFF) + c.iv[off + 4:]
        ks = b"".join(oracle(c.key, iv_at(i), bytes(64), True) for i in range((len(data) + 63) // 64))
        return bytes(a ^ b for a, b in zip(data, ks))

    def _chacha_wrap(self, c: Case) -> None:
        """Wycheproof CounterOverflow 'invalid': a 32-bit block counter that would pass
        0xffffffff. An skcipher request cannot be refused for it; what the kernel does
        with the counter is the observation (KAT-9)."""
        from afalg_conformance.harness.afalg.algorithms import get
        try:
            out = self._crypt(c.pt, AlgOp.ENCRYPT, c.iv)
        except OSError as e:
            self._close_op()
            seen = _token(e)
        else:
            carried = get(c.alg).oracle(c.key, c.iv, c.pt, True)
            seen = "wraps" if out == self._no_carry(c, c.pt) else "carries" if out == carried else "other"
        from afalg_conformance.conformance import catalogue
        expected = catalogue.get(CHACHA_WRAP).linux_expect()
        ok = seen == expected
        self._result(c, CHACHA_WRAP, ok, seen,
                     f"deviation:wycheproof-invalid,kernel-counter-{seen}" if ok else
                     f"counter overflow: kernel {seen}, clause says {expected}")

    # -- AEAD --------------------------------------------------------------------------------
    _cur_params: tuple | None = None
    _cur_authsize: int | None = None

    @staticmethod
    def _recv_aead(op: AfalgSocket, n: int) -> bytes:
        """The request's output. A zero-length output (no AAD, empty ciphertext: the input
        is the bare tag) still needs a read with room for a byte: recv(0) returns at once
        without running the request, so the tag would go unchecked and stay queued. The
        kernel runs the request, returns 0 bytes (or EBADMSG) and does not wait for more."""
        if n == 0:
            return op.recv(1, flags=MSG_DONTWAIT)
        return op.recv_exact(n)

    def _aead(self, c: Case) -> None:
        params = (c.key, c.authsize)
        if params != self._cur_params:
            self._close_op()
            self._cur_params = None
            if not self._keyed(c):
                return
            if c.authsize != self._cur_authsize:
                self._cur_authsize = None
                try:
                    self.tfm.set_authsize(c.authsize)
                except OSError as e:
                    return self._refused(c, AUTHSIZE, e, "authsize")
                self._cur_authsize = c.authsize
            self._cur_params = params
        if c.expect == "invalid" and c.authsize not in c.algorithm.authsizes:
            return self._result(c, AUTHSIZE, False, "ok", f"authsize {c.authsize} accepted, expected EINVAL")
        alen = len(c.aad)
        if "encrypt" in c.ops:
            try:
                op = self._op()
                op.request(c.aad + c.pt, AlgOp.ENCRYPT, c.iv, alen)
                out = op.recv_exact(alen + len(c.pt) + c.authsize)
            except OSError as e:
                self._close_op()
                return self._result(c, AEAD_ENC, False, _token(e), f"encrypt: {_token(e)}")
            want = c.aad + c.ct + c.tag
            if out != want:
                return self._result(c, AEAD_ENC, False, "mismatch",
                                    f"encrypt: {out[alen:].hex()[:40]} != {want[alen:].hex()[:40]}")
            self._note(AEAD_ENC, True, "match")
        if "decrypt" in c.ops:
            try:
                op = self._op()
                op.request(c.aad + c.ct + c.tag, AlgOp.DECRYPT, c.iv, alen)
                out = self._recv_aead(op, alen + len(c.ct))
                seen = "ok"
            except OSError as e:
                self._close_op()
                seen = _token(e)
            if c.expect == "valid":
                if seen != "ok":
                    return self._result(c, AEAD_DEC, False, seen, f"decrypt of a valid vector: {seen}")
                if out != c.aad + c.pt:
                    return self._result(c, AEAD_DEC, False, "mismatch",
                                        f"decrypt: {out[alen:].hex()[:40]} != {c.pt.hex()[:40]}")
                return self._result(c, AEAD_DEC, True, "match", "")
            if c.expect == "invalid":
                ok = seen == "EBADMSG"
                return self._result(c, AEAD_BADTAG, ok, seen,
                                    "expected-reject:EBADMSG" if ok else
                                    f"invalid vector: decrypt gave {seen}, expected EBADMSG")
            return self._result(c, AEAD_DEC, True, seen, f"acceptable:{seen}")
        self.emit(c, "pass", "")

