"""Verdicts a kernel CI can trust (issue 11): a kernel deviation is a FAIL decided in the
call phase, never an ERROR from a fixture teardown nor a vacuous pass; a bind failure
is a SKIP only when the evidence says the algorithm is absent."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from afalg_conformance.harness.afalg import absent
from afalg_conformance.harness.results import junit
from afalg_conformance.harness.results import kcidb
from afalg_conformance.harness.results import ktap
from afalg_conformance.harness.afalg import proccrypto
from afalg_conformance.harness.results.model import Run, RunInfo, TestResult

ROOT = Path(__file__).resolve().parent.parent

# The real spec/kat fixtures, without conformance/conftest.py's no-AF_ALG skip; the
# host's kernel log is not these tests' to read or mark.
CONFTEST = """
from afalg_conformance.conformance.conftest import kat, kernel, spec  # noqa: F401
from afalg_conformance.harness.results import klog


class _NoKmsg:
    mark = staticmethod(lambda text: None)

    def read(self):
        return []


klog.KmsgReader = _NoKmsg
"""

TESTS = """
import pytest


@pytest.mark.clause("HASH-1")
def test_soft_fail(spec):
    spec.check("HASH-1", "mismatch", expected="match", sent="soft check that fails", soft=True)
    spec.check("HASH-1", "match", expected="match", sent="soft check that holds", soft=True)


@pytest.mark.clause("HASH-1")
def test_soft_pass(spec):
    spec.check("HASH-1", "match", expected="match", sent="holds", soft=True)


@pytest.mark.clause("HASH-1")
def test_soft_fail_then_skip(spec):
    spec.check("HASH-1", "mismatch", expected="match", sent="fails before the skip", soft=True)
    pytest.skip("unsupported:later-step")


@pytest.mark.clause("HASH-1")
def test_hard_fail_after_soft(spec):
    spec.check("HASH-1", "mismatch", expected="match", sent="soft", soft=True)
    spec.check("HASH-1", "EINVAL", expected="ok", sent="hard")


@pytest.mark.clause("KAT-1")
def test_vector_fails(spec, kat):
    kat.case("v1", "pass")
    kat.case("v2", "fail", "digest differs")
    spec.check("KAT-1", "match", expected="match", sent="2 vectors")


@pytest.mark.clause("KAT-1")
def test_no_vector_ran(spec, kat):
    spec.observe("KAT-1", "nothing")


@pytest.mark.clause("KAT-1")
def test_all_inexpressible(spec, kat):
    kat.case("v1", "skip", "unsupported:ivlen=8")
    spec.observe("KAT-1", "nothing")


@pytest.mark.clause("HASH-1")
def test_no_evidence(spec):
    pass


@pytest.mark.clause("HASH-1")
def test_harness_bug(spec):
    import socket
    spec.check("HASH-1", "match", expected="match", sent="before the bug")
    socket.NO_SUCH_OPTION      # the test's own mistake: an ERROR, not a kernel FAIL


@pytest.mark.clause("HASH-1")
def test_soft_fail_then_harness_bug(spec):
    import socket
    spec.check("HASH-1", "mismatch", expected="match", sent="fails before the bug", soft=True)
    socket.NO_SUCH_OPTION      # the kernel's failure stays the verdict


@pytest.mark.clause("HASH-1")
def test_needs_an_absent_alg(spec, monkeypatch):
    import errno
    from afalg_conformance.conformance import catalogue
    from afalg_conformance.harness.afalg.client import AfalgSocket

    def bound(alg_type, name):
        raise OSError(errno.ENOENT, "no such algorithm")
    monkeypatch.setitem(catalogue.get("HASH-1").needs, "alg", ["hash:nosuchalg"])
    monkeypatch.setattr(AfalgSocket, "bound", staticmethod(bound))
    spec.require("HASH-1")
    spec.check("HASH-1", "mismatch", expected="match", sent="must not be reached")
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    (d / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (d / "test_tiny.py").write_text(textwrap.dedent(TESTS))
    events = d / "events.jsonl"
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "afalg_conformance.harness.guest.plugin", "--afalg-events", str(events),
                        "--rootdir", str(d), str(d)],
                       capture_output=True, text=True, cwd=d, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(d)})
    results = [json.loads(line) for line in events.read_text().splitlines()]
    tests = [TestResult.from_json({k: v for k, v in ev.items() if k not in ("event", "t")})
             for ev in results if ev["event"] == "result"]
    assert tests, p.stdout[-3000:] + p.stderr[-3000:]
    return p, Run(run=RunInfo(target="host", kernel_release="6.12.0"), tests=tests)


