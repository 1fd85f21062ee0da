"""Kernel targets, the KVM probe and the virtme-ng command line.

Nothing here starts a guest: runner.py does. Keeping the command builder pure
lets host-side tests check exactly what vng is asked to do (read-only host,
one writable results folder, panic handling, console on stderr).
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARGETS_FILE = PROJECT_ROOT / "vms" / "targets.toml"
CACHE_DIR = Path(os.environ.get("AFALG_CACHE", Path.home() / ".cache" / "afalg-conformance"))


class HarnessError(Exception):
    """The harness cannot run (exit status 2); the message is one line for the user."""


@dataclass
class Target:
    name: str
    image: str                 # path to the bootable kernel image, or "host"
    release: str = ""
    kind: str = "path"
    package: str = ""
    needs: list[str] = field(default_factory=list)
    notes: str = ""

    @property
    def is_host(self) -> bool:
        return self.image == "host"


def _version_key(path: str):
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", path)]


def load_targets(path: Path = TARGETS_FILE) -> dict[str, dict]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise HarnessError(f"target list {path} is missing") from None
    except tomllib.TOMLDecodeError as e:
        raise HarnessError(f"target list {path} is not valid TOML: {e}") from None
    extra = CACHE_DIR / "targets.toml"     # targets added by build-kernel
    if extra.exists():
        try:
            data.update(tomllib.loads(extra.read_text()))
        except tomllib.TOMLDecodeError as e:
            raise HarnessError(f"target list {extra} is not valid TOML: {e}") from None
    return data


def image_release(image: str) -> str:
    """The kernel release string embedded in a bzImage (what vng uses to find modules)."""
    m = re.search(r"vmlinuz-(.+)$", image)
    if m:
        return m.group(1)
    try:
        with open(image, "rb") as f:
            head = f.read(1 << 16)
        # bzImage header: kernel_version pointer at 0x20e, offset from 0x200.
        if head[0x202:0x206] == b"HdrS":
            off = int.from_bytes(head[0x20E:0x210], "little") + 0x200
            words = head[off:off + 128].split(b"\0")[0].split()
            return words[0].decode(errors="replace") if words else ""
    except OSError:
        pass
    return ""


def resolve_target(spec: str) -> Target:
    """A target name from vms/targets.toml, a path to a kernel image or tree, or 'host'."""
    if spec == "host":
        return Target("host", "host", os.uname().release, kind="host")
    if "/" in spec or spec.startswith("."):
        p = Path(spec).expanduser()
        if p.is_dir():
            cand = p / "arch" / "x86" / "boot" / "bzImage"
            if not cand.exists():
                raise HarnessError(f"kernel tree {p} has no arch/x86/boot/bzImage: build it first (vng -b)")
            p = cand
        if not p.exists():
            raise HarnessError(f"kernel image {spec} does not exist")
        if not p.is_file():
            raise HarnessError(f"kernel image {spec} is not a file")
        with open(p, "rb") as f:
            head = f.read(0x210)
        if len(head) < 0x206 or head[0x202:0x206] != b"HdrS":
            raise HarnessError(f"{spec} is not an x86 bzImage/vmlinuz (no 'HdrS' boot header)")
        return Target(p.name, str(p), image_release(str(p)))
    targets = load_targets()
    if spec not in targets:
        raise HarnessError(f"unknown kernel target {spec!r}; known: {', '.join(sorted(targets))}, "
                           f"a path to a bzImage, or 'host'")
    t = targets[spec]
    pattern = os.path.expanduser(t.get("image", ""))
    matches = sorted(glob.glob(pattern), key=_version_key)
    if t.get("image_regex"):
        matches = [m for m in matches if re.fullmatch(t["image_regex"], m)]
    if not matches:
        hint = bootstrap_command([spec])
        raise HarnessError(f"target {spec}: no kernel image matches {pattern}; install it with: {hint}")
    image = matches[-1]
    return Target(spec, image, image_release(image), t.get("kind", "debian"), t.get("package", ""),
                  t.get("needs", []), t.get("notes", ""))


# -- installing what targets need ------------------------------------------------------------

def newest_package(pattern: str, regex: str | None = None) -> str | None:
    """The newest package name matching an apt pattern like linux-image-6.12.*-amd64-unsigned
    (or, when given, the full-match regex)."""
    regex = "^" + (regex or re.escape(pattern).replace(r"\*", ".*")) + "$"
    try:
        out = subprocess.run(["apt-cache", "search", "--names-only", regex], capture_output=True,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [line.split(" - ")[0] for line in out.splitlines() if line.strip()]
    return sorted(names, key=_version_key)[-1] if names else None


def bootstrap_packages(names: list[str]) -> list[str]:
    targets = load_targets()
    pkgs = ["qemu-system-x86"]
    for n in names:
        t = targets.get(n)
        if t is None:
            raise HarnessError(f"unknown kernel target {n!r}; known: {', '.join(sorted(targets))}")
        if t.get("package"):
            pkgs.append(newest_package(t["package"], t.get("package_regex")) or t["package"])
    return pkgs


def bootstrap_command(names: list[str]) -> str:
    targets = load_targets()
    pkgs = ["qemu-system-x86"] + [targets[n]["package"] for n in names if targets.get(n, {}).get("package")]
    return ("apt-get update && INITRD=No apt-get install -y --no-install-recommends "
            + " ".join(shlex.quote(p) for p in pkgs))


def bootstrap(names: list[str], dry_run: bool = False) -> int:
    """Install qemu and the targets' kernel packages (as root), else print the command."""
    if os.geteuid() != 0 or dry_run:
        print(f"run as root: {bootstrap_command(names)}")
        return 0 if dry_run else 2
    subprocess.run(["apt-get", "update"], check=False, stdout=subprocess.DEVNULL)
    pkgs = bootstrap_packages(names)
    # INITRD=No: vng boots the image directly, so the slow initramfs build is wasted work.
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", INITRD="No")
    r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *pkgs], env=env)
    return 0 if r.returncode == 0 else 2


