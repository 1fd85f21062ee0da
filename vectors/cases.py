"""Vector records -> uniform test cases in AF_ALG's layout.

Each adapter turns one file's records (vectors.cavp / nist_txt / wycheproof)
into `Case` objects that need no more knowledge of the file format: the IV is
already the bytes AF_ALG takes (CCM's 16-byte L'||nonce||0 block, XTS's
zero-padded tweak, ChaCha20's LE32 counter || nonce), lengths that CAVP spells
as "00" are trimmed, and a case the interface cannot express carries its
machine-readable `unsupported` reason instead of being dropped, so it is
counted. The same cases feed the guest tests (conformance/test_kat.py,
test_drivers.py) and the host-side oracle checks (tests/test_vectors.py).
"""

from __future__ import annotations

import dataclasses
import re
import struct
from dataclasses import dataclass

from afalg_conformance.harness.afalg import algorithms

from .common import VectorError


@dataclass
class Case:
    name: str                    # unique within its vector set, KTAP-safe
    where: str                   # file:line
    alg: str                     # harness.afalg.algorithms name
    kind: str                    # hash | skcipher | aead
    key: bytes | None = None     # None: unkeyed hash
    iv: bytes | None = None      # AF_ALG layout; None for ECB and hashes
    aad: bytes = b""
    pt: bytes = b""              # hash: the message
    ct: bytes = b""              # hash: expected digest/MAC (maybe truncated); aead: without tag
    tag: bytes = b""
    authsize: int = 0
    ops: tuple[str, ...] = ("encrypt", "decrypt")   # skcipher/aead directions to run
    expect: str = "valid"        # valid | invalid | acceptable (Wycheproof's words)
    unsupported: str = ""        # "inexpressible:gcm-ivlen=8": AF_ALG cannot express it (SKIP, counted apart)
    flags: tuple[str, ...] = ()

    @property
    def algorithm(self) -> algorithms.Algorithm:
        return algorithms.get(self.alg)

    @property
    def mct(self) -> bool:
        """A Monte Carlo case: 1000 chained kernel operations, not one."""
        return any(f.startswith("mct-") for f in self.flags)


def _c(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-=,+]", "_", name)


def _key(r) -> bytes:
    """The record's key: KEY (or K), or Triple DES's KEY1 || KEY2 || KEY3, or the CAVP TDES
    KAT files' single KEYs used as all three (keying option 3, K1 = K2 = K3)."""
    for name in ("key", "k"):
        if r.has(name):
            return r.bytes(name)
    if r.has("keys"):
        return r.bytes("keys") * 3
    if r.has("key1"):
        return r.bytes("key1") + r.bytes("key2") + r.bytes("key3")
    raise VectorError(r.path, r.line, "record has no KEY, K, KEYs or KEY1..KEY3")


# -- hashes and MACs ---------------------------------------------------------------------

