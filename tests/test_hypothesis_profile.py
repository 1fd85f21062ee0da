"""The guest's Hypothesis profile (conformance/_util_hypothesis.py), checked in a fresh interpreter
so the profile it loads does not leak into this session."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = r"""
import json, sys
from hypothesis.internal.conjecture import providers
if sys.argv[1] == "profile":
    from afalg_conformance.conformance import _util_hypothesis  # noqa: F401
from afalg_conformance.harness.afalg import algorithms  # noqa: F401  (local modules to mine)
from hypothesis import given, settings, strategies as st
seen = []
@settings(max_examples=100)
@given(st.binary(max_size=8))
def prop(b):
    seen.append(b)
prop()
scanned = len(providers._seen_modules)      # modules the providers' own calls looked at
s = settings.default
print(json.dumps({"scanned": scanned, "constants": len(providers._get_local_constants()), "drawn": len(seen),
                  "no_database": s.database is None, "shrink": any(p.name == "shrink" for p in s.phases)}))
"""


def _probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "HYPOTHESIS_STORAGE_DIRECTORY": "/nonexistent/x"})
    return json.loads(out.stdout)


def test_profile_skips_the_local_constant_scan_and_shrinking():
    plain, guest = _probe("plain"), _probe("profile")
    assert plain["constants"] > 0          # without the profile Hypothesis mines our sources
    assert guest["constants"] == 0 and guest["scanned"] == 0
    assert guest["drawn"] == 100
    assert guest["no_database"] and not guest["shrink"]
