"""What every fuzz_*.py shares: libFuzzer command line, feedback, journal, watchdog, oracles.

A fuzzer script is `engine.main("fuzz_x")`. Its command line is libFuzzer's
(corpus dirs, -runs=, -max_total_time=, -artifact_prefix=, ...), so OSS-Fuzz /
ClusterFuzzLite can run it unchanged. Extra modes, handled before libFuzzer starts:
  --dry-run FILE...   decode inputs and print the programs as Python, no system calls
Settings come from the environment (never from libFuzzer's flags):
  AFALG_FUZZ_COVERAGE   auto | kcov | kcov-measure | python     (default auto)
  AFALG_FUZZ_FEED       afalg | afalg+python | crypto: what guides the fuzzer under KCOV
                        (coverage.FEED_SCOPES)
  AFALG_FUZZ_STATS      path of a JSON statistics file, rewritten every 10 s
  AFALG_FUZZ_JOURNAL    path: each input is written here ('AFJ1', u32 length, bytes) before it
                        runs, so a kernel panic never loses the reproducer
  AFALG_FUZZ_JOURNAL_SHM path of shared memory to journal into instead (the ivshmem BAR's
                        sysfs resource file, which guestrun finds); the file above then holds
                        only inputs too large for it
  AFALG_FUZZ_JOURNAL_FSYNC=1  fsync the journal too (not needed on virtme-ng's 9p share)
  AFALG_FUZZ_KMSG=1     also log each input's hash and hex to /dev/kmsg (kcovfuzzer style)
  AFALG_FUZZ_STUCK      seconds one input may take before it counts as a stuck syscall
                        (default 30; a libFuzzer crash artifact)
  AFALG_FUZZ_CRASH_HOOK=1 inside a virtme-ng guest (virtme in /proc/cmdline): an input
                        starting with CRASH_MAGIC writes 'c' to /proc/sysrq-trigger (self-test);
                        one starting with WARN_MAGIC makes a WARNING when its program made an
                        op socket: a real one through LKDTM where the kernel has it, else a
                        synthetic report written to /dev/kmsg (a self-test of the non-fatal
                        report path and of minimisation: the reproducer must keep the calls
                        up to a successful accept, and may drop the rest)
  AFALG_FUZZ_KMSG_WATCH=0  do not read /dev/kmsg after each input (default: read it in a
                        guest; an oops, WARN, KASAN... report that did not stop the kernel
                        fails the input as KernelReport, so the reproducer is that input)
  AFALG_FUZZ_NO_CHECKS=1  disable the semantic oracles
  AFALG_FUZZ_WARMUP=0   skip binding every name once before fuzzing
  AFALG_FUZZ_NO_AUTOLOAD=1 (guests only) after the warm-up, set kernel.modprobe to ""
  AFALG_FUZZ_SAMPLE     a folder: one in SAMPLE_EVERY inputs that ran without a failure is copied
                        there, SAMPLE_BATCH to a file, at most SAMPLE_CAP (fuzz-bench's second
                        plain loop replays them: the calls the fuzzer made, not only its corpus)
Unless the command line names one, libFuzzer gets fuzz/dictionary.py's words (-dict=).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import mmap
import os
import select
import shlex
import signal
import struct
import sys
import time

from .coverage import CROSS_PROCESS_FLAGS, FEED_DEFAULT, Feedback

CRASH_MAGIC = b"AFALG-FUZZ-SYSRQ-CRASH"
WARN_MAGIC = b"AFALG-FUZZ-KMSG-WARN"
SELFTEST_FRAME = "afalg_fuzz_selftest_warn+0x0/0x10"
LKDTM = "/sys/kernel/debug/provoke-crash/DIRECT"


class KernelReport(AssertionError):
    """The kernel logged a problem (oops, WARN, KASAN, BUG, ...) while an input ran and
    went on running: the input is the reproducer. The message is the kernel signature."""


class StuckSyscall(AssertionError):
    """An input ran longer than AFALG_FUZZ_STUCK seconds (all calls are non-blocking)."""


class Watchdog:
    """Interrupts the main thread (SIGUSR2 -> StuckSyscall) when an input runs too long.
    SIGALRM is libFuzzer's own (-timeout), so it is left alone.

    The clock runs in a forked helper process, not in a thread: a second Python thread takes
    the GIL now and then, and a main thread that must wait for the GIL back calls futex with a
    timeout, whose copy from user memory is a fault site; inside an injected fault's window
    (harness.afalg.faults) that copy failed and glibc aborted ("The futex facility returned an
    unexpected error code", then libFuzzer's `deadly signal`: three fuzz_sequence campaigns of
    2026-12-01). A process shares no GIL. The deadline and
    the firing time live in a shared page; a process-directed signal goes to the main thread
    (the thread group's leader) unless it blocks it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.shared = mmap.mmap(-1, 16)          # (deadline, fired), CLOCK_MONOTONIC seconds
        signal.signal(signal.SIGUSR2, self._handler)
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            self._child(parent)

    def _get(self) -> tuple[float, float]:
        return struct.unpack_from("dd", self.shared, 0)

    def _put(self, deadline: float, fired: float) -> None:
        struct.pack_into("dd", self.shared, 0, deadline, fired)

    @property
    def fired(self) -> float:
        return self._get()[1]

    def _handler(self, signum, frame):
        if self.fired:
            raise StuckSyscall(f"input still running after {self.seconds:g} s (stuck system call?)")

    def _child(self, parent: int) -> None:
        """The clock: never returns (os._exit), ends within 0.5 s of its parent."""
        try:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):                 # the fuzzer's output pipes close with the fuzzer
                os.dup2(null, fd)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGUSR2, signal.SIG_DFL)
            while os.getppid() == parent:
                time.sleep(0.5)
                deadline, fired = self._get()
                if deadline and not fired and time.monotonic() > deadline:
                    self._put(deadline, time.monotonic())
                    os.kill(parent, signal.SIGUSR2)
        finally:
            os._exit(0)

    def arm(self):
        self._put(time.monotonic() + self.seconds, 0.0)

    def disarm(self):
        self._put(0.0, self.fired)


