"""Every algorithm the project knows, described once.

Tests, vector loaders and fuzzers all take their names, sizes and reference
answers from here. `oracle` functions compute the answer with pyca/cryptography
in the same layout AF_ALG uses, so kernel output can be compared byte for byte:
  hash      oracle(key, msg) -> digest
  skcipher  oracle(key, iv, data, encrypt) -> output
  aead      oracle(key, iv, aad, data, authsize, encrypt) -> CT||tag (encrypt) / PT (decrypt)
            (AF_ALG adds the AAD in front of either; see afalg.aead)
"""

from __future__ import annotations

import hashlib
import hmac as hmac_mod
import struct
from dataclasses import dataclass, field
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers import algorithms as decrepit
from cryptography.hazmat.decrepit.ciphers import modes as decrepit_modes
from cryptography.hazmat.primitives import cmac as _cmac
from cryptography.hazmat.primitives import keywrap as _keywrap
from cryptography.hazmat.primitives.poly1305 import Poly1305 as _Poly1305
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305


@dataclass(frozen=True)
class Algorithm:
    name: str                       # the kernel's generic cra_name, as bound
    type: str                       # AF_ALG socket type: hash | skcipher | aead | rng
    key_sizes: tuple[int, ...] = ()  # () for unkeyed
    optional_key_sizes: tuple[int, ...] = ()   # an unkeyed algorithm that takes a key (blake2b: 1..64)
    ivsize: int = 0
    blocksize: int = 1
    chunksize: int = 1              # granularity of partial skcipher processing
    digestsize: int = 0
    authsizes: tuple[int, ...] = ()
    assoclen_fixed: tuple[int, ...] = ()   # rfc4106: the AAD region must be exactly these lengths
    assoclen_min: int = 0                  # rfc7539esp: the AAD region ends in the 8-byte IV
    oracle: Callable | None = field(default=None, compare=False, repr=False)
    random_inputs: bool = True      # False: random data is not a valid request (kw(aes) unwrap: EBADMSG;
                                    # poly1305: a message shorter than its 32-byte key)
    make_key: Callable | None = field(default=None, compare=False, repr=False)  # raw bytes -> key
    notes: str = ""

    def key_from(self, material: bytes) -> bytes:
        """A valid key for this algorithm made from key_sizes-long random material."""
        return self.make_key(material) if self.make_key else material

    @property
    def keyed(self) -> bool:
        return bool(self.key_sizes)

    @property
    def max_authsize(self) -> int:
        return max(self.authsizes) if self.authsizes else 0


# -- reference implementations (pyca/cryptography, hashlib) ------------------------------------

def _hash(name: str):
    return lambda key, msg: hashlib.new(name, msg).digest()


def _blake2b(size: int):
    return lambda key, msg: hashlib.blake2b(msg, digest_size=size, key=key or b"").digest()


def _poly1305(key, msg):
    # The kernel's poly1305 shash has no setkey: the first 32 bytes hashed are the one-time
    # key (r || s), the rest is the message.
    if len(msg) < 32:
        raise ValueError("poly1305: the first 32 bytes of the message are the key")
    return _Poly1305.generate_tag(msg[:32], msg[32:])


def _hmac(name: str):
    return lambda key, msg: hmac_mod.new(key, msg, name).digest()


def _cmac_with(cipher):
    def run(key, msg):
        c = _cmac.CMAC(cipher(key))
        c.update(msg)
        return c.finalize()
    return run


_cmac_aes = _cmac_with(algorithms.AES)


def _xcbc_aes(key, msg):
    # RFC 3566: K1/K2/K3 = E(K, 0x01../0x02../0x03..); CBC-MAC under K1, last block
    # XORed with K2 when full, else 10* padded and XORed with K3.
    def ecb(k, block):
        e = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
        return e.update(block) + e.finalize()
    k1, k2, k3 = (ecb(key, bytes([i]) * 16) for i in (1, 2, 3))
    blocks = [msg[i:i + 16] for i in range(0, len(msg), 16)] or [b""]
    state = bytes(16)
    for b in blocks[:-1]:
        state = ecb(k1, bytes(x ^ y for x, y in zip(state, b)))
    last = blocks[-1]
    last, pad = (last, k2) if len(last) == 16 else (last + b"\x80" + bytes(15 - len(last)), k3)
    return ecb(k1, bytes(x ^ y ^ z for x, y, z in zip(state, last, pad)))


