"""The host compiles what the guest would compile at every boot (harness/host/bytecode.py)."""

import textwrap

from harness.host import bytecode


def tree(root):
    for pkg in ("harness", "harness/guest", "conformance"):
        (root / pkg).mkdir(parents=True, exist_ok=True)
        (root / pkg / "__init__.py").write_text("")
    (root / "harness" / "guest" / "plugin.py").write_text("X = 1\n")
    (root / "harness" / "lib.py").write_text("def f():\n    return 1\n")
    (root / "conformance" / "conftest.py").write_text("")
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
