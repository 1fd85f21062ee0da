"""The guest processes this command started, so an interrupt stops every one of them.

Each guest (vng + qemu) runs in its own session so that a timeout can kill the whole
process group; the flip side is that the terminal's Ctrl-C (and a CI job's SIGTERM) never
reaches it. Every guest is therefore started here, and `stop_all()` -- called by the
command line on KeyboardInterrupt or SIGTERM -- kills them and refuses new ones, so a
multi-kernel run's worker threads do not boot a fresh guest to "recover" from the kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading

_live: dict[int, subprocess.Popen] = {}
_lock = threading.Lock()
stopping = threading.Event()
stopped = 0          # guests killed by stop_all since the last reset()


class Interrupted(Exception):
    """A guest was not started (or was stopped) because the command is being interrupted."""


def start(cmd: list[str], **kw) -> subprocess.Popen:
    with _lock:
        if stopping.is_set():
            raise Interrupted("interrupted: not starting another guest")
        p = subprocess.Popen(cmd, start_new_session=True, **kw)
        _live[p.pid] = p
    return p


def forget(p: subprocess.Popen) -> None:
    with _lock:
        _live.pop(p.pid, None)


def kill_group(p: subprocess.Popen) -> None:
    """SIGTERM the guest's process group, SIGKILL after 10 s."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    forget(p)


def stop_all() -> int:
    """Kill every live guest; returns how many have been stopped so far (all calls)."""
    global stopped
    stopping.set()
    with _lock:
        procs = list(_live.values())
    n = 0
    for p in procs:
        if p.poll() is None:
            n += 1
        kill_group(p)
    stopped += n
    return stopped


def reset() -> None:
    global stopped
    stopping.clear()
    stopped = 0


def live() -> int:
    with _lock:
        return sum(1 for p in _live.values() if p.poll() is None)
