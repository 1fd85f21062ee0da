"""run --driver: which driver a bind uses in place of the generic name (proccrypto.focus_driver,
decided from a fake /proc/crypto), the pattern check before boot, and how the option reaches
the guest and comes back in the results."""

import json

import pytest

from afalg_conformance.harness.afalg import proccrypto
from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.host import runner, validate
from afalg_conformance.harness.results.model import Run, RunInfo, Subtest, TestResult


def block(name, driver, prio, type_="skcipher", internal=False, module="kernel"):
    return (f"name         : {name}\ndriver       : {driver}\nmodule       : {module}\n"
            f"priority     : {prio}\nrefcnt       : 1\nselftest     : passed\n"
            f"internal     : {'yes' if internal else 'no'}\ntype         : {type_}\n")


# What a 6.12 guest lists (abridged), in /proc/crypto's own order.
PROC = "\n".join([
    block("__cbc(aes)", "__cbc-aes-aesni", 400, internal=True),
    block("cbc(aes)", "cbc-aes-aesni", 400),
    block("cbc(aes)", "cbc(aes-generic)", 100),
    block("cbc(aes)", "cbc-aes-fast", 400),
    block("sha256", "sha256-avx2", 170, "shash"),
    block("sha256", "sha256-avx", 160, "shash"),
    block("sha256", "sha256-ssse3", 150, "shash"),
    block("sha256", "sha256-generic", 100, "shash"),
    block("gcm(aes)", "generic-gcm-aesni-avx", 500, "aead"),
    block("gcm(aes)", "generic-gcm-aesni", 400, "aead"),
    block("aes", "aes-aesni", 300, "cipher"),
    block("crc32c", "crc32c-intel", 200, "shash"),
])
ENTRIES = proccrypto.parse(PROC)


def focus(alg_type, name, *patterns):
    e = proccrypto.focus_driver(ENTRIES, alg_type, name, list(patterns))
    return e.driver if e else None


def test_a_driver_name_stands_in_for_its_algorithm_only():
    assert focus("skcipher", "cbc(aes)", "cbc-aes-aesni") == "cbc-aes-aesni"
    assert focus("aead", "gcm(aes)", "cbc-aes-aesni") is None       # not a driver of gcm(aes)
    assert focus("hash", "cbc(aes)", "cbc-aes-aesni") is None       # not bindable as a hash
    assert focus("skcipher", "cbc(aes-generic)", "cbc*") is None    # a driver name is bound as it is


def test_a_glob_matches_driver_names_and_the_highest_priority_match_wins():
    assert focus("aead", "gcm(aes)", "*-aesni") == "generic-gcm-aesni"     # not ...-aesni-avx
    assert focus("aead", "gcm(aes)", "*aesni*") == "generic-gcm-aesni-avx"
    assert focus("hash", "sha256", "sha256-[as]*") == "sha256-avx2"
    assert focus("hash", "sha256", "sha256-?sse3") == "sha256-ssse3"
    assert focus("hash", "sha256", "sha256-?sse") is None             # a glob matches the whole name
    assert focus("hash", "sha256", "sha256-s*") == "sha256-ssse3"
    assert focus("skcipher", "cbc(aes)", "*(aes-generic)") == "cbc(aes-generic)"


def test_equal_priorities_go_to_the_first_listed_and_patterns_are_tried_in_order():
    assert focus("skcipher", "cbc(aes)", "cbc-aes-*") == "cbc-aes-aesni"      # 400 and 400: listed first
    assert focus("skcipher", "cbc(aes)", "cbc-aes-fast", "cbc-aes-aesni") == "cbc-aes-fast"
    assert focus("hash", "sha256", "nothing-*", "sha256-generic", "sha256-avx2") == "sha256-generic"


def test_internal_drivers_never_match():
    assert focus("skcipher", "cbc(aes)", "__cbc-aes-aesni") is None
    assert [e.driver for e in proccrypto.focus_matches(ENTRIES, "__*")] == []


def test_what_a_pattern_selects_in_the_whole_of_proc_crypto():
    def drivers(p):
        return [e.driver for e in proccrypto.focus_matches(ENTRIES, p)]
    assert drivers("*-aesni") == ["cbc-aes-aesni", "generic-gcm-aesni"]   # aes-aesni is a bare cipher
    assert drivers("sha256-*") == ["sha256-avx2", "sha256-avx", "sha256-ssse3", "sha256-generic"]
    assert drivers("crc32c-intel") == ["crc32c-intel"]    # a driver the suite never binds still exists
    assert drivers("sha256-avx512") == []                 # no match: the guest skips the run


