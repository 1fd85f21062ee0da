"""The one launcher (harness/host/launch.py) with stand-in processes instead of guests."""

import sys

from afalg_conformance.harness.host import launch, processes


def test_a_process_that_ends_is_exited_with_its_code_and_its_output_kept(tmp_path):
    con = tmp_path / "console.log"
    seen = []
    done = launch.launch([sys.executable, "-c", "print('hello'); raise SystemExit(3)"], con,
                         watch=lambda ended: seen.append(ended))
    assert (done.status, done.rc) == ("exited", 3)
    assert "hello" in con.read_text()
    assert seen[-1] is True                      # a last look once it ended
    assert processes.live() == 0


def test_watch_stops_the_guest_and_names_the_status(tmp_path):
    calls = []

    def watch(ended):
        calls.append(ended)
        return "boot-failure" if len(calls) == 3 else None
    done = launch.launch([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "c.log",
                         watch=watch, poll=0.05)
    assert done.status == "boot-failure" and done.wall < 30
    assert calls[-1] is True and processes.live() == 0


def test_a_deadline_stops_the_guest_as_a_timeout(tmp_path):
    done = launch.launch([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "c.log",
                         timeout=0.3, poll=0.05)
    assert done.status == "timeout" and done.rc is not None and done.wall < 30
