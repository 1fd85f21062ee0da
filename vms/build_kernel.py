"""Build the fuzzing kernels (`afalg-conform build-kernel NAME`) and register them as targets.

A build is data (BUILDS below): a Debian source package, a config fragment from vms/,
and a cache folder outside the repository. The steps are idempotent, so an
interrupted build resumes where make stopped:

  1. source   /usr/src/linux-source-X.tar.xz (apt-get install linux-source-X if absent)
              unpacked once into CACHE/NAME/src
  2. config   virtme-configkernel --defconfig --custom vms/<fragment> O=CACHE/NAME/out
              (x86_64_defconfig + virtme-ng's options + the fragment, then olddefconfig);
              every fragment line is checked against the resulting .config
  3. make     nice -n 19 make -j2 O=CACHE/NAME/out bzImage modules   (wall and CPU time recorded)
  4. publish  CACHE/NAME/bzImage, System.map, config; the modules under CACHE/NAME/lib/modules/REL
              (vng walks up from the image to that folder and links it as the guest's
              /lib/modules/REL); build.json with the timings;
              a [NAME] table in CACHE/targets.toml (kind "build"), which harness/host/vm.py reads

Run it standalone too: python3 -m afalg_conformance.vms.build_kernel kcov-6.12 [--jobs N] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

VMS_DIR = Path(__file__).resolve().parent
CACHE_DIR = Path(os.environ.get("AFALG_CACHE", Path.home() / ".cache" / "afalg-conformance"))
BUILD_DEPS = ["flex", "bison", "bc", "libelf-dev", "libssl-dev", "build-essential", "xz-utils"]


@dataclass(frozen=True)
class Build:
    name: str
    source_package: str          # Debian package shipping /usr/src/<package>.tar.xz
    fragments: tuple[str, ...]   # config fragments in vms/, applied in order (later lines win)
    needs: tuple[str, ...]       # options the booted target must have
    notes: str
    # Makefile lines: where KCOV instruments (not part of the hash: a dict)
    kcov_scope: dict[str, tuple[str, ...]] | None = field(default=None, hash=False)

    @property
    def fragment(self) -> str:
        return " + ".join(self.fragments)

    def fragment_text(self) -> str:
        return "".join((VMS_DIR / f).read_text().rstrip("\n") + "\n" for f in self.fragments)


# Where KCOV instruments (kcov.config: CONFIG_KCOV_INSTRUMENT_ALL=n): the code under test and
# what it calls, by the kbuild variables each folder's Makefile sets (scripts/Makefile.lib:
# KCOV_INSTRUMENT for its folder, KCOV_INSTRUMENT_<stem>.o for one file). With the whole kernel
# instrumented 53 % of a cmsg input's PCs were in functions the "crypto" feed never uses
# (fuzz/coverage.py FILTER_RE: scheduler, allocator, syscall entry; traces recorded on kcov-6.12,
# 2026-12-02), each one traced by the kernel, copied and paired in Python, and their
# timing-dependent paths made known traces look new. FILTER_RE also matched a few names outside
# these files (kernel_fpu_*, crng_*, static_key_*, put_cmsg, skb_*), whose edges are gone now:
# none is AF_ALG's. jitterentropy stays out: its sampling loops are noise (NOISE_RE).
KCOV_SCOPE: dict[str, tuple[str, ...]] = {
    "crypto/Makefile": ("KCOV_INSTRUMENT := y", "KCOV_INSTRUMENT_jitterentropy.o := n",
                        "KCOV_INSTRUMENT_jitterentropy-kcapi.o := n"),
    "lib/crypto/Makefile": ("KCOV_INSTRUMENT := y",),
    "arch/x86/crypto/Makefile": ("KCOV_INSTRUMENT := y",),
    "security/keys/Makefile": ("KCOV_INSTRUMENT := y",),                  # ALG_SET_KEY_BY_KEY_SERIAL
    "net/Makefile": ("KCOV_INSTRUMENT_socket.o := y",),
    "net/core/Makefile": ("KCOV_INSTRUMENT_sock.o := y",),                # sock_kmalloc, option memory
    "fs/Makefile": ("KCOV_INSTRUMENT_splice.o := y", "KCOV_INSTRUMENT_pipe.o := y"),
    "lib/Makefile": ("KCOV_INSTRUMENT_iov_iter.o := y", "KCOV_INSTRUMENT_scatterlist.o := y"),
}
KCOV_MARK = "# afalg-conformance: where KCOV instruments (vms/build_kernel.py KCOV_SCOPE)"


def scope_kcov(src: Path, scope: dict[str, tuple[str, ...]]) -> list[str]:
    """Append scope's lines to the source's Makefiles, each after a marker line; a block left by
    an earlier build is replaced (the unpacked source is shared by the builds of one package).
    Returns the Makefiles changed."""
    changed = []
    for rel, lines in scope.items():
        f = src / rel
        if not f.is_file():
            raise BuildError(f"KCOV scope: {rel} not in {src}")
        text = f.read_text()
        base = text.split("\n" + KCOV_MARK + "\n", 1)[0].rstrip("\n") + "\n"
        want = base + "\n" + KCOV_MARK + "\n" + "".join(x + "\n" for x in lines)
        if text != want:
            f.write_text(want)
            changed.append(rel)
    return changed


_KCOV_NEEDS = ("KCOV", "KCOV_ENABLE_COMPARISONS", "DEBUG_FS", "CRYPTO_USER_API_HASH",
               "CRYPTO_USER_API_SKCIPHER", "CRYPTO_USER_API_AEAD", "CRYPTO_USER_API_RNG")
BUILDS = {b.name: b for b in [
    Build("kcov-6.12", "linux-source-6.12", ("kcov.config",), _KCOV_NEEDS,
          "Debian's 6.12 source with KCOV and the algif interfaces and algorithms built in "
          "(vms/kcov.config), KCOV in the crypto, socket and splice code only; for afalg-conform fuzz.",
          KCOV_SCOPE),
    Build("kasan-6.12", "linux-source-6.12", ("kcov.config", "kasan.config"), _KCOV_NEEDS + ("KASAN", "LKDTM"),
          "kcov-6.12 plus KASAN (generic, inline) and LKDTM (vms/kasan.config): memory-safety "
          "reports as crashes, and real kernel WARN self-tests through LKDTM.", KCOV_SCOPE),
]}


class BuildError(Exception):
    pass


def build_dir(name: str) -> Path:
    return CACHE_DIR / name


def _log(msg: str) -> None:
    print(f"build-kernel: {msg}", file=sys.stderr, flush=True)


def wait_for_dpkg(timeout: float = 1800) -> None:
    """Another process may hold the dpkg lock (apt-get running); wait for it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = subprocess.run(["fuser", "/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"],
                           capture_output=True, text=True)
        if not r.stdout.strip():
            return
        time.sleep(5)
    raise BuildError("dpkg lock still held after 30 minutes")


