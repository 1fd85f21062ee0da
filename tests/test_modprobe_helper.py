"""harness/afalg/modprobe.py: the guest's quick answer to crypto module requests must give the
kernel what /sbin/modprobe would. Checked on made-up indexes, and against modprobe's own dry run
(`modprobe -n -q -S REL`) on the Debian kernels' module folders where the host has them."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from afalg_conformance.harness.afalg import modprobe

ALIAS = "alias crypto-cbc(camellia) camellia_aesni_avx\nalias crypto-camellia-generic camellia_generic\n" \
        "alias crypto-aes aesni_intel\nalias crypto-aes padlock_aes\nalias pci:v00008086d* e1000e\n"
DEP = "kernel/crypto/camellia_generic.ko.xz:\nkernel/crypto/crypto_simd.ko.xz:\nkernel/arch/x86/crypto/aesni-intel.ko.xz: " \
      "kernel/crypto/crypto_simd.ko.xz\nkernel/drivers/net/e1000e.ko.xz:\n"
BUILTIN = "kernel/crypto/cryptomgr.ko\nkernel/crypto/sha256_generic.ko\n"
MODINFO = "sha256_generic.alias=crypto-sha256-generic\0sha256_generic.license=GPL\0"


def answer(tmp_path, name, conf="", loaded=(), args=None):
    """What the helper does for one request: 'real' (it ran the real modprobe), or its exit code."""
    sysmod = tmp_path / "sys-module"
    shutil.rmtree(sysmod, ignore_errors=True)
    for m in loaded:
        (sysmod / m).mkdir(parents=True)
        (sysmod / m / "initstate").write_text("live\n")
    real = tmp_path / "real-modprobe"
    real.write_text('#!/bin/sh\necho real "$@"\n')
    real.chmod(0o755)
    helper = tmp_path / "helper"
    helper.write_text(modprobe.script(ALIAS, DEP, BUILTIN, MODINFO, conf, str(real), str(sysmod)))
    r = subprocess.run(["sh", str(helper), *(args or ["-q", "--", name])], capture_output=True, text=True)
    if r.stdout.startswith("real"):
        assert r.stdout.split()[1:] == (args or ["-q", "--", name])     # the same arguments, untouched
        return "real"
    return r.returncode


def test_a_crypto_name_nothing_can_serve_is_not_found_at_once(tmp_path):
    for name in ("crypto-cbc(camellia-generic)", "crypto-cbc(camellia-generic)-all", "crypto-ccm(aes-aesni)"):
        assert answer(tmp_path, name) == 1


def test_a_module_to_load_goes_to_the_real_modprobe(tmp_path):
    assert answer(tmp_path, "crypto-camellia-generic") == "real"
    assert answer(tmp_path, "crypto_camellia_generic") == "real"      # kmod: - and _ are one character
    assert answer(tmp_path, "crypto-simd") == "real"                   # a module's own name
    assert answer(tmp_path, "crypto-cbc(camellia)") == "real"


def test_a_name_whose_modules_are_all_loaded_is_done_and_one_missing_is_not(tmp_path):
    assert answer(tmp_path, "crypto-camellia-generic", loaded=["camellia_generic"]) == 0
    assert answer(tmp_path, "crypto-aes", loaded=["aesni_intel"]) == "real"      # padlock_aes would be tried
    assert answer(tmp_path, "crypto-aes", loaded=["aesni_intel", "padlock_aes"]) == 0


def test_builtin_modules_and_aliases_are_done(tmp_path):
    assert answer(tmp_path, "cryptomgr") == 0
    assert answer(tmp_path, "crypto-sha256-generic") == 0


def test_what_modprobe_d_speaks_of_and_everything_else_is_the_real_modprobe(tmp_path):
    conf = "install crypto-cbc(camellia-generic) /bin/false\n"
    assert answer(tmp_path, "crypto-cbc(camellia-generic)", conf=conf) == "real"
    assert answer(tmp_path, "net-pf-38") == "real"
    assert answer(tmp_path, "algif-skcipher") == "real"
    assert answer(tmp_path, "x", args=["-r", "camellia_generic"]) == "real"


def test_a_crypto_alias_pattern_is_not_answered_here():
    with pytest.raises(ValueError, match="pattern"):
        modprobe.script("alias crypto-cbc(*) x\n", "", "", "", "", "/sbin/modprobe")


def test_install_records_why_it_did_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(modprobe, "SYSCTL", str(tmp_path / "absent"))
    assert modprobe.install(tmp_path / "rec.json") is None
    assert "absent" in (tmp_path / "rec.json").read_text()


def test_install_points_the_kernel_at_the_helper_and_restore_puts_it_back(tmp_path, monkeypatch):
    sysctl = tmp_path / "modprobe"
    sysctl.write_text("/sbin/modprobe\n")
    monkeypatch.setattr(modprobe, "SYSCTL", str(sysctl))
    monkeypatch.setattr(modprobe, "MODPROBE_D", ())
    mods = tmp_path / "lib-modules"
    (mods / "9.9").mkdir(parents=True)
    for name, text in (("modules.alias", ALIAS), ("modules.dep", DEP), ("modules.builtin", BUILTIN)):
        (mods / "9.9" / name).write_text(text)
    old = modprobe.install(tmp_path / "rec.json", release="9.9", modules_root=mods)
    assert old == "/sbin/modprobe"
    helper = sysctl.read_text()
    assert helper != "/sbin/modprobe\n" and os.access(helper, os.X_OK) and "crypto*) exit 1" in Path(helper).read_text()
    modprobe.restore(old)
    assert sysctl.read_text() == "/sbin/modprobe"


MODPROBE = shutil.which("modprobe") or "/usr/sbin/modprobe"
REQUESTS = ["crypto-cbc(camellia)", "crypto-cbc(camellia)-all", "crypto-camellia", "crypto-camellia-generic",
            "crypto-cbc(camellia-generic)", "crypto-cbc(camellia-generic)-all", "crypto-ecb(camellia-asm)",
            "crypto-cryptd(__cbc-camellia-aesni)", "crypto-cryptd(__cbc-camellia-aesni)-all", "cryptomgr",
            "crypto-ccm(aes)", "crypto-ccm", "crypto-cbcmac(aes)", "crypto-ccm(aes-aesni)", "crypto-ctr(aes-aesni)",
            "crypto-des3_ede", "crypto-des3-ede", "crypto-cbc(des3_ede-generic)", "crypto-blowfish-asm",
            "crypto-sha256", "crypto-sha256-generic", "crypto-hmac", "crypto-gcm(aes)", "crypto-rfc4106(gcm(aes))",
            "crypto-xxhash64", "crypto-no-such-thing", "crypto-simd", "crypto_user", "crypto-authenc"]


@pytest.mark.parametrize("release", sorted(p.name for p in Path("/lib/modules").glob("6.*") if (p / "modules.dep").is_file())
                         or ["none"])
def test_the_helper_never_contradicts_modprobes_own_dry_run(tmp_path, release):
    mods = Path("/lib/modules", release)
    if release == "none" or not os.access(MODPROBE, os.X_OK):
        pytest.skip("no Debian kernel modules or no modprobe on this host")
    read = lambda n: (mods / n).read_text(errors="replace") if (mods / n).exists() else ""   # noqa: E731
    real = tmp_path / "real-modprobe"
    real.write_text('#!/bin/sh\necho real\n')
    real.chmod(0o755)
    helper = tmp_path / "helper"
    helper.write_text(modprobe.script(read("modules.alias"), read("modules.dep"), read("modules.builtin"),
                                      read("modules.builtin.modinfo"), "", str(real), str(tmp_path / "none-loaded")))
    decided = 0
    for name in REQUESTS:
        r = subprocess.run(["sh", str(helper), "-q", "--", name], capture_output=True, text=True)
        if r.stdout.startswith("real"):
            continue
        dry = subprocess.run([MODPROBE, "-n", "-q", "-S", release, "--", name], capture_output=True)
        assert r.returncode == (0 if dry.returncode == 0 else 1), (name, r.returncode, dry.returncode)
        decided += 1
    assert decided >= 10           # the helper answered most of them itself: the point of it


def test_a_kernel_without_a_module_folder_gets_not_found_for_every_crypto_name(tmp_path, monkeypatch):
    """The KCOV build has everything built in and no /lib/modules/REL in the guest: modprobe
    answers every name "not found in directory" (exit 1), and so does the helper, but for a
    name modprobe.d speaks of."""
    sysctl = tmp_path / "modprobe"
    sysctl.write_text("/sbin/modprobe\n")
    monkeypatch.setattr(modprobe, "SYSCTL", str(sysctl))
    monkeypatch.setattr(modprobe, "MODPROBE_D", ())
    rec = tmp_path / "rec.json"
    assert modprobe.install(rec, release="9.9-none", modules_root=tmp_path / "lib-modules") == "/sbin/modprobe"
    assert '"modules": "none"' in rec.read_text()
    helper = sysctl.read_text()
    for name in ("cryptomgr", "crypto-aes", "crypto-cbc(aes)", "crypto-cbc(aes)-all"):
        assert subprocess.run(["sh", helper, "-q", "--", name]).returncode == 1, name
        if os.access(MODPROBE, os.X_OK):        # what modprobe itself says with no module folder
            assert subprocess.run([MODPROBE, "-n", "-q", "-S", "9.9-none", "--", name]).returncode == 1, name
    (tmp_path / "real").write_text('#!/bin/sh\necho real\n')
    (tmp_path / "real").chmod(0o755)
    text = modprobe.script("", "", "", "", "install crypto-aes /bin/true\n", str(tmp_path / "real"))
    (tmp_path / "h2").write_text(text)
    assert subprocess.run(["sh", str(tmp_path / "h2"), "-q", "--", "crypto-aes"], capture_output=True,
                          text=True).stdout.strip() == "real"
    assert subprocess.run(["sh", str(tmp_path / "h2"), "-q", "--", "crypto-des"]).returncode == 1
