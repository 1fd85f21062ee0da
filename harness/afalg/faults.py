"""Kernel fault injection on the calling thread: /proc/thread-self/fail-nth.

Writing N to a thread's fail-nth makes the Nth fault-injection site the thread passes (a slab
allocation, a page allocation, a copy from or to user memory, with CONFIG_FAILSLAB,
CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_USERCOPY) fail; reading it back gives 0 once
the fault fired (Documentation/fault-injection/fault-injection.rst, "Proc filesystem"). This
is how syzkaller reaches the ENOMEM/EFAULT branches of the code under test, one call at a time.

The thread that arms it runs Python, so the window is kept to the one system call, and the
page allocator's filter for user pages stays on (ignore-gfp-highmem: a Python page fault that
drew the fault would end in the OOM path, not in AF_ALG). No other Python thread may run
meanwhile: a thread that has to wait for the GIL calls futex with a timeout, the copy of that
timeout (get_timespec64) is a fault site, and glibc aborts on the EFAULT ("The futex facility
returned an unexpected error code"; three campaigns of 2026-12-01 died so while the fuzzer's
watchdog was a thread).
"""

from __future__ import annotations

import errno
import os
import signal

FAIL_NTH = "/proc/thread-self/fail-nth"
DEBUGFS = "/sys/kernel/debug"
# What each capability needs so that a GFP_KERNEL allocation of the calling thread can fail
# (the defaults skip allocations that may sleep, and pages of order 0), and no stack dump for
# every injected fault (slow under TCG, and noise in the kernel log the crash oracle reads).
SETTINGS = {
    "failslab": {"ignore-gfp-wait": "N", "verbose": "0"},
    "fail_page_alloc": {"ignore-gfp-wait": "N", "min-order": "0", "verbose": "0"},
    "fail_usercopy": {"verbose": "0"},
}


def available() -> tuple[bool, str]:
    """(usable, why not): the kernel has fail-nth and the capabilities' debugfs knobs."""
    if not os.path.exists(FAIL_NTH):
        return False, f"{FAIL_NTH} missing (kernel without CONFIG_FAULT_INJECTION)"
    missing = [c for c in SETTINGS if not os.path.isdir(os.path.join(DEBUGFS, c))]
    if missing:
        return False, (f"{DEBUGFS}/{{{','.join(missing)}}} missing (CONFIG_FAULT_INJECTION_DEBUG_FS, "
                       "CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_USERCOPY)")
    return True, ""


def configure() -> list[str]:
    """Apply SETTINGS; returns the capabilities configured (the others are absent)."""
    done = []
    for cap, knobs in SETTINGS.items():
        d = os.path.join(DEBUGFS, cap)
        if not os.path.isdir(d):
            continue
        for knob, value in knobs.items():
            with open(os.path.join(d, knob), "w") as f:
                f.write(value)
        done.append(cap)
    return done


class FailNth:
    """The calling thread's fail-nth, open for the life of the object (/proc/thread-self
    names the thread that opens it: make it on the thread that runs the calls)."""

    def __init__(self, path: str = FAIL_NTH):
        self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        self.injected = 0
        self.fired = False

    def arm(self, nth: int) -> None:
        os.write(self.fd, str(nth).encode())

    def disarm(self) -> bool:
        """Whether the armed fault fired; either way nothing stays armed, and it never raises
        EFAULT: with CONFIG_FAULT_INJECTION_USERCOPY the copies of this very read and write
        are fault sites too (the kernel formats the count before copying it out). A read
        that fails with EFAULT means the count was 1: the call did not draw the fault, the
        read did, and the count is 0 now. Once an EFAULT was taken for the call's own error
        and the socket's state went wrong in the executor's model (2026-12-01, the first
        campaign: a key that was set counted as refused)."""
        try:
            left = os.pread(self.fd, 16, 0).strip()
        except OSError as e:
            if e.errno != errno.EFAULT:
                raise
            return False
        if left == b"0":
            self.injected += 1
            return True
        try:
            os.write(self.fd, b"0")
        except OSError as e:      # the reset's own copy drew the fault: the count is 0 now
            if e.errno != errno.EFAULT:
                raise
        return False

    def call(self, nth: int, fn):
        """fn() with the nth fault site failing; `fired` says afterwards whether it did
        (also when fn raised: the error is then usually the injected one). Signals wait
        outside the window: delivering one copies a frame to the stack and rt_sigreturn
        copies it back, both fault sites, and a failed copy there is a SIGSEGV (a fuzz_sequence
        campaign died of one, 2026-12-01). fn must not wait for a signal."""
        self.fired = False
        old = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            self.arm(nth)
            try:
                return fn()
            finally:
                self.fired = self.disarm()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def close(self) -> None:
        os.close(self.fd)

    @classmethod
    def open_or_none(cls) -> tuple[FailNth | None, str]:
        """A FailNth with the capabilities configured, or None and why not."""
        ok, why = available()
        if not ok:
            return None, why
        try:
            caps = configure()
            return cls(), "fault injection: " + ", ".join(caps)
        except OSError as e:
            return None, f"fault injection not usable: {e}"
