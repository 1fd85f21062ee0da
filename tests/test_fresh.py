"""The README's main command on a brand-new Debian 12 machine (minbase + python3, as a
cloud image ships): setup installs everything, boots Debian's 6.12 kernel and runs the
smoke suite. A missing install step fails here, even where this machine already has the
package by hand. Needs root; a few minutes (downloads are cached across runs)."""

import os

import pytest
from tap.parser import Parser

import freshroot

pytestmark = [pytest.mark.fresh, pytest.mark.vm]
NOISE = ("Get:", "Hit:", "Setting up", "Unpacking", "Selecting", "Preparing", "(Reading", "Processing",
         "Fetched", "Reading", "Building", "Need to get", "After this", "  ", "The following", "debconf")

SMOKE = {"smoke.test_sha256_known_answer", "smoke.test_hmac_sha256_known_answer",
         "smoke.test_cbc_aes_known_answer[encrypt]", "smoke.test_cbc_aes_known_answer[decrypt]",
         "smoke.test_gcm_aes_encrypt_known_answer", "smoke.test_gcm_aes_decrypt_known_answer",
         "smoke.test_gcm_aes_bad_tag_is_ebadmsg"}


@pytest.mark.skipif(os.geteuid() != 0, reason="unsupported:not-root (a fresh root needs debootstrap and chroot)")
def test_readme_main_command_on_a_fresh_debian_12():
    seen = {}

    def inspect(root):
        venv = root / "root/project/.venv/bin"
        seen["venv"] = (venv / "afalg-conform").exists() and (venv / "vng").exists()
        console = root / "root/project/results/fresh/console.log"
        seen["console"] = console.read_text(errors="replace")[-3000:] if console.exists() else "(no console.log)"

    res = freshroot.run("sh scripts/main.sh --suite smoke --results results/fresh", inspect=inspect)
    # apt's and pip's progress lines say nothing about a failure: leave them out of its message
    said = [x for x in res.stderr.splitlines() if not x.startswith(NOISE)]
    out = "\n".join(said[-40:]) + "\n--- guest console ends:\n" + seen.get("console", "")
    assert res.returncode == 0, out
    assert res.stdout.startswith("KTAP version 1\n"), out
    parsed = {t.description: t.ok for t in Parser().parse_text(res.stdout) if t.category == "test"}
    assert set(parsed) == SMOKE, parsed
    assert all(parsed.values()), parsed
    assert seen["venv"], "setup.sh made no project venv with afalg-conform and vng in it"
    print(f"fresh root: README main command in {res.seconds:.0f} s")
