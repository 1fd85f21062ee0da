"""Hypothesis as the property tests use it in a guest. A module with property tests imports
this before it builds any settings (`settings(...)` inherits the profile loaded when it is
made): test_oracle.py does.

The guest sees the host read-only: no example database; TCG is slow: no deadline, and no
shrinking unless asked (run --shrink): shrinking a failure on a broken kernel replays hundreds
of examples through the emulator; the first failing example is reported as found.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_PHASES = tuple(Phase) if os.environ.get("AFALG_SHRINK") else tuple(p for p in Phase if p != Phase.shrink)
settings.register_profile("afalg", database=None, deadline=None, max_examples=40, phases=_PHASES,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("afalg")
