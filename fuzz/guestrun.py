"""In-guest driver for `afalg-conform fuzz` / `fuzz-bench` (runs inside the VM only).

  python3 -m afalg_conformance.fuzz.guestrun fuzz  --results DIR --names a,b --time T [--coverage M] [-- libFuzzer flags]
  python3 -m afalg_conformance.fuzz.guestrun bench --results DIR --names a,b --time T [-- libFuzzer flags]
  python3 -m afalg_conformance.fuzz.guestrun merge --results DIR --names a,b   (distil DIR/corpus/NAME)

Each fuzzer runs as its own process (libFuzzer exits the process when it is done),
sequentially, with everything written into DIR (the one writable host folder):
  fuzz-NAME.log   libFuzzer's output          stats-NAME.json  our statistics
  journal-NAME    the input being executed (written before each run; with the host's shared
                  memory attached, there, and the host writes journal-NAME after the guest)
  corpus/NAME/    new corpus entries          artifacts/       libFuzzer crash-* files
  guest.json      kernel release, KCOV availability, per-fuzzer exit codes
  bench.json      (bench) the fuzzer's statistics and the two plain loops' rates; the sample
                  of the inputs run stays in the guest's tmpfs (SAMPLE_ROOT)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from afalg_conformance.harness.afalg import modprobe

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "corpus"


def corpus_dir(name: str, results: Path) -> Path:
    """Where libFuzzer writes new units. Inside the guest (tmpfs overlay) unless
    AFALG_FUZZ_CORPUS_ON_HOST=1: each write to the 9p share costs tens of ms under TCG;
    the corpus is copied to the results folder after each fuzzer (the reproducer of a
    crash is journalled separately, so a panic loses only corpus entries).
    AFALG_FUZZ_CORPUS_ROOT (`fuzz --jobs N`, --corpus-root here): the folder on the host that
    every guest of the campaign writes and reloads (libFuzzer's -reload), so each job takes up
    what the others found."""
    shared = os.environ.get("AFALG_FUZZ_CORPUS_ROOT")
    if shared:
        return Path(shared) / name
    if os.environ.get("AFALG_FUZZ_CORPUS_ON_HOST") == "1":
        return results / "corpus" / name
    return Path("/tmp/afalg-fuzz-corpus") / name


def corpus_archive(name: str, results: Path) -> Path:
    """The one file a guest writes its corpus into; the host unpacks it (fuzz.cli)."""
    return results / f"corpus-{name}.tar"


def copy_corpus(name: str, results: Path) -> int:
    """The guest's corpus to the host as one tar file: one file per unit over 9p was ~115 ms
    a unit under TCG (1,434 units, 165 s after a 10-minute campaign, 2026-12-01).

    Each member's header is made here, not by tarfile.add: add() looks up the file's owner
    and group by name, and each getpwuid/getgrgid reads /etc over 9p (7.8 ms a unit in an
    idle kcov-6.12 guest, 15 of copy_corpus's 17.5 s for 1,900 units; with two campaign
    guests busy on two cores, 132 and 222 s after fuzz_sequence's 10 minutes, 2026-12-03).
    The host keeps only names and bytes (fuzz.cli.unpack_corpora)."""
    src = corpus_dir(name, results)
    if os.environ.get("AFALG_FUZZ_CORPUS_ROOT"):
        return len(list(src.glob("*"))) if src.exists() else 0      # on the host already, shared
    dst = results / "corpus" / name
    if src == dst or not src.exists():
        return len(list(dst.glob("*"))) if dst.exists() else 0
    buf = io.BytesIO()
    n = 0
    now = int(time.time())
    with os.scandir(src) as it:
        units = sorted((e for e in it if e.is_file(follow_symlinks=False)), key=lambda e: e.name)
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for e in units:
            try:
                data = Path(e.path).read_bytes()
            except OSError:
                continue
            info = tarfile.TarInfo(e.name)
            info.size, info.mtime = len(data), now          # TarInfo's mode is already 0o644
            tar.addfile(info, io.BytesIO(data))
            n += 1
    corpus_archive(name, results).write_bytes(buf.getvalue())
    return n


# libFuzzer's -reload for a corpus on the host (fuzz --jobs): its default, every second, lists
# the folder and stats each file over 9p. In a 2-job cmsg campaign of 120 s (2026-12-01) that
# was ~70 % of the time outside the inputs (between_s 76 of 110 s) and each job ran 13.9
# execs/s; with -reload=30, 29.9 execs/s each (a single job's rate) and twice the corpus.
SHARED_RELOAD_S = 30
# Without a shared corpus nothing else writes the fuzzer's folder, yet libFuzzer's default still
# reads it back every second: RereadOutputCorpus was 2.5 % of a cmsg campaign's samples under
# TCG (perf in a kcov-6.12 guest, 2026-12-02), a fifth of libFuzzer's own time.
ALONE_RELOAD_S = 0


def fuzzer_cmd(name: str, results: Path, seconds: float | None, runs: int | None, extra: list[str],
               extra_dirs: list[str]) -> list[str]:
    corpus = corpus_dir(name, results)
    corpus.mkdir(parents=True, exist_ok=True)
    host_corpus = results / "corpus" / name
    if host_corpus.exists() and host_corpus != corpus:
        extra_dirs = [str(host_corpus), *extra_dirs]     # resume from an earlier run's corpus
    (results / "artifacts").mkdir(exist_ok=True)
    cmd = [sys.executable, str(ROOT / "fuzz" / f"{name}.py"), str(corpus), str(SEEDS / name), *extra_dirs,
           f"-artifact_prefix={results / 'artifacts'}/{name}-", "-print_final_stats=1"]
    if seconds:
        cmd.append(f"-max_total_time={int(seconds)}")
    if runs:
        cmd.append(f"-runs={runs}")
    # libFuzzer's own -jobs/-workers share the folder through its reload: its default stays
    if not any(x.startswith(("-reload=", "-jobs=", "-workers=")) for x in extra):
        cmd.append(f"-reload={SHARED_RELOAD_S if os.environ.get('AFALG_FUZZ_CORPUS_ROOT') else ALONE_RELOAD_S}")
    return cmd + extra


# QEMU's ivshmem device (PCI vendor, device): the host's shared memory for the journal
# (fuzz/cli.py attaches a file of its own, outside every shared folder, as one).
IVSHMEM = ("0x1af4", "0x1110")


def journal_shm(sysfs: Path = Path("/sys/bus/pci/devices")) -> str | None:
    """The sysfs file of the ivshmem device's memory BAR, its memory decoding enabled; None
    when the host attached none (an older host side, or a memory path qemu cannot take)."""
    for d in sorted(sysfs.glob("*")):
        try:
            ids = ((d / "vendor").read_text().strip(), (d / "device").read_text().strip())
        except OSError:
            continue
        if ids != IVSHMEM:
            continue
        try:
            (d / "enable").write_text("1")
        except OSError:
            pass
        bar = d / "resource2"
        return str(bar) if bar.exists() else None
    return None


def names_path(name: str, results: Path) -> Path:
    """Where a fuzzer writes the runtime names it decodes with (engine.save_names)."""
    return results / f"names-{name}.json"


def fuzzer_env(name: str, results: Path, coverage: str, crash_hook: bool, feed: str | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1",
               AFALG_FUZZ_COVERAGE=coverage, AFALG_FUZZ_STATS=str(results / f"stats-{name}.json"),
               AFALG_FUZZ_JOURNAL=str(results / f"journal-{name}"), AFALG_FUZZ_NAMES=str(names_path(name, results)),
               AFALG_FUZZ_IN_GUEST="1",
               AFALG_FUZZ_NO_AUTOLOAD="1")
    if crash_hook:
        env["AFALG_FUZZ_CRASH_HOOK"] = "1"
    if feed:
        env["AFALG_FUZZ_FEED"] = feed
    return env


# How long the log copier waits to gather the fuzzer's output before one write to the host.
LOG_BATCH_S = 0.2


def run_logged(cmd: list[str], env: dict, log_path: Path) -> int:
    """Run the fuzzer with its output copied to log_path (on the host) in batches.

    libFuzzer writes stderr unbuffered, a write(2) per Printf: 1,372 writes for 104 lines
    (strace), and each write to the 9p share is a host round trip of 1.5 ms or more under TCG
    (micro-benchmark, 2026-12-01) that the fuzzer waited for, several hundred lines a minute.
    Through a pipe the fuzzer's writes cost nothing; this process gathers them for up to
    LOG_BATCH_S and writes once. A panic loses at most the output of that last interval
    (the input itself is in the journal)."""
    with open(log_path, "wb", buffering=0) as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
        fd = proc.stdout.fileno()
        eof = False
        while not eof:
            chunk = os.read(fd, 1 << 16)          # waits for the next output
            if not chunk:
                break
            time.sleep(LOG_BATCH_S)
            parts = [chunk]
            os.set_blocking(fd, False)
            try:
                while True:
                    more = os.read(fd, 1 << 16)
                    if not more:
                        eof = True
                        break
                    parts.append(more)
            except BlockingIOError:
                pass
            os.set_blocking(fd, True)
            log.write(b"".join(parts))
        proc.stdout.close()
        return proc.wait()


def guest_info() -> dict:
    from .coverage import kcov_available
    ok, why = kcov_available()
    return {"kernel_release": os.uname().release, "kcov": ok, "kcov_reason": why,
            "cmdline": Path("/proc/cmdline").read_text().strip() if Path("/proc/cmdline").exists() else ""}


def cmd_fuzz(a, extra: list[str]) -> int:
    results = Path(a.results)
    info = guest_info()
    info["fuzzers"] = {}
    (results / "guest.json").write_text(json.dumps(info, indent=1))
    # preserve /proc/crypto for the record (driver names the decoders used)
    try:
        (results / "proc-crypto.txt").write_text(Path("/proc/crypto").read_text())
    except OSError:
        pass
    rc_all = 0
    for name in a.names.split(","):
        extra_dirs = [d for d in (a.extra_corpus or "").split(",") if d and Path(d, name).exists()]
        extra_dirs = [str(Path(d, name)) for d in extra_dirs]
        cmd = fuzzer_cmd(name, results, a.time, a.runs, extra, extra_dirs)
        env = fuzzer_env(name, results, a.coverage, a.crash_hook, a.feed)
        print(f"afalg-fuzz: start {name}: {' '.join(cmd)}", flush=True)
        _kmsg(f"afalg-fuzz: start {name}")
        t0 = time.time()
        rc = run_logged(cmd, env, results / f"fuzz-{name}.log")
        info["fuzzers"][name] = {"rc": rc, "seconds": round(time.time() - t0, 1),
                                 "corpus_files": copy_corpus(name, results)}
        (results / "guest.json").write_text(json.dumps(info, indent=1))
        _kmsg(f"afalg-fuzz: end {name} rc={rc}")
        print(f"afalg-fuzz: end {name} rc={rc}", flush=True)
        rc_all = rc_all or rc
    return rc_all


MERGE_ROOT = Path("/tmp/afalg-fuzz-merge")     # in the guest's tmpfs: libFuzzer's output corpus


MERGE_RECORD = "merge.json"


def cmd_merge(a, extra: list[str]) -> int:
    """Distil each fuzzer's corpus on the host (RESULTS/corpus/NAME) with libFuzzer's -merge=1
    under the fuzzer's own feedback (KCOV edges and outcomes, or Python coverage): the inputs
    that add a feature the smaller ones before them lack stay, the others move to
    RESULTS/corpus-dropped/NAME (kept: a merge under other feedback, a Python-only guest say,
    may judge them differently). The next campaign resumes from what stays (fuzzer_cmd).
    The campaign's own records (stats-NAME.json, guest.json) are left alone."""
    results = Path(a.results)
    info = guest_info()
    info["merged"] = {}
    rc_all = 0
    for name in a.names.split(","):
        host = results / "corpus" / name
        before = sorted(host.iterdir()) if host.exists() else []
        out = MERGE_ROOT / name
        out.mkdir(parents=True, exist_ok=True)
        (results / "artifacts").mkdir(exist_ok=True)
        cmd = [sys.executable, str(ROOT / "fuzz" / f"{name}.py"), "-merge=1", str(out), str(host),
               f"-artifact_prefix={results / 'artifacts'}/{name}-merge-", *extra]
        print(f"afalg-fuzz: merge {name}: {' '.join(cmd)}", flush=True)
        env = fuzzer_env(name, results, a.coverage, False, a.feed)
        env["AFALG_FUZZ_STATS"] = str(results / f"merge-stats-{name}.json")
        # the campaign's names-NAME.json stays what its crashes and corpus were decoded with
        env["AFALG_FUZZ_NAMES"] = str(results / f"merge-names-{name}.json")
        rc = run_logged(cmd, env, results / f"merge-{name}.log")
        kept = {f.name: f for f in out.iterdir()}
        dropped = 0
        if rc == 0 and before:
            # what stays is written first, then the rest moved aside: a guest stopped half-way
            # leaves more inputs, never fewer. libFuzzer names a unit by its SHA-1, as the
            # corpus already does: same name, same bytes.
            for n, f in kept.items():
                if not (host / n).exists():
                    (host / n).write_bytes(f.read_bytes())
            aside = results / "corpus-dropped" / name
            for f in before:
                if f.name not in kept:
                    aside.mkdir(parents=True, exist_ok=True)
                    f.rename(aside / f.name)
                    dropped += 1
        info["merged"][name] = {"rc": rc, "before": len(before), "dropped": dropped,
                                "after": len(list(host.iterdir())) if host.exists() else 0}
        (results / MERGE_RECORD).write_text(json.dumps(info, indent=1))
        print(f"afalg-fuzz: merged {name}: {len(before)} -> {info['merged'][name]['after']} inputs (rc={rc})",
              flush=True)
        rc_all = rc_all or rc
    return rc_all


def _kmsg(msg: str) -> None:
    try:
        with open("/dev/kmsg", "w") as f:
            f.write(msg + "\n")
    except OSError:
        pass


# Where fuzz-bench's fuzzer copies one input in engine.SAMPLE_EVERY it ran (the guest's tmpfs).
SAMPLE_ROOT = Path("/tmp/afalg-fuzz-sample")


def plain_loop(name: str, results: Path, seconds: float, inputs: list[bytes] | None = None) -> dict:
    """The same system calls without the fuzzer: replay inputs, decoded up front, round robin,
    with no coverage, journal or watchdog. By default the fuzzer's corpus (the units it wrote
    in the guest, those it resumed from, the seeds); `inputs`: those instead."""
    from . import decoders
    from .engine import runtime_names
    from .program import Executor, FdpSource, Names, guest_faults
    names = Names(runtime_names())
    if inputs is None:
        dirs = dict.fromkeys([corpus_dir(name, results), results / "corpus" / name, SEEDS / name])
        inputs = [p.read_bytes() for p in sorted(p for d in dirs if d.exists() for p in d.iterdir())]
    progs = [decoders.DECODERS[name](FdpSource(data), names) for data in inputs]
    ex = Executor(faults=guest_faults()[0])     # the fuzzer's calls, faults included
    n = 0
    t0 = time.monotonic()
    end = t0 + seconds
    failures = 0
    while time.monotonic() < end and progs:
        try:
            ex.run(progs[n % len(progs)])
        except AssertionError:
            failures += 1
        n += 1
    el = time.monotonic() - t0
    return {"execs": n, "seconds": round(el, 2), "execs_per_s": round(n / el, 2) if el else 0,
            "programs": len(progs), "oracle_failures": failures}


def cmd_bench(a, extra: list[str]) -> int:
    from .engine import sample_inputs
    results = Path(a.results)
    out = {"guest": guest_info(), "fuzzers": {}}
    for name in a.names.split(","):
        cmd = fuzzer_cmd(name, results, a.time, None, extra, [])
        env = fuzzer_env(name, results, a.coverage, False, a.feed)
        env["AFALG_FUZZ_SAMPLE"] = str(SAMPLE_ROOT / name)
        t0 = time.time()
        rc = run_logged(cmd, env, results / f"fuzz-{name}.log")
        fuzz_wall = time.time() - t0
        copy_corpus(name, results)
        try:
            stats = json.loads((results / f"stats-{name}.json").read_text())
        except (OSError, ValueError):
            stats = {}
        plain = plain_loop(name, results, a.time)
        # the inputs the fuzzer ran (a sample), mutants it dropped included: the same calls
        sampled = [data for f in (sorted((SAMPLE_ROOT / name).glob("*")) if (SAMPLE_ROOT / name).exists() else [])
                   for data in sample_inputs(f.read_bytes())]
        ran = plain_loop(name, results, a.time, sampled) if sampled else None
        out["fuzzers"][name] = {"rc": rc, "fuzz_wall": round(fuzz_wall, 1), "fuzz_stats": stats, "plain": plain,
                                "plain_ran": ran}
        (results / "bench.json").write_text(json.dumps(out, indent=1))
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(prog="afalg_conformance.fuzz.guestrun")
    ap.add_argument("mode", choices=["fuzz", "bench", "merge"])
    ap.add_argument("--results", required=True)
    ap.add_argument("--names", required=True)
    ap.add_argument("--time", type=float, default=None)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--coverage", default="auto")
    ap.add_argument("--feed", default=None, help="AFALG_FUZZ_FEED for the fuzzers (fuzz.coverage.FEED_SCOPES)")
    ap.add_argument("--crash-hook", action="store_true")
    ap.add_argument("--extra-corpus", default=None, help="comma-separated dirs holding NAME/ subdirs")
    ap.add_argument("--corpus-root", default=None, help="a corpus folder shared with other guests (NAME/ subdirs)")
    modprobe.add_flag(ap)
    a = ap.parse_args(argv)
    if a.corpus_root:
        os.environ["AFALG_FUZZ_CORPUS_ROOT"] = a.corpus_root
    Path(a.results).mkdir(parents=True, exist_ok=True)
    if a.quick_modprobe:
        modprobe.install(Path(a.results) / modprobe.RECORD)
    shm = journal_shm()
    if shm:
        os.environ["AFALG_FUZZ_JOURNAL_SHM"] = shm     # every fuzzer's environment (fuzzer_env)
    return {"fuzz": cmd_fuzz, "bench": cmd_bench, "merge": cmd_merge}[a.mode](a, extra)


if __name__ == "__main__":
    sys.exit(main())
