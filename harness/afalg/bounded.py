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


# -- blocking calls, ended by a signal once they sleep ---------------------------------------------

# System call numbers of the calls kicked() waits on, per machine: /proc/PID/syscall names the
# call a sleeping thread is in by number (recv() is recvfrom).
SYSCALL_NR = {"x86_64": {"sendmsg": 46, "sendto": 44, "splice": 275, "recvfrom": 45, "poll": 7, "ppoll": 271, "select": 23,
                         "pselect6": 270, "epoll_wait": 232, "epoll_pwait": 281},
              "aarch64": {"sendmsg": 211, "sendto": 206, "splice": 76, "recvfrom": 207, "ppoll": 73, "pselect6": 72,
                          "epoll_pwait": 22}}
# What a Python call turns into, by C library: select.poll() may be poll or ppoll, and so on.
WAITS = {"poll": ("poll", "ppoll"), "select": ("select", "pselect6"), "epoll": ("epoll_wait", "epoll_pwait"),
         "recvfrom": ("recvfrom",), "sendmsg": ("sendmsg",), "send": ("sendto",), "splice": ("splice",)}


def wait_numbers(wait: str) -> set[int]:
    """This machine's numbers of the system call(s) behind `wait` (a WAITS key); empty where
    none is known."""
    import platform  # only here: the deadline path above stays import-light
    table = SYSCALL_NR.get(platform.machine(), {})
    return {table[c] for c in WAITS[wait] if c in table}


def seen_asleep(tid: int, wait: str, limit: float = 5.0) -> bool:
    """Poll until thread tid sleeps in the system call(s) behind `wait` (a WAITS key), at most
    limit seconds: a test that acts on another thread's wait must know the wait began, or a
    slow emulator turns "woken" into "never waited". False when /proc cannot tell."""
    numbers = wait_numbers(wait)
    end = time.monotonic() + limit
    while numbers and time.monotonic() < end:
        if asleep_in(tid, numbers):
            return True
        time.sleep(0.005)
    return False


def asleep_in(tid: int, numbers: set[int], pid: int | None = None) -> bool:
    """Whether thread tid sleeps interruptibly (state S) inside one of these system calls:
    a blocking AF_ALG write waiting for send budget (af_alg_wait_for_wmem), a read waiting for
    data (af_alg_wait_for_data). A thread on a CPU, or anywhere else (the GIL's futex, a
    lock_sock in D state), is not. pid: tid is a task of that process (a child's main
    thread: tid == pid), not of this one."""
    task = f"/proc/{pid if pid is not None else 'self'}/task/{tid}"
    try:
        with open(f"{task}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[0]
        with open(f"{task}/syscall", "rb") as f:
            call = f.read().split()
    except (OSError, IndexError):
        return False
    return state == b"S" and bool(call) and call[0].isdigit() and int(call[0]) in numbers


@contextlib.contextmanager
def kicked(call: str | None = None, first: float = 0.4, every: float = 0.25, limit: float = 10.0,
           on_asleep=None):
    """While the body runs in the main thread, a helper thread signals it (SIGUSR2) until the
    body is over: the kernel's AF_ALG waits break on signal_pending(), so a blocking call
    returns (EINTR, or what it did before it slept). The body must make raw libc calls
    (CPython's own retry on EINTR). Where SIGUSR2 has no Python handler, a do-nothing one is
    installed for the body (the fuzzers' watchdog already has one: it stays).

    call ("sendmsg", "splice", "recvfrom"): the first signal goes as soon as the main thread
    sleeps in that system call (/proc's view of it, polled), not after `first` seconds: under
    TCG a blocked call is asleep in a few milliseconds. Where /proc cannot tell, `first`
    still applies.

    on_asleep(), when given, runs in the helper thread once /proc shows the call asleep, before
    any signal: another thread's call that should wake the sleeper (a send to a blocked
    reader, a read that frees a blocked writer's budget). Not for a call that was merely slow
    (never seen asleep), where it would change what the call does by timing alone. Its
    exceptions are its own; the signals follow whatever it did."""
    # The ids are taken here: after a fork, CPython 3.11 leaves main_thread().native_id at the
    # parent's.
    if not in_main_thread():
        raise RuntimeError("kicked() needs the main thread: only it runs signal handlers")
    ident, tid = threading.get_ident(), threading.get_native_id()
    numbers = wait_numbers(call) if call else set()
    done = threading.Event()

    def kicker():
        # a waker waits longer to see the sleep: under load the call may take a while to get there
        until = time.monotonic() + (max(first, 0.5) if on_asleep is not None and numbers else first)
        slept = False
        while time.monotonic() < until:
            if done.wait(0.005 if numbers else first):
                return
            if numbers and asleep_in(tid, numbers):
                slept = True
                break
        if on_asleep is not None and slept and not done.is_set():
            try:
                on_asleep()
            except Exception:       # noqa: BLE001 -- the call must still be ended below
                pass
            done.wait(every)        # the woken call's own way out, before any signal
        end = time.monotonic() + limit
        while not done.is_set() and time.monotonic() < end:
            signal.pthread_kill(ident, signal.SIGUSR2)
            done.wait(every)

    current = signal.getsignal(signal.SIGUSR2)
    install = not callable(current)
    if install:
        signal.signal(signal.SIGUSR2, lambda *_: None)
    t = threading.Thread(target=kicker, daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join(5.0)
        if install and current is not None:     # None: a handler from C, which cannot be put back
            signal.signal(signal.SIGUSR2, current)