def apt_install(pkgs: list[str]) -> None:
    if os.geteuid() != 0:
        raise BuildError(f"missing packages {' '.join(pkgs)}: run as root: apt-get install -y {' '.join(pkgs)}")
    wait_for_dpkg()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for attempt in range(5):
        r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *pkgs], env=env)
        if r.returncode == 0:
            return
        time.sleep(10)          # lost the lock to another apt-get: wait and retry
        wait_for_dpkg()
    raise BuildError(f"apt-get install {' '.join(pkgs)} failed")


def missing_deps() -> list[str]:
    missing = []
    for tool, pkg in (("flex", "flex"), ("bison", "bison"), ("bc", "bc"), ("gcc", "build-essential"),
                      ("make", "build-essential"), ("xz", "xz-utils")):
        if not shutil.which(tool) and pkg not in missing:
            missing.append(pkg)
    if not Path("/usr/include/libelf.h").exists() and not Path("/usr/include/gelf.h").exists():
        missing.append("libelf-dev")
    if not Path("/usr/include/openssl/ssl.h").exists():
        missing.append("libssl-dev")
    return missing


def source_tarball(b: Build) -> Path:
    tar = Path("/usr/src") / f"{b.source_package}.tar.xz"
    if not tar.exists():
        _log(f"{tar} is absent: installing {b.source_package}")
        apt_install([b.source_package])
    if not tar.exists():
        raise BuildError(f"{tar} still missing after installing {b.source_package}")
    return tar


