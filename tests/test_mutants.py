"""Host-side checks of the mutation self-check data (no build, no guest)."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest

from afalg_conformance.harness.host import mutants

RELEASE = os.environ.get("AFALG_MUTANT_RELEASE", "6.12.117+deb12-amd64")


def test_definitions_load():
    ms = mutants.load_mutants()
    assert len(ms) >= 5
    for m in ms:
        assert m.breaks.strip(), m.name
        assert m.file in mutants.SOURCE_FILES, m.name
        for c in m.clauses:
            assert re.fullmatch(r"[A-Z]+-\d+", c), (m.name, c)


def test_bad_definitions_rejected(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text('[[mutant]]\nname = "x"\nfile = "crypto/other.c"\nbreaks = "y"\n'
                   '[[mutant.edit]]\nsearch = "a"\nreplace = "b"\n')
    with pytest.raises(mutants.MutantError, match="not one of"):
        mutants.load_mutants(bad)
    bad.write_text('[[mutant]]\nname = "x"\nfile = "crypto/af_alg.c"\nbreaks = "y"\n'
                   '[[mutant.edit]]\nsearch = "a"\nreplace = "a"\n')
    with pytest.raises(mutants.MutantError, match="different replace"):
        mutants.load_mutants(bad)


def test_apply_needs_exactly_one_match():
    m = mutants.Mutant("x", "crypto/af_alg.c", "y", [mutants.Edit("foo", "bar")])
    assert mutants.apply(m, "a foo b") == "a bar b"
    with pytest.raises(mutants.MutantError, match="matches 2 times"):
        mutants.apply(m, "foo foo")
    with pytest.raises(mutants.MutantError, match="matches 0 times"):
        mutants.apply(m, "nothing")


def _source() -> Path:
    src = mutants.source_dir(RELEASE)
    if not all((src / f).exists() for f in mutants.SOURCE_FILES):
        pytest.skip(f"kernel source not extracted in {src}: afalg-conform mutants build extracts it "
                    f"from {mutants.tarball(RELEASE)} (apt-get install linux-source-{mutants.series(RELEASE)})")
    return src


@pytest.mark.parametrize("mutant", mutants.load_mutants(), ids=lambda m: m.name)
def test_mutant_applies_cleanly(mutant):
    src = _source()
    text = (src / mutant.file).read_text()
    out = mutants.apply(mutant, text)
    assert out != text
    # the change stays small: a mutant is one behaviour, not a rewrite
    diff = [x for x in difflib.unified_diff(text.splitlines(), out.splitlines(), n=0, lineterm="")
            if x[:1] in "+-" and not x.startswith(("+++", "---"))]
    assert 0 < len(diff) <= 12, diff


def test_source_matches_guest_kernel():
    src = _source()
    assert mutants.source_version(src) == RELEASE.split("+")[0].split("-")[0]


def test_verdicts_use_the_control_run():
    def run(outcomes, error=None):
        mods = [{"name": n} for n in mutants.MODULES]
        return {"run": {"harness_status": "ok", "extra": {"preload_modules": {"modules": mods, "error": error}}},
                "tests": [{"id": k, "outcome": v} for k, v in outcomes.items()]}
    control = run({"a": "pass", "b": "fail", "c": "pass"})
    table = mutants.verdicts(control, {
        "m1": run({"a": "fail", "b": "fail", "c": "pass"}),
        "m2": run({"a": "pass", "b": "fail", "c": "pass"}),
        "m3": run({"a": "crash", "b": "fail", "c": "skip"}),
        "m4": run({"a": "fail"}, error="insmod failed"),
    })
    assert table["m1"]["status"] == "caught" and table["m1"]["caught_by"] == {"a": "fail"}
    assert table["m2"]["status"] == "SURVIVED"        # b fails in the control too: not a catch
    assert table["m3"]["caught_by"] == {"a": "crash"}
    assert table["m4"]["status"] == "NOT RUN"
