"""Host-side checks of the vector layer (no AF_ALG needed).

- every loader parses every file it is given and the counts are what the files hold;
- a corrupt or missing file raises VectorError naming the file and the line;
- the table in vectors/sets.py only names algorithms harness/afalg/algorithms.py knows;
- the oracles in harness/afalg/algorithms.py reproduce a sample of every vector set,
  which validates both the AF_ALG-layout adapters and the oracles the property
  tests rely on.
"""

from __future__ import annotations

import json
import shutil
import functools
from collections import Counter

import pytest
from cryptography.exceptions import InvalidTag

from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.vectors import cavp, nist_txt, wycheproof
from afalg_conformance.vectors.cases import ADAPTERS, aes_mct_chain
from afalg_conformance.vectors.common import VectorError, locate, source_root
from afalg_conformance.vectors.sets import BY_ID, SETS, VectorSet

@functools.lru_cache(maxsize=None)
def cases_of(set_id: str):
    return BY_ID[set_id].cases()


# -- loaders ------------------------------------------------------------------------------------

def test_cavp_counts():
    assert len(cavp.load(locate("cryptography", "hashes/SHA2/SHA256ShortMsg.rsp"))) == 65
    gcm = cavp.load(locate("cryptography", "ciphers/AES/GCM/gcmDecrypt128.rsp"))
    assert len(gcm) == 7875
    assert 3000 < sum(r.fail for r in gcm) < 5000                      # FAIL lines seen
    assert {r.params["ivlen"] for r in gcm} == {"8", "96", "1024"}     # [IVlen = n] headers
    ccm = cavp.load(locate("cryptography", "ciphers/AES/CCM/VADT128.rsp"))
    assert len(ccm) == 330 and ccm[0].int("plen") == 24                # file-level context
    assert ccm[0].bytes("nonce") == bytes.fromhex("f1100035bb24a8d26004e0e24b")  # section context
    dvpt = cavp.load(locate("cryptography", "ciphers/AES/CCM/DVPT128.rsp"))
    assert Counter(r.fail for r in dvpt) == {True: 160, False: 80}       # Result = Pass/Fail


def test_nist_txt_formats():
    cmac = nist_txt.load(locate("cryptography", "CMAC/nist-800-38b-aes128.txt"))
    assert len(cmac) == 4 and cmac[0].bytes("message") == b""
    hmac = nist_txt.load(locate("cryptography", "HMAC/rfc-4231-sha256.txt"))
    assert len(hmac) == 6 and hmac[1].bytes("key") == b"Jefe"
    boring = nist_txt.load(locate("cryptography", "ciphers/ChaCha20Poly1305/boringssl.txt"))
    assert len(boring) == 66 and boring[1].bytes("ad") == b"1"           # quoted ASCII values
    openssl = nist_txt.load(locate("cryptography", "ciphers/ChaCha20Poly1305/openssl.txt"))
    assert [r.fail for r in openssl].count(True) == 1                    # CIPHERFINAL_ERROR
    ctr = nist_txt.load(locate("cryptography", "ciphers/AES/CTR/aes-128-ctr.txt"))
    assert ctr[0].params["direction"] == "encrypt"


def test_wycheproof_counts():
    for path, n in [("Cipher/wycheproof/aes_gcm_test.json", 316), ("Cipher/wycheproof/aes_ccm_test.json", 552),
                    ("Cipher/wycheproof/chacha20_poly1305_test.json", 325),
                    ("Cipher/wycheproof/aes_xts_test.json", 123), ("Hash/wycheproof/aes_cmac_test.json", 311)]:
        f = wycheproof.load(locate("pycryptodome", path))
        assert len(f.tests) == n
        assert all(t.line > 0 for t in f.tests)
        assert {t.result for t in f.tests} <= {"valid", "invalid", "acceptable"}


@pytest.mark.parametrize("vs", SETS, ids=[vs.id for vs in SETS])
def test_every_set_loads(vs):
    cases = cases_of(vs.id)
    assert cases, vs.id
    assert len({c.name for c in cases}) == len(cases)
    runnable = [c for c in cases if not c.unsupported]
    assert runnable, f"{vs.id}: every case is unsupported"
    for c in cases:
        assert c.alg == vs.algorithm or c.unsupported
        assert c.unsupported == "" or c.unsupported.startswith("inexpressible:")


