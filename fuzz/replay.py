"""Replay one fuzz input: `python3 -m fuzz.replay [--fuzzer NAME] FILE [--minimize] [--json OUT]`.

Decodes FILE with the fuzzer's decoder, prints the program as readable Python,
runs it (with the semantic oracles) and prints each call's result. With
--minimize, a Python-level failure (AssertionError/StuckSyscall) is reduced by
dropping calls while the same failure persists; kernel crashes are not minimised
here (each try would need a fresh guest). Run this only inside a guest:
`afalg-conform fuzz --reproduce FILE --kernel TARGET` does that.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

from . import decoders
from .engine import CRASH_MAGIC, crash_hook, runtime_names
from .program import Executor, FdpSource, Names, Program


class Out:
    """stdout, and optionally a file on the host written (and fsynced) as it goes, so the
    printed program survives a kernel panic during the replay."""

    def __init__(self, path: str | None):
        self.f = open(path, "w") if path else None

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        if self.f:
            self.f.write(text + "\n")
            self.f.flush()
            os.fsync(self.f.fileno())


def fuzzer_of(path: str) -> str | None:
    side = path + ".json"
    if os.path.exists(side):
        try:
            return json.load(open(side)).get("fuzzer")
        except (OSError, ValueError):
            return None
    return None


def run(prog: Program) -> tuple[list[str], str | None]:
    ex = Executor()
    try:
        return ex.run(prog), None
    except AssertionError as e:
        return [], f"{type(e).__name__}: {e}"


def minimize(prog: Program, failure: str) -> Program:
    kind = failure.split(":")[0]
    calls = list(prog.calls)
    i = len(calls) - 1
    while i >= 0:
        trial = Program(prog.fuzzer, calls[:i] + calls[i + 1:])
        _r, f = run(trial)
        if f and f.split(":")[0] == kind:
            calls = trial.calls
        i -= 1
    return Program(prog.fuzzer, calls)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fuzz.replay")
    ap.add_argument("file")
    ap.add_argument("--fuzzer", default=None)
    ap.add_argument("--minimize", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="print the program, make no system calls")
    ap.add_argument("--json", default=None, help="write the outcome here")
    ap.add_argument("--out", default=None, help="also write the printed text here (fsynced as it goes)")
    ap.add_argument("--crash-hook", action="store_true", help="enable the opt-in sysrq crash input (guest only)")
    a = ap.parse_args(argv)
    if a.crash_hook:
        os.environ["AFALG_FUZZ_CRASH_HOOK"] = "1"
    out = Out(a.out)
    data = open(a.file, "rb").read()
    name = decoders.canonical(a.fuzzer or fuzzer_of(a.file) or "fuzz_sequence")
    prog = decoders.DECODERS[name](FdpSource(data), Names(runtime_names()))
    out(f"# replaying {os.path.basename(a.file)} ({len(data)} bytes) with {name} on {os.uname().release}")
    if a.dry_run:
        out(prog.to_python())
        return 0
    if data.startswith(CRASH_MAGIC):
        out("# this input triggers the opt-in crash hook: write 'c' to /proc/sysrq-trigger")
        out("open('/proc/sysrq-trigger', 'w').write('c')")
    out(prog.to_python())
    crash_hook(data)
    results, failure = run(prog)
    if failure:
        out(f"# FAILED: {failure}")
        if a.minimize:
            small = minimize(prog, failure)
            out(f"# minimised from {len(prog.calls)} to {len(small.calls)} calls:")
            prog = small
            results, failure = run(prog)
            out(prog.to_python())
    else:
        out("# results of each call:")
        out(prog.to_python(results))
        out("# no failure reproduced in Python; a kernel problem would show on the console")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"fuzzer": name, "failure": failure, "results": results, "calls": len(prog.calls)}, f)
    return 1 if failure else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(3)
