"""Ctrl-C (or a CI job's SIGTERM) stops every guest the command started: guests run in
their own sessions, so the terminal's signal never reaches them by itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from afalg_conformance.harness import cli
from afalg_conformance.fuzz import report as fuzzreport
from afalg_conformance.harness.host import processes as guests


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def fake_command(monkeypatch):
    """A command that starts two 'guests' (one from a worker thread, like a matrix run),
    then is interrupted by `how`."""
    started = []

    def make(how):
        def fn(a):
            started.append(guests.start([sys.executable, "-c", "import time; time.sleep(120)"]))
            t = threading.Thread(target=lambda: started.append(
                guests.start([sys.executable, "-c", "import time; time.sleep(120)"])))
            t.start()
            t.join()
            if how == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            raise KeyboardInterrupt
        monkeypatch.setattr(fuzzreport, "cmd_report", fn)
        return started
    return make


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupt_stops_every_guest(fake_command, capsys, how):
    started = fake_command(how)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["fuzz-report", "x"]) == 130
    assert len(started) == 2
    assert not any(_alive(p.pid) for p in started)
    assert "stopped 2 running guests" in capsys.readouterr().err
    assert guests.live() == 0 and not guests.stopping.is_set()
    assert signal.getsignal(signal.SIGTERM) == before        # the command's handler is gone again


def test_no_new_guest_starts_while_stopping():
    guests.stopping.set()
    try:
        with pytest.raises(guests.Interrupted):
            guests.start([sys.executable, "-c", "pass"], stdout=subprocess.DEVNULL)
    finally:
        guests.stopping.clear()