def test_measured_counts():
    """The counts ecosystem-notes §6.2b measured on a real kernel, from our adapters."""
    def tally(set_id):
        return Counter("skip" if c.unsupported else c.expect for c in cases_of(set_id))
    assert tally("wycheproof-aes-gcm") == {"valid": 116, "invalid": 81, "skip": 119}
    assert tally("wycheproof-aes-ccm") == {"valid": 405, "invalid": 108, "skip": 39}
    assert tally("wycheproof-chacha20-poly1305") == {"valid": 256, "invalid": 60, "skip": 9}
    assert tally("wycheproof-aes-xts") == {"valid": 123}
    assert tally("wycheproof-aes-cmac") == {"valid": 63, "invalid": 248}


# -- corrupt and missing files ------------------------------------------------------------------

def _copy(tmp_path, source, rel):
    dst = tmp_path / rel.rsplit("/", 1)[-1]
    shutil.copy(locate(source, rel), dst)
    return dst


def test_cavp_bad_hex_names_file_and_line(tmp_path):
    p = _copy(tmp_path, "cryptography", "hashes/SHA2/SHA256ShortMsg.rsp")
    lines = p.read_text().splitlines()
    n = next(i for i, l in enumerate(lines) if l.startswith("MD = "))
    lines[n] = "MD = zz" + lines[n][7:]
    p.write_text("\n".join(lines))
    vs = VectorSet("t", "cryptography", "x", "cavp", "hash_cavp", "sha256")
    with pytest.raises(VectorError) as e:
        ADAPTERS["hash_cavp"](cavp.load(p), vs)
    assert e.value.path == str(p) and e.value.line == n + 1
    assert f"{p.name}:{n + 1}" in str(e.value)


def test_cavp_garbage_line(tmp_path):
    p = tmp_path / "bad.rsp"
    p.write_text("[L = 32]\n\nLen = 0\nMsg = 00\nthis is not a vector\n")
    with pytest.raises(VectorError, match=r"bad.rsp:5: not a 'name = value' line"):
        cavp.load(p)


def test_cavp_truncated_ccm_record(tmp_path):
    p = _copy(tmp_path, "cryptography", "ciphers/AES/CCM/VTT128.rsp")
    text = p.read_text()
    p.write_text(text[:text.rindex("CT = ")])       # the last record loses its CT
    vs = BY_ID["cavp-ccm-vtt128"]
    with pytest.raises(VectorError, match=r"VTT128.rsp:\d+: record lacks 'ct'"):
        ADAPTERS["ccm_cavp"](cavp.load(p), vs)


def test_nist_txt_unterminated_quote(tmp_path):
    p = tmp_path / "cp.txt"
    p.write_text('COUNT = 1\nKEY= 00\nIN= "abc\n')
    with pytest.raises(VectorError, match=r"cp.txt:3: unterminated quoted string"):
        nist_txt.load(p)


