import pytest

from afalg_conformance.harness.host import prepare


@pytest.fixture(autouse=True)
def _nothing_prepared_for_guests():
    """Launching a (fake) guest first compiles the tree's bytecode and parses the vector files
    on the host (harness/host/prepare.py): not in host tests, which would write into the
    checkout and the user's cache; tests/test_prepare.py checks both on folders of their own.
    (Not through monkeypatch: an autouse monkeypatch would be undone after the tests' own
    fixtures are torn down, changing their order.)"""
    saved = prepare._done, prepare._vectors
    prepare._done, prepare._vectors = True, {}
    yield
    prepare._done, prepare._vectors = saved
