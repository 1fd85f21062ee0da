"""The clause catalogue and the tests agree: every test names clauses that exist,
every clause is tested or says why it cannot be, SPEC.md is generated from the TOML."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from afalg_conformance.conformance import catalogue

CONF = Path(__file__).resolve().parent.parent / "conformance"
SELF_CHECKS = {"test_zz_selfcheck_crash.py"}   # harness self-checks: no spec clause


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """node id -> clause ids, as the suite's own plugin reports them at collection
    (markers on functions, classes, modules and pytest.param all count)."""
    events = tmp_path_factory.mktemp("collect") / "events.jsonl"
    r = subprocess.run([sys.executable, "-m", "pytest", str(CONF), "--collect-only", "-q",
                        "-p", "no:cacheprovider", "--afalg-events", str(events)],
                       capture_output=True, text=True, cwd=CONF.parent, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for line in events.read_text().splitlines():
        ev = json.loads(line)
        if ev["event"] == "collected":
            return {t["id"]: t["clauses"] for t in ev["tests"] if Path(t["id"].split("::")[0]).name not in SELF_CHECKS}
    raise AssertionError("no collection event")


def test_catalogue_loads_and_ids_are_unique():
    clauses = catalogue.load()
    assert len(clauses) >= 5
    for c in clauses.values():
        for p in catalogue.PROFILES:
            c.expect(p, "6.12.0")      # version conditions parse


def test_every_test_names_existing_clauses(collected):
    clauses = catalogue.load()
    tests = collected
    assert tests, "no conformance tests found"
    unnamed = [t for t, ids in tests.items() if not ids]
    assert not unnamed, f"tests without @pytest.mark.clause: {unnamed}"
    unknown = sorted({i for ids in tests.values() for i in ids if i not in clauses})
    assert not unknown, f"tests name clauses that are not in conformance/spec: {unknown}"


def test_every_clause_is_tested_or_says_why_not(collected):
    marked = {i for ids in collected.values() for i in ids}
    orphans = [c.id for c in catalogue.load().values() if c.id not in marked and not c.untestable]
    assert not orphans, f"clauses with no test and no 'untestable' reason: {orphans}"


def test_bad_catalogue_is_a_clear_error(tmp_path):
    (tmp_path / "x.toml").write_text('[[clause]]\nid = "X-1"\ntitle = "t"\n')
    with pytest.raises(catalogue.CatalogueError, match="X-1 lacks statement, source"):
        catalogue.load.__wrapped__(str(tmp_path))
    (tmp_path / "x.toml").write_text('[[clause]]\nid = "bad id"\ntitle="t"\nstatement="s"\nsource="s"\n')
    with pytest.raises(catalogue.CatalogueError, match="bad clause id"):
        catalogue.load.__wrapped__(str(tmp_path))


def test_version_dependent_tokens():
    c = catalogue.Clause("OPT-99", "t", "s", "src", linux={"default": "ok", "<6.2": "ENOPROTOOPT"})
    assert c.linux_expect("6.1.0-56-amd64") == "ENOPROTOOPT"
    assert c.linux_expect("6.12.117+deb12-amd64") == "ok"


def test_fixes_and_needs_are_structured_and_checked(tmp_path):
    (tmp_path / "x.toml").write_text(
        '[[clause]]\nid = "X-1"\ntitle = "t"\nstatement = "s"\nsource = "crypto/af_alg.c"\n'
        'fixes = { commit = "a664bf3d603d", cve = "CVE-2026-31431" }\n'
        'needs = { config = ["!CRYPTO_USER_API_RNG_CAVP", "KEYS"], alg = ["rng:stdrng"] }\n')
    c = catalogue.load(str(tmp_path))["X-1"]
    assert c.fixes == {"commit": "a664bf3d603d", "cve": "CVE-2026-31431"}
    assert c.missing_config(None) is None                                   # unknown config: evidence decides
    assert c.missing_config({"KEYS": "y"}) is None
    assert c.missing_config({"KEYS": "y", "CRYPTO_USER_API_RNG_CAVP": "y"}) == \
        "unsupported:config-set=CONFIG_CRYPTO_USER_API_RNG_CAVP"
    assert c.missing_config({"KEYS": "n"}) == "unsupported:config-missing=CONFIG_KEYS"
    md = catalogue.render_markdown({"X-1": c})
    assert "Guards: commit `a664bf3d603d`, CVE-2026-31431" in md and "CONFIG_KEYS on" in md
    for bad in ('fixes = { commit = "xyz" }', 'fixes = { cve = "CVE-26-1" }', 'fixes = { tag = "v1" }',
                'needs = { config = ["CONFIG_lower"] }', 'needs = { alg = ["sha256"] }'):
        (tmp_path / "x.toml").write_text('[[clause]]\nid = "X-1"\ntitle = "t"\nstatement = "s"\n'
                                         f'source = "s"\n{bad}\n')
        catalogue.load.cache_clear()
        with pytest.raises(catalogue.CatalogueError, match="bad fixes/needs"):
            catalogue.load(str(tmp_path))
    catalogue.load.cache_clear()


def test_clauses_that_name_a_cve_say_it_as_data():
    # a CVE in a clause's prose and not in its `fixes` is metadata a CI dashboard cannot see
    for c in catalogue.load().values():
        for cve in re.findall(r"CVE-\d{4}-\d{4,}", c.statement + " " + c.title):
            assert c.fixes.get("cve") == cve, f"{c.id} names {cve}: add fixes = {{ cve = \"{cve}\", ... }}"
