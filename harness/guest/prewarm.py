"""Binds made while the suite starts, on the vCPU nothing else uses then.

A guest runner with two vCPUs spends ~20 s starting Python and pytest and collecting the suite
in one process: one vCPU works, the other idles. The suite's first binds of each template
instance are its dearest calls under TCG (0.5-4 s each: module loads, the instantiation, the
kernel's self-tests; 73 s of bind time in test_kat + test_drivers at one vCPU, of which warm
binds are 0.1 ms). So a child process binds, in that time, what the suite would bind first
anyway: every algorithm of the registry by its generic name, then what the driver sweep binds
(proccrypto.candidates), and stops when the collector has collected (finish(), before any test
runs or any worker is forked, so no test ever runs beside it: serial tests stay alone).

Nothing is hidden by it: the child reads /dev/kmsg after every bind and records every kernel
problem with the bind that caused it in prewarm.json; the host reports those as the run's
kernel problems (a problem the first bind of an algorithm causes would otherwise have failed
the test that made that bind). Failed binds are recorded, not retried: the tests bind again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECORD = "prewarm.json"
WAIT = 60.0             # the longest the collector waits for the bind in progress to end


def plan(entries: list) -> list[tuple[str, str]]:
    """(type, name) to bind: the registry's generic names (first call), or with the
    /proc/crypto of after them, every driver and template instance the sweep binds."""
    from afalg_conformance.harness.afalg import algorithms, proccrypto   # the child's: the runner stays light
    algs = [a for a in algorithms.ALGORITHMS.values() if a.type in proccrypto.BINDABLE]
    if not entries:
        return [(a.type, a.name) for a in algs]
    out: list[tuple[str, str]] = []
    for a in algs:
        listed, _internal = proccrypto.candidates(entries, a.type, a.name)
        out += [(a.type, name) for name, _inner in listed]
    return list(dict.fromkeys(out))


def run(stop: Path, record: Path) -> dict:
    from afalg_conformance.harness.afalg import proccrypto          # the child's: the runner stays light
    from afalg_conformance.harness.afalg.client import AfalgSocket, errno_name   # likewise
    from afalg_conformance.harness.results import klog               # likewise
    kmsg = klog.KmsgReader()
    klog.KmsgReader.mark("prewarm start")
    started = time.monotonic()
    binds: list[dict] = []
    problems: list[dict] = []
    done: set[tuple[str, str]] = set()
    stopped = False
    for phase in (0, 1):
        todo = plan(proccrypto.read() if phase else [])
        for alg_type, name in todo:
            if (alg_type, name) in done:
                continue
            if stop.exists():
                stopped = True
                break
            done.add((alg_type, name))
            t = time.monotonic()
            try:
                AfalgSocket.bound(alg_type, name).close()
                outcome = "ok"
            except OSError as e:
                outcome = errno_name(e.errno)
            binds.append({"type": alg_type, "name": name, "ms": round((time.monotonic() - t) * 1e3, 1),
                          "outcome": outcome})
            for p in klog.scan(kmsg.read()):
                problems.append(dict(p.to_json(), during=f"prewarm bind({alg_type!r}, {name!r})"))
        if stopped:
            break
    klog.KmsgReader.mark("prewarm end")
    out = {"binds": binds, "seconds": round(time.monotonic() - started, 1), "stopped": stopped,
           "problems": problems}
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, record)
    return out


# -- the collector's side --------------------------------------------------------------------------

_child: subprocess.Popen | None = None
_stop: Path | None = None
_record: Path | None = None


def start(results: Path) -> bool:
    """Start the child (the guest runner, before pytest); False where a second vCPU is missing."""
    global _child, _stop, _record
    if (os.cpu_count() or 1) < 2:
        return False
    _stop = Path(tempfile.mkdtemp(prefix="afalg-prewarm-")) / "stop"    # the guest's own tmpfs
    _record = results / RECORD
    _child = subprocess.Popen([sys.executable, "-m", "afalg_conformance.harness.guest.prewarm",
                               "--stop", str(_stop), "--record", str(_record)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return True


def finish() -> None:
    """Stop the child and wait for the bind in progress (called once collection is done, and
    again by the runner on its way out); the wait goes into the record."""
    global _child
    child, _child = _child, None
    if child is None:
        return
    t = time.monotonic()
    _stop.touch()
    try:
        child.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    waited = round(time.monotonic() - t, 1)
    try:
        rec = json.loads(_record.read_text())
    except (OSError, ValueError):
        rec = {"binds": [], "problems": [], "note": f"the pre-warm child left no record (exit {child.returncode})"}
    rec["collector_waited_s"] = waited
    _record.write_text(json.dumps(rec, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="afalg_conformance.harness.guest.prewarm")
    ap.add_argument("--stop", required=True, help="a file whose existence ends the binding")
    ap.add_argument("--record", required=True)
    a = ap.parse_args(argv)
    run(Path(a.stop), Path(a.record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
