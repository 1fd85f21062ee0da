"""conformance/conftest.py's bind_or_skip on the host, with a fake kernel: a name the kernel
said was missing is not asked again by the same worker until a module is loaded or the
af_alg_restrict mode changes, and nothing else is remembered (a listed driver that does not
bind is a FAIL every time; a name that bound is bound again)."""

import errno

import pytest

from afalg_conformance.conformance import conftest


class Kernel:
    """Binds succeed for `present`; the rest fail with ENOENT; every bind is counted."""

    def __init__(self, monkeypatch):
        self.present = {"cbc(aes)"}
        self.listed_broken = set()
        self.binds = []
        self.modules = "af_alg algif_skcipher"
        self.mode = None
        self.listing = []
        self.refused = None
        monkeypatch.setattr(conftest, "_MISSING", {})
        monkeypatch.setattr(conftest.AfalgSocket, "bound", staticmethod(self.bound))
        monkeypatch.setattr(conftest.proccrypto, "loaded_modules", lambda: self.modules)
        monkeypatch.setattr(conftest.proccrypto, "read", lambda: list(self.listing))
        monkeypatch.setattr(conftest.restrict, "read", lambda: self.mode)
        monkeypatch.setattr(conftest.restrict, "refusal", lambda t, n: self.refused)
        monkeypatch.setattr(conftest.absent, "classify", self.classify)
        monkeypatch.setattr(conftest, "_kernel_config", lambda: None)

    def bound(self, alg_type, name):
        self.binds.append(name)
        if name in self.present:
            return object()
        raise OSError(errno.ENOENT, "No such file or directory")

    def classify(self, alg_type, name, err, entries, config):
        if name in self.listed_broken or any(name in (e.name, e.driver) for e in entries):
            return "fail", f"{name} is listed but does not bind"
        return "unsupported", "not offered"


def outcome(name):
    try:
        conftest.bind_or_skip("skcipher", name, focus=False)
    except pytest.skip.Exception as e:
        return f"skip {e.msg}"
    except pytest.fail.Exception as e:
        return f"fail {e.msg}"
    return "bound"


def test_a_missing_name_is_asked_once_until_a_module_is_loaded(monkeypatch):
    k = Kernel(monkeypatch)
    first = outcome("ofb(aes)")
    assert first.startswith("skip unsupported:alg-missing=ofb(aes)")
    assert outcome("ofb(aes)") == first and k.binds == ["ofb(aes)"]      # the same answer, not asked
    k.modules += " sm4_generic"                                         # a module loaded since
    assert outcome("ofb(aes)") == first and k.binds == ["ofb(aes)"] * 2
    k.present.add("ofb(aes)")
    k.modules += " ofb"
    assert outcome("ofb(aes)") == "bound" and k.binds == ["ofb(aes)"] * 3


def test_a_new_restriction_mode_asks_again(monkeypatch):
    k = Kernel(monkeypatch)
    outcome("cfb(aes)")
    k.mode = 1
    outcome("cfb(aes)")
    assert k.binds == ["cfb(aes)"] * 2


def test_only_missing_names_are_remembered(monkeypatch):
    k = Kernel(monkeypatch)
    assert outcome("cbc(aes)") == outcome("cbc(aes)") == "bound" and k.binds == ["cbc(aes)"] * 2
    k.listed_broken.add("ecb(sm4)")
    assert outcome("ecb(sm4)").startswith("fail bind(skcipher, ecb(sm4))")
    assert outcome("ecb(sm4)").startswith("fail") and k.binds[-2:] == ["ecb(sm4)"] * 2


def test_a_name_proc_crypto_lists_since_is_asked_again(monkeypatch):
    """Another test's bind can register an instance without a module load: listed now, the
    name is bound again, and a listed name that still does not bind is a FAIL."""
    k = Kernel(monkeypatch)
    outcome("ofb(aes)")
    k.listing.append(conftest.proccrypto.Entry("ofb(aes)", "ofb(aes-generic)", priority=100, type="skcipher"))
    assert outcome("ofb(aes)").startswith("fail") and k.binds == ["ofb(aes)"] * 2


def test_a_restricted_name_is_asked_every_time(monkeypatch):
    k = Kernel(monkeypatch)
    k.refused = "unsupported:restricted=ofb(aes) (af_alg_restrict=1)"
    assert outcome("ofb(aes)") == outcome("ofb(aes)") == f"skip {k.refused}"
    assert k.binds == ["ofb(aes)"] * 2


def test_a_catalogue_that_does_not_load_does_not_stop_collection(monkeypatch, capsys):
    """The preload at collection is a head start only: a broken catalogue errors the tests
    that read it (catalogue.load raises again there), it does not end the session."""
    calls = []

    def broken(*a):
        calls.append(1)
        raise ValueError("conformance/spec/x.toml: a clause without an id")
    monkeypatch.setattr(conftest.catalogue, "load", broken)
    monkeypatch.setattr(conftest.afalg, "afalg_available", lambda: (True, ""))
    conftest.pytest_collection_modifyitems(None, [])
    assert calls == [1] and "a clause without an id" in capsys.readouterr().err
    with pytest.raises(ValueError):
        conftest.catalogue.get("ALG-1")
