"""`afalg-conform coverage`: which KCOV sites of af_alg.c and algif_*.c the suite and the fuzz
corpora reach, and which neither does.

  afalg-conform coverage --kernel kcov-6.12 [--corpus DIR ...] [--no-seeds] [--results DIR]
                         [-k EXPR] [paths] [--jobs N]
  afalg-conform coverage --remap DIR        (the map again from a finished coverage run)

1. The suite runs in a guest as `run` does, each worker with KCOV on its main thread; every
   result carries the af_alg/algif PCs its test reached (harness/guest/plugin.py).
2. A second guest replays the fuzz corpora under KCOV (fuzz/covreplay.py): the repo's seeds
   (fuzz/corpus/*, unless --no-seeds) and each --corpus DIR, copied into RESULTS/fuzz-inputs.
3. The host maps the PCs to the target's KCOV sites (objdump of vmlinux, names from
   System.map; fuzz/covmap.py) and writes RESULTS/coverage.{txt,html,json}.

stdout: `sites reached: suite S, fuzz F, union U of N`. Exit 0 when the map is written,
2 when it cannot be (no KCOV in the target, no vmlinux, boot failure).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from afalg_conformance.fuzz import covmap
from afalg_conformance.fuzz.cli import run_guest
from afalg_conformance.harness.cli.doctor import preflight
from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.host import runner, validate, vm
from afalg_conformance.harness.results.model import Run

BUFFER = 1 << 23            # KCOV trace entries per worker (64 MiB): one recvmsg can trace millions
REPLAY_FILE = "fuzz-kcov.jsonl"


def kernel_files(target: vm.Target, vmlinux: str | None, system_map: str | None) -> tuple[Path, Path]:
    """vmlinux and System.map of a target: `build-kernel`'s CACHE/NAME/{out/vmlinux,System.map},
    a source tree's, or the options'."""
    here = Path(target.image).parent
    tree = here.parents[2] if len(here.parents) > 2 and here.parts[-3:] == ("arch", "x86", "boot") else None
    cands_v = [Path(vmlinux)] if vmlinux else [here / "out" / "vmlinux", here / "vmlinux"] + ([tree / "vmlinux"] if tree else [])
    cands_m = [Path(system_map)] if system_map else [here / "System.map"] + ([tree / "System.map"] if tree else [])
    v = next((c for c in cands_v if c.is_file()), None)
    m = next((c for c in cands_m if c.is_file()), None)
    if v is None or m is None:
        missing = "vmlinux" if v is None else "System.map"
        raise HarnessError(f"{target.name}: no {missing} beside {target.image} (the map needs the kernel's "
                           f"vmlinux and System.map; give --vmlinux/--system-map)")
    return v, m


def check_kcov_config(target: vm.Target) -> None:
    """A target whose config says no KCOV is refused before it boots; without a config the
    guest tells (its session event), after the boot."""
    cfg = target.config
    if not cfg:
        return
    text = Path(cfg).read_text(errors="replace")
    if "\nCONFIG_KCOV=y" not in "\n" + text:
        raise HarnessError(f"{target.name} has no KCOV (CONFIG_KCOV is not set in {cfg}); "
                           "build one: afalg-conform build-kernel kcov-6.12")


def kcov_problem(statuses: list[dict]) -> str | None:
    bad = [s for s in statuses if s.get("error")]
    return bad[0]["error"] if bad and len(bad) == len(statuses) else None


def copy_inputs(sources: list[tuple[str, str, Path]], dest: Path) -> list[str]:
    """Copy each corpus into RESULTS/fuzz-inputs/SOURCE/FUZZER/ (the guest sees the results
    folder; a corpus under the host's /tmp it would not). Returns NAME=DIR arguments."""
    pairs = []
    for label, name, folder in sources:
        d = dest / label / name
        d.mkdir(parents=True, exist_ok=True)
        n = 0
        for f in sorted(folder.iterdir()):
            if f.is_file() and not f.name.startswith(".") and f.suffix != ".json":
                shutil.copyfile(f, d / f.name)
                n += 1
        if n:
            pairs.append(f"{name}={d}")
            if names := covmap.corpus_names(folder, name):
                shutil.copyfile(names, d / covmap.NAMES_FILE)
    return pairs


def count_inputs(pairs: list[str]) -> int:
    """The inputs the guest will replay from the NAME=DIR folders (covreplay's own list: not
    the campaign's runtime names copied beside them, .names.json)."""
    # here, not at the top: covreplay pulls in the decoders and pyca/cryptography, and
    # `afalg-conform doctor` must run where nothing is installed yet
    from afalg_conformance.fuzz import covreplay
    return len(covreplay.inputs(pairs))


def cmd_coverage(a) -> int:
    t0 = time.monotonic()
    if a.remap:
        return remap(a)
    target = vm.resolve_target(a.kernel)
    if target.is_host:
        raise HarnessError("coverage boots a KCOV guest; --kernel host is not supported")
    check_kcov_config(target)
    vmlinux, system_map = kernel_files(target, a.vmlinux, a.system_map)
    rng, sites, functions, _syms, after_calls = covmap.load_sites(vmlinux, system_map)     # before any boot
    sources = covmap.corpus_sources(a.corpus, seeds=not a.no_seeds)
    for _label, name, folder in sources:     # a campaign's names file that is not one: an error now
        covmap.corpus_names(folder, name)
    validate.test_paths(a.paths)
    if a.jobs is not None:
        validate.cpus(a.jobs, "--jobs")
    preflight(target)
    results = validate.results_dir(Path(a.results) if a.results else
                                   runner.default_results_dir(f"coverage-{target.name}"), fresh=True)
    print(f"afalg-conform: {len(sites)} KCOV sites in af_alg/algif ({rng[0]:#x}-{rng[1]:#x}) of {vmlinux}",
          file=sys.stderr)
    opts = runner.RunOptions(keyword=a.keyword, paths=list(a.paths), kcov=a.buffer, jobs=a.jobs,
                             memory=a.memory, cpus=a.cpus, append=list(a.append), test_timeout=a.test_timeout,
                             kat_budget=runner.QUICK_KAT_BUDGET if a.quick else 0,
                             # a Monte Carlo checkpoint traces ~500,000 kernel PCs: all of them
                             # outlast the test timeout, and the rest add no site to the map
                             mct_budget=runner.QUICK_MCT_BUDGET)
    ts = time.monotonic()
    run = runner.execute(target, results, opts)
    suite_s = round(time.monotonic() - ts, 1)
    why = kcov_problem(run.run.extra.get("kcov", []))
    if why or (not run.run.extra.get("kcov") and run.tests and run.run.harness_status == "ok"):
        raise HarnessError(f"{target.name}: the guest has no KCOV: {why or 'no worker reported a KCOV status'}")
    if run.run.harness_status in ("boot-failure", "harness-error") and not run.tests:
        raise HarnessError(run.run.harness_reason)
    replay = {}
    if sources:
        pairs = copy_inputs(sources, results / "fuzz-inputs")
        # the folders go in a file: on the guest's command line (itself on the kernel's, 2048
        # bytes) twelve of them cut the kernel's own arguments off and the guest found no root
        listing = results / "fuzz-inputs" / "dirs.txt"
        listing.write_text("".join(f"{p}\n" for p in pairs))
        gargs = ["-m", "afalg_conformance.fuzz.covreplay", "--out", str(results / REPLAY_FILE), "--entries", str(a.buffer),
                 "--list", str(listing), "--quick-modprobe"]
        n = count_inputs(pairs)
        print(f"afalg-conform: replaying {n} fuzz inputs under KCOV in a second guest", file=sys.stderr)
        tr = time.monotonic()
        for attempt in range(2):
            rc, console, _wall = run_guest(target, results, gargs, a, a.boot_timeout + 60 + 30 * n,
                                           "fuzz-kcov" if attempt == 0 else "fuzz-kcov-1", ["no_timer_check"])
            if (results / REPLAY_FILE).exists():
                break
            print(f"afalg-conform: the replay guest never started (exit {rc}); see {console}"
                  + ("; booting again" if attempt == 0 else ""), file=sys.stderr)
        replay = {"vng_rc": rc, "seconds": round(time.monotonic() - tr, 1)}
    wall = round(time.monotonic() - t0, 1)
    meta = {"target": target.name, "kernel_release": run.run.kernel_release, "vmlinux": str(vmlinux),
            "system_map": str(system_map), "wall_s": wall, "suite_s": suite_s,
            "replay_s": replay.get("seconds"), "sources": [f"{lbl}:{n}" for lbl, n, _f in sources],
            "kat_budget": opts.kat_budget, "mct_budget": opts.mct_budget}
    cov = make_map(results, rng, sites, functions, meta, after_calls)
    covmap.write(cov, results)
    finish(cov, results, wall)
    return 0


def make_map(results: Path, rng, sites, functions, meta: dict, after_calls: set[int]) -> dict:
    run = Run.load(str(results / "results.json"))
    suite, s_trunc, s_missing = covmap.suite_pcs(run)
    fuzz, f_trunc, info = covmap.fuzz_pcs(results / REPLAY_FILE)
    notes = []
    if s_trunc or f_trunc:
        notes.append(f"the KCOV buffer filled (later PCs lost) in {len(s_trunc)} tests and {len(f_trunc)} "
                     f"fuzz inputs: {', '.join((s_trunc + f_trunc)[:10])}")
    if s_missing:
        notes.append(f"{len(s_missing)} tests have no trace (crashed, timed out, or did not run)")
    if info.get("planned") is not None and info["ran"] < info["planned"]:
        notes.append(f"the replay guest ran {info['ran']} of {info['planned']} fuzz inputs")
    meta = dict(meta, extra_notes=notes,
                suite_runs=(f"{len(suite)} tests traced of {len(run.tests)}; "
                            f"{sum(1 for t in run.tests if t.outcome == 'pass')} passed, "
                            f"{sum(1 for t in run.tests if t.outcome in ('fail', 'error', 'crash', 'timeout'))} "
                            f"failed or broke; harness {run.run.harness_status}"),
                fuzz_runs=(f"{info['ran']} inputs replayed ({', '.join(meta.get('sources', [])) or 'none'}); "
                           f"{len(info['failures'])} failed an oracle or a call" if fuzz or info.get("kcov") else ""),
                truncated_tests=s_trunc, truncated_inputs=f_trunc, untraced_tests=s_missing,
                fuzz_failures=info["failures"])
    return covmap.build(sites, rng, functions, suite, fuzz, meta, after_calls)


def finish(cov: dict, results: Path, wall: float) -> None:
    um = cov["unmatched_pcs"]
    if um["suite"] or um["fuzz"]:
        print(f"afalg-conform: warning: {len(um['suite']) + len(um['fuzz'])} recorded PCs are no site's "
              "return address (another build's addresses?)", file=sys.stderr)
    un = cov["unreached_functions"]
    names = ", ".join(un[:12]) + (f", +{len(un) - 12} more" if len(un) > 12 else "")
    print(f"afalg-conform: unreached functions: {len(un)} ({names or 'none'}); map in "
          f"{results}/coverage.txt, coverage.html, coverage.json ({wall:.0f} s wall)", file=sys.stderr)
    if checks := covmap.checks_line(cov):
        print(f"afalg-conform: {checks}", file=sys.stderr)
    print(covmap.summary_line(cov), flush=True)


def remap(a) -> int:
    results = Path(a.remap)
    try:
        old = json.loads((results / "coverage.json").read_text())
    except (OSError, ValueError):
        old = {}
    if not (results / "results.json").exists():
        raise HarnessError(f"--remap {results}: no results.json (not a coverage results folder)")
    name = a.kernel if a.kernel_given else old.get("target") or Run.load(str(results / "results.json")).run.target
    target = vm.resolve_target(name)
    vmlinux, system_map = kernel_files(target, a.vmlinux or old.get("vmlinux"), a.system_map or old.get("system_map"))
    rng, sites, functions, _syms, after_calls = covmap.load_sites(vmlinux, system_map)
    keep = {k: old[k] for k in ("wall_s", "suite_s", "replay_s", "sources", "kat_budget", "mct_budget") if k in old}
    meta = {"target": target.name, "kernel_release": Run.load(str(results / "results.json")).run.kernel_release,
            "vmlinux": str(vmlinux), "system_map": str(system_map), **keep}
    cov = make_map(results, rng, sites, functions, meta, after_calls)
    covmap.write(cov, results)
    finish(cov, results, old.get("wall_s", 0.0))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("coverage", help="map the KCOV sites of af_alg/algif_* the suite and fuzz corpora reach",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--kernel", default=None, metavar="TARGET", help="a KCOV target (default kcov-6.12)")
    p.add_argument("--corpus", action="append", default=[], metavar="DIR",
                   help="also replay these fuzz inputs (a fuzzer's folder, a corpus root, or a fuzz results folder)")
    p.add_argument("--no-seeds", action="store_true", help="do not replay the repo's seeds (fuzz/corpus/*)")
    p.add_argument("--results", default=None, help="results folder (default: a new folder under results/)")
    p.add_argument("--remap", default=None, metavar="DIR", help="no boot: write the map again from a coverage run")
    p.add_argument("-k", dest="keyword", default=None, help="pytest -k expression to select tests")
    p.add_argument("--jobs", type=int, default=None, help="pytest workers in the guest (each traces itself)")
    p.add_argument("--quick", action="store_true",
                   help=f"as run --quick: {runner.QUICK_KAT_BUDGET} vectors per CAVP GCM file (the map says so)")
    p.add_argument("--buffer", type=int, default=BUFFER, help=f"KCOV trace entries per worker (default {BUFFER})")
    p.add_argument("--vmlinux", default=None, help="the target's vmlinux (default: beside its image)")
    p.add_argument("--system-map", default=None, help="the target's System.map (default: beside its image)")
    p.add_argument("--test-timeout", type=float, default=120.0)
    p.add_argument("--boot-timeout", type=float, default=600.0)
    p.add_argument("--memory", default="2G")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--append", action="append", default=[], help="extra kernel command line")
    p.add_argument("paths", nargs="*", help="test files or node ids (default: conformance/)")
    p.set_defaults(fn=_entry)


def _entry(a) -> int:
    a.kernel_given = a.kernel is not None
    a.kernel = a.kernel or "kcov-6.12"
    return cmd_coverage(a)