def source_owner(b: Build) -> str:
    """One unpacked tree per source package, kept by its first build (builds use O= folders)."""
    return next(x.name for x in BUILDS.values() if x.source_package == b.source_package)


def unpack(b: Build, tar: Path) -> Path:
    d = build_dir(source_owner(b))
    src = d / "src"
    stamp = d / "src.unpacked"
    if stamp.exists() and stamp.read_text() == str(tar.stat().st_mtime):
        return src
    if src.exists():
        shutil.rmtree(src)
    d.mkdir(parents=True, exist_ok=True)
    _log(f"unpacking {tar} into {src}")
    tmp = d / "src.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    subprocess.run(["tar", "-C", str(tmp), "-xf", str(tar)], check=True)
    (top,) = list(tmp.iterdir())
    top.rename(src)
    tmp.rmdir()
    stamp.write_text(str(tar.stat().st_mtime))
    return src


def fragment_lines(path: Path) -> dict[str, str]:
    """CONFIG_X -> 'y'/'n'/value from a fragment ('# CONFIG_X is not set' -> 'n')."""
    want = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        m = re.match(r"^(CONFIG_\w+)=(.*)$", line)
        if m:
            want[m.group(1)] = m.group(2)
            continue
        m = re.match(r"^# (CONFIG_\w+) is not set$", line)
        if m:
            want[m.group(1)] = "n"
    return want


def read_config(path: Path) -> dict[str, str]:
    return fragment_lines(path)


def configure(b: Build, src: Path, out: Path) -> list[str]:
    """Write out/.config; returns fragment options that did not survive olddefconfig."""
    out.mkdir(parents=True, exist_ok=True)
    frag = out / ".afalg-fragment.config"     # the build's fragments, concatenated
    text = b.fragment_text()
    frag.write_text(text)
    stamp = out / ".afalg-fragment"
    if not ((out / ".config").exists() and stamp.exists() and stamp.read_text() == text):
        _log(f"configuring: virtme-configkernel --defconfig --custom {frag} O={out}")
        subprocess.run(["virtme-configkernel", "--defconfig", "--custom", str(frag), f"O={out}"],
                       cwd=src, check=True, stdout=subprocess.DEVNULL)
        # vng appends its mandatory options after user fragments (e.g. debug info on):
        # apply the fragment once more so it wins, then let Kconfig resolve dependencies.
        args = []
        for k, v in fragment_lines(frag).items():
            opt = k.removeprefix("CONFIG_")
            args += (["--disable", opt] if v == "n" else ["--enable", opt] if v == "y"
                     else ["--module", opt] if v == "m" else ["--set-val", opt, v])
        subprocess.run([str(src / "scripts" / "config"), "--file", str(out / ".config"), *args], check=True)
        subprocess.run(["make", f"O={out}", "olddefconfig"], cwd=src, check=True, stdout=subprocess.DEVNULL)
        stamp.write_text(text)
    have = read_config(out / ".config")
    dropped = []
    for k, v in fragment_lines(frag).items():
        got = have.get(k, "n")
        if got != v:
            dropped.append(f"{k}={v} (got {got})")
    return dropped


