"""The af_alg_restrict rules as data (harness/afalg/restrict.py), checked against what the
7.3.4 source says; the guest tests (conformance/test_restrict.py) check the kernel against them."""

import pytest

from afalg_conformance.harness.afalg import restrict


@pytest.mark.parametrize("alg_type,name,privileged,mode,ok", [
    ("skcipher", "cbc(aes)", True, 1, True),
    ("skcipher", "cbc(aes)", False, 1, False),        # privileged-only entry
    ("skcipher", "xts(aes)", False, 1, True),         # AF_ALG_UNPRIVILEGED
    ("hash", "sha1", False, 1, True),
    ("hash", "sha256", False, 1, False),
    ("aead", "gcm(aes)", True, 1, False),             # on no list
    ("skcipher", "cbc-aes-aesni", True, 1, False),    # driver names never match (strcmp)
    ("rng", "stdrng", True, 1, False),                # the rng list is empty
    ("aead", "gcm(aes)", False, 0, True),             # 0: unrestricted
    ("hash", "sha1", True, 2, False),                 # 2: nothing at all
    ("aead", "gcm(aes)", False, None, True),          # a kernel without the sysctl
])
def test_allowed(alg_type, name, privileged, mode, ok):
    assert restrict.allowed(alg_type, name, mode, privileged) is ok


def test_refusal_names_the_algorithm_and_the_mode(monkeypatch):
    monkeypatch.setattr(restrict, "read", lambda: 1)
    monkeypatch.setattr(restrict, "privileged", lambda: True)
    assert restrict.refusal("aead", "gcm(aes)") == "unsupported:restricted=gcm(aes) (af_alg_restrict=1)"
    assert restrict.refusal("aead", "ccm(aes)") is None
    monkeypatch.setattr(restrict, "read", lambda: None)
    assert restrict.refusal("aead", "gcm(aes)") is None


def test_the_unprivileged_list_is_a_subset_of_each_type():
    short = {(t, n) for t, names in restrict.ALLOWLIST.items() for n, unpriv in names.items() if unpriv}
    assert short == {("skcipher", n) for n in ("adiantum(xchacha12,aes)", "adiantum(xchacha20,aes)", "hctr2(aes)",
                                               "xts(aes)", "xts(camellia)", "xts(serpent)", "xts(twofish)")} | {
        ("hash", "sha1")}


def test_the_guest_runner_sets_the_mode_and_records_what_it_found(tmp_path, monkeypatch):
    from afalg_conformance.harness.guest import runner
    state = {"value": 1, "held": False}
    monkeypatch.setattr(restrict, "hold_af_alg", lambda: state.update(held=True) or True)
    monkeypatch.setattr(restrict, "release", lambda: state.update(held=False))
    monkeypatch.setattr(restrict, "read", lambda: state["value"])
    monkeypatch.setattr(restrict, "write", lambda v: state.update(value=v))
    rec = tmp_path / "r.json"
    assert runner.apply_restriction("auto", rec) == (None, 1)          # 1 is put back afterwards
    assert state["value"] == 0 and rec.read_text() == '{"requested": "auto", "found": 1, "mode": 0}'
    assert state["held"]                                                # af_alg stays loaded, the value set
    state["value"] = 1
    assert runner.apply_restriction("1", rec) == (None, None) and state["value"] == 1
    assert runner.apply_restriction("keep", rec) == (None, None) and state["value"] == 1   # --kernel host
    monkeypatch.setattr(restrict, "read", lambda: None)       # a kernel before 7.3
    assert runner.apply_restriction("auto", rec) == (None, None)
    assert not state["held"]                                  # nothing to keep set: af_alg.ko not pinned
    assert runner.apply_restriction("1", rec) == (
        "--restrict 1: this kernel has no /proc/sys/crypto/af_alg_restrict", None)


def test_a_host_run_keeps_the_hosts_setting():
    from afalg_conformance.harness.host import runner
    opts = runner.RunOptions()
    assert runner._guest_args(opts, "e.jsonl", None, host=True)[-2:] == ["--restrict", "keep"]
    assert "--restrict" not in runner._guest_args(opts, "e.jsonl", None)