def outcome(run: Run, name: str) -> TestResult:
    return next(t for t in run.tests if t.id.endswith(f"::{name}"))


def test_a_soft_check_failure_is_a_fail_in_every_format(tiny_run):
    p, run = tiny_run
    t = outcome(run, "test_soft_fail")
    assert t.outcome == "fail" and t.reason.endswith("HASH-1: soft check that fails: expected match, seen mismatch")
    assert [e["ok"] for e in t.evidence] == [False, True]
    assert "error" not in p.stdout.splitlines()[-1], p.stdout[-2000:]    # pytest's own summary
    lines = ktap.render(run).splitlines()
    line = next(x for x in lines if x.endswith(" tiny.test_soft_fail"))
    assert line.startswith("not ok ") and "#" not in line
    cases = {c.get("name"): c for c in ET.fromstring(junit.render(run)).iter("testcase")}
    assert cases["test_soft_fail"].find("failure") is not None
    assert cases["test_soft_fail"].find("error") is None
    status = {x["path"]: x["status"] for x in kcidb.export(run, "afalg_ci")["tests"]}
    assert status["afalg.tiny.test_soft_fail"] == "FAIL"


def test_soft_checks_outcomes(tiny_run):
    _, run = tiny_run
    got = {t.id.split("::")[1]: t.outcome for t in run.tests}
    assert got == {"test_soft_fail": "fail", "test_soft_pass": "pass", "test_soft_fail_then_skip": "fail",
                   "test_hard_fail_after_soft": "fail", "test_vector_fails": "fail",
                   "test_no_vector_ran": "fail", "test_all_inexpressible": "skip", "test_no_evidence": "fail",
                   "test_needs_an_absent_alg": "skip", "test_harness_bug": "error",
                   "test_soft_fail_then_harness_bug": "fail"}
    assert outcome(run, "test_harness_bug").reason.startswith("harness: AttributeError")
    reason = outcome(run, "test_soft_fail_then_harness_bug").reason
    assert "fails before the bug" in reason and "then harness: AttributeError" in reason
    assert "fails before the skip" in outcome(run, "test_soft_fail_then_skip").reason
    assert "seen EINVAL" in outcome(run, "test_hard_fail_after_soft").reason
    # the soft failure stays in the evidence, and no teardown raised it again as an ERROR
    assert "teardown" not in outcome(run, "test_hard_fail_after_soft").longrepr


def test_nothing_passes_vacuously(tiny_run):
    _, run = tiny_run
    assert "1 vector(s) failed: v2: digest differs" in outcome(run, "test_vector_fails").reason
    assert "no vector checked" in outcome(run, "test_no_vector_ran").reason
    assert outcome(run, "test_all_inexpressible").reason == "unsupported:all-1-vectors-inexpressible"
    assert "no evidence recorded for HASH-1" in outcome(run, "test_no_evidence").reason
    # a clause's needs.alg, absent: the test skips before its first call (spec.require)
    assert outcome(run, "test_needs_an_absent_alg").reason.startswith("unsupported:alg-missing=nosuchalg")


# -- absent or broken --------------------------------------------------------------------------

PROC = """name         : gcm(aes)
driver       : generic-gcm-aesni
module       : aesni_intel
priority     : 400
type         : aead
internal     : no
selftest     : passed

name         : sha3-256
driver       : sha3-256-generic
module       : kernel
priority     : 100
type         : shash
internal     : no
selftest     : unknown

name         : sha256
driver       : sha256-generic
module       : kernel
priority     : 100
type         : shash
internal     : no
selftest     : passed
"""

CONFIG = """CONFIG_CRYPTO_USER_API_HASH=m
CONFIG_CRYPTO_USER_API_SKCIPHER=m
CONFIG_CRYPTO_USER_API_AEAD=m
CONFIG_CRYPTO_AES=y
CONFIG_CRYPTO_CBC=y
CONFIG_CRYPTO_CCM=m
CONFIG_CRYPTO_SHA256=y
# CONFIG_CRYPTO_CHACHA20 is not set
# CONFIG_CRYPTO_XTS is not set
"""


def classify(alg_type, name, err, proc=PROC, config=CONFIG):
    return absent.classify(alg_type, name, err, proccrypto.parse(proc),
                           None if config is None else absent.parse_config(config))


