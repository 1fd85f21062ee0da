# The results plugin is needed wherever conformance tests run (guest runner, a developer's
# plain `pytest conformance/`); pytest only honours pytest_plugins in the root conftest.
pytest_plugins = ["afalg_conformance.harness.guest.plugin"]
