"""`afalg-conform bench`: where the time of a run goes, as figures.

Boots the target once with `--exec true` (the bare boot), then runs a suite in a
second guest, and prints both wall times and their ratio, so the harness's own
overhead is visible. Speed targets live here, not in timed tests.
"""

from __future__ import annotations

import subprocess
import tempfile
import time

from harness.host import vm
from harness.errors import HarnessError


def bare_boot(target: vm.Target, use_kvm: bool, memory: str, cpus: int, timeout: float = 600) -> float:
    vng, _ = vm.find_tools()
    with tempfile.TemporaryDirectory(prefix="afalg-bench-") as d:
        cmd = vm.vng_command(vng, target, d, "true", use_kvm, memory, cpus, verbose=False)
        t0 = time.monotonic()
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        wall = time.monotonic() - t0
    if r.returncode != 0:
        raise HarnessError(f"bare boot of {target.name} failed (vng exit {r.returncode})")
    return wall