@pytest.mark.parametrize("value", ["cbc-aes-aesni", "*-aesni", "cbc(aes-generic)", "sha256-[as]*", "[!_]*",
                                   "gcm_base(ctr(aes-generic),ghash-generic)", "drbg_nopr_hmac_sha256"])
def test_good_patterns_pass_the_check(value):
    assert validate.driver_pattern(value) == value


@pytest.mark.parametrize("value,message", [
    ("", "--driver '': expected a driver name or a glob"),
    ("cbc aes", "' ' cannot be in a driver name"),
    ("cbc/aes", "'/' cannot be in a driver name"),
    ("*-aesni[", "'[' at 8 is not closed"),
    ("sha256]", "']' at 7 closes no '['"),
    ("cbc(aes", "unbalanced parentheses"),
    ("cbc)aes(", "')' at 4 closes no '('"),
    ("x" * 128, "128 characters; a driver name has at most 127"),
])
def test_bad_patterns_are_one_line_before_boot(value, message):
    with pytest.raises(HarnessError, match=None) as e:
        validate.driver_pattern(value)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_the_option_reaches_the_guest_in_order():
    class A:
        suite, boot_timeout, run_timeout, test_timeout, memory, cpus = "full", 1.0, 1.0, 1.0, "2G", 2
        max_restarts, keyword, shard, allow_crash_tests, paths, append = 0, None, None, False, [], []
        driver = ["*-aesni", "sha256-avx2"]
    opts = runner.options_from(A())
    assert opts.drivers == ["*-aesni", "sha256-avx2"]
    args = runner._guest_args(opts, "e.jsonl", None)
    assert args[args.index("--driver"):args.index("--driver") + 4] == ["--driver", "*-aesni", "--driver", "sha256-avx2"]
    assert "--driver" not in runner._guest_args(runner.RunOptions(), "e.jsonl", None)


def test_the_guest_runner_records_what_the_patterns_matched(tmp_path, monkeypatch):
    from afalg_conformance.harness.afalg import client
    from afalg_conformance.harness.guest import runner as guest
    bound = []

    class Sock:
        def close(self):
            pass

    def fake_bound(alg_type, name):
        bound.append((alg_type, name))
        return Sock()
    monkeypatch.setattr(client.AfalgSocket, "bound", staticmethod(fake_bound))
    monkeypatch.setattr(proccrypto, "read", lambda path="/proc/crypto": ENTRIES)
    monkeypatch.delenv("AFALG_DRIVERS", raising=False)
    rec = guest.driver_focus(["*-aesni", "cbc(aes-x)", "sha256-avx512"], tmp_path / "f.json")
    assert rec["drivers"] == {"*-aesni": ["cbc-aes-aesni", "generic-gcm-aesni"], "cbc(aes-x)": [],
                              "sha256-avx512": []}
    assert rec["missing"] == ["cbc(aes-x)", "sha256-avx512"]
    assert json.loads((tmp_path / "f.json").read_text()) == rec
    assert ("skcipher", "cbc(aes)") in bound and ("hash", "sha256") in bound    # modules loaded first
    assert ("skcipher", "cbc(aes-x)") in bound and ("aead", "cbc(aes-x)") in bound   # literal: instantiated
    assert not any(name == "*-aesni" for _, name in bound)                        # a glob is never bound
    import os
    assert json.loads(os.environ["AFALG_DRIVERS"]) == ["*-aesni", "cbc(aes-x)", "sha256-avx512"]
    assert json.loads(os.environ["AFALG_DRIVERS_MISSING"]) == ["cbc(aes-x)", "sha256-avx512"]
    monkeypatch.delenv("AFALG_DRIVERS")
    monkeypatch.delenv("AFALG_DRIVERS_MISSING")


def _run(focus_record, tests):
    return Run(run=RunInfo(target="t", kernel_release="6.12", extra={"driver_focus": focus_record}), tests=tests)


