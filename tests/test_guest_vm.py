"""Real guests: boot Debian's 6.12 kernel under virtme-ng and run real AF_ALG tests.

Slow (a TCG boot is 30-60 s), so each test boots once for many checks. They SKIP,
with the reason, where no qemu, vng or kernel image is installed; CI installs all
three first (scripts/setup.sh), so there they run.
"""

import json
import re

import pytest
from tap.parser import Parser

from guestutil import cli, target_or_skip

pytestmark = pytest.mark.vm


def _results(ktap: str) -> list[str]:
    """A KTAP text's result lines and what follows them, without the test numbers, sorted."""
    return sorted(re.sub(r"^(\s*(?:not )?ok) \d+ ", r"\1 ", x) for x in ktap.splitlines())


def test_smoke_suite_in_a_real_guest_gives_ktap_that_tap_py_reads(tmp_path):
    """The main path end to end: sha256 and hmac(sha256) known answers, cbc(aes) and gcm(aes)
    encrypt/decrypt known answers and the EBADMSG check, in a booted Debian 6.12 guest."""
    target_or_skip()
    res = tmp_path / "smoke"
    r = cli("run", "--kernel", "debian-6.12", "--suite", "smoke", "--results", str(res))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "under TCG" in r.stderr or "under KVM" in r.stderr      # the accelerator is announced
    ktap = r.stdout
    assert ktap.startswith("KTAP version 1\n")
    # Streamed and written hold the same results; two guest workers finish in any order, so the
    # stream numbers them as they come and the file in the one canonical order.
    assert _results(ktap) == _results((res / "results.ktap").read_text())
    assert ktap.splitlines()[:2] == (res / "results.ktap").read_text().splitlines()[:2]
    parsed = {line.description: line.ok for line in Parser().parse_text(ktap) if line.category == "test"}
    data = json.loads((res / "results.json").read_text())
    assert data["run"]["kernel_release"].startswith("6.12")
    assert data["run"]["accel"] in ("tcg", "kvm")
    by_name = {t["name"]: t for t in data["tests"]}
    for name in ("smoke.test_sha256_known_answer", "smoke.test_hmac_sha256_known_answer",
                 "smoke.test_cbc_aes_known_answer[encrypt]", "smoke.test_cbc_aes_known_answer[decrypt]",
                 "smoke.test_gcm_aes_encrypt_known_answer", "smoke.test_gcm_aes_decrypt_known_answer",
                 "smoke.test_gcm_aes_bad_tag_is_ebadmsg"):
        assert by_name[name]["outcome"] == "pass", by_name[name]
        assert parsed[name] is True
        assert by_name[name]["evidence"] and all(e["ok"] for e in by_name[name]["evidence"])
    ebadmsg = by_name["smoke.test_gcm_aes_bad_tag_is_ebadmsg"]["evidence"][0]
    assert ebadmsg["seen"] == "EBADMSG" and ebadmsg["clause"] == "AEAD-2"
    assert (res / "junit.xml").exists() and (res / "console.log").stat().st_size > 0


def test_kernel_panic_and_hang_keep_earlier_results(tmp_path):
    """The opt-in crash self-checks: sysrq-c panics the guest mid-run, then a stopped
    runner hangs the next guest until the run timeout. Earlier results survive, the
    culprits are named, and the exit status says the run failed."""
    target_or_skip()
    res = tmp_path / "crash"
    r = cli("run", "--kernel", "debian-6.12", "--allow-crash-tests", "--run-timeout", "180",
            "--results", str(res), "conformance/test_smoke.py", "conformance/test_zz_selfcheck_crash.py")
    assert r.returncode == 1, r.stdout + r.stderr
    data = json.loads((res / "results.json").read_text())
    by_name = {t["name"]: t for t in data["tests"]}
    assert by_name["smoke.test_sha256_known_answer"]["outcome"] == "pass"
    crash = by_name["zz_selfcheck_crash.test_crash_kernel_with_sysrq"]
    assert crash["outcome"] == "crash" and "sysrq triggered crash" in crash["reason"]
    warn = by_name["zz_selfcheck_crash.test_kernel_warning_fails_the_test_that_ran"]
    assert warn["outcome"] == "fail" and warn["reason"].startswith("kernel reported warning"), warn
    hang = by_name["zz_selfcheck_crash.test_hang_guest"]
    assert hang["outcome"] == "timeout"
    assert data["run"]["restarts"] >= 1
    ktap = (res / "results.ktap").read_text()
    assert "not ok" in ktap and "# TIMEOUT" in ktap and "# ERROR guest kernel died: panic" in ktap
    parsed = {line.description: line.ok for line in Parser().parse_text(ktap) if line.category == "test"}
    assert parsed["smoke.test_sha256_known_answer"] is True
    assert parsed["zz_selfcheck_crash.test_crash_kernel_with_sysrq"] is False
