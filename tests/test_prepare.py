"""The host makes what every guest would redo at each boot (harness/host/prepare.py)."""

import textwrap

import pickle
from pathlib import Path

from afalg_conformance.harness.host import prepare as bytecode


def tree(root):
    for pkg in ("harness", "harness/guest", "conformance"):
        (root / pkg).mkdir(parents=True, exist_ok=True)
        (root / pkg / "__init__.py").write_text("")
    (root / "harness" / "guest" / "plugin.py").write_text("X = 1\n")
    (root / "harness" / "lib.py").write_text("def f():\n    return 1\n")
    (root / "conformance" / "conftest.py").write_text("")
    (root / "pyproject.toml").write_text("")              # a checkout: afalg_conformance covers it
    (root / "afalg_conformance").mkdir()
    (root / "afalg_conformance" / "__init__.py").write_text(
        (Path(__file__).resolve().parent.parent / "afalg_conformance" / "__init__.py").read_text())
    (root / "conformance" / "test_a.py").write_text(textwrap.dedent("""\
        def test_a():
            assert 1 + 1 == 2
    """))
    return root


def test_warm_compiles_modules_and_pytests_rewritten_tests_once(tmp_path, monkeypatch):
    root = tree(tmp_path / "p")
    monkeypatch.setattr(bytecode, "_done", False)
    assert root / "conformance" / "test_a.py" in bytecode.stale_rewrites(root)
    said = bytecode.warm(root)
    assert "rewritten test modules written" in said, said
    assert list((root / "harness" / "__pycache__").glob("lib.*.pyc"))
    assert bytecode._rewritten(root / "conformance" / "test_a.py") is not None
    assert root / "conformance" / "test_a.py" not in bytecode.stale_rewrites(root)
    assert bytecode.warm(root) == "bytecode: up to date"       # once per command


def test_a_read_only_tree_is_left_alone(tmp_path, monkeypatch):
    root = tree(tmp_path / "p")
    monkeypatch.setattr(bytecode, "_done", False)
    monkeypatch.setattr(bytecode.os, "access", lambda path, mode: False)
    assert "read-only" in bytecode.warm(root)
    assert not (root / "harness" / "__pycache__").exists()


def test_vector_files_are_parsed_once_on_the_host_and_read_back_in_the_guest(tmp_path, monkeypatch):
    from afalg_conformance.vectors import cache
    from afalg_conformance.vectors.sets import SETS
    vs = next(v for v in SETS if v.id == "cavp-sha256-shortmsg")
    monkeypatch.setattr(bytecode, "_vectors", None)
    env = bytecode.vector_cache(folder=tmp_path / "vc")
    assert env == {"AFALG_VECTOR_CACHE": str(tmp_path / "vc")}
    assert cache.path(tmp_path / "vc", vs).exists()
    assert bytecode.vector_cache(folder=tmp_path / "other") == env          # once per command

    monkeypatch.setenv(cache.ENV, str(tmp_path / "vc"))
    got = vs.cases()
    assert got == vs.parse()                  # every field of every case, as the file gives it
    # The guest really reads the pickle: a doctored one shows through (and a stale or
    # missing one is parsed again from the file).
    p = cache.path(tmp_path / "vc", vs)
    doctored = got[:1]
    p.write_bytes(pickle.dumps(cache._rows(doctored)))
    assert len(vs.cases()) == 1
    p.write_bytes(pickle.dumps(got))           # the older layout (Case objects): parsed again
    assert vs.cases() == got
    p.unlink()
    assert len(vs.cases()) == len(got)


def test_a_changed_vector_file_or_loader_is_parsed_again(tmp_path, monkeypatch):
    from afalg_conformance.vectors import cache
    from afalg_conformance.vectors.sets import SETS
    vs = next(v for v in SETS if v.id == "cavp-sha256-shortmsg")
    before = cache.path(tmp_path, vs)
    monkeypatch.setattr(cache, "file_key", lambda v: "another-mtime")
    assert cache.path(tmp_path, vs) != before
    monkeypatch.setattr(cache, "_code_key", "another-loader")
    assert cache.path(tmp_path, vs).parent.name == "another-loader"
    monkeypatch.delenv(cache.ENV, raising=False)
    assert cache.load(vs) is None                      # no cache: the guest parses


def test_guest_import_stats_asked_once_failures_asked_again(tmp_path):
    """harness/guest/imports.py in a fresh interpreter (it changes importlib for the process):
    a module's folder and source are stat'ed once however often they are looked up, and a
    module written after a failed lookup is still found."""
    import subprocess
    import sys
    (tmp_path / "mod_a.py").write_text("A = 1\n")
    script = textwrap.dedent(f"""
        import importlib, importlib._bootstrap_external as be, os, sys
        asked = []
        real = be._path_stat
        be._path_stat = lambda p: (asked.append(p), real(p))[1]
        from afalg_conformance.harness.guest import imports
        assert imports.from_environment()
        sys.path.insert(0, {str(tmp_path)!r})
        import mod_a
        n = len(asked)
        for _ in range(3):
            sys.modules.pop("mod_a"); importlib.import_module("mod_a")
        assert len(asked) == n, (n, asked[n:])
        try:
            import mod_b
        except ImportError:
            pass
        open(os.path.join({str(tmp_path)!r}, "mod_b.py"), "w").write("B = 2\\n")
        importlib.invalidate_caches()
        import mod_b
        assert mod_b.B == 2
    """)
    root = Path(__file__).resolve().parent.parent
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "AFALG_IMPORT_MEMO": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    env["AFALG_IMPORT_MEMO"] = "0"
    r = subprocess.run([sys.executable, "-c", "from afalg_conformance.harness.guest import imports; "
                        "assert not imports.from_environment()"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_guest_commands_ask_for_the_import_memo():
    from afalg_conformance.harness.host import vm
    assert "AFALG_IMPORT_MEMO=1 " in vm.guest_python_command(["-m", "x"])
