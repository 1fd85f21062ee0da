"""Bounded waits for AF_ALG calls.

AF_ALG op sockets ignore SO_SNDTIMEO/SO_RCVTIMEO, and a Python socket timeout
makes CPython poll() first, which never reports a hash op socket ready. The
only reliable bound on a blocking call is a signal: the kernel's waits break on
signal_pending(), and a handler that raises stops CPython's EINTR retry
(PEP 475). Signals reach only the main thread, so other threads get a
non-blocking retry loop instead (see AfalgSocket.recv_exact).
"""

from __future__ import annotations

# _signal: signal's own C functions. signal.signal() converts handlers and numbers to and from
# enums on each call: a tenth of a vector file's time under TCG (one deadline per vector).
import _signal
import contextlib
import signal
import threading
import time


_SIGALRM, _ITIMER_REAL = int(signal.SIGALRM), int(signal.ITIMER_REAL)


class WaitTimeout(TimeoutError):
    """A bounded AF_ALG call did not complete in time."""


def in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def deadline(seconds: float, what: str = "AF_ALG call"):
    """Raise WaitTimeout in the main thread if the body blocks longer than seconds.

    Nested deadlines keep the tighter outer timer intact: the inner one is
    restored on exit, so a test-level deadline is never silently dropped.
    """
    if not in_main_thread():
        raise RuntimeError("deadline() needs the main thread; use non-blocking I/O in threads")

    def _raise(signum, frame):
        raise WaitTimeout(f"{what} still blocked after {seconds:g} s")

    started = time.monotonic()
    old_handler = _signal.signal(_SIGALRM, _raise)
    old_remaining, _ = _signal.setitimer(_ITIMER_REAL, seconds)
    if old_remaining and old_remaining < seconds:
        _signal.setitimer(_ITIMER_REAL, old_remaining)
    try:
        yield
    finally:
        _signal.setitimer(_ITIMER_REAL, 0)
        _signal.signal(_SIGALRM, old_handler)
        if old_remaining:
            left = old_remaining - (time.monotonic() - started)
            _signal.setitimer(_ITIMER_REAL, max(left, 0.001))
