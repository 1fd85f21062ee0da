"""Harness self-checks that crash or hang the guest kernel on purpose.

No spec clause: these guard the harness, not the kernel. They prove that a
kernel panic or a hung guest loses no result already produced and names the
test that was running. Marked `crash`, they run only with
`afalg-conform run --allow-crash-tests`, which refuses `--kernel host`.
The file name sorts last so the ordinary tests report before the guest dies.
"""

from __future__ import annotations

import os
import signal

import pytest

# Serial: a crash must have only its own test to blame.
pytestmark = [pytest.mark.crash, pytest.mark.serial]


def _require_guest():
    if os.environ.get("AFALG_IN_RUNNER") != "1" or not os.path.exists("/proc/sysrq-trigger"):
        pytest.skip("unsupported:crash-tests-need-the-guest-runner")


def test_crash_kernel_with_sysrq():
    """Panics the guest: the host must record this test as `crash` and keep the rest."""
    _require_guest()
    with open("/proc/sys/kernel/sysrq", "w") as f:
        f.write("1\n")
    with open("/proc/sysrq-trigger", "w") as f:
        f.write("c\n")
    pytest.fail("the kernel survived sysrq-c")


def test_hang_guest():
    """Stops the whole runner (watchdog included): only the host's run timeout can end this."""
    _require_guest()
    os.kill(os.getpid(), signal.SIGSTOP)
    pytest.fail("the runner was resumed")


def test_kernel_warning_fails_the_test_that_ran():
    """A WARNING the kernel survives, during a test that itself passes: the runner reads
    /dev/kmsg after each test, so this test must come out `fail` with the report, and the
    run's exit status 1. (A synthetic record, like `fuzz --crash-hook warn` on kernels
    without LKDTM: the kernel log reader cannot tell it from a real one.)"""
    _require_guest()
    fd = os.open("/dev/kmsg", os.O_WRONLY)
    try:
        for line in ("WARNING: CPU: 0 PID: 1 at crypto/af_alg.c:1 afalg_selfcheck+0x0/0x10 (synthetic)",
                     "Call Trace:", " afalg_selfcheck+0x0/0x10", " af_alg_accept+0x0/0x10"):
            os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
