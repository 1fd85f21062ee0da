import pytest

from harness.host import bytecode


@pytest.fixture(autouse=True)
def _no_bytecode_warm_up(monkeypatch):
    """Launching a (fake) guest compiles the tree's bytecode first (harness/host/bytecode.py):
    not in host tests, which would write into the checkout and collect the suite each time;
    tests/test_bytecode.py checks it on a tree of its own."""
    monkeypatch.setattr(bytecode, "_done", True)