def test_wycheproof_truncated_json(tmp_path):
    p = _copy(tmp_path, "pycryptodome", "Cipher/wycheproof/aes_gcm_test.json")
    text = p.read_text()
    p.write_text(text[: len(text) // 2])
    with pytest.raises(VectorError) as e:
        wycheproof.load(p)
    assert str(p) in str(e.value) and e.value.line and "not valid JSON" in str(e.value)


def test_wycheproof_count_mismatch_and_bad_hex(tmp_path):
    src = locate("pycryptodome", "Cipher/wycheproof/aes_xts_test.json")
    doc = json.loads(src.read_text())
    doc["testGroups"][0]["tests"].pop()
    p = tmp_path / "x.json"
    p.write_text(json.dumps(doc, indent=2))
    with pytest.raises(VectorError, match="numberOfTests says 123, file holds 122"):
        wycheproof.load(p)
    doc["numberOfTests"] = 122
    doc["testGroups"][0]["tests"][0]["key"] = "nothex"
    p.write_text(json.dumps(doc, indent=2))
    f = wycheproof.load(p)
    with pytest.raises(VectorError, match=r"x.json:\d+: tcId 1 key is not a hex string"):
        f.tests[0].bytes("key")


def test_missing_file_and_package():
    with pytest.raises(VectorError, match="vector file missing"):
        locate("cryptography", "hashes/SHA2/NoSuchFile.rsp")
    with pytest.raises(VectorError, match="unknown vector source"):
        source_root("nowhere")
    vs = VectorSet("t", "cryptography", "ciphers/AES/GCM/gone.rsp", "cavp", "gcm_cavp", "gcm(aes)", op="encrypt")
    with pytest.raises(VectorError, match="gone.rsp"):
        vs.cases()


# -- the table ----------------------------------------------------------------------------------

def test_table_names_known_algorithms():
    for vs in SETS:
        assert vs.algorithm in algorithms.ALGORITHMS, vs.id
        assert vs.adapter in ADAPTERS, vs.id
        assert vs.source in ("cryptography", "pycryptodome", "afalg")
        assert not vs.path.startswith("/"), "files are located through their packages"
    assert len({vs.id for vs in SETS}) == len(SETS)
    assert {"sha256", "sha3-256", "hmac(sha256)", "cmac(aes)", "xcbc(aes)", "ecb(aes)", "cbc(aes)", "ctr(aes)",
            "xts(aes)", "gcm(aes)", "ccm(aes)", "rfc7539(chacha20,poly1305)", "chacha20"} <= {vs.algorithm for vs in SETS}


# -- the oracles reproduce the vectors ------------------------------------------------------------

def oracle_agrees(c) -> bool:
    a = algorithms.get(c.alg)
    if c.kind == "hash":
        try:
            mac = a.oracle(c.key, c.pt)[:len(c.ct)]
        except ValueError:                 # invalid key size: the oracle refuses too
            return c.expect != "valid"
        return (mac == c.ct) == (c.expect == "valid") or c.expect == "acceptable"
    if c.kind == "skcipher":
        if c.expect != "valid":
            return True                    # no reference output (KAT-9, kw's refusals KAT-11/12)
        enc = "encrypt" not in c.ops or a.oracle(c.key, c.iv, c.pt, True) == c.ct
        dec = "decrypt" not in c.ops or a.oracle(c.key, c.iv, c.ct, False) == c.pt
        return enc and dec
    ok = True
    if "encrypt" in c.ops:
        ok &= a.oracle(c.key, c.iv, c.aad, c.pt, c.authsize, True) == c.ct + c.tag
    if "decrypt" in c.ops:
        try:
            ok &= a.oracle(c.key, c.iv, c.aad, c.ct + c.tag, c.authsize, False) == c.pt and c.expect != "invalid"
        except (InvalidTag, ValueError):
            ok &= c.expect != "valid"
    return ok


@pytest.mark.parametrize("vs", SETS, ids=[vs.id for vs in SETS])
def test_oracle_reproduces_sample(vs):
    cases = [c for c in cases_of(vs.id) if not c.unsupported and not c.mct]   # MCT: the chain tests below
    if vs.algorithm == "xts(aes)":         # OpenSSL has no AES-192-XTS (48-byte keys)
        cases = [c for c in cases if len(c.key) in (32, 64)]
    step = max(1, len(cases) // 60)
    sample = cases[::step] + [c for c in cases if c.expect != "valid"][:20]
    bad = [f"{c.name} ({c.where})" for c in sample if not oracle_agrees(c)]
    assert not bad, f"oracle disagrees with {len(bad)} vector(s): {bad[:5]}"


def test_tdes_keys_are_k1_k2_k3():
    """TDES KAT files give one KEYs (used as K1 = K2 = K3), MMT and CMAC files KEY1..KEY3."""
    kat = cases_of("cavp-tdes-ecb-varkey")[0]
    assert kat.key == bytes.fromhex("8001010101010101") * 3
    mmt2 = cavp.load(locate("cryptography", "ciphers/3DES/CBC/TCBCMMT2.rsp"))[0]
    c = cases_of("cavp-tdes-cbc-mmt2")[0]
    assert c.key == mmt2.bytes("key1") + mmt2.bytes("key2") + mmt2.bytes("key3") and c.key[:8] == c.key[16:]
    assert len(cases_of("nist-cmac-3des")[0].key) == 24


def test_blake2_kat_loader(tmp_path):
    from afalg_conformance.vectors import blake2_kat
    recs = blake2_kat.load(locate("pycryptodome", "Hash/BLAKE2b/blake2b-test.txt"))
    assert len(recs) == 256 and recs[0].bytes("in") == b"" and len(recs[0].bytes("key")) == 64
    assert len(recs[-1].bytes("hash")) == 64            # the generator's trailing "ok" is cut off
    p = tmp_path / "b.txt"
    p.write_text("in:\t00\nkey:\t01\nhash:\t02\n\nin:\t00\nkey:\t01\n")
    with pytest.raises(VectorError, match=r"b.txt:5: block lacks hash"):
        blake2_kat.load(p)
    p.write_text("in:\t00\nfoo = 1\n")
    with pytest.raises(VectorError, match=r"b.txt:2: not a 'in:/key:/hash:' line"):
        blake2_kat.load(p)


def test_derived_hmac_sha3_agrees_with_pyca():
    """The derived HMAC-SHA3 answers (Python's hmac + hashlib) against pyca/cryptography's HMAC."""
    from cryptography.hazmat.primitives import hashes, hmac as pyca_hmac
    for n, h in ((224, hashes.SHA3_224), (256, hashes.SHA3_256), (384, hashes.SHA3_384), (512, hashes.SHA3_512)):
        cases = cases_of(f"derived-hmac-sha3-{n}")
        assert len({len(c.key) for c in cases}) == 7          # short, block-1, block, block+1, long keys
        for c in cases[::9]:
            m = pyca_hmac.HMAC(c.key, h())
            m.update(c.pt)
            assert m.finalize() == c.ct, c.name


def test_poly1305_message_is_key_then_msg():
    c = cases_of("rfc7539-poly1305")[3]
    rec = nist_txt.load(locate("cryptography", "poly1305/rfc7539.txt"))[3]
    assert c.key is None and c.pt == rec.bytes("key") + rec.bytes("msg") and c.ct == rec.bytes("tag")


class _ChainSocket:
    """An op socket's CBC, OFB or CFB128 as the kernel keeps it: the IV after a request is its
    last ciphertext block (CBC, CFB128) or its last keystream block (OFB)."""

    def __init__(self, mode, key, encrypt):
        self.mode, self.key, self.encrypt, self.iv = mode, key, encrypt, None

    def run(self, block, iv=None):
        if iv is not None:
            self.iv = iv
        out = algorithms.get(f"{self.mode}(aes)").oracle(self.key, self.iv, block, self.encrypt)
        ct = out if self.encrypt else block
        self.iv = bytes(a ^ b for a, b in zip(out[-16:], block[-16:])) if self.mode == "ofb" else ct[-16:]
        return out


@pytest.mark.parametrize("set_id", ["cavp-cbc-mct128", "cavp-cbc-mct256", "cavp-ofb-mct128", "cavp-ofb-mct192",
                                    "cavp-cfb-mct192", "cavp-cfb-mct256"])
def test_aes_mct_chain_reproduces_the_file(set_id):
    cases = cases_of(set_id)
    assert len(cases) == 200 and all(c.flags == ("mct-aes",) for c in cases)
    mode = set_id.split("-")[1]
    for c in (cases[0], cases[99], cases[100], cases[-1]):        # first / last, encrypt and decrypt
        enc = c.ops == ("encrypt",)
        sock = _ChainSocket(mode, c.key, enc)
        out = aes_mct_chain(lambda b, iv: sock.run(b, iv), sock.run, c.iv, c.pt if enc else c.ct)
        assert out == (c.ct if enc else c.pt), c.name


@pytest.mark.parametrize("alg", ["sha1", "sha224", "sha384", "sha512", "sha3-224", "sha3-512"])
def test_sha_mct_chain_reproduces_the_file(alg):
    from afalg_conformance.vectors.cases import sha_mct_chain
    cases = cases_of(f"cavp-{alg}-monte")
    assert len(cases) == 100 and cases[1].pt == cases[0].ct        # each checkpoint starts at the last
    assert cases[0].flags == ("mct-sha3",) if alg in ("sha3-224", "sha3-512") else ("mct-sha2",)  # sha384 is SHA-2
    h = algorithms.get(alg).oracle
    for c in (cases[0], cases[-1]):
        assert sha_mct_chain(lambda m: h(None, m), c.pt, alg.startswith("sha3-")) == c.ct, c.name


def test_cts_oracle_matches_rfc3962():
    """The cts(cbc(aes)) oracle (CBC-CS3 built on pyca/cryptography's CBC) against RFC 3962
    appendix B (AES-128, IV 0): 17 and 31 bytes (stolen), 32 bytes (whole blocks, swapped)."""
    key = bytes.fromhex("636869636b656e207465726979616b69")
    cts = algorithms.get("cts(cbc(aes))").oracle
    for p, c in [("4920776f756c64206c696b652074686520", "c6353568f2bf8cb4d8a580362da7ff7f97"),
                 ("4920776f756c64206c696b65207468652047656e6572616c20476175277320",
                  "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5"),
                 ("4920776f756c64206c696b65207468652047656e6572616c2047617527732043",
                  "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584")]:
        assert cts(key, bytes(16), bytes.fromhex(p), True).hex() == c
        assert cts(key, bytes(16), bytes.fromhex(c), False).hex() == p
    assert {len(c.pt) % 16 for c in cases_of("derived-cts-cbc-aes128")} >= {0, 2, 10, 15}


def test_esp_layout_from_the_base_vectors():
    """rfc7539esp / rfc4106 cases are the base file's vectors: key || salt, IV = the nonce's
    last 8 bytes, AAD region = AAD || IV, the same ciphertext and tag."""
    base = {c.name: c for c in cases_of("wycheproof-chacha20-poly1305")}
    for c in cases_of("wycheproof-chacha20-poly1305-esp"):
        b = base[c.name]
        if c.unsupported:
            continue
        assert c.key == b.key + b.iv[:4] and c.iv == b.iv[4:] and c.aad == b.aad + b.iv[4:]
        assert (c.ct, c.tag, c.expect) == (b.ct, b.tag, b.expect)
    gcm = [c for c in cases_of("wycheproof-aes-gcm-rfc4106") if not c.unsupported]
    assert gcm and all(len(c.aad) in (16, 20) and len(c.key) in (20, 28, 36) for c in gcm)


def test_rfc4543_tag_covers_region_and_payload():
    c = cases_of("derived-rfc4543-gcm128")[5]
    a = algorithms.get("rfc4543(gcm(aes))")
    assert c.ct == c.pt and len(c.aad) == 16 and c.aad[8:] == c.iv
    with pytest.raises(InvalidTag):
        a.oracle(c.key, c.iv, c.aad, bytes([c.pt[0] ^ 1]) + c.pt[1:] + c.tag if c.pt else c.tag[::-1], 16, False)
    with pytest.raises(InvalidTag):
        a.oracle(c.key, c.iv, bytes([c.aad[0] ^ 1]) + c.aad[1:], c.pt + c.tag, 16, False)


def test_source_root_asked_once_per_process(monkeypatch):
    """find_spec stats sys.path over 9p in a guest: each package's folder is looked up once."""
    from afalg_conformance.vectors import common
    calls = []
    real = common.importlib.util.find_spec
    monkeypatch.setattr(common, "_roots", {})
    monkeypatch.setattr(common.importlib.util, "find_spec", lambda name: calls.append(name) or real(name))
    a = source_root("cryptography")
    assert source_root("cryptography") == a and calls == ["cryptography_vectors"]
    assert locate("cryptography", "hashes/SHA2/SHA256ShortMsg.rsp").is_file() and len(calls) == 1


def test_ntt_camellia_loader(tmp_path):
    """NTT's K/P/C layout: a key for the pairs under it, pair numbers restarting per key."""
    from afalg_conformance.vectors import ntt_camellia
    recs = ntt_camellia.load(locate("cryptography", "ciphers/Camellia/camellia-256-ecb.txt"))
    assert len(recs) == 1280 and len({r.str("key") for r in recs}) == 10
    assert recs[0].bytes("plaintext") == bytes([0x80]) + bytes(15) and len(recs[0].bytes("key")) == 32
    p = tmp_path / "c.txt"
    for text, err in [("K No.001 : 00\nP No.001 : 01\nP No.002 : 02\nC No.002 : 03\n", r"c.txt:2: P No.001 has no C"),
                      ("P No.001 : 01\n", r"c.txt:1: P before the first K"),
                      ("K No.001 : 00\nC No.001 : 01\n", r"c.txt:2: C No.001 does not follow its P"),
                      ("K No.001 : 00\nP No.001 : 01\nC No.002 : 02\n", r"c.txt:3: C No.002 does not follow"),
                      ("K No.001 : 00\nP No.001 : 01\n", r"c.txt:2: P No.001 has no C"),
                      ("K No.001 : 00\nP No.001 : 01\nK No.002 : 01\n", r"c.txt:2: P No.001 has no C"),
                      ("KEY = 00\n", r"c.txt:1: not a 'K\|P\|C No.N : hex' line"),
                      ("K No.001 : 00\nP No.001 : 01\nC No.001 : 02\nP No.001 : 03\nC No.001 : 04\n",
                       r"c.txt:4: P No.001 given twice"),
                      ("K No.001 : 00\nP No.001 : 01\nC No.001 : 02\nK No.001 : 03\n", r"c.txt:4: K No.001 given twice"),
                      ("K No.001 : 00\nK No.002 : 01\nP No.001 : 01\nC No.001 : 02\n", r"c.txt:1: K No.001 has no P/C"),
                      ("K No.001 : 00\nP No.001 : 01\nC No.001 : 02\nK No.002 : 01\n", r"c.txt:4: K No.002 has no P/C"),
                      ("K No.001 :\n", r"c.txt:1: K No.001 has no value"),
                      ("# nothing\n", r"no K/P/C lines")]:
        p.write_text(text)
        with pytest.raises(VectorError, match=err):
            ntt_camellia.load(p)
    p.write_text("K No.001 : 00 01\nP No.001 : 0G\nC No.001 : 00\n")
    with pytest.raises(VectorError, match=r"c.txt:2: plaintext is not a hex string"):
        ntt_camellia.load(p)[0].bytes("plaintext")