class Journal:
    """The input about to run, where a guest panic cannot lose it.

    With shm (the BAR of the ivshmem device the host attached, guestrun finds it) each input
    is stored into memory that is a file on the host (fuzz/cli.py keeps it): a store, no exit
    to the host. A 9p pwrite was 1.6-2.3 ms an input under TCG, 10 % of a setsockopt input
    (fuzz-bench, 2026-12-01); the same store into the ivshmem BAR about 10 us. The host turns
    the memory into journal-NAME after the guest has stopped (journal_from_shm). Without shm,
    or for an input larger than the memory, one pwrite to the journal file."""

    def __init__(self, path: str | None, kmsg: bool, shm: str | None = None, name: str = ""):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if path else None
        self.fsync = os.environ.get("AFALG_FUZZ_JOURNAL_FSYNC") == "1"
        self.kmsg = None
        if kmsg:
            try:
                self.kmsg = os.open("/dev/kmsg", os.O_WRONLY)
            except OSError:
                self.kmsg = None
        self.shm = None
        if shm:
            try:
                self.shm = open_shm(shm)
                self.shm[:SHM_HEADER] = (SHM_MAGIC + name.encode()[:SHM_NAME].ljust(SHM_NAME, b"\0")
                                         + SHM_NONE + bytes(8))
                if self.shm[:4] != SHM_MAGIC:      # memory that does not keep what is stored
                    raise ValueError("the memory does not keep a store")
            except (OSError, ValueError) as e:
                self.shm = None
                print(f"journal: shared memory {shm} not usable ({e}); writing the journal file", file=sys.stderr)
        self.slot = (len(self.shm) - SHM_HEADER) // 2 if self.shm is not None else 0
        self.n = 0

    def write(self, data: bytes) -> None:
        """One store (shm) or one pwrite per input: 'AFJ1', u32 length, the input. On
        virtme-ng's 9p share (no page cache) a completed write is already on the host, so no
        fsync or truncate round trips are needed (AFALG_FUZZ_JOURNAL_FSYNC=1 adds the fsync).

        In shared memory, inputs alternate between two slots and the word naming the current
        one is stored last: a panic between the stores (the previous input's deferred work,
        say) finds the previous input whole, never a mix of two."""
        self.n += 1
        shm = self.shm
        if shm is not None and len(data) <= self.slot:
            i = self.n & 1
            at = SHM_HEADER + i * self.slot
            shm[at:at + len(data)] = data
            shm[SHM_LENS + 4 * i:SHM_LENS + 4 * i + 4] = len(data).to_bytes(4, "little")
            shm[SHM_CUR:SHM_CUR + 4] = i.to_bytes(4, "little")
        elif self.fd is not None:
            if shm is not None:
                shm[SHM_CUR:SHM_CUR + 4] = SHM_IN_FILE
            os.pwrite(self.fd, JOURNAL_MAGIC + len(data).to_bytes(4, "little") + data, 0)
            if self.fsync:
                os.fsync(self.fd)
        if self.kmsg is not None:
            h = hashlib.sha1(data).hexdigest()
            hx = data.hex()
            parts = [hx[i:i + 600] for i in range(0, len(hx), 600)] or [""]
            for i, p in enumerate(parts):
                try:
                    os.write(self.kmsg, f"afalg-fuzz: input {self.n} {h} {i + 1}/{len(parts)} {p}\n".encode())
                except OSError:
                    pass


