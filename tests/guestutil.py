"""Shared by the tests that boot real guests (marked `vm`)."""

import importlib.util
import os
import subprocess
import sys

import pytest

from afalg_conformance.harness.host import vm
from afalg_conformance.harness.errors import HarnessError


def _cannot_run(reason: str):
    # CI ran scripts/setup.sh first: there a missing tool or kernel is an install step that
    # broke, and a vm test that skipped for it would hide exactly that.
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}, although CI ran scripts/setup.sh")
    pytest.skip(reason)


def target_or_skip(name="debian-6.12", needs=()):
    """The installed kernel target, or SKIP with the reason (no vng, qemu, image or module)."""
    # As the harness finds them: beside this interpreter (the venv's vng) first, then PATH.
    if not vm.find_tool("vng") or not vm.find_tool("qemu-system-x86_64"):
        _cannot_run("unsupported:no-vng-or-qemu (run scripts/setup.sh)")
    for mod in needs:
        if importlib.util.find_spec(mod) is None:
            _cannot_run(f"unsupported:no-{mod} (run scripts/setup.sh)")
    try:
        return vm.resolve_target(name)
    except HarnessError as e:
        _cannot_run(f"unsupported:target-missing ({e})")


def cli(*args, timeout=1800):
    """`afalg-conform ARGS` as CI runs it, with no standard input."""
    return subprocess.run([sys.executable, "-m", "afalg_conformance.harness.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
