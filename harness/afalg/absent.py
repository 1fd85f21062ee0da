"""Absent or broken: what a failed AF_ALG bind() means, decided from evidence.

A skip claims "this kernel does not offer the algorithm". bind() errors alone
cannot tell that from a regression: ELIBBAD is a failed self-test, EINVAL and
EAGAIN come from a template or a larval lookup that went wrong, and ENOENT
comes both from an algorithm that was never built and from a built one whose
module or template instance did not come up. So a skip needs all of: ENOENT,
no usable /proc/crypto entry, and a kernel config that does not build it (or
says nothing). Anything else is a kernel failure, with the errno as evidence.
"""

from __future__ import annotations

import errno as errno_mod
import gzip
import os
import platform
import re

from afalg_conformance.harness.afalg.proccrypto import BINDABLE, Entry

# Kconfig symbols that build a name component; any one of them provides it
# (arch drivers register the generic name too). A component missing here leaves
# the config silent, which errs towards a skip, never towards a false fail. Driver
# names (aes-generic) are not here: a config builds an algorithm, and what its driver
# is called is the kernel's choice (7.3 calls aes-generic aes-lib); /proc/crypto says.
_SYMBOLS: dict[str, tuple[str, ...]] = {
    "aes": ("CRYPTO_AES", "CRYPTO_AES_TI", "CRYPTO_AES_NI_INTEL", "CRYPTO_AES_ARM64",
            "CRYPTO_AES_ARM64_CE", "CRYPTO_AES_ARM"),
    "md5": ("CRYPTO_MD5",),
    "sha1": ("CRYPTO_SHA1", "CRYPTO_SHA1_SSSE3", "CRYPTO_SHA1_ARM64_CE"),
    "sha224": ("CRYPTO_SHA256", "CRYPTO_SHA256_SSSE3", "CRYPTO_SHA2_ARM64_CE"),
    "sha256": ("CRYPTO_SHA256", "CRYPTO_SHA256_SSSE3", "CRYPTO_SHA2_ARM64_CE"),
    "sha384": ("CRYPTO_SHA512", "CRYPTO_SHA512_SSSE3", "CRYPTO_SHA512_ARM64"),
    "sha512": ("CRYPTO_SHA512", "CRYPTO_SHA512_SSSE3", "CRYPTO_SHA512_ARM64"),
    "sha3-224": ("CRYPTO_SHA3",), "sha3-256": ("CRYPTO_SHA3",),
    "sha3-384": ("CRYPTO_SHA3",), "sha3-512": ("CRYPTO_SHA3",),
    "chacha20": ("CRYPTO_CHACHA20", "CRYPTO_CHACHA20_X86_64", "CRYPTO_CHACHA20_NEON"),
    "xchacha20": ("CRYPTO_CHACHA20", "CRYPTO_CHACHA20_X86_64", "CRYPTO_CHACHA20_NEON"),
    "poly1305": ("CRYPTO_POLY1305", "CRYPTO_POLY1305_X86_64", "CRYPTO_POLY1305_NEON"),
    "rmd160": ("CRYPTO_RMD160",),
    "blake2b-160": ("CRYPTO_BLAKE2B",), "blake2b-256": ("CRYPTO_BLAKE2B",),
    "blake2b-384": ("CRYPTO_BLAKE2B",), "blake2b-512": ("CRYPTO_BLAKE2B",),
    "camellia": ("CRYPTO_CAMELLIA", "CRYPTO_CAMELLIA_X86_64"), "cast5": ("CRYPTO_CAST5",),
    "blowfish": ("CRYPTO_BLOWFISH", "CRYPTO_BLOWFISH_X86_64"), "sm4": ("CRYPTO_SM4_GENERIC",),
    "cfb": ("CRYPTO_CFB",), "ofb": ("CRYPTO_OFB",),
    "des3_ede": ("CRYPTO_DES", "CRYPTO_DES3_EDE_X86_64"),
    "hmac": ("CRYPTO_HMAC",), "cmac": ("CRYPTO_CMAC",), "xcbc": ("CRYPTO_XCBC",),
    "ecb": ("CRYPTO_ECB",), "cbc": ("CRYPTO_CBC",), "ctr": ("CRYPTO_CTR",),
    "xts": ("CRYPTO_XTS",), "kw": ("CRYPTO_KEYWRAP",), "cts": ("CRYPTO_CTS",), "lrw": ("CRYPTO_LRW",),
    "gcm": ("CRYPTO_GCM",), "rfc4106": ("CRYPTO_GCM",), "rfc4543": ("CRYPTO_GCM",),
    "ccm": ("CRYPTO_CCM",), "rfc4309": ("CRYPTO_CCM",),
    "rfc7539": ("CRYPTO_CHACHA20POLY1305",), "rfc7539esp": ("CRYPTO_CHACHA20POLY1305",),
    "authenc": ("CRYPTO_AUTHENC",), "authencesn": ("CRYPTO_AUTHENC",),
    "stdrng": ("CRYPTO_DRBG", "CRYPTO_ANSI_CPRNG"),
    "ansi_cprng": ("CRYPTO_ANSI_CPRNG",),
    "jitterentropy_rng": ("CRYPTO_JITTERENTROPY",),
}
_DRBG = re.compile(r"^drbg_(?:no)?pr_(hmac|sha|ctr)")
_DRBG_SYMBOL = {"hmac": "CRYPTO_DRBG_HMAC", "sha": "CRYPTO_DRBG_HASH", "ctr": "CRYPTO_DRBG_CTR"}
_USER_API = {"hash": "CRYPTO_USER_API_HASH", "skcipher": "CRYPTO_USER_API_SKCIPHER",
             "aead": "CRYPTO_USER_API_AEAD", "rng": "CRYPTO_USER_API_RNG"}


