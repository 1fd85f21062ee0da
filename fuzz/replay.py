"""Replay one fuzz input: `python3 -m afalg_conformance.fuzz.replay [--fuzzer NAME] FILE [--minimize] [--json OUT]`.

Decodes FILE with the fuzzer's decoder, prints the program as readable Python,
runs it (with the semantic oracles) in a forked child and prints each call's
result. A failure is a Python-level one (oracle AssertionError, StuckSyscall), the
child dying, or a kernel report (oops, WARN, KASAN, BUG...) that /dev/kmsg gained
while the child ran. With --minimize, calls are dropped one at a time while the same
failure persists (same kind of failure; for kernel reports the same problem title):
each try is a fresh child, so a report that leaves the kernel running is minimised in
one guest. A crash that stops the kernel (panic) cannot be; the host says so. Run this
only inside a guest: `afalg-conform fuzz --reproduce FILE --kernel TARGET [--minimize]`
does that (and boots without panic_on_warn/oops=panic when minimising).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback

from . import decoders
from .engine import CRASH_MAGIC, WARN_MAGIC, crash_hook, kmsg_watch, load_names, runtime_names, warn_hook
from .program import Executor, FdpSource, Names, Program, guest_faults, remove_sockopt_cgroup


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


class Attempt:
    """Runs programs in forked children and watches /dev/kmsg around each one."""

    def __init__(self, data: bytes, timeout: float = 30.0):
        self.data = data
        self.timeout = timeout
        self.watch = kmsg_watch()       # reads from the end of the log: only what comes next

    def __call__(self, prog: Program) -> tuple[list[str], str | None]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                    # child: run, report through the pipe, never return
            code = 0
            try:
                os.close(r)
                crash_hook(self.data)
                ex = Executor(faults=guest_faults()[0])
                try:
                    results, failure = ex.run(prog), None
                except AssertionError as e:
                    results, failure = [], f"{type(e).__name__}: {e}"
                warn_hook(self.data, ex.outcomes)
                os.write(w, json.dumps({"results": results, "failure": failure}).encode())
            except BaseException:       # noqa: BLE001 - the child must exit, whatever happened
                code = 3
            finally:
                remove_sockopt_cgroup()  # os._exit runs no atexit: the program's cgroup, if any
                os._exit(code)
        os.close(w)
        chunks, deadline = [], time.monotonic() + self.timeout
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            status = None
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            chunks.append(b)
        os.close(r)
        try:
            got = json.loads(b"".join(chunks) or b"{}")
        except ValueError:
            got = {}
        results, failure = got.get("results", []), got.get("failure")
        problem = self.watch.problem() if self.watch is not None else None
        if problem:                     # the kernel's word outranks the child's
            failure = f"KernelReport: {problem}"
        elif status is None:
            failure = failure or f"StuckSyscall: still running after {self.timeout:g} s"
        elif not got:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            failure = f"ChildDied: {'signal ' + signal.Signals(sig).name if sig else 'exit ' + str(os.WEXITSTATUS(status))}"
        return results, failure


def same_failure(a: str, b: str | None) -> bool:
    """The same kind of failure; for kernel reports the same problem title (frames may move)."""
    if not b:
        return False
    if a.startswith("KernelReport:"):
        return b.startswith("KernelReport:") and a.split(" | ")[0] == b.split(" | ")[0]
    return a.split(":")[0] == b.split(":")[0]


def minimize(prog: Program, failure: str, run, log=None) -> Program:
    calls = list(prog.calls)
    i = len(calls) - 1
    while i >= 0:
        trial = Program(prog.fuzzer, calls[:i] + calls[i + 1:])
        _r, f = run(trial)
        if same_failure(failure, f):
            calls = trial.calls
            if log:
                log(f"#   dropped call {i + 1}: still fails; {len(calls)} calls left")
        i -= 1
    return Program(prog.fuzzer, calls)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="afalg_conformance.fuzz.replay")
    ap.add_argument("file")
    ap.add_argument("--fuzzer", default=None)
    ap.add_argument("--minimize", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="print the program, make no system calls")
    ap.add_argument("--json", default=None, help="write the outcome here")
    ap.add_argument("--out", default=None, help="also write the printed text here (fsynced as it goes)")
    ap.add_argument("--crash-hook", action="store_true", help="enable the opt-in sysrq crash input (guest only)")
    ap.add_argument("--names", default=None,
                    help="decode with these runtime names (a crash's, engine.save_names), not /proc/crypto's")
    a = ap.parse_args(argv)
    if a.crash_hook:
        os.environ["AFALG_FUZZ_CRASH_HOOK"] = "1"
    out = Out(a.out)
    data = open(a.file, "rb").read()
    name = decoders.canonical(a.fuzzer or fuzzer_of(a.file) or "fuzz_sequence")
    runtime = load_names(a.names) if a.names else runtime_names()
    prog = decoders.DECODERS[name](FdpSource(data), Names(runtime))
    out(f"# replaying {os.path.basename(a.file)} ({len(data)} bytes) with {name} on {os.uname().release}")
    out(f"# decoded with the {len(runtime)} runtime names the campaign had (its fuzzer saved them)" if a.names else
        f"# decoded with this kernel's {len(runtime)} runtime names (none saved with the input: if the "
        "campaign's guest had others, the bytes may bind another algorithm than it ran)")
    if a.dry_run:
        out(prog.to_python())
        return 0
    if data.startswith(CRASH_MAGIC):
        out("# this input triggers the opt-in crash hook: write 'c' to /proc/sysrq-trigger")
        out("open('/proc/sysrq-trigger', 'w').write('c')")
    elif data.startswith(WARN_MAGIC):
        out("# this input triggers the opt-in warn hook: once the program has made an op socket (a")
        out("# successful accept), a WARNING (LKDTM's where the kernel has it, else a synthetic one in /dev/kmsg)")
    out(prog.to_python())
    attempt = Attempt(data, float(os.environ.get("AFALG_FUZZ_STUCK", "30")))
    out("# running it in a child process (a panic here means: not minimisable in one guest)")
    results, failure = attempt(prog)
    if failure:
        out(f"# FAILED: {failure}")
        if a.minimize:
            out("# minimising: dropping calls while the same failure persists")
            small = minimize(prog, failure, attempt, out)
            out(f"# minimised from {len(prog.calls)} to {len(small.calls)} calls:")
            prog = small
            results, failure2 = attempt(prog)
            out(prog.to_python(results))
            if not same_failure(failure, failure2):
                out(f"# note: the minimised program did not fail the same way on its last run ({failure2}); "
                    "the failure is not deterministic")
    else:
        out("# results of each call:")
        out(prog.to_python(results))
        out("# no failure reproduced (oracles, child process, kernel log); a kernel panic would show on the console")
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
