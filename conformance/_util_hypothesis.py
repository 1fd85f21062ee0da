"""Hypothesis as the property tests use it in a guest. A module with property tests imports
this before it builds any settings (`settings(...)` inherits the profile loaded when it is
made): test_oracle.py does.

The guest sees the host read-only: no example database; TCG is slow: no deadline, and no
shrinking unless asked (run --shrink): shrinking a failure on a broken kernel replays hundreds
of examples through the emulator; the first failing example is reported as found.

Hypothesis also mines every "local" module's source for literals to draw now and then; the
editable install makes the project's modules local (all but test_*), and with no writable
cache each worker parses them again: 5.6-6.7 s of a worker's first property test on
debian-6.12 under TCG (950 constants, timed around `_get_local_constants()` in a guest), for
literals that say nothing about the kernel. The strategies name the sizes that matter, so
the scan is switched off.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis.internal.conjecture import providers as _providers

_PHASES = tuple(Phase) if os.environ.get("AFALG_SHRINK") else tuple(p for p in Phase if p != Phase.shrink)
settings.register_profile("afalg", database=None, deadline=None, max_examples=40, phases=_PHASES,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("afalg")

if hasattr(_providers, "_get_local_constants") and hasattr(_providers, "_local_constants"):
    # private API, hence the guard: a Hypothesis without it simply keeps its own behaviour
    _providers._get_local_constants = lambda: _providers._local_constants