def parse_config(text: str) -> dict[str, str]:
    """CONFIG_X=y|m|... lines as {"X": value}; `# CONFIG_X is not set` as "n"."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^CONFIG_(\w+)=(.*)$", line) or re.match(r"^# CONFIG_(\w+) is not set", line)
        if m:
            out[m.group(1)] = m.group(2) if m.lastindex == 2 else "n"
    return out


def kernel_config(release: str | None = None, root: str = "/") -> dict[str, str] | None:
    """The running kernel's config, or None where none is readable. In the guest the
    host's /boot and /lib/modules are visible read-only."""
    release = release or platform.release()
    given = os.environ.get("AFALG_KERNEL_CONFIG") if root == "/" else None   # the host names it
    for rel in ([given] if given else []) + ["proc/config.gz", f"boot/config-{release}",
                                             f"lib/modules/{release}/config"]:
        path = os.path.join(root, rel)
        try:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                config = parse_config(f.read())
        except (OSError, EOFError):
            continue
        if config:
            if not os.path.exists(os.path.join(root, f"lib/modules/{release}/modules.dep")):
                # =m cannot load without installed modules: the config does not tell.
                config = {k: v for k, v in config.items() if v != "m"}
            return config
    return None


def components(name: str) -> list[str]:
    """gcm(aes) -> [gcm, aes]; authenc(hmac(sha256),cbc(aes)) -> [authenc, hmac, sha256, cbc, aes]."""
    return [c for c in re.split(r"[(),]", name) if c]


def built(name: str, config: dict[str, str] | None) -> bool | None:
    """Whether the config builds every component of name (True), leaves one out (False),
    or cannot tell (None: no config, or a component it has no symbol for)."""
    if config is None:
        return None
    verdict: bool | None = True
    for comp in components(name):
        m = _DRBG.match(comp)
        symbols = (_DRBG_SYMBOL[m.group(1)],) if m else _SYMBOLS.get(comp)
        if symbols is None:
            verdict = None
        elif not any(config.get(s) in ("y", "m") for s in symbols):
            return False    # a complete config lists every symbol it builds
    return verdict


def classify(alg_type: str, name: str, err: int, proc_crypto: list[Entry],
             config: dict[str, str] | None) -> tuple[str, str]:
    """("unsupported", why) when the kernel does not offer name, else ("fail", why)."""
    en = errno_mod.errorcode.get(err, f"E{err}")
    kinds = BINDABLE.get(alg_type, set())
    listed = [e for e in proc_crypto if name in (e.name, e.driver) and e.type in kinds and not e.internal]
    untested = [e for e in listed if e.selftest and e.selftest != "passed"]
    if untested:
        return "fail", (f"bind gave {en}; /proc/crypto lists {untested[0].driver} with selftest "
                        f"{untested[0].selftest!r}: the algorithm failed its self-test")
    if err == errno_mod.ELIBBAD:
        return "fail", "bind gave ELIBBAD: the algorithm failed its self-test"
    if err != errno_mod.ENOENT:
        return "fail", f"bind gave {en}, not ENOENT: the algorithm exists but does not instantiate"
    if config is not None and config.get(_USER_API.get(alg_type, ""), "n") not in ("y", "m"):
        return "unsupported", f"ENOENT; the kernel config does not build algif_{alg_type}"
    if listed:
        return "fail", f"bind gave ENOENT although /proc/crypto lists {listed[0].driver} ({listed[0].type})"
    if built(name, config):
        return "fail", f"bind gave ENOENT although the kernel config builds every part of {name}"
    return "unsupported", "ENOENT; not in /proc/crypto" + (
        "; the kernel config does not build it" if built(name, config) is False else "")
