"""harness/afalg/iouring.py on the host kernel (no AF_ALG needed): a timeout's completion, and
that it is posted while the submitting thread sleeps in a blocking call (the task work that
BLOCK-15 relies on). Skipped where io_uring is unavailable (no CONFIG_IO_URING, a sysctl, a
seccomp filter)."""

from __future__ import annotations

import errno
import os
import threading
import time

import pytest

from afalg_conformance.harness.afalg import iouring


@pytest.fixture
def ring():
    try:
        r = iouring.Ring()
    except OSError as e:
        pytest.skip(f"io_uring_setup: {e}")
    with r:
        yield r


def test_a_timeout_completes_with_etime(ring):
    ring.timeout(0.05, 7)
    end, got = time.monotonic() + 5.0, []
    while not got and time.monotonic() < end:
        got = ring.completions()
        time.sleep(0.01)
    assert got == [(7, -errno.ETIME)]
    assert ring.completions() == []             # consumed


def test_the_completion_is_posted_while_this_thread_sleeps_in_a_read(ring):
    r, w = os.pipe()
    seen: dict = {}

    def helper():
        end = time.monotonic() + 5.0
        while time.monotonic() < end and "res" not in seen:
            for ud, res in ring.completions():
                seen["res"] = res
            time.sleep(0.005)
        os.write(w, b"x")                       # releases the read, posted or not

    try:
        ring.timeout(0.2, 1)
        t = threading.Thread(target=helper, daemon=True)
        t.start()
        assert os.read(r, 1) == b"x"            # blocks until the helper writes
        t.join(5.0)
    finally:
        os.close(r)
        os.close(w)
    assert seen.get("res") == -errno.ETIME, "the completion was not posted while the read slept"