JOURNAL_MAGIC = b"AFJ1"
# The shared-memory journal: 'AFJ2', the fuzzer's name (SHM_NAME bytes, NUL-padded), u32 current
# slot (SHM_NONE: no input yet; SHM_IN_FILE: the input is in the journal file), u32 length of
# slot 0's input, of slot 1's, then the two slots, halves of the rest of the memory.
SHM_MAGIC = b"AFJ2"
SHM_NAME = 64
SHM_CUR = 4 + SHM_NAME
SHM_LENS = SHM_CUR + 4
SHM_HEADER = SHM_LENS + 8
SHM_NONE = b"\xfe\xff\xff\xff"
SHM_IN_FILE = b"\xff\xff\xff\xff"
SHM_BYTES = 1 << 20


def open_shm(path: str):
    """A writable mapping of path (a PCI BAR's sysfs resource file, or a plain file in tests)."""
    fd = os.open(path, os.O_RDWR)
    try:
        return mmap.mmap(fd, os.fstat(fd).st_size or SHM_BYTES)
    finally:
        os.close(fd)


def shm_record(raw: bytes) -> tuple[str, bytes | None] | None:
    """(fuzzer name, its last input; None when that input is in the journal file) from the
    shared memory's bytes, or None when no fuzzer ran an input there."""
    if raw[:4] != SHM_MAGIC or len(raw) < SHM_HEADER:
        return None
    name = raw[4:4 + SHM_NAME].rstrip(b"\0").decode(errors="replace")
    cur = raw[SHM_CUR:SHM_CUR + 4]
    if cur == SHM_IN_FILE:
        return name, None
    i = int.from_bytes(cur, "little")
    if i not in (0, 1):
        return None
    n = int.from_bytes(raw[SHM_LENS + 4 * i:SHM_LENS + 4 * i + 4], "little")
    slot = (len(raw) - SHM_HEADER) // 2
    at = SHM_HEADER + i * slot
    return (name, raw[at:at + n]) if n <= slot else None


# fuzz-bench's sample of the inputs a fuzzer ran: one in SAMPLE_EVERY, at most SAMPLE_CAP inputs.
# The corpus is what libFuzzer kept; most inputs it runs are mutants it throws away, and they
# cost another time per input than the corpus does (plain loops on kcov-6.12, 2026-12-02:
# fuzz_sequence's sample 0.7x the corpus's time an input in two runs, cmsg's 1.3x and 0.77x),
# so a plain loop over the corpus alone is not "the same calls".
SAMPLE_EVERY = 8
SAMPLE_CAP = 4000
# Kept inputs are written SAMPLE_BATCH to a file: a file per input cost the measured fuzzer
# ~0.4 ms an input under TCG (fuzz-bench's journal column 0.5 ms against 0.1 without a sample,
# 2026-12-02). The last, unfilled batch is not written (libFuzzer ends the process without
# Python's exit handlers): at most SAMPLE_BATCH - 1 inputs of the end of the run.
SAMPLE_BATCH = 32
SAMPLE_MAGIC = b"AFS1"


class Sample:
    """Every `every`-th input, kept once it has run without a failure (a plain loop without a
    watchdog replays them), in files of `batch` records in `folder` (the guest's tmpfs: no host
    round trip). Files are named by process and number: -fork/-jobs children share the folder."""

    def __init__(self, folder: str, every: int = SAMPLE_EVERY, cap: int = SAMPLE_CAP, batch: int = SAMPLE_BATCH):
        os.makedirs(folder, exist_ok=True)
        self.folder, self.every, self.cap, self.batch = folder, every, cap, batch
        self.seen = self.kept = 0
        self.pending = bytearray()
        self.files = 0

    def add(self, data: bytes) -> None:
        self.seen += 1
        if self.seen % self.every or self.kept >= self.cap:
            return
        self.pending += SAMPLE_MAGIC + len(data).to_bytes(4, "little") + data
        self.kept += 1
        if self.kept % self.batch == 0 or self.kept == self.cap:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        fd = os.open(os.path.join(self.folder, f"{os.getpid()}-{self.files:06d}"),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, self.pending)
        finally:
            os.close(fd)
        self.files += 1
        self.pending = bytearray()


