"""Shared by the tests that boot real guests (marked `vm`)."""

import shutil
import subprocess
import sys

import pytest

from harness.host import vm
from harness.errors import HarnessError


def target_or_skip(name="debian-6.12", needs=()):
    """The installed kernel target, or SKIP with the reason (no vng, qemu, image or module)."""
    if not shutil.which("vng") or not shutil.which("qemu-system-x86_64"):
        pytest.skip("unsupported:no-vng-or-qemu (run scripts/setup.sh)")
    for mod in needs:
        pytest.importorskip(mod)
    try:
        return vm.resolve_target(name)
    except HarnessError as e:
        pytest.skip(f"unsupported:target-missing ({e})")


def cli(*args, timeout=1800):
    """`afalg-conform ARGS` as CI runs it, with no standard input."""
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