def _block_mode(mode_factory, needs_iv=True, cipher=algorithms.AES):
    def run(key, iv, data, encrypt):
        mode = mode_factory(iv) if needs_iv else mode_factory()
        c = Cipher(cipher(key), mode)
        op = c.encryptor() if encrypt else c.decryptor()
        return op.update(data) + op.finalize()
    return run


def _kw(key, iv, data, encrypt):
    # Linux's kw(aes) (crypto/keywrap.c): the wrapped form's first 64-bit semiblock travels as
    # the IV. Wrapping ignores the IV given, outputs semiblocks 2..n+1 and leaves the first in
    # the request's IV; unwrapping takes it as the IV and fails with EBADMSG when the integrity
    # check does not hold (here: InvalidUnwrap).
    if encrypt:
        return _keywrap.aes_key_wrap(key, data)[8:]
    return _keywrap.aes_key_unwrap(key, iv + data)


def _xts(key, iv, data, encrypt):
    c = Cipher(algorithms.AES(key), modes.XTS(iv))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def _chacha20_stream(key: bytes, nonce16: bytes, data: bytes) -> bytes:
    """ChaCha20 with the block counter (word 12) carrying into word 13, as OpenSSL does.
    cryptography 48 (what a fresh install gets) refuses to run past the 32-bit counter's end, so the stream is cut
    there and continued with word 12 = 0 and word 13 + 1."""
    lo, hi = struct.unpack_from("<II", nonce16)
    first = (2**32 - lo) * 64
    out = Cipher(algorithms.ChaCha20(key, nonce16), mode=None).encryptor().update(data[:first])
    if len(data) > first:
        carried = struct.pack("<II", 0, (hi + 1) & 0xFFFFFFFF) + nonce16[8:]
        out += Cipher(algorithms.ChaCha20(key, carried), mode=None).encryptor().update(data[first:])
    return out


def _chacha20(key, iv, data, encrypt):
    # The kernel's 16-byte IV is LE32 counter || 96-bit nonce, which is exactly
    # cryptography's 16-byte ChaCha20 nonce.
    return _chacha20_stream(key, iv, data)