def make(out: Path, src: Path, jobs: int) -> dict:
    cmd = ["nice", "-n", "19", "make", f"-j{jobs}", f"O={out}", "bzImage", "modules"]
    _log("running: " + " ".join(cmd) + f"  (log: {out.parent / 'build.log'})")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    with open(out.parent / "build.log", "ab") as log:
        r = subprocess.run(cmd, cwd=src, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise BuildError(f"make failed (exit {r.returncode}); see {out.parent / 'build.log'}")
    return {"wall_s": round(wall, 1), "user_s": round(after.ru_utime - before.ru_utime, 1),
            "sys_s": round(after.ru_stime - before.ru_stime, 1), "jobs": jobs,
            "maxrss_kib": after.ru_maxrss}


def install_modules(out: Path, src: Path, d: Path) -> None:
    """make modules_install into d (d/lib/modules/REL), replacing an earlier build's."""
    shutil.rmtree(d / "lib", ignore_errors=True)
    with open(d / "build.log", "ab") as log:
        r = subprocess.run(["make", f"O={out}", f"INSTALL_MOD_PATH={d}", "modules_install"], cwd=src,
                           stdout=log, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise BuildError(f"make modules_install failed (exit {r.returncode}); see {d / 'build.log'}")


def afalg_kcov_objdump(vmlinux: Path, system_map: Path) -> tuple[tuple[int, int], str] | None:
    """The af_alg/algif text range (the one fuzz/coverage.py uses: harness/afalg/kcov.py
    AfalgText) and its disassembly (objdump -d --no-show-raw-insn): the core's from vmlinux,
    then each interface built as a module (its .ko's .text next to System.map, in
    lib/modules/REL) placed at its slot, or None without vmlinux, symbols or objdump."""
    from afalg_conformance.harness.afalg.kcov import AfalgText, Symbols, build_modules   # vms/ is data
    syms = Symbols(str(system_map))
    mods = build_modules(system_map.parent)
    text = AfalgText(syms, modules={m: s for m, (_f, s) in mods.items()}) if syms.ok else None
    if text is None or text.core is None or not vmlinux.exists() or not shutil.which("objdump"):
        return None
    lo, hi = text.core
    r = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--start-address={lo:#x}",
                        f"--stop-address={hi:#x}", str(vmlinux)], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    parts = [r.stdout]
    for m, (ko, _size) in sorted(mods.items()):
        r = subprocess.run(["objdump", "-dr", "--no-show-raw-insn", "--section=.text",
                            f"--adjust-vma={text.slot(m):#x}", str(ko)], capture_output=True, text=True)
        if r.returncode != 0:
            return None
        parts.append(resolve_relocations(r.stdout))
    return text.range, "\n".join(parts)


_RELOC = re.compile(r"^\s+[0-9a-f]+: R_X86_64_\w+\s+([\w.$]+)")


def resolve_relocations(disassembly: str) -> str:
    """objdump -dr of a relocatable object, its calls named as in vmlinux's disassembly: a
    call's relocation line (`R_X86_64_PLT32 __sanitizer_cov_trace_pc-0x4`) names its target,
    which becomes the instruction's `<target>`; the relocation lines go."""
    out: list[str] = []
    for line in disassembly.splitlines():
        m = _RELOC.match(line)
        if m is None:
            out.append(line)
            continue
        if out:
            prev = out[-1]
            if re.search(r"<[^>]*>\s*$", prev):
                out[-1] = re.sub(r"<[^>]*>\s*$", f"<{m.group(1)}>", prev)
            else:
                out[-1] = f"{prev} <{m.group(1)}>"
    return "\n".join(out) + "\n"


def kcov_site_lines(disassembly: str) -> list[str]:
    """The addresses (hex, no 0x) of the calls to __sanitizer_cov_trace_pc: KCOV's sites."""
    return [line.split(":")[0].strip() for line in disassembly.splitlines()
            if "<__sanitizer_cov_trace_pc>" in line and "call" in line]


def afalg_kcov_sites(vmlinux: Path, system_map: Path) -> dict | None:
    """How many KCOV call sites af_alg.c and algif_*.c have: the denominator of the
    fuzzers' 'distinct af_alg/algif PCs'. The range is the one fuzz/coverage.py uses;
    the sites are the calls to __sanitizer_cov_trace_pc inside it (objdump)."""
    got = afalg_kcov_objdump(vmlinux, system_map)
    if got is None:
        return None
    rng, text = got
    # the PC KCOV records for each site (its return address), as the coverage map derives it:
    # fuzz-report tells sites from the PCs after calls to functions that tail-called the tracer
    from afalg_conformance.fuzz import covmap       # here: covmap imports this module
    return {"range": [hex(rng[0]), hex(rng[1])], "sites": len(kcov_site_lines(text)),
            "pcs": [hex(site.pc) for site in covmap.parse_sites(text)]}


def target_entry(b: Build, image: Path) -> str:
    needs = ", ".join(f'"{n}"' for n in b.needs)
    return (f'["{b.name}"]\nkind = "build"\nimage = "{image}"\nneeds = [{needs}]\n'
            f'notes = "{b.notes}"\n')


def register(b: Build, image: Path, targets: Path | None = None) -> Path:
    """Add or replace the [name] table in CACHE/targets.toml."""
    targets = targets or CACHE_DIR / "targets.toml"
    targets.parent.mkdir(parents=True, exist_ok=True)
    text = targets.read_text() if targets.exists() else (
        "# Targets registered by `afalg-conform build-kernel` (same format as vms/targets.toml).\n")
    # drop an existing table of that name (up to the next table header)
    text = re.sub(rf'(?ms)^\["{re.escape(b.name)}"\]\n.*?(?=^\[|\Z)', "", text).rstrip() + "\n\n"
    targets.write_text(text + target_entry(b, image))
    return targets


def build(name: str, jobs: int = 2, dry_run: bool = False) -> Path:
    if name not in BUILDS:
        raise BuildError(f"unknown build {name!r}; known: {', '.join(BUILDS)}")
    b = BUILDS[name]
    d = build_dir(name)
    out = d / "out"
    if dry_run:
        print(f"source:    /usr/src/{b.source_package}.tar.xz -> {build_dir(source_owner(b)) / 'src'}")
        print(f"config:    virtme-configkernel --defconfig --custom <{' + '.join(str(VMS_DIR / f) for f in b.fragments)}> O={out}")
        if b.kcov_scope:
            print(f"kcov:      instrumented only where {', '.join(b.kcov_scope)} say (KCOV_SCOPE)")
        print(f"make:      nice -n 19 make -j{jobs} O={out} bzImage modules; make modules_install INSTALL_MOD_PATH={d}")
        print(f"publish:   {d / 'bzImage'}; target [{name}] in {CACHE_DIR / 'targets.toml'}")
        return d / "bzImage"
    deps = missing_deps()
    if deps:
        _log(f"installing build dependencies: {' '.join(deps)}")
        apt_install(deps)
    src = unpack(b, source_tarball(b))
    if b.kcov_scope:
        for rel in scope_kcov(src, b.kcov_scope):
            _log(f"KCOV scope: {rel}")
    dropped = configure(b, src, out)
    for x in dropped:
        _log(f"warning: fragment option not in the final config: {x}")
    times = make(out, src, jobs)
    image = d / "bzImage"
    shutil.copy2(out / "arch" / "x86" / "boot" / "bzImage", image)
    shutil.copy2(out / "System.map", d / "System.map")
    shutil.copy2(out / ".config", d / "config")
    release = (out / "include" / "config" / "kernel.release").read_text().strip()
    install_modules(out, src, d)
    sites = afalg_kcov_sites(out / "vmlinux", d / "System.map")
    info = {"name": name, "release": release, "image": str(image), "bytes": image.stat().st_size,
            "afalg_kcov_sites": sites,
            "fragment": b.fragment, "dropped_options": dropped, "kcov_scope": b.kcov_scope, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **times}
    (d / "build.json").write_text(json.dumps(info, indent=2) + "\n")
    reg = register(b, image)
    _log(f"{name}: {release}, {info['bytes']} bytes, wall {times['wall_s']} s, "
         f"CPU {times['user_s'] + times['sys_s']:.0f} s; registered in {reg}")
    return image


def add_parser(sub) -> None:
    p = sub.add_parser("build-kernel", help="build a fuzzing kernel (e.g. kcov-6.12) and register it as a target")
    p.add_argument("name", choices=sorted(BUILDS))
    p.add_argument("--jobs", type=int, default=2, help="make -j (default 2; always niced)")
    p.add_argument("--dry-run", action="store_true", help="print the steps only")
    p.set_defaults(fn=_cmd)


def _cmd(a) -> int:
    try:
        build(a.name, jobs=a.jobs, dry_run=a.dry_run)
    except (BuildError, subprocess.CalledProcessError) as e:
        print(f"afalg-conform: error: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="build_kernel", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd")
    add_parser(sub)
    a = ap.parse_args(["build-kernel", *(argv if argv is not None else sys.argv[1:])])
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
