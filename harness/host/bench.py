"""`afalg-conform bench`: where the time of a run goes, as figures.

Boots the target once with `--exec true` (the bare boot), then runs a suite in a
second guest, and prints both wall times and their ratio, so the harness's own
overhead is visible. Speed targets live here, not in timed tests.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from afalg_conformance.harness.host import launch, vm
from afalg_conformance.harness.errors import HarnessError


def bare_boot(target: vm.Target, use_kvm: bool, memory: str, cpus: int, timeout: float = 600) -> float:
    with tempfile.TemporaryDirectory(prefix="afalg-bench-") as d:
        cmd, env = launch.command(target, d, [], use_kvm=use_kvm, memory=memory, cpus=cpus, verbose=False)
        done = launch.launch(cmd, Path(d) / "console.log", env=env, timeout=timeout)
    if done.status != "exited" or done.rc != 0:
        raise HarnessError(f"bare boot of {target.name} failed ({done.status}, vng exit {done.rc})")
    return done.wall