def _hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20 (draft-irtf-cfrg-xchacha section 2.2): the XChaCha20 subkey."""
    m = 0xFFFFFFFF
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574, *struct.unpack("<8I", key),
         *struct.unpack("<4I", nonce16)]

    def qr(a, b, c, d):
        for x, y, z, r in ((a, b, d, 16), (c, d, b, 12), (a, b, d, 8), (c, d, b, 7)):
            s[x] = (s[x] + s[y]) & m
            v = s[z] ^ s[x]
            s[z] = ((v << r) & m) | (v >> (32 - r))
    for _ in range(10):
        qr(0, 4, 8, 12), qr(1, 5, 9, 13), qr(2, 6, 10, 14), qr(3, 7, 11, 15)
        qr(0, 5, 10, 15), qr(1, 6, 11, 12), qr(2, 7, 8, 13), qr(3, 4, 9, 14)
    return struct.pack("<8I", *s[0:4], *s[12:16])


def _xchacha20(key, iv, data, encrypt):
    # The kernel's 32-byte IV: 24-byte nonce || LE64 stream position. ChaCha20 then runs
    # on the HChaCha20 subkey with state words 12..15 = position || nonce[16:24], which is
    # cryptography's 16-byte ChaCha20 nonce (the block counter carries into word 13).
    return _chacha20_stream(_hchacha20(key, iv[:16]), iv[24:32] + iv[16:24], data)


def _gcm(key, iv, aad, data, authsize, encrypt):
    g = AESGCM(key)
    if encrypt:
        full = g.encrypt(iv, data, aad)
        return full[:len(data)] + full[len(data):][:authsize]
    # Truncated GCM tags are prefixes of the full tag: recompute and compare.
    ct, tag = data[:-authsize], data[-authsize:]
    pt = _ctr_gcm_decrypt(key, iv, ct)
    expect = g.encrypt(iv, pt, aad)[len(pt):][:authsize]
    if not hmac_mod.compare_digest(expect, tag):
        raise InvalidTag()
    return pt


def _ctr_gcm_decrypt(key, iv, ct):
    counter = iv + b"\x00\x00\x00\x02"
    c = Cipher(algorithms.AES(key), modes.CTR(counter))
    return c.decryptor().update(ct)


def _ccm(key, iv, aad, data, authsize, encrypt):
    # AF_ALG's 16-byte CCM IV: iv[0] = L' = L-1, then the nonce (15-L bytes), then a zero counter.
    L = iv[0] + 1
    nonce = iv[1:16 - L]
    c = AESCCM(key, tag_length=authsize)
    return c.encrypt(nonce, data, aad) if encrypt else c.decrypt(nonce, data, aad)


def _rfc4106(key, iv, aad, data, authsize, encrypt):
    # key = AES key || 4-byte salt; nonce = salt || 8-byte IV; the last 8 bytes of the
    # AAD region carry the IV again and are not authenticated as AAD.
    salt, aes_key = key[-4:], key[:-4]
    return _gcm(aes_key, salt + iv, aad[:-8], data, authsize, encrypt)


def _chachapoly(key, iv, aad, data, authsize, encrypt):
    c = ChaCha20Poly1305(key)
    return c.encrypt(iv, data, aad) if encrypt else c.decrypt(iv, data, aad)


# The IPsec forms (RFC 4106, 4309, 4543, 7634): key = cipher key || salt, nonce = salt || the
# 8-byte IV, and the AAD region ends with a copy of the IV (assoclen counts it).

def _esp_aad(aad: bytes, fixed: bool) -> bytes:
    if len(aad) < 8 or fixed and len(aad) not in (16, 20):
        raise ValueError(f"AAD region of {len(aad)} bytes")
    return aad[:-8]


def _rfc4309(key, iv, aad, data, authsize, encrypt):
    # RFC 4309 CCM: 3-byte salt, 11-byte nonce (L = 4); the IV copy is not authenticated.
    return _ccm(key[:-3], ccm_iv(key[-3:] + iv), _esp_aad(aad, True), data, authsize, encrypt)


def _rfc4543(key, iv, aad, data, authsize, encrypt):
    # RFC 4543 GMAC: nothing is encrypted; the whole AAD region (IV copy included) and the
    # payload are authenticated as GCM AAD.
    _esp_aad(aad, True)
    g, nonce = AESGCM(key[:-4]), key[-4:] + iv
    if encrypt:
        return data + g.encrypt(nonce, b"", aad + data)[-16:][:authsize]
    pt, tag = data[:-authsize], data[-authsize:]
    if not hmac_mod.compare_digest(g.encrypt(nonce, b"", aad + pt)[-16:][:authsize], tag):
        raise InvalidTag()
    return pt


def _rfc7539esp(key, iv, aad, data, authsize, encrypt):
    # RFC 7634: 4-byte salt; the AAD region is any length >= 8, its last 8 bytes (the IV) unauthenticated.
    return _chachapoly(key[:32], key[32:] + iv, _esp_aad(aad, False), data, authsize, encrypt)


def _cts_cbc_aes(key, iv, data, encrypt):
    """CBC with ciphertext stealing as Linux's cts(cbc(aes)) does it (CBC-CS3, the Kerberos
    variant, RFC 3962): exactly one block is plain CBC; otherwise the last two ciphertext
    blocks are swapped and the final one cut to the length of the last partial block (the
    swap happens for whole-block lengths too)."""
    n = len(data)
    if n < 16:
        raise ValueError("cts(cbc(aes)) needs at least one block")
    cbc = _block_mode(modes.CBC)
    if n == 16:
        return cbc(key, iv, data, encrypt)
    d = n % 16 or 16
    if encrypt:
        c = cbc(key, iv, data + bytes(16 - d), True)        # zero padding: E(C[n-1] ^ (P[n] || 0))
        return c[:-32] + c[-16:] + c[-32:-16][:d]
    head, cn, tail = data[:n - d - 16], data[n - d - 16:n - d], data[n - d:]
    dn = _block_mode(modes.ECB, needs_iv=False)(key, None, cn, False)
    last = bytes(a ^ b for a, b in zip(dn[:d], tail))
    return cbc(key, iv, head + tail + dn[d:], False) + last


def authenc_key(authkey: bytes, enckey: bytes) -> bytes:
    """The authenc() key blob: rtattr{len=8, type=1 (host endian)}, be32 enckeylen, keys."""
    return struct.pack("=HH", 8, 1) + struct.pack(">I", len(enckey)) + authkey + enckey


def _authenc_hmac_sha256_cbc_aes(key, iv, aad, data, authsize, encrypt):
    enckeylen = struct.unpack(">I", key[4:8])[0]
    authkey, enckey = key[8:-enckeylen], key[-enckeylen:]
    cbc = _block_mode(modes.CBC)
    if encrypt:
        ct = cbc(enckey, iv, data, True)
        return ct + hmac_mod.new(authkey, aad + ct, "sha256").digest()[:authsize]
    ct, tag = data[:-authsize], data[-authsize:]
    if not hmac_mod.compare_digest(hmac_mod.new(authkey, aad + ct, "sha256").digest()[:authsize], tag):
        raise InvalidTag()
    return cbc(enckey, iv, ct, False)


# -- the registry ----------------------------------------------------------------------------------

_AES_KEYS = (16, 24, 32)

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in [
    # hashes
    Algorithm("md5", "hash", digestsize=16, blocksize=64, oracle=_hash("md5")),
    Algorithm("sha1", "hash", digestsize=20, blocksize=64, oracle=_hash("sha1")),
    Algorithm("sha224", "hash", digestsize=28, blocksize=64, oracle=_hash("sha224")),
    Algorithm("sha256", "hash", digestsize=32, blocksize=64, oracle=_hash("sha256")),
    Algorithm("sha384", "hash", digestsize=48, blocksize=128, oracle=_hash("sha384")),
    Algorithm("sha512", "hash", digestsize=64, blocksize=128, oracle=_hash("sha512")),
    Algorithm("sha3-224", "hash", digestsize=28, blocksize=144, oracle=_hash("sha3_224")),
    Algorithm("sha3-256", "hash", digestsize=32, blocksize=136, oracle=_hash("sha3_256")),
    Algorithm("sha3-384", "hash", digestsize=48, blocksize=104, oracle=_hash("sha3_384")),
    Algorithm("sha3-512", "hash", digestsize=64, blocksize=72, oracle=_hash("sha3_512")),
    Algorithm("hmac(md5)", "hash", key_sizes=(16,), digestsize=16, blocksize=64, oracle=_hmac("md5")),
    Algorithm("hmac(sha1)", "hash", key_sizes=(20,), digestsize=20, blocksize=64, oracle=_hmac("sha1")),
    Algorithm("hmac(sha224)", "hash", key_sizes=(28,), digestsize=28, blocksize=64, oracle=_hmac("sha224")),
    Algorithm("hmac(sha256)", "hash", key_sizes=(32,), digestsize=32, blocksize=64, oracle=_hmac("sha256")),
    Algorithm("hmac(sha384)", "hash", key_sizes=(48,), digestsize=48, blocksize=128, oracle=_hmac("sha384")),
    Algorithm("hmac(sha512)", "hash", key_sizes=(64,), digestsize=64, blocksize=128, oracle=_hmac("sha512")),
    Algorithm("cmac(aes)", "hash", key_sizes=_AES_KEYS, digestsize=16, blocksize=16, oracle=_cmac_aes),
    Algorithm("xcbc(aes)", "hash", key_sizes=(16,), digestsize=16, blocksize=16, oracle=_xcbc_aes,
              notes="oracle built from AES-ECB (RFC 3566); RFC 3566 vectors ship in vectors/data"),
    # symmetric ciphers
    Algorithm("ecb(aes)", "skcipher", key_sizes=_AES_KEYS, ivsize=0, blocksize=16, chunksize=16,
              oracle=_block_mode(modes.ECB, needs_iv=False)),
    Algorithm("cbc(aes)", "skcipher", key_sizes=_AES_KEYS, ivsize=16, blocksize=16, chunksize=16,
              oracle=_block_mode(modes.CBC)),
    Algorithm("ctr(aes)", "skcipher", key_sizes=_AES_KEYS, ivsize=16, blocksize=1, chunksize=16,
              oracle=_block_mode(modes.CTR)),
    Algorithm("xts(aes)", "skcipher", key_sizes=(32, 64), ivsize=16, blocksize=16, chunksize=16,
              oracle=_xts, notes="48-byte keys (AES-192-XTS) work in the kernel but not in OpenSSL"),
    Algorithm("chacha20", "skcipher", key_sizes=(32,), ivsize=16, blocksize=1, chunksize=64,
              oracle=_chacha20),
    Algorithm("xchacha20", "skcipher", key_sizes=(32,), ivsize=32, blocksize=1, chunksize=64,
              oracle=_xchacha20),
    # AEAD
    Algorithm("gcm(aes)", "aead", key_sizes=_AES_KEYS, ivsize=12, blocksize=1,
              authsizes=(4, 8, 12, 13, 14, 15, 16), oracle=_gcm),
    Algorithm("ccm(aes)", "aead", key_sizes=_AES_KEYS, ivsize=16, blocksize=1,
              authsizes=(4, 6, 8, 10, 12, 14, 16), oracle=_ccm),
    Algorithm("rfc4106(gcm(aes))", "aead", key_sizes=(20, 28, 36), ivsize=8, blocksize=1,
              authsizes=(8, 12, 16), assoclen_fixed=(16, 20), oracle=_rfc4106),
    Algorithm("rfc7539(chacha20,poly1305)", "aead", key_sizes=(32,), ivsize=12, blocksize=1,
              authsizes=(16,), oracle=_chachapoly),
    Algorithm("authenc(hmac(sha256),cbc(aes))", "aead", key_sizes=(48, 56, 64), ivsize=16, blocksize=16,
              authsizes=tuple(range(1, 33)), oracle=_authenc_hmac_sha256_cbc_aes,
              make_key=lambda m: authenc_key(m[:32], m[32:]),
              notes="key is an authenc blob made from 32 bytes of HMAC key and an AES key; "
                    "data must be whole blocks"),
    # RNG
    Algorithm("stdrng", "rng"),
    Algorithm("jitterentropy_rng", "rng"),
    # (appended, not sorted in: the fuzzers' static name table keeps its indices)
    # Triple DES: K1 || K2 || K3. Outside FIPS mode the kernel takes degenerate keys
    # (K1 = K2 = K3, the CAVP KAT files' single KEYs) unless the caller forbids weak keys,
    # which AF_ALG never does (des3_ede_setkey: -ENOKEY becomes 0).
    Algorithm("ecb(des3_ede)", "skcipher", key_sizes=(24,), ivsize=0, blocksize=8, chunksize=8,
              oracle=_block_mode(modes.ECB, needs_iv=False, cipher=decrepit.TripleDES)),
    Algorithm("cbc(des3_ede)", "skcipher", key_sizes=(24,), ivsize=8, blocksize=8, chunksize=8,
              oracle=_block_mode(modes.CBC, cipher=decrepit.TripleDES)),
    Algorithm("cmac(des3_ede)", "hash", key_sizes=(24,), digestsize=8, blocksize=8,
              oracle=_cmac_with(decrepit.TripleDES)),
    Algorithm("kw(aes)", "skcipher", key_sizes=_AES_KEYS, ivsize=8, blocksize=8, chunksize=8, oracle=_kw,
              random_inputs=False,
              notes="RFC 3394 / SP 800-38F KW: the first semiblock of the wrapped key is the IV; data "
                    "must be whole semiblocks, at least two"),
    Algorithm("rmd160", "hash", digestsize=20, blocksize=64, oracle=_hash("ripemd160")),
    Algorithm("hmac(rmd160)", "hash", key_sizes=(20,), digestsize=20, blocksize=64, oracle=_hmac("ripemd160")),
    *(Algorithm(f"blake2b-{8 * n}", "hash", digestsize=n, blocksize=128, oracle=_blake2b(n),
                optional_key_sizes=tuple(range(1, 65)),
                notes="optionally keyed: ALG_SET_KEY with 1..64 bytes makes it keyed BLAKE2b")
      for n in (20, 32, 48, 64)),
    *(Algorithm(f"hmac(sha3-{8 * n})", "hash", key_sizes=(n,), digestsize=n, blocksize=200 - 2 * n,
                oracle=_hmac(f"sha3_{8 * n}")) for n in (28, 32, 48, 64)),
    Algorithm("poly1305", "hash", digestsize=16, blocksize=16, oracle=_poly1305, random_inputs=False,
              notes="no setkey: the first 32 bytes of the message are the key (6.12 and older; later "
                    "kernels dropped the poly1305 shash)"),
    # other block ciphers, ECB and CBC (cryptography keeps them in its decrepit module)
    *(Algorithm(f"{mode}({name})", "skcipher", key_sizes=keys, ivsize=0 if mode == "ecb" else bs,
                blocksize=bs, chunksize=bs,
                oracle=_block_mode(modes.ECB, needs_iv=False, cipher=cipher) if mode == "ecb"
                else _block_mode(modes.CBC, cipher=cipher))
      for name, keys, bs, cipher in (("camellia", _AES_KEYS, 16, decrepit.Camellia),
                                     ("cast5", tuple(range(5, 17)), 8, decrepit.CAST5),
                                     ("blowfish", tuple(range(4, 57)), 8, decrepit.Blowfish),
                                     ("sm4", (16,), 16, algorithms.SM4))
      for mode in ("ecb", "cbc")),
    # AES CFB (128-bit feedback) and OFB: templates Linux removed in 6.7 (present in 6.1)
    Algorithm("cfb(aes)", "skcipher", key_sizes=_AES_KEYS, ivsize=16, blocksize=1, chunksize=16,
              oracle=_block_mode(decrepit_modes.CFB)),
    Algorithm("ofb(aes)", "skcipher", key_sizes=_AES_KEYS, ivsize=16, blocksize=1, chunksize=16,
              oracle=_block_mode(decrepit_modes.OFB)),
    Algorithm("cts(cbc(aes))", "skcipher", key_sizes=_AES_KEYS, ivsize=16, blocksize=16, chunksize=16,
              oracle=_cts_cbc_aes, notes="CBC-CS3: any length of at least one block"),
    Algorithm("rfc4309(ccm(aes))", "aead", key_sizes=(19, 27, 35), ivsize=8, blocksize=1,
              authsizes=(8, 12, 16), assoclen_fixed=(16, 20), oracle=_rfc4309),
    Algorithm("rfc4543(gcm(aes))", "aead", key_sizes=(20, 28, 36), ivsize=8, blocksize=1,
              authsizes=(16,), assoclen_fixed=(16, 20), oracle=_rfc4543),
    Algorithm("rfc7539esp(chacha20,poly1305)", "aead", key_sizes=(36,), ivsize=8, blocksize=1,
              authsizes=(16,), assoclen_min=8, oracle=_rfc7539esp),
]}


class UnknownAlgorithm(KeyError):
    def __str__(self):
        known = ", ".join(sorted(ALGORITHMS))
        return f"unknown algorithm {self.args[0]!r}; known: {known}"


def get(name: str) -> Algorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise UnknownAlgorithm(name) from None


def of_type(alg_type: str) -> list[Algorithm]:
    return [a for a in ALGORITHMS.values() if a.type == alg_type]


def ccm_iv(nonce: bytes) -> bytes:
    """AF_ALG's 16-byte CCM IV for a 7..13-byte nonce."""
    L = 15 - len(nonce)
    return bytes([L - 1]) + nonce + b"\0" * L
