"""Replay fuzz inputs under KCOV, in the guest (`afalg-conform coverage` boots it):

  python3 -m afalg_conformance.fuzz.covreplay --out FILE [--entries N] NAME=DIR [NAME=DIR ...]

NAME is a fuzzer (fuzz_cmsg, fuzz_setsockopt, fuzz_sequence), DIR a folder of its inputs.
Every input is decoded as the fuzzer decodes it and run once by the fuzzers' Executor (the
same system calls, oracles on) in this process, on the thread that enabled KCOV: unlike
fuzz/replay.py, which runs each input in a forked child to survive it, since a forked
child is not traced. FILE gets one JSON line per input, fsynced, so a guest that dies keeps
what ran: {input, fuzzer, pcs (hex, af_alg/algif only), truncated, distinct, failure}.
The first line is {kcov: status} (its range, or why KCOV is off).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from afalg_conformance.harness.afalg import modprobe
from afalg_conformance.harness.afalg.kcov import AfalgText, Kcov, Symbols, kcov_available

from . import decoders
from .engine import NAMES_FILE, load_names, runtime_names
from .program import Executor, FdpSource, Names, NullTracer, guest_faults


class InputTimeout(BaseException):
    """Raised by SIGALRM when one input runs too long (calls are bounded; this is a backstop)."""


def inputs(pairs: list[str]) -> list[tuple[str, Path]]:
    out = []
    for pair in pairs:
        name, _, folder = pair.partition("=")
        name = decoders.canonical(name)
        for f in sorted(Path(folder).iterdir()):
            if f.is_file() and not f.name.startswith(".") and f.suffix != ".json":
                out.append((name, f))
    return out


def saved_names(todo: list[tuple[str, Path]]) -> dict[str, Names]:
    """Folder -> the runtime names its campaign decoded it with (a copy of a campaign's corpus
    carries them, harness/cli/coverage.py): its inputs mean their programs only with those."""
    out: dict[str, Names] = {}
    for folder in dict.fromkeys(f.parent for _n, f in todo):
        if (folder / NAMES_FILE).is_file():
            out[str(folder)] = Names(load_names(str(folder / NAMES_FILE)))
    return out


class Layout(NullTracer):
    """The replay's tracer: an input's af_alg/algif PCs, those traced before a module moved
    read against the layout they ran in (AfalgText)."""

    def __init__(self, kcov: Kcov, text: AfalgText):
        self.kcov, self.text = kcov, text
        self.pcs: set[int] = set()
        self.distinct = 0
        self.full = False

    def modules_changing(self) -> None:
        pcs, full = self.kcov.distinct()
        self.kcov.reset()
        self.full |= full
        self.distinct += len(pcs)
        self.pcs.update(c for c in map(self.text.canon, pcs) if c is not None)

    def modules_changed(self) -> None:
        self.text.refresh()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="afalg_conformance.fuzz.covreplay")
    ap.add_argument("--out", required=True)
    ap.add_argument("--entries", type=int, default=1 << 21)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per input")
    ap.add_argument("--list", default=None, metavar="FILE",
                    help="a file of NAME=DIR lines, read as more NAME=DIR arguments (the guest command rides "
                         "on the kernel command line, which a dozen corpus folders overflow)")
    modprobe.add_flag(ap)
    ap.add_argument("dirs", nargs="*", metavar="NAME=DIR")
    a = ap.parse_args(argv)
    if a.quick_modprobe:
        modprobe.install(Path(a.out).parent / "modprobe-replay.json")
    if a.list:
        a.dirs += [line.strip() for line in Path(a.list).read_text().splitlines() if line.strip()]
    if not a.dirs:
        ap.error("no NAME=DIR to replay")
    out = open(a.out, "a", buffering=1)

    def emit(d: dict) -> None:
        out.write(json.dumps(d) + "\n")
        out.flush()
        os.fsync(out.fileno())

    status: dict = {"entries": a.entries, "kernel_release": os.uname().release}
    ok, why = kcov_available()
    syms = Symbols() if ok else None
    text = AfalgText(syms) if syms is not None and syms.ok else None
    rng = text.range if text is not None else None
    if not ok or rng is None:
        status["error"] = why if not ok else "no af_alg/algif symbols in /proc/kallsyms"
        emit({"kcov": status})
        return 2
    status["range"] = [hex(rng[0]), hex(rng[1])]
    todo = inputs(a.dirs)
    status["inputs"] = len(todo)
    names = Names(runtime_names())
    saved = saved_names(todo)
    status["saved_names"] = sorted(saved)
    kcov = Kcov(a.entries)
    # the inputs' injected faults too: a fault is part of what an input reached
    faults, status["faults"] = guest_faults()
    emit({"kcov": status})

    def alarm(signum, frame):
        raise InputTimeout(f"input still running after {a.timeout:g} s")
    signal.signal(signal.SIGALRM, alarm)
    for name, f in todo:
        prog = decoders.DECODERS[name](FdpSource(f.read_bytes()), saved.get(str(f.parent), names))
        layout = Layout(kcov, text)
        ex = Executor(tracer=layout, faults=faults)
        failure = None
        t0 = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, a.timeout)
        kcov.reset()
        try:
            ex.run(prog)
        except (Exception, InputTimeout) as e:   # noqa: BLE001 - an oracle or a stuck call: record, go on
            failure = f"{type(e).__name__}: {e}"[:300]
        signal.setitimer(signal.ITIMER_REAL, 0)
        layout.modules_changing()           # the trace since the last module op
        emit({"input": str(f), "fuzzer": name, "pcs": [hex(c) for c in sorted(layout.pcs)],
              "truncated": layout.full, "distinct": layout.distinct, "failure": failure,
              "seconds": round(time.monotonic() - t0, 3)})
    emit({"end": len(todo)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