@pytest.mark.parametrize("alg_type,name,err,config,verdict,why", [
    # absent: ENOENT, not listed, and the config does not build it (or says nothing)
    ("skcipher", "chacha20", errno.ENOENT, CONFIG, "unsupported", "does not build it"),
    ("skcipher", "xts(aes)", errno.ENOENT, CONFIG, "unsupported", "does not build it"),
    ("skcipher", "chacha20", errno.ENOENT, None, "unsupported", "not in /proc/crypto"),
    ("hash", "streebog256", errno.ENOENT, CONFIG, "unsupported", "not in /proc/crypto"),
    ("rng", "stdrng", errno.ENOENT, CONFIG, "unsupported", "algif_rng"),
    # broken: listed, built, a failed self-test, or any other errno
    ("aead", "gcm(aes)", errno.ENOENT, CONFIG, "fail", "lists generic-gcm-aesni"),
    ("hash", "sha256-generic", errno.ENOENT, None, "fail", "lists sha256-generic"),
    ("aead", "ccm(aes)", errno.ENOENT, CONFIG, "fail", "config builds every part of ccm(aes)"),
    # a driver name the kernel no longer registers (7.3 calls aes-generic aes-lib): the
    # config builds the algorithm, not that name; /proc/crypto decides
    ("skcipher", "cbc(aes-generic)", errno.ENOENT, CONFIG, "unsupported", "not in /proc/crypto"),
    ("aead", "ccm(aes)", errno.ELIBBAD, None, "fail", "self-test"),
    ("skcipher", "chacha20", errno.ELIBBAD, CONFIG, "fail", "self-test"),
    ("aead", "gcm(aes)", errno.EINVAL, CONFIG, "fail", "EINVAL, not ENOENT"),
    ("skcipher", "chacha20", errno.EAGAIN, CONFIG, "fail", "EAGAIN"),
    ("hash", "sha3-256", errno.ENOENT, CONFIG, "fail", "selftest 'unknown'"),
])
def test_absent_or_broken(alg_type, name, err, config, verdict, why):
    got, text = classify(alg_type, name, err, config=config)
    assert (got, why in text) == (verdict, True), text


def test_a_template_is_judged_by_its_parts():
    cfg = absent.parse_config(CONFIG)
    assert absent.components("authenc(hmac(sha256),cbc(aes))") == ["authenc", "hmac", "sha256", "cbc", "aes"]
    assert absent.built("ccm(aes)", cfg) is True
    assert absent.built("rfc7539(chacha20,poly1305)", cfg) is False    # an inner part is not built
    assert absent.built("cbc(serpent)", cfg) is None                     # no symbol known: silent
    assert absent.built("drbg_nopr_hmac_sha256", absent.parse_config("CONFIG_CRYPTO_DRBG_HMAC=y")) is True
    assert absent.built("gcm(aes)", None) is None


def test_kernel_config_is_found_and_modules_count_only_when_installed(tmp_path):
    assert absent.parse_config("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x\"\n") == \
        {"A": "y", "B": "n", "C": '"x"'}
    assert absent.kernel_config("6.12.0-test", root=str(tmp_path)) is None
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / "config-6.12.0-test").write_text("CONFIG_CRYPTO_GCM=m\nCONFIG_CRYPTO_AES=y\n")
    assert absent.kernel_config("6.12.0-test", root=str(tmp_path)) == {"CRYPTO_AES": "y"}
    mods = tmp_path / "lib" / "modules" / "6.12.0-test"
    mods.mkdir(parents=True)
    (mods / "modules.dep").write_text("")
    assert absent.kernel_config("6.12.0-test", root=str(tmp_path)) == {"CRYPTO_GCM": "m", "CRYPTO_AES": "y"}


def test_vectors_are_counted_as_run_sampled_or_inexpressible():
    from afalg_conformance.harness.results.model import Subtest, vector_counts
    subs = [Subtest("a", "pass"), Subtest("b", "fail", "x"), Subtest("c", "xfail", "known"),
            Subtest("d", "skip", "inexpressible:gcm-ivlen=8"), Subtest("e", "skip", "inexpressible:xts-bits=129"),
            Subtest("f", "skip", "not-run:sampled=800-of-2625"), Subtest("g", "skip", "unsupported:internal-driver")]
    t = Run(run=RunInfo(), tests=[TestResult("k.py::t", "k.t", "fail", subtests=subs)]).totals()
    assert (t["subtests_run"], t["subtests_sampled"], t["subtests_inexpressible"]) == (3, 1, 2)
    assert vector_counts(t) == ("3 vectors run, 1 sampled out (--quick), 1 skipped, "
                                "2 inexpressible through AF_ALG")