# -- accelerator and command line ---------------------------------------------------------------

def find_tools() -> tuple[str, str]:
    vng = shutil.which("vng")
    if not vng:
        raise HarnessError("virtme-ng is not installed (no 'vng' on PATH): pip install -e . or pip install virtme-ng")
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise HarnessError("qemu is not installed (no qemu-system-x86_64 on PATH): "
                           "apt-get install qemu-system-x86, or run afalg-conform bootstrap")
    return vng, qemu


def probe_kvm(qemu: str = "qemu-system-x86_64", seconds: float = 3.0) -> tuple[bool, str]:
    """Does KVM really work? /dev/kvm can exist while vCPU setup fails (nested virt).

    Start a paused VM with -cpu host: a broken KVM aborts within milliseconds
    (e.g. 'failed to set MSR'); a working one is still running when we stop it.
    """
    if not os.path.exists("/dev/kvm"):
        return False, "no /dev/kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is not accessible to this user"
    cmd = [qemu, "-accel", "kvm", "-M", "q35", "-cpu", "host", "-m", "64", "-display", "none",
           "-nodefaults", "-no-reboot", "-S"]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        return True, "KVM usable"
    except OSError as e:
        return False, f"cannot run {qemu}: {e}"
    err = (p.stderr or "").strip().splitlines()
    return False, "KVM unusable: " + (err[0] if err else f"qemu exited with {p.returncode}")


def guest_python_command(results_dir: str, guest_args: list[str]) -> str:
    """The command the guest runs: this very interpreter and project, read-only."""
    env = f"PYTHONDONTWRITEBYTECODE=1 PYTHONPATH={shlex.quote(str(PROJECT_ROOT))} PYTHONUNBUFFERED=1"
    args = " ".join(shlex.quote(a) for a in guest_args)
    return (f"{env} {shlex.quote(sys.executable)} -m harness.guest "
            f"--results {shlex.quote(results_dir)} {args}").strip()


def vng_command(vng: str, target: Target, results_dir: str, guest_cmd: str, use_kvm: bool,
                memory: str = "2G", cpus: int = 2, append: list[str] = (), verbose: bool = True) -> list[str]:
    """The vng invocation. The host root is shared read-only (vng's default, never --rw);
    the results folder is the only writable host path."""
    cmd = [vng, "-r", target.image, "--memory", memory, "--cpus", str(cpus),
           "--rwdir", results_dir, "--cwd", str(PROJECT_ROOT), "--user", "root"]
    if not use_kvm:
        cmd.append("--disable-kvm")
    if verbose:
        cmd.append("--verbose")   # kernel console on stderr: the host keeps it as console.log
    for a in append:
        cmd += ["--append", a]
    cmd += ["--exec", guest_cmd]
    assert "--rw" not in cmd, "the guest must never get write access to the host root"
    return cmd