def sample_inputs(raw: bytes) -> list[bytes]:
    """The inputs of one sample file (Sample's records); a torn last record is dropped."""
    out, at = [], 0
    while raw[at:at + 4] == SAMPLE_MAGIC and at + 8 <= len(raw):
        n = int.from_bytes(raw[at + 4:at + 8], "little")
        if at + 8 + n > len(raw):
            break
        out.append(raw[at + 8:at + 8 + n])
        at += 8 + n
    return out


def read_journal(raw: bytes) -> bytes:
    """The last input from a journal file (or the raw bytes of an older plain journal)."""
    if raw[:4] == JOURNAL_MAGIC and len(raw) >= 8:
        n = int.from_bytes(raw[4:8], "little")
        return raw[8:8 + n]
    return raw


def runtime_names():
    from .surface import runtime_names as rn
    try:
        return rn()
    except Exception:
        return []


# An input means a program only together with the runtime names it was decoded with: the
# fuzzer's guest may have more of them than a fresh one (earlier fuzzers' warm-ups load modules
# and make template instances), so the same bytes would bind another algorithm there.
NAMES_FILE = ".names.json"     # beside a copy of a campaign's corpus (harness/cli/coverage.py)


def save_names(path: str, names: list[tuple[str, str]]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump({"runtime": names}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_names(path: str) -> list[tuple[str, str]]:
    """The list save_names wrote."""
    with open(path) as f:
        doc = json.load(f)
    return names_of(doc["runtime"] if isinstance(doc, dict) else doc)


def names_of(runtime) -> list[tuple[str, str]]:
    """Runtime names from JSON (a crash's sidecar holds them as runtime_names): a list of
    [type, name] string pairs, else ValueError."""
    if not isinstance(runtime, list) or not all(
            isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in runtime):
        raise ValueError("not a list of [type, name] string pairs")
    return [(t, n) for t, n in runtime]


def in_guest() -> bool:
    """A virtme-ng guest: its kernel command line carries virtme's own parameters."""
    try:
        return "virtme" in open("/proc/cmdline").read()
    except OSError:
        return False


def crash_hook(data: bytes) -> None:
    if not data.startswith(CRASH_MAGIC):
        return
    if not _hook_enabled():
        return
    with open("/proc/sys/kernel/sysrq", "w") as f:
        f.write("1\n")
    with open("/proc/sysrq-trigger", "w") as f:
        f.write("c\n")


def _hook_enabled() -> bool:
    return os.environ.get("AFALG_FUZZ_CRASH_HOOK") == "1" and in_guest()


def warn_hook(data: bytes, outcomes) -> None:
    """Opt-in self-test, after the program ran: a synthetic, non-fatal kernel report."""
    if not data.startswith(WARN_MAGIC) or not _hook_enabled():
        return
    if not any(o[0] == "accept" and o[-1] == "ok" for o in outcomes):
        return
    if os.path.exists(LKDTM):           # a kernel built with LKDTM (kasan-6.12): a real WARN
        try:
            with open(LKDTM, "w") as f:
                f.write("WARNING\n")
            return
        except OSError:
            pass
    lines = [f"WARNING: CPU: 0 PID: {os.getpid()} at fuzz/engine.py:1 {SELFTEST_FRAME} (synthetic: --crash-hook)",
             "Call Trace:", f" {SELFTEST_FRAME}", " af_alg_accept+0x0/0x10"]
    try:
        fd = os.open("/dev/kmsg", os.O_WRONLY)
        try:
            for line in lines:
                os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass


class KmsgWatch:
    """New /dev/kmsg records since the last look, turned into a kernel signature.

    Looked at after every input, and almost always there is nothing: a poll(2) that does not
    wait says so without a read that fails with EAGAIN (a BlockingIOError made and caught
    each time; natively 2.4 against 7.1 us, several times that under TCG)."""

    def __init__(self):
        from afalg_conformance.harness.results import klog
        self.klog = klog
        self.reader = klog.KmsgReader()
        self.poll = None
        if self.reader.fd is not None:
            self.poll = select.poll()
            self.poll.register(self.reader.fd, select.POLLIN)

    def problem(self) -> str | None:
        if self.poll is not None and not self.poll.poll(0):
            return None
        lines = self.reader.read()
        if not lines:
            return None
        sig = self.klog.signature(lines)
        return sig[0] if sig else None


def kmsg_watch() -> KmsgWatch | None:
    if os.environ.get("AFALG_FUZZ_KMSG_WATCH", "1") != "1" or not in_guest():
        return None
    w = KmsgWatch()
    return w if w.reader.fd is not None else None


def warm_up(names, disable_autoload: bool = False) -> str:
    """Bind every name once before fuzzing: module autoload and template instantiation
    happen here, not in the first inputs (which would look 'new' for that reason alone).
    With disable_autoload (guests only), module autoload is then switched off
    (kernel.modprobe = ""), so names that do not exist fail fast with ENOENT instead of
    running modprobe under TCG for every attempt."""
    import socket
    t0 = time.monotonic()
    ok = 0

    def bind_all(pairs) -> int:
        n = 0
        for t, name in pairs:
            for typ in ([t] if t else ["hash", "skcipher", "aead", "rng"]):
                try:
                    s = socket.socket(38, socket.SOCK_SEQPACKET, 0)
                except OSError:
                    return -1
                try:
                    s.bind((typ, name[:63]))
                    n += 1
                except OSError:
                    pass
                finally:
                    s.close()
        return n

    # names that exist first (their modules load now), then autoload off, then the
    # ill-formed names (each would otherwise run a failing modprobe)
    valid = [p for p in list(names.static) + list(names.runtime) if p[0]]
    ok = bind_all(valid)
    if ok < 0:
        return "warm-up skipped: no AF_ALG"
    msg = f"warm-up: {ok} of {len(valid)} names bound in {time.monotonic() - t0:.1f} s"
    if disable_autoload and in_guest():
        try:
            with open("/proc/sys/kernel/modprobe", "w") as f:
                f.write("\n")
            msg += "; module autoload disabled (kernel.modprobe='')"
        except OSError as e:
            msg += f"; could not disable module autoload: {e}"
    t1 = time.monotonic()
    bind_all([p for p in names.static if not p[0]])
    msg += f"; ill-formed names tried in {time.monotonic() - t1:.1f} s"
    return msg


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def dry_run(name: str, files: list[str]) -> int:
    from . import decoders
    from .program import FdpSource, Names
    names = Names(runtime_names())
    for fn in files:
        data = open(fn, "rb").read()
        prog = decoders.DECODERS[name](FdpSource(data), names)
        print(f"# {fn} ({len(data)} bytes)")
        print(prog.to_python())
    return 0


def main(name: str, argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if "--dry-run" in argv:
        i = argv.index("--dry-run")
        sys.exit(dry_run(name, argv[i + 1:]))

    import atheris

    mode = os.environ.get("AFALG_FUZZ_COVERAGE", "auto")
    # -merge and -fork compare feature numbers between processes: counters must not depend on
    # the order one process met the edges
    stable = any(a.startswith(CROSS_PROCESS_FLAGS) for a in argv[1:])
    fb = Feedback(mode, stats_path=os.environ.get("AFALG_FUZZ_STATS"),
                  scope=os.environ.get("AFALG_FUZZ_FEED") or FEED_DEFAULT, stable=stable, fuzzer=name)
    if fb.mode == "kcov" and not fb.python_too:
        from . import decoders, program
    else:
        # No kernel feedback (or --feed afalg+python): Python coverage of the harness and
        # decoders guides the fuzzer.
        # Third-party and pure-data modules are imported first so only our own code is
        # instrumented (instrumenting pyca/cryptography costs minutes under TCG).
        import cryptography.hazmat.primitives.ciphers  # noqa: F401
        from afalg_conformance.harness.afalg import algorithms  # noqa: F401
        from afalg_conformance.harness.afalg import constants
        from afalg_conformance.harness.afalg import proccrypto
        from . import source  # noqa: F401  -- the choice reader is not code under test
        with atheris.instrument_imports(include=["harness", "fuzz"]):
            from afalg_conformance.harness.afalg import client as afalg  # noqa: F401
            from afalg_conformance.harness.afalg import cmsg
            from . import decoders, program
    decode = decoders.DECODERS[name]
    names = program.Names(runtime_names())
    if os.environ.get("AFALG_FUZZ_NAMES"):
        try:
            # an earlier run's list must not stand in for this one's if the write fails
            _unlink_quietly(os.environ["AFALG_FUZZ_NAMES"])
            save_names(os.environ["AFALG_FUZZ_NAMES"], names.runtime)
        except OSError as e:
            print(f"{name}: the runtime names are not saved ({e}): a crash will not name them", file=sys.stderr)
    faults, faults_note = program.guest_faults()
    executor = program.Executor(tracer=fb, checks=os.environ.get("AFALG_FUZZ_NO_CHECKS") != "1", faults=faults)
    journal = Journal(os.environ.get("AFALG_FUZZ_JOURNAL"), os.environ.get("AFALG_FUZZ_KMSG") == "1",
                      shm=os.environ.get("AFALG_FUZZ_JOURNAL_SHM"), name=name)
    if os.environ.get("AFALG_FUZZ_WARMUP", "1") == "1":
        print(f"{name}: " + warm_up(names, os.environ.get("AFALG_FUZZ_NO_AUTOLOAD") == "1"),
              file=sys.stderr, flush=True)
    watch = kmsg_watch()              # from the log's end: what the inputs cause, not the warm-up
    sample = None
    if os.environ.get("AFALG_FUZZ_SAMPLE"):
        try:
            sample = Sample(os.environ["AFALG_FUZZ_SAMPLE"])
        except OSError as e:
            print(f"{name}: no sample of the inputs run ({e})", file=sys.stderr, flush=True)
    state = {"started": False, "watchdog": None, "sample": sample}
    print(f"{name}: {fb.describe()}; {len(names.static)} static + {len(names.runtime)} runtime names; "
          f"{faults_note}", file=sys.stderr, flush=True)

    def test_one_input(data: bytes) -> None:
        if not state["started"]:
            fb.start()
            fb.started = time.time()
            state["watchdog"] = Watchdog(float(os.environ.get("AFALG_FUZZ_STUCK", "30")))
            state["started"] = True
            print(f"{name}: {fb.describe()}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        if state.get("left") is not None:
            # libFuzzer's and atheris' own share: mutation, counters, corpus writes
            fb.timing["between_s"] += t0 - state["left"]
        journal.write(data)
        crash_hook(data)
        t1 = time.perf_counter()
        prog = decode(program.FdpSource(data), names)
        t2 = time.perf_counter()
        wd = state["watchdog"]
        fb.input_begin()
        wd.arm()
        try:
            executor.run(prog)
            warn_hook(data, executor.outcomes)
            if watch is not None:
                problem = watch.problem()
                if problem:
                    raise KernelReport(problem)
        finally:
            wd.disarm()
            t3 = time.perf_counter()
            tm = fb.timing
            tm["journal_s"] += t1 - t0
            tm["decode_s"] += t2 - t1
            tm["execute_s"] += t3 - t2
            fb.input_end()
            state["left"] = time.perf_counter()
            tm["feedback_s"] += state["left"] - t3
        # only an input that ran without a failure (an exception skips this), outside the
        # watchdog and KCOV, its cost with the journal's; a failing write is not a finding
        if state["sample"] is not None:
            try:
                state["sample"].add(data)
            except OSError as e:
                print(f"{name}: sample stopped ({e})", file=sys.stderr, flush=True)
                state["sample"] = None
            now = time.perf_counter()
            tm["journal_s"] += now - state["left"]
            state["left"] = now

    # libFuzzer's -merge=1 (and -fork, -jobs) runs argv[0] again through the shell: a script
    # path is not a command, "python script" is.
    if argv and argv[0].endswith(".py"):
        argv[0] = shlex.join([sys.executable, os.path.abspath(argv[0])])
    if fb.feed and fb.cmp_too and not any(a.startswith("-use_value_profile=") for a in argv[1:]):
        argv.append("-use_value_profile=1")      # kernel comparisons count as features
    if not any(x.startswith("-dict=") for x in argv[1:]):
        from . import dictionary
        path, nwords = dictionary.write_temp()
        atexit.register(_unlink_quietly, path)      # -merge/-fork children are done by then
        argv.append(f"-dict={path}")
        print(f"{name}: dictionary {path}: {nwords} words (fuzz/dictionary.py; "
              f"-dict=/dev/null for none)", file=sys.stderr, flush=True)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
