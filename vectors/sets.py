"""Which vector file tests which kernel algorithm: the declarative table.

One row per vector file. `algorithm` is a name from harness/afalg/algorithms.py (the
one place algorithms are described); `format` picks the loader (vectors.cavp,
vectors.nist_txt, vectors.wycheproof); `adapter` (vectors.cases) turns its
records into AF_ALG-layout cases. Files are read from the installed packages
(`source`), never copied here; vectors/data holds only what no package ships.

    for vs in SETS: cases = vs.cases()          # raises VectorError on a bad file
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from afalg_conformance.harness.afalg import algorithms

from . import cache as _cache
from . import cases as _cases
from . import blake2_kat, cavp, nist_txt, ntt_camellia, wycheproof
from .common import locate

LOADERS = {"cavp": cavp.load, "nist_txt": nist_txt.load, "wycheproof": wycheproof.load,
           "blake2_kat": blake2_kat.load, "ntt_camellia": ntt_camellia.load}


@dataclass(frozen=True)
class VectorSet:
    id: str            # stable test id
    source: str        # cryptography | pycryptodome | afalg (vectors/data)
    path: str          # inside the source package
    format: str        # cavp | nist_txt | wycheproof | blake2_kat | ntt_camellia
    adapter: str       # function in vectors.cases
    algorithm: str     # harness.afalg.algorithms name
    op: str = ""       # gcm_cavp, kw_cavp: which direction the file holds; "both": a
                       # skcipher file without [ENCRYPT]/[DECRYPT] sections
    note: str = ""

    @property
    def alg(self) -> algorithms.Algorithm:
        return algorithms.get(self.algorithm)

    def file(self) -> Path:
        return locate(self.source, self.path)

    def load(self):
        return LOADERS[self.format](self.file())

    def cases(self) -> list[_cases.Case]:
        """The file's cases: from the host's parse (vectors/cache.py) when there is one."""
        cached = _cache.load(self)
        return cached if cached is not None else self.parse()

    def parse(self) -> list[_cases.Case]:
        out = _cases.ADAPTERS[self.adapter](self.load(), self)
        seen: set[str] = set()
        for c in out:                       # names must be unique within one test
            if c.name in seen:
                c.name = f"{c.name}@{c.where.rsplit(':', 1)[-1]}"
            seen.add(c.name)
        return out


def _rows() -> list[VectorSet]:
    rows: list[VectorSet] = []
    C, P = "cryptography", "pycryptodome"
    # -- hashes: NIST CAVP SHA ShortMsg/LongMsg (byte-oriented) --
    for alg, stem, d in [("sha1", "SHA1", "SHA1"), ("sha224", "SHA224", "SHA2"), ("sha256", "SHA256", "SHA2"),
                         ("sha384", "SHA384", "SHA2"), ("sha512", "SHA512", "SHA2"),
                         ("sha3-224", "SHA3_224", "SHA3"), ("sha3-256", "SHA3_256", "SHA3"),
                         ("sha3-384", "SHA3_384", "SHA3"), ("sha3-512", "SHA3_512", "SHA3")]:
        for kind in ("Short", "Long"):
            rows.append(VectorSet(f"cavp-{alg}-{kind.lower()}msg", C, f"hashes/{d}/{stem}{kind}Msg.rsp",
                                  "cavp", "hash_cavp", alg))
    # -- MD5 (RFC 1321), RIPEMD-160 (its authors' page), BLAKE2b-512 (unkeyed; keyed from
    # blake2.net's KAT through ALG_SET_KEY), all in the hash loader's Len/Msg/MD layout --
    rows.append(VectorSet("rfc1321-md5", C, "hashes/MD5/rfc-1321.txt", "nist_txt", "hash_cavp", "md5"))
    rows.append(VectorSet("ripemd160", C, "hashes/ripemd160/ripevectors.txt", "nist_txt", "hash_cavp", "rmd160"))
    rows.append(VectorSet("blake2b", C, "hashes/blake2/blake2b.txt", "nist_txt", "hash_cavp", "blake2b-512"))
    rows.append(VectorSet("blake2b-keyed-kat", P, "Hash/BLAKE2b/blake2b-test.txt", "blake2_kat", "keyed_hash_kat",
                          "blake2b-512", note="keyed: 64-byte key through ALG_SET_KEY"))
    # -- poly1305 (an unkeyed shash up to 6.12: the first 32 bytes hashed are the key r || s;
    # debian-6.12 lists poly1305-simd and poly1305-generic and binds it; later kernels removed it) --
    rows.append(VectorSet("rfc7539-poly1305", C, "poly1305/rfc7539.txt", "nist_txt", "poly1305_txt", "poly1305",
                          note="message = KEY || MSG (no setkey)"))
    # -- SHA Monte Carlo (SHAVS / SHA3VS): 100 checkpoints of 1000 chained digests each, run
    # through the kernel; SHA-512/224 and /256 have no kernel algorithm --
    for alg, stem, d in [("sha1", "SHA1", "SHA1"), ("sha224", "SHA224", "SHA2"), ("sha256", "SHA256", "SHA2"),
                         ("sha384", "SHA384", "SHA2"), ("sha512", "SHA512", "SHA2"),
                         ("sha3-224", "SHA3_224", "SHA3"), ("sha3-256", "SHA3_256", "SHA3"),
                         ("sha3-384", "SHA3_384", "SHA3"), ("sha3-512", "SHA3_512", "SHA3")]:
        rows.append(VectorSet(f"cavp-{alg}-monte", C, f"hashes/{d}/{stem}Monte.rsp", "cavp", "hash_mct", alg,
                              note="Monte Carlo: 1000 kernel digests per checkpoint"))
    # -- HMAC: RFC 4231 / RFC 2202 as cryptography writes them --
    for alg, f in [("hmac(sha224)", "rfc-4231-sha224"), ("hmac(sha256)", "rfc-4231-sha256"),
                   ("hmac(sha384)", "rfc-4231-sha384"), ("hmac(sha512)", "rfc-4231-sha512"),
                   ("hmac(sha1)", "rfc-2202-sha1"), ("hmac(md5)", "rfc-2202-md5")]:
        rows.append(VectorSet(f"{f}", C, f"HMAC/{f}.txt", "nist_txt", "hmac_txt", alg))
    rows.append(VectorSet("rfc-2286-ripemd160", C, "HMAC/rfc-2286-ripemd160.txt", "nist_txt", "hmac_txt",
                          "hmac(rmd160)"))
    # -- HMAC-SHA3: derived (no package has HMAC-SHA3 answers): the CAVP SHA3 ShortMsg
    # messages with generated keys, the MAC computed by Python's hmac + hashlib --
    for n in (224, 256, 384, 512):
        rows.append(VectorSet(f"derived-hmac-sha3-{n}", C, f"hashes/SHA3/SHA3_{n}ShortMsg.rsp", "cavp",
                              "hmac_derived", f"hmac(sha3-{n})",
                              note="derived: expected MACs from Python's hmac + hashlib, keys generated"))
    # -- CMAC, XCBC --
    for bits in (128, 192, 256):
        rows.append(VectorSet(f"nist-cmac-aes{bits}", C, f"CMAC/nist-800-38b-aes{bits}.txt", "nist_txt",
                              "mac_txt", "cmac(aes)"))
    rows.append(VectorSet("wycheproof-aes-cmac", P, "Hash/wycheproof/aes_cmac_test.json", "wycheproof",
                          "mac_wycheproof", "cmac(aes)"))
    rows.append(VectorSet("nist-cmac-3des", C, "CMAC/nist-800-38b-3des.txt", "nist_txt", "mac_txt",
                          "cmac(des3_ede)"))
    rows.append(VectorSet("rfc3566-xcbc-aes", "afalg", "xcbc-aes-rfc3566.txt", "nist_txt", "mac_txt",
                          "xcbc(aes)", note="shipped: no package has XCBC vectors"))
    # -- AES ECB / CBC: the CAVP KAT and MMT files (CBC Monte Carlo below; cryptography ships no MCT) --
    for mode in ("ECB", "CBC"):
        for kind in ("GFSbox", "KeySbox", "VarKey", "VarTxt", "MMT"):
            for bits in (128, 192, 256):
                rows.append(VectorSet(f"cavp-{mode.lower()}-{kind.lower()}{bits}", C,
                                      f"ciphers/AES/{mode}/{mode}{kind}{bits}.rsp", "cavp", "skcipher_cavp",
                                      f"{mode.lower()}(aes)"))
    # -- Triple DES: the CAVP TDES KAT (invperm, permop, subtab, varkey, vartext) and MMT files
    # for ECB and CBC (the interleaved TCBCI* files are CBC-I, a mode the kernel has no template
    # for; the Monte-Carlo files are not in the package) --
    for mode, stem in (("ecb", "TECB"), ("cbc", "TCBC")):
        for kind in ("invperm", "permop", "subtab", "varkey", "vartext", "MMT1", "MMT2", "MMT3"):
            rows.append(VectorSet(f"cavp-tdes-{mode}-{kind.lower()}", C, f"ciphers/3DES/{mode.upper()}/{stem}{kind}.rsp",
                                  "cavp", "skcipher_cavp", f"{mode}(des3_ede)"))
    # -- AES CBC Monte Carlo (AESVS; pycryptodome ships the MCT files cryptography leaves out,
    # and no ECB MCT): per outer iteration 1000 chained blocks, two a request, on one op socket --
    for bits in (128, 192, 256):
        rows.append(VectorSet(f"cavp-cbc-mct{bits}", P, f"Cipher/AES/CBCMCT{bits}.rsp", "cavp", "aes_mct", "cbc(aes)",
                              note="Monte Carlo: 1000 blocks in 500 kernel requests per vector, the IV chained by the op socket"))
    # -- Camellia, CAST5, Blowfish, SM4: ECB and CBC as cryptography ships them (NIST-style .txt;
    # Camellia ECB below). Not CFB/OFB/CTR (no such kernel templates over these ciphers, or none
    # in Debian's config) --
    for vid, path, alg, op in (
            ("camellia-cbc", "ciphers/Camellia/camellia-cbc.txt", "cbc(camellia)", ""),
            ("cast5-ecb", "ciphers/CAST5/cast5-ecb.txt", "ecb(cast5)", ""),
            ("cast5-cbc", "ciphers/CAST5/cast5-cbc.txt", "cbc(cast5)", "both"),
            ("blowfish-ecb", "ciphers/Blowfish/bf-ecb.txt", "ecb(blowfish)", ""),
            ("blowfish-cbc", "ciphers/Blowfish/bf-cbc.txt", "cbc(blowfish)", ""),
            ("sm4-ecb", "ciphers/SM4/draft-ribose-cfrg-sm4-10-ecb.txt", "ecb(sm4)", ""),
            ("sm4-cbc", "ciphers/SM4/draft-ribose-cfrg-sm4-10-cbc.txt", "cbc(sm4)", "")):
        rows.append(VectorSet(vid, C, path, "nist_txt", "skcipher_cavp", alg, op=op))
    # -- Camellia ECB: NTT's own known-answer file, per key size 10 keys x 128 one-block
    # plaintexts with one bit set --
    for bits in (128, 192, 256):
        rows.append(VectorSet(f"ntt-camellia-ecb{bits}", C, f"ciphers/Camellia/camellia-{bits}-ecb.txt",
                              "ntt_camellia", "skcipher_cavp", "ecb(camellia)", op="both"))
    # -- AES CFB128 and OFB (CAVP KAT + MMT): the kernel has cfb(aes)/ofb(aes) up to 6.6 only,
    # so on 6.12 these skip as alg-missing. CFB1/CFB8 have no kernel template --
    for mode, stem in (("cfb", "CFB128"), ("ofb", "OFB")):
        for kind in ("GFSbox", "KeySbox", "VarKey", "VarTxt", "MMT"):
            for bits in (128, 192, 256):
                rows.append(VectorSet(f"cavp-{mode}-{kind.lower()}{bits}", C,
                                      f"ciphers/AES/{mode.upper()}/{stem}{kind}{bits}.rsp", "cavp", "skcipher_cavp",
                                      f"{mode}(aes)"))
        # Monte Carlo (pycryptodome's AESVS files): CBC's chain, the IV carried by the op
        # socket as the mode leaves it; 100-200 checkpoints per file, each 1000 blocks in 500 requests
        for bits in (128, 192, 256):
            rows.append(VectorSet(f"cavp-{mode}-mct{bits}", P, f"Cipher/AES/{stem}MCT{bits}.rsp", "cavp", "aes_mct",
                                  f"{mode}(aes)",
                                  note="Monte Carlo: 1000 blocks in 500 kernel requests per vector, the IV chained by the op socket"))
    # -- cts(cbc(aes)): derived from the CBC MMT files (no package has CTS vectors) --
    for bits in (128, 192, 256):
        rows.append(VectorSet(f"derived-cts-cbc-aes{bits}", C, f"ciphers/AES/CBC/CBCMMT{bits}.rsp", "cavp",
                              "cts_derived", "cts(cbc(aes))",
                              note="derived: CBC-CS3 of the MMT plaintexts (whole, -1 byte, 17..31 bytes) "
                                   "computed from pyca/cryptography's CBC"))
    # -- CTR (RFC 3686 vectors in cryptography's .txt) --
    for bits in (128, 192, 256):
        rows.append(VectorSet(f"ctr-aes{bits}", C, f"ciphers/AES/CTR/aes-{bits}-ctr.txt", "nist_txt",
                              "skcipher_cavp", "ctr(aes)"))
    # -- XTS --
    for tweak in ("tweak-128hexstr", "tweak-dataunitseqno"):
        for bits in (128, 256):
            rows.append(VectorSet(f"cavp-xts-aes{bits}-{tweak}", C, f"ciphers/AES/XTS/{tweak}/XTSGenAES{bits}.rsp",
                                  "cavp", "xts_cavp", "xts(aes)"))
    rows.append(VectorSet("wycheproof-aes-xts", P, "Cipher/wycheproof/aes_xts_test.json", "wycheproof",
                          "xts_wycheproof", "xts(aes)", note="tweak zero-padded on the right to 16 bytes"))
    # -- AES key wrap (SP 800-38F KW, forward cipher). Not the KWP files (padding: no kernel
    # template), not the *_inv files (KW-AE with the inverse cipher), not TKW (kw() needs a
    # 16-byte block cipher: kw(des3_ede) does not instantiate) --
    for d, op in (("AE", "encrypt"), ("AD", "decrypt")):
        for bits in (128, 192, 256):
            rows.append(VectorSet(f"cavp-kw-{d.lower()}{bits}", C, f"keywrap/kwtestvectors/KW_{d}_{bits}.txt",
                                  "cavp", "kw_cavp", "kw(aes)", op=op))
    rows.append(VectorSet("wycheproof-aes-wrap", P, "Cipher/wycheproof/aes_wrap_test.json", "wycheproof",
                          "kw_wycheproof", "kw(aes)"))
    # -- GCM --
    for bits in (128, 192, 256):
        rows.append(VectorSet(f"cavp-gcm-encrypt{bits}", C, f"ciphers/AES/GCM/gcmEncryptExtIV{bits}.rsp", "cavp",
                              "gcm_cavp", "gcm(aes)", op="encrypt"))
        rows.append(VectorSet(f"cavp-gcm-decrypt{bits}", C, f"ciphers/AES/GCM/gcmDecrypt{bits}.rsp", "cavp",
                              "gcm_cavp", "gcm(aes)", op="decrypt"))
    rows.append(VectorSet("wycheproof-aes-gcm", P, "Cipher/wycheproof/aes_gcm_test.json", "wycheproof",
                          "aead_wycheproof", "gcm(aes)"))
    # -- CCM --
    for kind in ("DVPT", "VADT", "VNT", "VPT", "VTT"):
        for bits in (128, 192, 256):
            rows.append(VectorSet(f"cavp-ccm-{kind.lower()}{bits}", C, f"ciphers/AES/CCM/{kind}{bits}.rsp", "cavp",
                                  "ccm_cavp", "ccm(aes)"))
    rows.append(VectorSet("wycheproof-aes-ccm", P, "Cipher/wycheproof/aes_ccm_test.json", "wycheproof",
                          "aead_wycheproof", "ccm(aes)"))
    # -- the IPsec forms of GCM, CCM and ChaCha20-Poly1305 (RFC 4106, 4309, 7634), from the base
    # algorithm's files: a vector whose nonce, AAD length (rfc4106/4309: 8 or 12 bytes) or tag
    # length the form cannot carry is inexpressible:<form>-<what>=N. The CAVP GCM/CCM files
    # have no vector with 8 or 12 bytes of AAD (and a 12-byte CCM nonce), hence Wycheproof only.
    # rfc4543 (GMAC) has no source vectors at all: derived with pyca/cryptography --
    rows.append(VectorSet("wycheproof-aes-gcm-rfc4106", P, "Cipher/wycheproof/aes_gcm_test.json", "wycheproof",
                          "esp_wycheproof", "rfc4106(gcm(aes))", note="derived layout: key||IV[0:4], IV[4:12]"))
    rows.append(VectorSet("wycheproof-aes-ccm-rfc4309", P, "Cipher/wycheproof/aes_ccm_test.json", "wycheproof",
                          "esp_wycheproof", "rfc4309(ccm(aes))", note="derived layout: key||nonce[0:3], nonce[3:11]"))
    for bits in (128, 256):
        rows.append(VectorSet(f"derived-rfc4543-gcm{bits}", C, f"ciphers/AES/GCM/gcmEncryptExtIV{bits}.rsp", "cavp",
                              "rfc4543_derived", "rfc4543(gcm(aes))",
                              note="derived: GMAC tags from pyca/cryptography over the file's keys, IVs, "
                                   "AAD[0:8] and plaintexts"))
    rows.append(VectorSet("wycheproof-chacha20-poly1305-esp", P, "Cipher/wycheproof/chacha20_poly1305_test.json",
                          "wycheproof", "esp_wycheproof", "rfc7539esp(chacha20,poly1305)",
                          note="derived layout: key||nonce[0:4], nonce[4:12]"))
    for f in ("openssl", "boringssl"):
        rows.append(VectorSet(f"chacha20-poly1305-{f}-esp", C, f"ciphers/ChaCha20Poly1305/{f}.txt", "nist_txt",
                              "esp_chachapoly_txt", "rfc7539esp(chacha20,poly1305)",
                              note="derived layout: key||nonce[0:4], nonce[4:12]"))
    # -- ChaCha20-Poly1305, ChaCha20 --
    rows.append(VectorSet("wycheproof-chacha20-poly1305", P, "Cipher/wycheproof/chacha20_poly1305_test.json",
                          "wycheproof", "aead_wycheproof", "rfc7539(chacha20,poly1305)"))
    for f in ("openssl", "boringssl"):
        rows.append(VectorSet(f"chacha20-poly1305-{f}", C, f"ciphers/ChaCha20Poly1305/{f}.txt", "nist_txt",
                              "chachapoly_txt", "rfc7539(chacha20,poly1305)"))
    rows.append(VectorSet("rfc7539-chacha20", C, "ciphers/ChaCha20/rfc7539.txt", "nist_txt", "chacha20_txt",
                          "chacha20"))
    for alg in ("chacha20", "xchacha20"):
        rows.append(VectorSet(f"wycheproof-{alg}-counter", P, "Cipher/wycheproof/chacha20_counter_test.json",
                              "wycheproof", "chacha20_wycheproof", alg,
                              note="the file's group for this algorithm only"))
    return rows


SETS: list[VectorSet] = _rows()
BY_ID: dict[str, VectorSet] = {vs.id: vs for vs in SETS}


def for_algorithm(name: str) -> list[VectorSet]:
    return [vs for vs in SETS if vs.algorithm == name]


def algorithms_covered() -> list[str]:
    return sorted({vs.algorithm for vs in SETS})