def hash_cavp(records, vs):
    """SHA-1/2/3 ShortMsg/LongMsg: Len (bits), Msg, MD. Len 0 spells Msg as 00."""
    out = []
    for r in records:
        bits = r.int("len")
        msg, md = r.bytes("msg"), r.bytes("md")
        unsupported = f"inexpressible:hash-bitlen={bits}" if bits % 8 else ""
        out.append(Case(f"len{bits}", r.where, vs.algorithm, "hash", pt=msg[:bits // 8], ct=md,
                        unsupported=unsupported))
    return out


def hmac_txt(records, vs):
    """rfc-4231/rfc-2202: Len (bits of Msg), Key, Msg, MD (the full MAC)."""
    out = []
    for i, r in enumerate(records, 1):
        bits = r.int("len")
        msg = r.bytes("msg")
        if bits != 8 * len(msg):
            raise VectorError(r.path, r.line, f"Len = {bits} but Msg holds {len(msg)} bytes")
        out.append(Case(f"case{i}", r.where, vs.algorithm, "hash", key=r.bytes("key"), pt=msg,
                        ct=r.bytes("md")))
    return out


def keyed_hash_kat(records, vs):
    """blake2.net's keyed KAT (in, key, hash): keyed BLAKE2b through ALG_SET_KEY."""
    out = []
    for i, r in enumerate(records):
        msg = r.bytes("in")
        out.append(Case(f"in{len(msg)}-key{len(r.bytes('key'))}", r.where, vs.algorithm, "hash",
                        key=r.bytes("key"), pt=msg, ct=r.bytes("hash")))
    return out


# HMAC key lengths a derived set cycles through: short, a hash's output, the block size
# and its neighbours (a key longer than the block is hashed first), two blocks and more.
def _derived_key(i: int, blocksize: int) -> bytes:
    lengths = (1, 16, 32, blocksize - 1, blocksize, blocksize + 1, 2 * blocksize + 5)
    n = lengths[i % len(lengths)]
    return bytes((i * 31 + j * 7 + 1) & 0xFF for j in range(n))


def hmac_derived(records, vs):
    """A derived set (no published HMAC-SHA3 file in the packages): the byte-aligned messages of
    a CAVP hash file, each with a key from _derived_key, and the MAC computed by the registry's
    oracle (Python's hmac over hashlib). It pins the kernel to a fixed, reviewable set of
    answers that a reference implementation gives; the file's own MD is not used."""
    alg = vs.alg
    out = []
    for i, r in enumerate(records):
        bits = r.int("len")
        if bits % 8:
            continue                       # a bit-oriented message: no byte string to MAC
        msg = r.bytes("msg")[:bits // 8]
        key = _derived_key(i, alg.blocksize)
        out.append(Case(f"len{bits}-key{len(key)}", r.where, vs.algorithm, "hash", key=key, pt=msg,
                        ct=alg.oracle(key, msg)))
    return out


def poly1305_txt(records, vs):
    """poly1305/rfc7539.txt: KEY, MSG, TAG. The kernel's poly1305 shash has no setkey: the
    one-time key is the first 32 bytes hashed, so the case's message is KEY || MSG."""
    return [Case(f"count{r.str('count')}", r.where, vs.algorithm, "hash",
                 pt=r.bytes("key") + r.bytes("msg"), ct=r.bytes("tag")) for r in records]


# -- Monte Carlo tests -------------------------------------------------------------------
# Each checkpoint (COUNT) of a CAVP MCT file is a case of its own: it starts from the file's
# previous answer (the Seed for the first), so a wrong checkpoint does not spoil the next.
# The chains below take the primitive as a function, so the guest runs them through the
# kernel and the host tests through the oracle.
MCT_INNER = 1000


def sha_mct_chain(h, seed: bytes, sha3: bool) -> bytes:
    """One checkpoint of SHAVS (SHA-1/2: MD_i = H(MD_{i-3} || MD_{i-2} || MD_{i-1}), starting
    from three copies of the seed) or SHA3VS (MD_i = H(MD_{i-1})), 1000 hashes each."""
    if sha3:
        md = seed
        for _ in range(MCT_INNER):
            md = h(md)
        return md
    a = b = m = seed
    for _ in range(MCT_INNER):
        a, b, m = b, m, h(a + b + m)
    return m


def aes_mct_chain(first, more, iv: bytes, data: bytes) -> bytes:
    """One outer iteration of AESVS's Monte Carlo test for CBC, OFB and CFB128 (one chain for
    the three), either direction: input_0 = data, input_1 = IV, input_{j+1} = output_{j-1};
    returns output_999. Inputs j and j+1 are both known once output_{j-1} is, so the chain
    goes two blocks a request, half the round trips through the emulator: [data, IV] under the
    IV first (first(blocks, iv)), then each request is the previous request's output
    (more(blocks)), continuing the mode's chain from the IV the previous request left (CBC and
    CFB128: its last ciphertext block, OFB: its last keystream block), as one-block requests
    would: the kernel still carries the chain over 499 request boundaries."""
    out = first(data + iv, iv)
    for _ in range(1, MCT_INNER // 2):
        out = more(out)
    return out[len(data):]


def hash_mct(records, vs):
    """SHA*Monte.rsp: [L = n], Seed, then COUNT/MD checkpoints."""
    sha3 = vs.algorithm.startswith("sha3-")
    out, prev = [], None
    for r in records:
        seed = r.bytes("seed") if prev is None else prev
        if len(seed) != vs.alg.digestsize:
            raise VectorError(r.path, r.raw("seed")[1], f"Seed is {len(seed)} bytes, the digest {vs.alg.digestsize}")
        prev = r.bytes("md")
        out.append(Case(f"checkpoint{r.str('count')}", r.where, vs.algorithm, "hash", pt=seed, ct=prev,
                        flags=("mct-sha3" if sha3 else "mct-sha2",)))
    return out


def aes_mct(records, vs):
    """CBCMCT*.rsp, OFBMCT*.rsp, CFB128MCT*.rsp: [ENCRYPT]/[DECRYPT], COUNT, KEY, IV, PLAINTEXT,
    CIPHERTEXT per outer iteration."""
    out = []
    for r in records:
        ops = _ops(r, vs)
        out.append(Case(f"{ops[0][:3]}-count{r.str('count')}", r.where, vs.algorithm, "skcipher", key=_key(r),
                        iv=r.bytes("iv"), pt=r.bytes("plaintext"), ct=r.bytes("ciphertext"), ops=ops,
                        flags=("mct-aes",)))
    return out


def mac_txt(records, vs):
    """CMAC nist-800-38b / XCBC RFC 3566: COUNT, KEY (3DES: KEY1..KEY3), MESSAGE, OUTPUT."""
    return [Case(f"count{r.str('count')}", r.where, vs.algorithm, "hash", key=_key(r),
                 pt=r.bytes("message"), ct=r.bytes("output")) for r in records]


def mac_wycheproof(f, vs):
    out = []
    for t in f.tests:
        tag = t.bytes("tag")
        if t.group.get("tagSize", 8 * len(tag)) != 8 * len(tag) and t.result == "valid":
            raise VectorError(t.path, t.line, f"tcId {t.tc_id}: tag length differs from tagSize")
        out.append(Case(f"tc{t.tc_id}", t.where, vs.algorithm, "hash", key=t.bytes("key"),
                        pt=t.bytes("msg"), ct=tag, expect=t.result, flags=t.flags))
    return out


# -- skciphers ---------------------------------------------------------------------------

def _ops(r, vs):
    if not r.params.get("direction") and vs.op == "both":      # a file without sections: each
        return ("encrypt", "decrypt")                            # vector holds both directions
    d = r.params.get("direction", "")
    if d not in ("encrypt", "decrypt"):
        raise VectorError(r.path, r.line, "record outside an [ENCRYPT] or [DECRYPT] section")
    return (d,)


def skcipher_cavp(records, vs):
    """AES ECB/CBC KAT+MMT .rsp, TDES TECB/TCBC .rsp (KEYs or KEY1..KEY3) and cryptography's
    CTR .txt: KEY, IV, PLAINTEXT, CIPHERTEXT."""
    ivsize = vs.alg.ivsize
    out = []
    for r in records:
        iv = r.bytes("iv") if ivsize else None
        if iv is not None and len(iv) != ivsize:
            raise VectorError(r.path, r.fields["iv"][1], f"IV is {len(iv)} bytes, {vs.algorithm} takes {ivsize}")
        ops = _ops(r, vs)
        out.append(Case(f"{ops[0][:3]}-count{r.str('count')}", r.where, vs.algorithm, "skcipher",
                        key=_key(r), iv=iv, pt=r.bytes("plaintext"), ct=r.bytes("ciphertext"),
                        ops=ops))
    return out


def xts_cavp(records, vs):
    """XTSGenAES*.rsp: Key (both halves), i (hex tweak) or DataUnitSeqNumber (LE128), PT, CT."""
    out = []
    for r in records:
        bits = r.int("dataunitlen")
        if r.has("i"):
            tweak = r.bytes("i")
        else:
            tweak = r.int("dataunitseqnumber").to_bytes(16, "little")
        ops = _ops(r, vs)
        pt, ct = r.bytes("pt"), r.bytes("ct")
        unsupported = f"inexpressible:xts-bits={bits}" if bits % 8 else ""
        out.append(Case(f"{ops[0][:3]}-count{r.str('count')}", r.where, vs.algorithm, "skcipher",
                        key=r.bytes("key"), iv=tweak, pt=pt, ct=ct, ops=ops, unsupported=unsupported))
    return out


def xts_wycheproof(f, vs):
    """Wycheproof's XTS tweak is short (mostly 8 bytes): zero-padded on the right to 16."""
    out = []
    for t in f.tests:
        iv = t.bytes("iv")
        unsupported = f"inexpressible:xts-tweaklen={len(iv)}" if len(iv) > 16 else ""
        out.append(Case(f"tc{t.tc_id}", t.where, vs.algorithm, "skcipher", key=t.bytes("key"),
                        iv=iv + bytes(16 - len(iv)) if not unsupported else iv, pt=t.bytes("msg"),
                        ct=t.bytes("ct", b"" if t.result != "valid" else None), expect=t.result,
                        flags=t.flags, unsupported=unsupported))
    return out


def _kw_split(wrapped: bytes) -> tuple[bytes, bytes]:
    """kw(aes) takes the wrapped key's first semiblock as the IV and the rest as data."""
    return wrapped[:8], wrapped[8:]


def kw_cavp(records, vs):
    """SP 800-38F KW_AE_*/KW_AD_*.txt (AES key wrap, forward cipher): K, P, C; AD files mark
    a C that must not unwrap with FAIL. vs.op says the direction (AE: encrypt, AD: decrypt)."""
    out = []
    for r in records:
        iv, ct = _kw_split(r.bytes("c"))
        pt = b"" if r.fail else r.bytes("p")
        if not r.fail and len(ct) != len(pt):
            raise VectorError(r.path, r.raw("c")[1], f"C is {len(ct) + 8} bytes, P + 8 = {len(pt) + 8}")
        bits = r.params.get("plaintext length", "?")
        out.append(Case(f"{vs.op[:3]}-p{bits}-count{r.str('count')}", r.where, vs.algorithm, "skcipher",
                        key=_key(r), iv=iv, pt=pt, ct=ct, ops=(vs.op,),
                        expect="invalid" if r.fail else "valid"))
    return out


def kw_wycheproof(f, vs):
    """aes_wrap_test.json: key, msg, ct (the whole wrapped key). Valid vectors wrap and unwrap;
    an invalid or acceptable one with a ct is unwrapped (must fail: EBADMSG for a wrong
    integrity check, EINVAL for a length kw does not take), one without a ct (WrongDataSize)
    is wrapped (must fail: EINVAL). A wrapped key shorter than 8 bytes has no IV to give, and
    an empty request has no output to read: both inexpressible."""
    out = []
    for t in f.tests:
        msg, wrapped = t.bytes("msg"), t.bytes("ct")
        iv, ct = _kw_split(wrapped)
        if t.result == "valid":
            ops = ("encrypt", "decrypt")
        else:
            ops = ("decrypt",) if wrapped else ("encrypt",)
        unsupported = ""
        if "decrypt" in ops and len(wrapped) < 8:
            unsupported = f"inexpressible:kw-wrappedlen={len(wrapped)}"
        elif len(ct if "decrypt" in ops else msg) == 0:
            unsupported = "inexpressible:kw-datalen=0"
        out.append(Case(f"tc{t.tc_id}", t.where, vs.algorithm, "skcipher", key=t.bytes("key"),
                        iv=iv if len(iv) == 8 else None, pt=msg, ct=ct, ops=ops, expect=t.result,
                        flags=t.flags, unsupported=unsupported))
    return out


def chacha20_txt(records, vs):
    """rfc7539.txt: KEY, NONCE (12 bytes), INITIAL_BLOCK_COUNTER -> IV = LE32(counter) || nonce."""
    out = []
    for r in records:
        iv = struct.pack("<I", r.int("initial_block_counter")) + r.bytes("nonce")
        out.append(Case(f"count{r.str('count')}", r.where, vs.algorithm, "skcipher", key=r.bytes("key"),
                        iv=iv, pt=r.bytes("plaintext"), ct=r.bytes("ciphertext")))
    return out


def chacha20_wycheproof(f, vs):
    """chacha20_counter_test.json, the group for the set's algorithm: ChaCha20-IETF ->
    chacha20 (IV = LE32 counter || 96-bit nonce); XChaCha20 -> xchacha20 (IV = 24-byte
    nonce || LE64 stream position). Wycheproof's `invalid` here means "must refuse rather
    than let the counter wrap" (KAT-9)."""
    group = {"chacha20": "ChaCha20-IETF", "xchacha20": "XChaCha20"}[vs.algorithm]
    out = []
    for t in f.tests:
        if t.group.get("algorithm") != group:
            continue
        ctr, nonce = t.bytes("initialCounter"), t.bytes("iv")
        iv = ctr + nonce if vs.algorithm == "chacha20" else nonce + ctr
        if len(iv) != vs.alg.ivsize:
            raise VectorError(t.path, t.line, f"tcId {t.tc_id}: IV would be {len(iv)} bytes")
        out.append(Case(f"tc{t.tc_id}", t.where, vs.algorithm, "skcipher", key=t.bytes("key"), iv=iv,
                        pt=t.bytes("msg"), ct=t.bytes("ct", b""), expect=t.result, flags=t.flags,
                        ops=("encrypt",)))
    return out


# -- AEADs -------------------------------------------------------------------------------

def _aead_iv(alg: str, nonce: bytes) -> tuple[bytes, str]:
    """AF_ALG IV for a nonce, or the reason the interface cannot take it."""
    if alg == "gcm(aes)":
        return nonce, "" if len(nonce) == 12 else f"inexpressible:gcm-ivlen={len(nonce)}"
    if alg == "ccm(aes)":
        if 7 <= len(nonce) <= 13:
            return algorithms.ccm_iv(nonce), ""
        return nonce, f"inexpressible:ccm-noncelen={len(nonce)}"
    if alg == "rfc7539(chacha20,poly1305)":
        return nonce, "" if len(nonce) == 12 else f"inexpressible:chacha20poly1305-noncelen={len(nonce)}"
    raise ValueError(f"no AF_ALG IV layout known for {alg}")


def gcm_cavp(records, vs):
    """gcmEncryptExtIV*.rsp / gcmDecrypt*.rsp: Key, IV, PT, AAD, CT, Tag; FAIL lines; the
    section headers give IVlen and Taglen in bits. Encrypt files run encrypt, decrypt files decrypt."""
    out = []
    for r in records:
        p = r.params
        name = f"iv{p['ivlen']}-pt{p['ptlen']}-aad{p['aadlen']}-tag{p['taglen']}-count{r.str('count')}"
        if p["ivlen"] != "96":              # not expressible: no need to decode the rest
            ivlen = int(p["ivlen"])
            out.append(Case(name, r.where, vs.algorithm, "aead", ops=(vs.op,),
                            unsupported=f"inexpressible:gcm-ivlen={ivlen // 8 if ivlen % 8 == 0 else ivlen / 8}"))
            continue
        iv, unsupported = _aead_iv(vs.algorithm, r.bytes("iv"))
        tag = r.bytes("tag")
        if int(p["taglen"]) != 8 * len(tag):
            raise VectorError(r.path, r.fields["tag"][1], f"Tag is {len(tag)} bytes, section says Taglen = {p['taglen']}")
        out.append(Case(name, r.where, vs.algorithm, "aead", key=r.bytes("key"), iv=iv, aad=r.bytes("aad"),
                        pt=r.bytes("pt", b""), ct=r.bytes("ct"), tag=tag, authsize=len(tag), ops=(vs.op,),
                        expect="invalid" if r.fail else "valid", unsupported=unsupported))
    return out


def ccm_cavp(records, vs):
    """CCM DVPT/VADT/VNT/VPT/VTT .rsp. Lengths (bytes) come from headers or file-level lines;
    Key/Nonce may be section context; a zero-length Adata/Payload is written 00; CT is
    ciphertext || tag. DVPT files (Result = Pass/Fail) are decryptions, the others encryptions."""
    out = []
    for r in records:
        alen, plen, nlen, tlen = (r.int(k) for k in ("alen", "plen", "nlen", "tlen"))
        nonce = r.bytes("nonce")
        if len(nonce) != nlen:
            raise VectorError(r.path, r.raw("nonce")[1], f"Nonce is {len(nonce)} bytes, Nlen = {nlen}")
        aad = r.bytes("adata")[:alen]
        if len(aad) != alen:
            raise VectorError(r.path, r.raw("adata")[1], f"Adata is {len(aad)} bytes, Alen = {alen}")
        full = r.bytes("ct")
        if len(full) != plen + tlen:
            raise VectorError(r.path, r.raw("ct")[1], f"CT is {len(full)} bytes, Plen + Tlen = {plen + tlen}")
        pt = r.bytes("payload", b"")[:plen] if not r.fail else b""
        iv, unsupported = _aead_iv(vs.algorithm, nonce)
        decrypt = "result" in r.fields
        name = f"a{alen}-p{plen}-n{nlen}-t{tlen}-count{r.str('count')}"
        out.append(Case(name, r.where, vs.algorithm, "aead", key=r.bytes("key"), iv=iv, aad=aad, pt=pt,
                        ct=full[:plen], tag=full[plen:], authsize=tlen,
                        ops=("decrypt",) if decrypt else ("encrypt",),
                        expect="invalid" if r.fail else "valid", unsupported=unsupported))
    return out


def aead_wycheproof(f, vs):
    out = []
    for t in f.tests:
        tag_bits = t.group.get("tagSize")
        tag = t.bytes("tag")
        iv, unsupported = _aead_iv(vs.algorithm, t.bytes("iv"))
        if tag_bits is not None and tag_bits % 8:
            unsupported = unsupported or f"inexpressible:tag-bits={tag_bits}"
        authsize = tag_bits // 8 if tag_bits else len(tag)
        out.append(Case(f"tc{t.tc_id}", t.where, vs.algorithm, "aead", key=t.bytes("key"), iv=iv,
                        aad=t.bytes("aad"), pt=t.bytes("msg"), ct=t.bytes("ct"), tag=tag, authsize=authsize,
                        ops=("encrypt", "decrypt") if t.result == "valid" else ("decrypt",),
                        expect=t.result, flags=t.flags, unsupported=unsupported))
    return out


def chachapoly_txt(records, vs):
    """ChaCha20Poly1305 openssl.txt (Key, IV, AAD, Tag, Plaintext, Ciphertext, Result) and
    boringssl.txt (KEY, NONCE, IN, AD, CT, TAG)."""
    def pick(r, *names):
        for n in names:
            if r.has(n):
                return r.bytes(n)
        raise VectorError(r.path, r.line, f"record has none of {names}")
    out = []
    for r in records:
        iv, unsupported = _aead_iv(vs.algorithm, pick(r, "iv", "nonce"))
        tag = pick(r, "tag")
        out.append(Case(f"count{r.str('count')}", r.where, vs.algorithm, "aead", key=pick(r, "key"), iv=iv,
                        aad=pick(r, "aad", "ad"), pt=pick(r, "plaintext", "in"), ct=pick(r, "ciphertext", "ct"),
                        tag=tag, authsize=len(tag),
                        ops=("decrypt",) if r.fail else ("encrypt", "decrypt"),
                        expect="invalid" if r.fail else "valid", unsupported=unsupported))
    return out


# -- derived sets: vectors of one algorithm in the layout of another ----------------------------

def cts_derived(records, vs):
    """cts(cbc(aes)) from the CBC MMT files' [ENCRYPT] records (derived: no package has CTS
    vectors): each plaintext whole, one byte short, and cut to 17..31 bytes, with the key and
    IV of its record; the expected output is CBC-CS3 built from pyca/cryptography's CBC (the
    registry's oracle, checked against RFC 3962's known answers by a host test)."""
    out = []
    oracle = vs.alg.oracle
    for r in records:
        if r.params.get("direction") != "encrypt":
            continue
        key, iv, pt = _key(r), r.bytes("iv"), r.bytes("plaintext")
        n = int(r.str("count"))
        for length in dict.fromkeys(x for x in (len(pt), len(pt) - 1, 17 + n % 15) if 16 <= x <= len(pt)):
            out.append(Case(f"count{n}-len{length}", r.where, vs.algorithm, "skcipher", key=key, iv=iv,
                            pt=pt[:length], ct=oracle(key, iv, pt[:length], True)))
    return out


# The IPsec AEAD forms: (base algorithm, salt length, reason prefix). A vector of the base
# algorithm with a nonce of salt + 8 bytes is one of these: key || salt as the key, the
# nonce's last 8 bytes as the IV, and the AAD region = AAD || IV (assoclen counts the copy).
_ESP = {"rfc4106(gcm(aes))": ("gcm(aes)", 4, "rfc4106"),
        "rfc4309(ccm(aes))": ("ccm(aes)", 3, "rfc4309"),
        "rfc7539esp(chacha20,poly1305)": ("rfc7539(chacha20,poly1305)", 4, "rfc7539esp")}


def _esp(base_adapter, data, vs):
    base, saltlen, what = _ESP[vs.algorithm]
    alg = vs.alg
    out = []
    for c in base_adapter(data, dataclasses.replace(vs, algorithm=base)):
        c.alg = vs.algorithm
        if c.unsupported:
            out.append(c)
            continue
        nonce = c.iv[1:15 - c.iv[0]] if base == "ccm(aes)" else c.iv
        if len(nonce) != saltlen + 8:
            c.unsupported = f"inexpressible:{what}-noncelen={len(nonce)}"
        elif alg.assoclen_fixed and len(c.aad) + 8 not in alg.assoclen_fixed:
            c.unsupported = f"inexpressible:{what}-aadlen={len(c.aad)}"
        elif c.authsize not in alg.authsizes:
            c.unsupported = f"inexpressible:{what}-taglen={c.authsize}"
        else:
            c.key, c.iv = c.key + nonce[:saltlen], nonce[saltlen:]
            c.aad += c.iv
        out.append(c)
    return out


def esp_wycheproof(f, vs):
    """aes_gcm / aes_ccm / chacha20_poly1305 Wycheproof files as rfc4106 / rfc4309 / rfc7539esp
    (RFC 4106, 4309, 7634 layouts; the base file's answers, unchanged)."""
    return _esp(aead_wycheproof, f, vs)


def esp_chachapoly_txt(records, vs):
    """The ChaCha20-Poly1305 .txt files as rfc7539esp."""
    return _esp(chachapoly_txt, records, vs)


def rfc4543_derived(records, vs):
    """rfc4543(gcm(aes)) (GMAC, RFC 4543) from a CAVP GCM encrypt file (derived: no package
    has GMAC-ESP vectors). Each 96-bit-IV, 128-bit-tag vector with at least 8 bytes of AAD
    gives key || IV[0:4] as the key, IV[4:12] as the AF_ALG IV, AAD[0:8] || IV[4:12] as the
    AAD region and the plaintext as the payload, which is authenticated, not encrypted; the
    tag is GCM's over region || payload with an empty plaintext, from pyca/cryptography."""
    out = []
    oracle = vs.alg.oracle
    for c in gcm_cavp(records, dataclasses.replace(vs, algorithm="gcm(aes)", op="encrypt")):
        if c.unsupported or c.authsize != 16 or len(c.aad) < 8 or c.expect != "valid":
            continue
        key, iv = c.key + c.iv[:4], c.iv[4:]
        aad = c.aad[:8] + iv
        full = oracle(key, iv, aad, c.pt, 16, True)
        out.append(Case(c.name, c.where, vs.algorithm, "aead", key=key, iv=iv, aad=aad, pt=c.pt, ct=full[:-16],
                        tag=full[-16:], authsize=16))
    return out


ADAPTERS = {f.__name__: f for f in (
    cts_derived, esp_wycheproof, esp_chachapoly_txt, rfc4543_derived,
    hash_cavp, hash_mct, aes_mct, hmac_txt, keyed_hash_kat, hmac_derived, poly1305_txt, mac_txt, mac_wycheproof, skcipher_cavp, xts_cavp, xts_wycheproof, kw_cavp, kw_wycheproof,
    chacha20_txt, chacha20_wycheproof, gcm_cavp, ccm_cavp, aead_wycheproof, chachapoly_txt)}
