"""`afalg-conform fuzz`, `fuzz-bench` and `build-kernel`: the fuzzers, run in a guest.

  afalg-conform fuzz NAME[,NAME...] --kernel TARGET [--results DIR] [--time S] [-- libFuzzer flags]
  afalg-conform fuzz --reproduce FILE --kernel TARGET [--minimize]
  afalg-conform fuzz NAME --merge --results DIR          (distil DIR/corpus/NAME between campaigns)
  afalg-conform fuzz NAME --crash-hook [panic|warn]   (self-tests of crash capture)
  afalg-conform fuzz-bench --kernel TARGET [--time S]
  afalg-conform build-kernel kcov-6.12

The guest (fuzz/guestrun.py) writes the input being executed to the results
folder before every run, so when the guest dies (vng exit 255, or a problem on
the console) the host still has the reproducer. Crashes are saved under
RESULTS/crashes/ as crash-<sha1> with a .json sidecar (fuzzer, kind, signature,
console excerpt) and deduplicated by signature: the kernel stack (top frames of
the first report), or the exception line for Python-level oracle failures.
The last line per fuzzer is:
  fuzz NAME: <execs> execs, <rate> execs/s, corpus <n>, crashes <k>, coverage <kcov|kcov-measure|python>
(kcov-measure: kernel PCs counted but not fed back; Python coverage guided the run)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import threading
from pathlib import Path

from afalg_conformance.harness.host import launch
from afalg_conformance.harness.results import klog
from afalg_conformance.harness.host import validate
from afalg_conformance.harness.host import vm
from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.fuzz.coverage import AUTO_MEASURED, FEED_DEFAULT, FEED_SCOPES, auto_kcov_mode
from afalg_conformance.fuzz.guestrun import MERGE_RECORD, names_path

FUZZERS = ["fuzz_setsockopt", "fuzz_cmsg", "fuzz_sequence"]
# Make every kernel problem fatal, so the guest stops at the first report and the
# journalled input is the culprit.
CRASH_APPEND = ["panic_on_warn=1", "oops=panic", "softlockup_panic=1", "hung_task_panic=1",
                # a loaded TCG host can fail the boot-time IO-APIC timer check ("IO-APIC +
                # timer doesn't work!" panic before init): skip that check
                "no_timer_check"]
CRASH_MAGIC = b"AFALG-FUZZ-SYSRQ-CRASH"



def canonical(name: str) -> str:
    name = name.removesuffix(".py")
    name = name if name.startswith("fuzz_") else f"fuzz_{name}"
    if name not in FUZZERS:
        raise HarnessError(f"unknown fuzzer {name!r}; known: {', '.join(FUZZERS)}")
    return name


# -- crash signatures -------------------------------------------------------------------------

def python_signature(log_text: str) -> str | None:
    """The exception of a libFuzzer 'Uncaught Python exception' report; for a `deadly signal`
    (the interpreter itself died: glibc's abort, a SIGSEGV) the line printed just before it,
    which names the cause (seen: "The futex facility returned an unexpected error code.")."""
    m = re.search(r"=== Uncaught Python exception: ===\n(.*?)\n", log_text)
    if not m:
        d = re.search(r"(?:^|\n)([^\n]*)\n==\d+== ERROR: libFuzzer: deadly signal", log_text)
        if not d:
            return None
        before = d.group(1).strip()
        said = "" if not before or re.match(r"#\d+\s", before) or before.startswith("==") else f" after: {before[:200]}"
        return f"python: deadly signal{said}"
    line = m.group(1)
    line = re.sub(r"got [0-9a-f]+ want [0-9a-f]+.*", "got X want Y", line)
    line = re.sub(r"\b[0-9a-f]{16,}\b", "H", line)
    return f"python: {line[:400]}"


class CrashStore:
    """RESULTS/crashes: one file per distinct signature (+ .json), index.json for counts."""

    def __init__(self, root: Path):
        self.root = root / "crashes"
        self.root.mkdir(parents=True, exist_ok=True)
        self.index_path = self.root / "index.json"
        self.index = json.loads(self.index_path.read_text()) if self.index_path.exists() else {}

    def add(self, data: bytes, meta: dict) -> tuple[Path, bool]:
        from afalg_conformance.fuzz.decoders import DECODER_VERSION  # decoders pull in the algorithm tables
        meta = {**meta, "decoder_version": DECODER_VERSION.get(meta.get("fuzzer"))}
        sig = meta["signature"]
        if sig in self.index:
            self.index[sig]["count"] += 1
            self._save()
            return self.root / self.index[sig]["file"], False
        name = f"crash-{hashlib.sha1(data).hexdigest()}"
        (self.root / name).write_bytes(data)
        (self.root / f"{name}.json").write_text(json.dumps(meta, indent=1))
        self.index[sig] = {"file": name, "count": 1, "fuzzer": meta.get("fuzzer"), "kind": meta.get("kind")}
        self._save()
        return self.root / name, True

    def _save(self):
        self.index_path.write_text(json.dumps(self.index, indent=1))


# -- parsing libFuzzer output ------------------------------------------------------------------

_STATUS = re.compile(r"^#(\d+)\s+\w+\s+(?:cov: (\d+) )?(?:ft: (\d+) )?corp: (\d+)/\S+.*?exec/s: (\d+)")


def parse_log(text: str) -> dict:
    out = {"execs": 0, "rate": 0.0, "corpus": 0, "cov": None}
    for line in text.splitlines():
        m = _STATUS.match(line)
        if m:
            out["execs"] = int(m.group(1))
            out["corpus"] = int(m.group(4))
            out["rate"] = float(m.group(5))
            out["cov"] = int(m.group(2)) if m.group(2) else out["cov"]
        m = re.match(r"stat::number_of_executed_units:\s*(\d+)", line)
        if m:
            out["execs"] = int(m.group(1))
        m = re.match(r"stat::average_exec_per_sec:\s*(\d+)", line)
        if m:
            out["rate"] = float(m.group(1))
        m = re.match(r"Done (\d+) runs in (\d+) second", line)
        if m:
            out["execs"] = int(m.group(1))
            out["rate"] = round(int(m.group(1)) / max(int(m.group(2)), 1), 1)
    return out


# -- running a guest -----------------------------------------------------------------------------

def _target(a):
    target = vm.resolve_target(a.kernel)
    if target.is_host and not a.i_know_this_is_the_host:
        raise HarnessError("refusing to fuzz the host kernel (a kernel crash takes the machine down); "
                           "use a guest target, or add --i-know-this-is-the-host")
    return target


def _results_dir(a, label: str) -> Path:
    if a.results:
        return Path(a.results).resolve()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return (Path("results") / f"{stamp}-{label}").resolve()


# When minimising, reports that the kernel survives must not stop it: each try runs in a
# child process and is judged by what /dev/kmsg gained (fuzz/replay.py).
MINIMIZE_APPEND = ["no_timer_check"]
_PREPARING = threading.Lock()


# The journal's shared memory (engine.Journal): a file of the host's own that the guest sees as
# a PCI device's memory. Not in the results folder: a guest writes there over 9p (symlinks
# included), and with `fuzz --jobs` other guests run while a job's qemu starts, so a path there
# could be swapped for a link to any host file before qemu maps it writable.
def make_journal_shm() -> str | None:
    """A zeroed file for the guest's journal memory in a new private folder (tmpfs where there
    is one), or None when qemu cannot take its path (the guest then writes the journal file
    over 9p, as before)."""
    from afalg_conformance.fuzz.engine import SHM_BYTES  # engine pulls in the fuzzers' feedback code
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None
    folder = tempfile.mkdtemp(prefix="afalg-journal-", dir=base)
    shm = os.path.join(folder, "journal.shm")
    if not vm.shm_usable(shm):
        shutil.rmtree(folder, ignore_errors=True)
        print(f"afalg-conform: {shm}: path not usable by qemu; the journal goes over 9p", file=sys.stderr)
        return None
    with open(shm, "wb") as f:
        f.truncate(SHM_BYTES)
    return shm


def write_result_file(path: Path, data: bytes) -> None:
    """Write a file into a folder the guest can write: through a fresh name (O_EXCL|O_NOFOLLOW:
    never through a link the guest left) renamed over the final one (a rename replaces a link,
    it does not follow it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def journal_from_shm(shm: str | None, results: Path) -> str | None:
    """After the guest: the last input in the shared memory written out as results/journal-NAME
    (what collect_crashes reads, as if the guest had written it); the memory's folder removed.
    The name comes from the guest, so only one of FUZZERS is taken as part of a file name."""
    from afalg_conformance.fuzz.engine import JOURNAL_MAGIC, SHM_BYTES, shm_record  # as in make_journal_shm
    if not shm:
        return None
    try:
        with open(shm, "rb") as f:
            raw = f.read(SHM_BYTES)
    except OSError:
        raw = b""
    finally:
        shutil.rmtree(os.path.dirname(shm), ignore_errors=True)
    rec = shm_record(raw)
    if rec is None or rec[0] not in FUZZERS:
        return None
    name, data = rec
    if data is not None:
        try:
            write_result_file(results / f"journal-{name}", JOURNAL_MAGIC + len(data).to_bytes(4, "little") + data)
        except OSError as e:
            print(f"afalg-conform: could not write {results / f'journal-{name}'} ({e.strerror}); "
                  f"the input was {data.hex()}", file=sys.stderr)
    return name


def run_guest(target, results: Path, guest_args: list[str], a, timeout: float, label: str,
              base_append: list[str] | None = None, rw: Path | None = None) -> tuple[int | None, Path, float]:
    """Boot target once and run guest_args (python -m ...). Returns (rc, console, wall).
    rw: the guest's one writable folder when it is not `results` itself (a job of `fuzz --jobs`
    writes its own job-I/ and the campaign's shared corpus beside it)."""
    results.mkdir(parents=True, exist_ok=True)
    console = results / f"console-{label}.log"
    append = list(CRASH_APPEND if base_append is None else base_append) + list(a.append or [])
    use_kvm = False
    shm = None
    try:
        with _PREPARING:         # jobs of `fuzz --jobs` start together: probe and prepare once at a time
            if not target.is_host:
                _, qemu = vm.find_tools()
                use_kvm, why = vm.probe_kvm(qemu, target.image)
                print(f"afalg-conform: booting {target.name} ({target.release}) under {'KVM' if use_kvm else 'TCG'}",
                      file=sys.stderr, flush=True)
            shm = None if target.is_host else make_journal_shm()
            cmd, env = launch.command(target, str(rw or results), guest_args, use_kvm=use_kvm, memory=a.memory,
                                      cpus=a.cpus, append=append, shm=shm)
        (results / f"command-{label}.json").write_text(json.dumps(cmd))
        console.unlink(missing_ok=True)
        done = launch.launch(cmd, console, env=env, timeout=timeout)
    finally:
        journal_from_shm(shm, results)
    return (done.rc if done.status == "exited" else None), console, done.wall


def sidecar_names(results: Path, name: str) -> dict:
    """{"runtime_names": [...]}: what the fuzzer decoded its inputs with (engine.save_names),
    for a crash's sidecar, so --reproduce decodes the same program; {} if it saved none."""
    from afalg_conformance.fuzz.engine import load_names  # as in make_journal_shm
    try:
        return {"runtime_names": load_names(str(names_path(name, results)))}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def collect_crashes(results: Path, names: list[str], console: Path, rc: int | None, store: CrashStore,
                    crash_hook: bool, guest: dict) -> dict[str, int]:
    """Turn libFuzzer artefacts and a dead guest into saved, deduplicated crashes."""
    counts = {n: 0 for n in names}
    reported: set[str] = set()        # kernel reports the guest already turned into artifacts
    # Python-level findings (oracles, stuck calls): libFuzzer wrote artifacts/NAME-crash-*
    for f in sorted((results / "artifacts").glob("*")) if (results / "artifacts").exists() else []:
        if f.suffix == ".json":
            continue
        name = next((n for n in names if f.name.startswith(n + "-")), None)
        # libFuzzer also writes slow-unit-* (not findings); count crash/timeout/oom/leak only
        if not name or not f.name[len(name) + 1:].startswith(("crash-", "timeout-", "oom-", "leak-")):
            continue
        log = (results / f"fuzz-{name}.log").read_text(errors="replace") if (results / f"fuzz-{name}.log").exists() else ""
        sig = python_signature(log) or f"python: {f.name.split('-')[-2] if '-' in f.name else 'crash'}"
        kind = "python"
        if sig.startswith("python: KernelReport: "):     # a report the kernel survived (fuzz.engine)
            sig, kind = sig.removeprefix("python: KernelReport: "), "kernel"
            reported.add(sig)
        path, new = store.add(f.read_bytes(), {"fuzzer": name, "kind": kind, "signature": sig,
                                               "artifact": str(f), "crash_hook": crash_hook,
                                               **sidecar_names(results, name)})
        counts[name] += 1
        print(f"afalg-conform: {name}: {'new' if new else 'duplicate'} crash {sig!r} -> {path}", file=sys.stderr)
    # Kernel-level: the guest died or the console shows a problem
    lines = console.read_text(errors="replace").splitlines() if console.exists() else []
    ks = klog.signature(lines)
    finished = {n for n, v in guest.get("fuzzers", {}).items()}
    # a report on the console that the guest survived and already saved with its input is
    # not a second crash
    died = rc == 255 or rc is None or (ks is not None and ks[0] not in reported)
    if died:
        running = [n for n in names if n not in finished]
        culprit = running[0] if running else (names[-1] if names else "unknown")
        journal = results / f"journal-{culprit}"
        from afalg_conformance.fuzz.engine import read_journal
        try:
            data = read_journal(journal.read_bytes()) if journal.is_file() and not journal.is_symlink() else b""
        except OSError:
            data = b""
        if ks is None:
            sig, excerpt = (f"{'timeout' if rc is None else 'guest-died'}: no kernel report on the console",
                            lines[-30:])
        else:
            sig, excerpt = ks
        meta = {"fuzzer": culprit, "kind": "kernel", "signature": sig, "vng_rc": rc,
                "kernel_release": guest.get("kernel_release"), "crash_hook": crash_hook,
                "console": str(console), "excerpt": excerpt, **sidecar_names(results, culprit)}
        if data:
            path, new = store.add(data, meta)
            print(f"afalg-conform: {culprit}: {'new' if new else 'duplicate'} kernel crash {sig!r}; "
                  f"reproducer {path}", file=sys.stderr)
            counts[culprit] = counts.get(culprit, 0) + 1
        else:
            print(f"afalg-conform: {culprit}: {sig!r} before any input ran (not counted as a crash)",
                  file=sys.stderr)
    return counts


def summary_line(name: str, results: Path, crashes: int, default_cov: str) -> str:
    log = results / f"fuzz-{name}.log"
    p = parse_log(log.read_text(errors="replace")) if log.exists() else {"execs": 0, "rate": 0.0, "corpus": 0}
    try:
        st = json.loads((results / f"stats-{name}.json").read_text())
    except (OSError, ValueError):
        st = {}
    cov = st.get("coverage", default_cov)
    execs = max(p["execs"], st.get("execs", 0))
    rate = p["rate"] or st.get("execs_per_s", 0.0)
    if st.get("seconds") and st.get("execs"):
        rate = round(st["execs"] / st["seconds"], 1)
    # the name as the user types it (`afalg-conform fuzz setsockopt`), not the module name
    short = name.removeprefix("fuzz_")
    return f"fuzz {short}: {execs} execs, {rate} execs/s, corpus {p['corpus']}, crashes {crashes}, coverage {cov}"


UNIT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
MAX_UNIT = 1 << 20


def unpack_corpora(results: Path) -> dict[str, int]:
    """The guest's corpus-NAME.tar files (fuzz.guestrun.copy_corpus) into corpus/NAME/, then
    removed. The guest wrote them: only regular files with plain names, at most MAX_UNIT bytes,
    never through a symlink (the guest can make those in the results folder too)."""
    out: dict[str, int] = {}
    for tar_path in sorted(results.glob("corpus-fuzz_*.tar")):
        name = tar_path.name[len("corpus-"):-len(".tar")]
        dst = results / "corpus" / name
        if (tar_path.is_symlink() or not tar_path.is_file() or not UNIT_NAME.fullmatch(name)
                or (results / "corpus").is_symlink() or dst.is_symlink()):
            print(f"afalg-conform: {tar_path.name}: not unpacked (not a plain file or folder)", file=sys.stderr)
            continue
        dst.mkdir(parents=True, exist_ok=True)
        n = 0
        try:
            with tarfile.open(tar_path, mode="r:") as tar:
                for m in tar:
                    if not m.isreg() or not UNIT_NAME.fullmatch(m.name) or m.name in (".", "..") or m.size > MAX_UNIT:
                        continue
                    data = tar.extractfile(m).read(MAX_UNIT)
                    try:
                        fd = os.open(dst / m.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
                    except OSError:         # a symlink the guest left there
                        continue
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                    n += 1
        except (tarfile.TarError, OSError) as e:
            print(f"afalg-conform: {tar_path.name}: {e}; {n} units unpacked, the archive kept", file=sys.stderr)
            out[name] = n
            continue
        tar_path.unlink()
        out[name] = n
    return out


def _boot_fuzzers(target, results: Path, gargs: list[str], a, timeout: float, rw: Path | None = None):
    """One guest running the fuzzers, booted again once if it never started them (TCG can
    panic a kernel during boot under load). (rc, console, wall, guest.json or {})."""
    for attempt in range(2):
        rc, console, wall = run_guest(target, results, gargs, a, timeout, "fuzz", rw=rw)
        unpack_corpora(results)
        try:
            guest = json.loads((results / "guest.json").read_text())
        except (OSError, ValueError):
            guest = {}
        if guest:
            break
        tail = " | ".join(klog.strip_prefix(x) for x in console.read_text(errors="replace").splitlines()[-3:])
        print(f"afalg-conform: {results.name}: the guest never started the fuzzers (vng exit {rc}): {tail[-300:]}",
              file=sys.stderr)
        if attempt == 0:
            print("afalg-conform: boot failure; trying once more", file=sys.stderr)
            console.rename(console.with_name("console-fuzz-bootfail.log"))
    return rc, console, wall, guest


def fuzz_jobs(a, target, results: Path, names: list[str], gargs: list[str], tail_args: list[str],
              timeout: float) -> int:
    """`fuzz NAME --jobs N`: N guests at once. Each job keeps its own journal, console,
    statistics and libFuzzer artefacts in job-I/; all write and reload one corpus, corpus/NAME
    (libFuzzer's -reload picks up what the other jobs found); crashes go to one store,
    deduplicated by signature across the jobs. The guests' one writable folder is this
    campaign's results folder."""
    shared = results / "corpus"
    shared.mkdir(parents=True, exist_ok=True)
    done: dict[int, tuple] = {}

    def job(i: int) -> None:
        folder = results / f"job-{i}"
        args = [*gargs, "--results", str(folder), "--corpus-root", str(shared), *tail_args]
        done[i] = _boot_fuzzers(target, folder, args, a, timeout, rw=results)

    threads = [threading.Thread(target=job, args=(i,), name=f"fuzz-job-{i}", daemon=True)
               for i in range(1, a.jobs + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = CrashStore(results)
    crashes = {n: 0 for n in names}
    per_job: dict[str, dict] = {}
    for i in sorted(done):
        rc, console, wall, guest = done[i]
        folder = results / f"job-{i}"
        if not guest:
            per_job[folder.name] = {"vng_rc": rc, "wall_s": round(wall, 1), "started": False}
            continue
        counts = collect_crashes(folder, names, console, rc, store, a.crash_hook, guest)
        for n, c in counts.items():
            crashes[n] = crashes.get(n, 0) + c
        per_job[folder.name] = {"vng_rc": rc, "wall_s": round(wall, 1), "started": True,
                                "kernel_release": guest.get("kernel_release")}
    started = [k for k, v in per_job.items() if v["started"]]
    if not started:
        raise HarnessError(f"boot failure: no job started the fuzzers; see {results}/job-*/console-fuzz.log")
    summary = {"target": target.name, "jobs": a.jobs, "jobs_started": len(started), "job": per_job, "fuzzers": {}}
    lines = []
    for n in names:
        stats = []
        for k in started:
            try:
                stats.append(json.loads((results / k / f"stats-{n}.json").read_text()))
            except (OSError, ValueError):
                pass
        execs = sum(st.get("execs", 0) for st in stats)
        rate = round(sum(st["execs"] / st["seconds"] for st in stats if st.get("seconds") and st.get("execs")), 1)
        afalg = set().union(*(st.get("afalg_pc_list", []) for st in stats)) if stats else set()
        corpus = len(list((shared / n).glob("*"))) if (shared / n).exists() else 0
        cov = next((st.get("coverage") for st in stats if st.get("coverage")), a.coverage)
        line = (f"fuzz {n.removeprefix('fuzz_')}: {len(started)} jobs, {execs} execs, {rate} execs/s together, "
                f"corpus {corpus}, crashes {crashes.get(n, 0)}, coverage {cov}, af_alg/algif PCs {len(afalg)} (union)")
        lines.append(line)
        summary["fuzzers"][n] = {"line": line, "execs": execs, "execs_per_s": rate, "corpus": corpus,
                                 "crashes": crashes.get(n, 0), "afalg_pcs_union": len(afalg)}
    (results / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"afalg-conform: results in {results} ({len(started)} of {a.jobs} jobs ran)", file=sys.stderr)
    for line in lines:
        print(line, flush=True)
    return 1 if sum(crashes.values()) else 0


def cmd_fuzz(a) -> int:
    extra = list(a.libfuzzer or [])
    validate.memory(a.memory)
    validate.cpus(a.cpus)
    jobs = validate.cpus(getattr(a, "jobs", 1), "--jobs")
    if a.time is not None and a.time < 0:
        raise HarnessError(f"--time {a.time:g}: expected seconds, 0 for no limit")
    if a.reproduce:
        return cmd_reproduce(a)
    if not a.name:
        raise HarnessError("give a fuzzer name (" + ", ".join(FUZZERS) + ") or --reproduce FILE")
    names = [canonical(n) for n in a.name.split(",")]
    if getattr(a, "merge", False):
        return cmd_merge(a, names, extra)
    target = _target(a)
    results = validate.results_dir(_results_dir(a, f"fuzz-{'+'.join(n.removeprefix('fuzz_') for n in names)}-{target.name}"))
    gargs = ["-m", "afalg_conformance.fuzz.guestrun", "fuzz", "--names", ",".join(names), "--coverage", a.coverage,
             "--feed", a.feed,
             *_modprobe_args(a, target)]
    if a.time:
        gargs += ["--time", str(a.time)]
    if a.runs:
        gargs += ["--runs", str(a.runs)]
    if a.crash_hook:
        seed_root = results / "crash-seed"
        for n in names:
            (seed_root / n).mkdir(parents=True, exist_ok=True)
            if a.crash_hook == "warn":
                from afalg_conformance.fuzz.seeds import selftest_warn_input
                (seed_root / n / "kmsg-warn").write_bytes(selftest_warn_input(n))
            else:
                (seed_root / n / "sysrq-crash").write_bytes(CRASH_MAGIC + bytes(16))
        gargs += ["--crash-hook", "--extra-corpus", str(seed_root)]
    tail_args = ["--", *extra] if extra else []
    per = a.time or 600
    # interpreter start-up and the warm-up binds take minutes on a loaded TCG host
    timeout = a.boot_timeout + len(names) * (per + 360)
    if jobs > 1:
        return fuzz_jobs(a, target, results, names, gargs, tail_args, timeout)
    rc, console, wall, guest = _boot_fuzzers(target, results, [*gargs, "--results", str(results), *tail_args],
                                             a, timeout)
    if not guest:
        raise HarnessError(f"boot failure: the guest never started the fuzzers; see {console}")
    store = CrashStore(results)
    counts = collect_crashes(results, names, console, rc, store, a.crash_hook, guest)
    summary = {"target": target.name, "kernel_release": guest.get("kernel_release", target.release),
               "vng_rc": rc, "wall_s": round(wall, 1), "fuzzers": {}}
    lines = []
    for n in names:
        default_cov = (auto_kcov_mode(n) if a.coverage == "auto" else a.coverage) if guest.get("kcov") else "python"
        line = summary_line(n, results, counts.get(n, 0), default_cov)
        lines.append(line)
        try:
            st = json.loads((results / f"stats-{n}.json").read_text())
        except (OSError, ValueError):
            st = {}
        summary["fuzzers"][n] = {"line": line, "stats": {k: v for k, v in st.items() if k != "outcome_list"},
                                 "guest": guest.get("fuzzers", {}).get(n)}
    (results / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"afalg-conform: results in {results} (guest {'exit ' + str(rc) if rc is not None else 'timed out'}, "
          f"{wall:.0f} s wall)", file=sys.stderr)
    for line in lines:
        print(line, flush=True)
    if rc is None:
        return 2 if not guest else 1
    return 1 if sum(counts.values()) else 0


def cmd_merge(a, names: list[str], extra: list[str]) -> int:
    """`fuzz NAME --merge --results R`: distil R/corpus/NAME in a guest (guestrun merge)."""
    if not a.results:
        raise HarnessError("--merge distils an earlier campaign's corpus: give its --results folder")
    results = validate.results_dir(Path(a.results).expanduser().resolve())
    missing = [n for n in names if not (results / "corpus" / n).is_dir()]
    if missing:
        raise HarnessError(f"{results}: no corpus/{missing[0]} to merge (run a campaign with --results there first)")
    target = _target(a)
    gargs = ["-m", "afalg_conformance.fuzz.guestrun", "merge", "--names", ",".join(names), "--coverage", a.coverage,
             "--feed", a.feed,
             "--results", str(results), *_modprobe_args(a, target), *(["--", *extra] if extra else [])]
    before = {n: len(list((results / "corpus" / n).iterdir())) for n in names}
    record = results / MERGE_RECORD
    record.unlink(missing_ok=True)          # an earlier merge's record must not pass for this one's
    # ~3 s an input under TCG (63 inputs in 200 s, 2026-12-01), and a warm-up per fuzzer
    rc, console, wall = run_guest(target, results, gargs, a,
                                  a.boot_timeout + sum(before.values()) * 10 + 300 * len(names), "merge")
    try:
        merged = json.loads(record.read_text()).get("merged", {})
    except (OSError, ValueError):
        merged = {}
    ok = True
    for n in names:
        m = merged.get(n)
        if not m or m.get("rc") != 0:
            ok = False
            print(f"merge {n.removeprefix('fuzz_')}: failed (rc {m.get('rc') if m else 'none'}); corpus left as it was "
                  f"({before[n]} inputs); see {results / f'merge-{n}.log'} and {console}")
            continue
        print(f"merge {n.removeprefix('fuzz_')}: {m['before']} -> {m['after']} inputs"
              + (f" ({m['dropped']} moved to {results / 'corpus-dropped' / n})" if m.get("dropped") else ""))
    print(f"afalg-conform: merged in {results} ({wall:.0f} s wall)", file=sys.stderr)
    return 0 if ok and rc == 0 else 1


def _say_reproduced(what: str, sig: str, meta: dict) -> None:
    same = meta.get("signature") == sig
    print(f"afalg-conform: reproduced a {what}: {sig}" +
          (" (same signature as recorded)" if same else f" (recorded: {meta.get('signature')})" if meta else ""))


def check_decoder_version(path: str, name: str, meta: dict) -> None:
    """A saved crash must be replayed by the decoder that made its program (fuzz.decoders
    DECODER_VERSION; crashes saved before versions were recorded are version 1)."""
    from afalg_conformance.fuzz.decoders import DECODER_VERSION  # as in CrashStore.add
    if not meta:
        return                      # a raw input the user named a fuzzer for: decoded as it is today
    saved, now = meta.get("decoder_version") or 1, DECODER_VERSION[name]
    if saved != now:
        raise HarnessError(f"--reproduce {path}: saved by {name}'s decoder version {saved}; this tree's is "
                           f"version {now} and reads these bytes as another program (replay it from a "
                           "checkout of the commit that found it)")


def cmd_reproduce(a) -> int:
    meta = validate.reproducer(a.reproduce, a.name)
    src = Path(a.reproduce).resolve()
    name = canonical(a.name or meta["fuzzer"])
    check_decoder_version(a.reproduce, name, meta)
    # decode with the campaign's names, not this guest's /proc/crypto (engine.save_names): the
    # crash's sidecar has them, or, for a libFuzzer artefact in RESULTS/artifacts/, the campaign
    from afalg_conformance.fuzz.engine import names_of, save_names  # as in make_journal_shm
    runtime = meta.get("runtime_names")
    if runtime is None and src.parent.name == "artifacts":
        runtime = sidecar_names(src.parent.parent, name).get("runtime_names")
    if runtime is not None:
        try:
            runtime = names_of(runtime)
        except ValueError as e:
            raise HarnessError(f"--reproduce {a.reproduce}: its sidecar's runtime_names: {e}") from None
    target = _target(a)
    results = validate.results_dir(_results_dir(a, f"repro-{src.name[:20]}-{target.name}"))
    copy = results / src.name
    if copy != src:
        shutil.copyfile(src, copy)
    out = results / "replay.txt"
    gargs = ["-m", "afalg_conformance.fuzz.replay", str(copy), "--fuzzer", name, "--json", str(results / "replay.json"),
             "--out", str(out)]
    if runtime is not None:
        save_names(str(results / "names.json"), runtime)
        gargs += ["--names", str(results / "names.json")]
    if a.minimize:
        gargs.append("--minimize")
    if a.crash_hook or meta.get("crash_hook", False):
        gargs.append("--crash-hook")
    if a.minimize:
        print("afalg-conform: minimising: the guest boots without panic_on_warn/oops=panic, so a report "
              "the kernel survives leaves it running for the next try", file=sys.stderr)
    rc, console, wall = run_guest(target, results, gargs, a, a.boot_timeout + (1800 if a.minimize else 300),
                                  "replay", MINIMIZE_APPEND if a.minimize else None)
    lines = console.read_text(errors="replace").splitlines() if console.exists() else []
    if out.exists():
        print(out.read_text(), end="")
    else:
        print(f"# (no replay output; see {console})")
    try:
        rj = json.loads((results / "replay.json").read_text())
    except (OSError, ValueError):
        rj = {}
    ks = klog.signature(lines)
    if (ks or rc == 255 or rc is None) and not rj:      # the guest died before the replay finished
        sig = ks[0] if ks else ("timeout: the guest hung" if rc is None else "guest-died: no kernel report")
        _say_reproduced("kernel crash", sig, meta)
        if a.minimize:
            print("afalg-conform: not minimised: the crash stops the kernel even without panic_on_warn/"
                  "oops=panic, so every try would need a fresh guest")
        return 1
    failure = rj.get("failure")
    if failure and failure.startswith("KernelReport: "):
        _say_reproduced("kernel report", failure.removeprefix("KernelReport: "), meta)
        return 1
    if failure:
        print(f"afalg-conform: reproduced an oracle failure: {failure}")
        return 1
    print(f"afalg-conform: no crash reproduced (guest exit {rc}); console {console}")
    return 0


def cmd_bench(a) -> int:
    names = [canonical(n) for n in (a.name.split(",") if a.name and a.name != "all" else FUZZERS)]
    target = _target(a)
    results = _results_dir(a, f"fuzz-bench-{target.name}")
    gargs = ["-m", "afalg_conformance.fuzz.guestrun", "bench", "--results", str(results), "--names", ",".join(names),
             "--time", str(a.time), "--coverage", a.coverage, "--feed", a.feed, *_modprobe_args(a, target),
             *(["--", *a.libfuzzer] if a.libfuzzer else [])]
    for attempt in range(2):
        rc, console, wall = run_guest(target, results, gargs, a, a.boot_timeout + len(names) * (3 * a.time + 420),
                                      "bench")
        if (results / "bench.json").exists() or any(results.glob("fuzz-*.log")) or attempt:
            break
        # no fuzzer started: a kernel that died during boot is TCG's flake (Oops: int3 in
        # sched_clock_cpu, 2026-12-04), worth one more boot; any other failure is reported
        from afalg_conformance.harness.host import runner
        kind, why = runner.classify_boot_failure(console.read_text(errors="replace").splitlines(), rc)
        if kind not in runner.RETRY_BOOT:
            break
        print(f"afalg-conform: {why}; booting once more", file=sys.stderr)
        console.rename(console.with_name("console-bench-bootfail.log"))
    unpack_corpora(results)
    try:
        b = json.loads((results / "bench.json").read_text())
    except (OSError, ValueError):
        raise HarnessError(f"the guest wrote no bench.json (vng exit {rc}); see {console}") from None
    print(f"# fuzz-bench on {b['guest']['kernel_release']} ({target.name}), {a.time:g} s per arm, "
          f"KCOV {'yes' if b['guest']['kcov'] else 'no'}")
    # two plain loops: over the corpus the fuzzer kept (and the seeds), and over a sample of
    # every input it ran (the mutants it dropped too: the same calls, engine.Sample)
    print(f"{'fuzzer':18} {'fuzz execs/s':>13} {'plain, corpus':>14} {'ratio':>6} {'plain, ran':>11} {'ratio':>6}"
          f"  coverage")
    for n in names:
        if n not in b["fuzzers"]:
            print(f"{n:18} {'not run':>13}  (guest exit {rc})")
            continue
        v = b["fuzzers"][n]
        fr = v["fuzz_stats"].get("execs_per_s", 0.0)
        corpus = (v.get("plain") or {}).get("execs_per_s", 0.0)
        ran = (v.get("plain_ran") or {}).get("execs_per_s", 0.0)
        print(f"{n:18} {fr:13.1f} {_rate(corpus, 14)} {_ratio(fr, corpus)} {_rate(ran, 11)} {_ratio(fr, ran)}"
              f"  {v['fuzz_stats'].get('mode', '?')}")
    _print_breakdown(names, b)
    return 0


# fuzz-bench's second table: an input's time by part, from the fuzzer's own clock (engine.py's
# timing), beside the plain loop's time for one input of its sample (or corpus).
BREAKDOWN = ("journal", "decode", "calls", "kcov", "libfuzzer")


def input_breakdown(stats: dict) -> dict[str, float] | None:
    """ms per input: journal (and sample), decode, calls (the system calls and the executor,
    tracing excluded), kcov (the traces read and turned into edges, the edges stored),
    libfuzzer (outside the callback: libFuzzer and atheris), and their total; None without
    timing (an older guest side). calls holds the rest of the callback too (the watchdog, the
    kmsg watch, outcome counting, the statistics dump); the figures are those of the fuzzer's
    last statistics dump (every 10 s)."""
    t, n = stats.get("timing"), stats.get("execs") or 0
    if not t or not n:
        return None
    ms = {k: 1000 * t.get(k + "_s", 0.0) / n for k in ("journal", "decode", "execute", "feedback", "kcov", "between")}
    out = {"journal": ms["journal"], "decode": ms["decode"],
           "calls": max(0.0, ms["execute"] + ms["feedback"] - ms["kcov"]), "kcov": ms["kcov"],
           "libfuzzer": ms["between"]}
    out["total"] = sum(out[k] for k in BREAKDOWN)
    return out


def _print_breakdown(names: list[str], b: dict) -> None:
    rows = []
    for n in names:
        v = b["fuzzers"].get(n)
        parts = input_breakdown(v["fuzz_stats"]) if v else None
        if parts is None:
            continue
        plain = (v.get("plain_ran") or v.get("plain") or {}).get("execs_per_s", 0.0)
        rows.append(f"{n:18} " + " ".join(f"{parts[k]:9.2f}" for k in (*BREAKDOWN, "total"))
                    + (f" {1000 / plain:9.2f}" if plain else f" {'-':>9}"))
    if rows:
        print("# where a fuzzer's input goes, ms (the fuzzer's clock); plain: one input of the plain loop")
        print(f"{'fuzzer':18} " + " ".join(f"{k:>9}" for k in (*BREAKDOWN, "total", "plain")))
        print("\n".join(rows))


def _rate(r: float, width: int) -> str:
    return f"{r:{width}.1f}" if r else f"{'-':>{width}}"


def _ratio(fuzz: float, plain: float) -> str:
    return f"{fuzz / plain:6.2f}" if plain else f"{'-':>6}"


def _modprobe_args(a, target) -> list[str]:
    """The guest's quick answer to module requests nothing can serve (harness/afalg/modprobe.py),
    as `run` has it: never on the host, off with --real-modprobe."""
    return [] if target.is_host or getattr(a, "real_modprobe", False) else ["--quick-modprobe"]


def _common(p) -> None:
    p.add_argument("--kernel", default="debian-6.12", help="target (default debian-6.12)")
    p.add_argument("--results", default=None)
    p.add_argument("--memory", default="2G")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--append", action="append", default=[], help="extra kernel command line")
    p.add_argument("--boot-timeout", type=float, default=300.0)
    p.add_argument("--coverage", default="auto", choices=["auto", "kcov", "kcov-measure", "python"],
                   help="kcov-measure: count kernel PCs but do not feed them to libFuzzer; auto (default): "
                        "kcov where the kernel has it, kcov-measure for " +
                        ", ".join(sorted(n.removeprefix("fuzz_") for n in AUTO_MEASURED)) +
                        " (where no feed reached more, fuzz/coverage.py), else python")
    p.add_argument("--feed", default=FEED_DEFAULT, choices=sorted(FEED_SCOPES),
                   help="which kernel edges guide the fuzzer under KCOV: " +
                        "; ".join(f"{k}: {v}" for k, v in sorted(FEED_SCOPES.items())) + f" (default {FEED_DEFAULT})")
    p.add_argument("--i-know-this-is-the-host", action="store_true",
                   help="permit --kernel host (the fuzzers can crash the running kernel)")
    p.add_argument("--real-modprobe", action="store_true",
                   help="in the guest, let every module request of the kernel run /sbin/modprobe (default: "
                        "crypto names nothing can load, builtins and loaded modules are answered by a script; "
                        "a bind of an unknown name is then ~0.1 s instead of ~0.7 s under TCG)")


def add_parser(sub) -> None:
    p = sub.add_parser("fuzz", help="run a fuzzer (fuzz_setsockopt, fuzz_cmsg, fuzz_sequence) in a guest",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("name", nargs="?", help="fuzzer name(s), comma-separated; 'all' for every fuzzer")
    _common(p)
    p.add_argument("--time", type=float, default=60.0, help="seconds per fuzzer (libFuzzer -max_total_time)")
    p.add_argument("--runs", type=int, default=None, help="libFuzzer -runs")
    p.add_argument("--crash-hook", nargs="?", const="panic", choices=["panic", "warn"], default=None,
                   help="self-test: add an input that panics the guest (sysrq 'c'; the default) or, with "
                        "'warn', logs a synthetic WARNING the kernel survives once the input has made an "
                        "op socket (exercises the non-fatal report path and --minimize)")
    p.add_argument("--reproduce", metavar="FILE", help="replay one input in a fresh guest, print it as Python")
    p.add_argument("--minimize", action="store_true", help="with --reproduce: drop calls while it still fails")
    p.add_argument("--merge", action="store_true",
                   help="distil RESULTS/corpus/NAME instead of fuzzing: libFuzzer -merge=1 under the "
                        "fuzzer's feedback keeps the inputs that add a feature (run it between campaigns)")
    p.add_argument("--jobs", type=int, default=1,
                   help="guests fuzzing at once, sharing one corpus (results/corpus/NAME); crashes are "
                        "deduplicated across them (each guest takes --cpus host cores under TCG)")
    p.add_argument("libfuzzer", nargs="*", help="after --: libFuzzer flags")
    p.set_defaults(fn=_fuzz_entry)

    p = sub.add_parser("fuzz-bench", help="fuzzer execs/s beside plain loops making the same calls (the "
                                          "corpus it kept, a sample of the inputs it ran)")
    p.add_argument("name", nargs="?", help="fuzzer name(s), comma-separated (default all)")
    _common(p)
    p.add_argument("--time", type=float, default=30.0, help="seconds per arm (default 30)")
    p.add_argument("libfuzzer", nargs="*", help="after --: libFuzzer flags for the fuzzer's arm")
    p.set_defaults(fn=cmd_bench)

    try:
        from afalg_conformance.vms import build_kernel
        build_kernel.add_parser(sub)
    except ModuleNotFoundError:
        pass


def _fuzz_entry(a) -> int:
    if a.name == "all":
        a.name = ",".join(FUZZERS)
    return cmd_fuzz(a)
