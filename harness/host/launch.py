"""The one launcher: every guest this tool boots starts here (`run`, the matrix, `bench`,
`mutants`, `fuzz`, `fuzz-bench`, `reproduce`, `coverage`).

It builds the command (vm.vng_command with vm.guest_python_command; on the host target,
the same Python module run directly), starts it in the registry of guest processes (so
Ctrl-C and SIGTERM stop it), keeps the console in a file, and waits: for the process to
end, for a deadline, or for the caller's `watch` to say why it should stop. What the
guest's output means (events, a libFuzzer log, a crash) is the caller's: the runner folds
test events and names the crasher, fuzz reads its journal.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from afalg_conformance.harness.host import prepare, processes, vm


@dataclasses.dataclass
class Launched:
    status: str                 # "exited", "timeout", or what watch() returned
    rc: int | None
    wall: float
    cmd: list[str]


def command(target: vm.Target, rwdir: str, argv: list[str], *, use_kvm: bool = False, memory: str = "2G",
            cpus: int = 2, append: list[str] = (), verbose: bool = True,
            shm: str | None = None) -> tuple[list[str], dict | None]:
    """(command, env) that runs `python argv` in a guest of target (on the host target: here).
    shm: a file in rwdir the guest gets as shared memory (vm.vng_command); not on the host."""
    if target.is_host:
        return [sys.executable, *argv], dict(os.environ, PYTHONPATH=str(vm.IMPORT_ROOT), PYTHONDONTWRITEBYTECODE="1")
    vng, _ = vm.find_tools()
    env = {}
    if argv:                     # made on the host once, not in every guest worker under TCG
        prepare.warm()
        env = prepare.vector_cache()
    guest = vm.guest_python_command(argv, target.config, env) if argv else "true"
    return vm.vng_command(vng, target, rwdir, guest, use_kvm, memory, cpus, list(append), verbose, shm=shm), None


def launch(cmd: list[str], console: Path, *, env: dict | None = None, timeout: float | None = None,
           watch: Callable[[bool], str | None] | None = None, poll: float = 0.5) -> Launched:
    """Run cmd with its output in console (appended). watch(ended) is called every `poll`
    seconds and once more when the process has ended or been stopped; a string it returns
    stops the guest and becomes the status."""
    t0 = time.monotonic()
    status = None
    with open(console, "ab") as con:
        p = processes.start(cmd, stdin=subprocess.DEVNULL, stdout=con, stderr=subprocess.STDOUT, env=env,
                            cwd=str(vm.PROJECT_ROOT))
        while True:
            try:
                rc = p.wait(timeout=poll)
            except subprocess.TimeoutExpired:
                rc = None
            if rc is not None:
                processes.forget(p)
                if watch:
                    watch(True)
                break
            status = watch(False) if watch else None
            if not status and timeout is not None and time.monotonic() - t0 > timeout:
                status = "timeout"
            if status:
                processes.kill_group(p)
                rc = p.returncode
                if watch:
                    watch(True)
                break
    return Launched(status or "exited", rc, time.monotonic() - t0, cmd)