def test_the_results_count_what_went_through_the_driver():
    rec = {"patterns": ["cbc-aes-aesni"], "drivers": {"cbc-aes-aesni": ["cbc-aes-aesni"]}, "missing": []}
    through = {"type": "skcipher", "name": "cbc(aes)", "bound": "cbc-aes-aesni", "driver": "cbc-aes-aesni"}
    generic = {"type": "hash", "name": "sha256", "bound": "sha256", "driver": "sha256-avx2"}
    run = _run(rec, [
        TestResult("a", "kat.cbc", "pass", binds=[through], subtests=[
            Subtest("v1", "pass", detail={"driver": "cbc-aes-aesni"}),
            Subtest("v2", "skip", "inexpressible:x", detail={"driver": "cbc-aes-aesni"})]),
        TestResult("b", "hash.sha256", "pass", binds=[generic]),
        TestResult("c", "drivers.cbc", "pass", subtests=[
            Subtest("cbc-aes-aesni", "pass", detail={"driver": "cbc-aes-aesni", "vectors": 30, "n_pass": 29,
                                                      "n_xfail": 1, "n_skip": 0, "n_fail": 0}),
            Subtest("cbc(aes-generic)", "pass", detail={"driver": "cbc(aes-generic)", "vectors": 30, "n_pass": 30})]),
        TestResult("d", "drivers.every", "pass", subtests=[       # a bind check is no vector
            Subtest("bind cbc-aes-aesni", "pass", detail={"driver": "cbc-aes-aesni", "kind": "bind"})]),
    ])
    f = run.focus()
    assert (f["tests"], f["tests_passed"], f["vectors"]) == (1, 1, 31)
    assert run.focus_line() == ("driver focus --driver cbc-aes-aesni: matched cbc-aes-aesni; 1 tests bound it "
                                "(1 passed), 31 vectors went through it")
    back = Run.from_json(json.loads(json.dumps(run.to_json())))
    assert back.tests[0].binds == [through]


def test_a_missing_driver_is_said_in_the_ktap_header_and_footer():
    from afalg_conformance.harness.results import ktap
    rec = {"patterns": ["sha256-avx512"], "drivers": {"sha256-avx512": []}, "missing": ["sha256-avx512"]}
    run = _run(rec, [TestResult("a", "hash.x", "skip", "unsupported:driver-missing=sha256-avx512")])
    text = ktap.render(run, runner.header_comments(run, rec["patterns"]))
    assert "# driver focus: --driver sha256-avx512\n" in text
    assert "no driver of this kernel matches sha256-avx512 (the run was skipped)" in text
    assert "ok 1 hash.x # SKIP unsupported:driver-missing=sha256-avx512" in text


def test_proc_crypto_is_parsed_again_only_when_its_text_changes(tmp_path):
    p = tmp_path / "crypto"
    p.write_text(PROC)
    first = proccrypto.read(str(p))
    again = proccrypto.read(str(p))
    assert again == first and again is not first            # a caller's list is its own
    assert all(a is b for a, b in zip(first, again))        # the entries are the one parse
    p.write_text(PROC + "\n" + block("ctr(aes)", "ctr(aes-generic)", 100))   # a bind registered an instance
    after = proccrypto.read(str(p))
    assert [e.driver for e in after][-1] == "ctr(aes-generic)" and len(after) == len(first) + 1
    assert proccrypto.read(str(tmp_path / "absent")) == []


def test_parse_reuses_unchanged_blocks_and_sees_changed_ones(tmp_path):
    """/proc/crypto read again after a bind: only the blocks whose text moved (a refcnt, a new
    instance) are parsed again, and the result is what a parse from scratch gives."""
    f = tmp_path / "crypto"
    f.write_text(PROC)
    first = proccrypto.read(str(f))
    changed = PROC.replace("refcnt       : 1", "refcnt       : 3", 1) + "\n" + block("ctr(aes)", "ctr(aes-generic)", 100)
    f.write_text(changed)
    second = proccrypto.read(str(f))
    proccrypto._blocks.clear()
    fresh = proccrypto.read(str(f))
    assert [vars(e) for e in second] == [vars(e) for e in fresh]
    assert second[0].fields["refcnt"] == "3" and first[0].fields["refcnt"] == "1"
    assert second[1] is first[1]                       # an unchanged block: the same entry
    assert [e.driver for e in second][-1] == "ctr(aes-generic)"
    assert proccrypto.read(str(tmp_path / "none")) == []
