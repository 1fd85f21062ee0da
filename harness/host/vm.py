"""Kernel targets, the KVM probe and the virtme-ng command line.

Nothing here starts a guest: runner.py does. Keeping the command builder pure
lets host-side tests check exactly what vng is asked to do (read-only host,
one writable results folder, panic handling, console on stderr).
"""

from __future__ import annotations

import functools
import glob
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.host import kernels

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Where `afalg_conformance` is imported from (a guest's PYTHONPATH): the checkout's root, whose
# afalg_conformance/__init__.py finds harness/ beside it; in an installed wheel PROJECT_ROOT is
# site-packages/afalg_conformance itself, and the folder above it holds the package.
IMPORT_ROOT = PROJECT_ROOT if (PROJECT_ROOT / "afalg_conformance").is_dir() else PROJECT_ROOT.parent
TARGETS_FILE = PROJECT_ROOT / "vms" / "targets.toml"
CACHE_DIR = Path(os.environ.get("AFALG_CACHE", Path.home() / ".cache" / "afalg-conformance"))


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

    @property
    def config(self) -> str | None:
        """The kernel's .config where one sits with its image: Debian's /boot/config-REL, a
        cached or built kernel's `config` beside the image, a source tree's .config. The
        guest reads it (AFALG_KERNEL_CONFIG) to tell an absent option from a broken one."""
        if self.is_host:
            return None
        here = Path(self.image).parent
        for cand in (here / "config", Path(f"/boot/config-{self.release}"), here.parents[2] / ".config"
                     if len(here.parents) > 2 and here.parts[-3:] == ("arch", "x86", "boot") else None):
            if cand is not None and cand.is_file():
                return str(cand)
        return None


def _version_key(path: str):
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", path)]


def read_toml(path: Path, what: str, error: type[HarnessError] = HarnessError) -> dict:
    """A TOML file the harness needs; a missing or broken one is a one-line error naming it."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{what} {path} is missing") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{what} {path} is not valid TOML: {e}") from None


def load_targets(path: Path = TARGETS_FILE) -> dict[str, dict]:
    data = read_toml(path, "target list")
    extra = CACHE_DIR / "targets.toml"     # targets added by build-kernel
    if extra.exists():
        data.update(read_toml(extra, "target list"))
    return data


def image_release(image: str) -> str:
    """The kernel release string embedded in a bzImage (what vng uses to find modules)."""
    m = re.search(r"vmlinuz-(.+)$", image) or re.search(r"/modules/([^/]+)/vmlinuz$", image)
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
    pattern = os.path.expanduser(t.get("image", "").replace("{cache}", str(CACHE_DIR)))
    matches = sorted(glob.glob(pattern), key=_version_key)
    if t.get("image_regex"):
        matches = [m for m in matches if re.fullmatch(t["image_regex"], m)]
    if not matches:
        hint = f"afalg-conform bootstrap {spec}" if t.get("suite") else bootstrap_command([spec])
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


def host_tool_packages() -> list[str]:
    """Debian packages for the host tools a guest boot needs that are not installed."""
    return [pkg for tool, pkg in HOST_TOOLS.items() if pkg and not find_tool(tool)]


def target_installed(name: str) -> bool:
    try:
        resolve_target(name)
        return True
    except HarnessError:
        return False


def bootstrap_packages(targets: dict, names: list[str], tools: list[str], only_missing: bool = False) -> list[str]:
    """The apt packages: `tools` and the targets' kernels (newest matching version); with
    only_missing, the kernels not installed yet."""
    pkgs = list(tools)
    for n in names:
        t = targets[n]
        if t.get("package") and not (only_missing and target_installed(n)):
            pkgs.append(newest_package(t["package"], t.get("package_regex")) or t["package"])
    return pkgs


def bootstrap_command(names: list[str], pkgs: list[str] | None = None) -> str:
    if pkgs is None:
        targets = load_targets()
        pkgs = [p for p in HOST_TOOLS.values() if p] + [
            targets[n]["package"] for n in names if targets.get(n, {}).get("package")]
    return ("apt-get update && INITRD=No apt-get install -y --no-install-recommends "
            + " ".join(shlex.quote(p) for p in pkgs))


def bootstrap(names: list[str], dry_run: bool = False, if_missing: bool = False) -> int:
    """Install the host tools and the targets' kernel packages (as root), else print the
    command. With if_missing, only what is not installed (and nothing at all, not even
    `apt-get update`, when everything is). Targets from other suites (a `suite` in
    targets.toml) are downloaded into the cache instead, by any user (host/kernels.py)."""
    targets = load_targets()
    unknown = [n for n in names if n not in targets]
    if unknown:
        raise HarnessError(f"unknown kernel target {unknown[0]!r}; known: {', '.join(sorted(targets))}")
    cached = [n for n in names if targets[n].get("suite")]
    names = [n for n in names if n not in cached]
    for n in cached:
        if dry_run:
            print(f"would download {targets[n]['suite']}'s newest linux-binary-{targets[n]['release_regex']} "
                  f"into {CACHE_DIR / 'kernels'}")
        elif not (if_missing and target_installed(n)):
            kernels.fetch(CACHE_DIR, targets[n]["suite"], targets[n]["release_regex"])
    missing_tools = host_tool_packages()
    if cached and not names and not missing_tools:
        return 0
    if if_missing:
        missing = missing_tools + [
            targets[n]["package"] for n in names if targets[n].get("package") and not target_installed(n)]
        if not missing:
            print(f"bootstrap: nothing to install (host tools and {', '.join(names)} present)")
            return 0
        if os.geteuid() != 0 or dry_run:
            print(f"missing {', '.join(missing)}; as root run: {bootstrap_command(names, missing)}")
            return 0 if dry_run else 2
    elif os.geteuid() != 0 or dry_run:
        print(f"run as root: {bootstrap_command(names)}")
        return 0 if dry_run else 2
    # apt-cache only knows the newest kernel versions after an update.
    subprocess.run(["apt-get", "update"], check=False, stdout=subprocess.DEVNULL)
    tools = missing_tools if if_missing else [p for p in HOST_TOOLS.values() if p]
    pkgs = bootstrap_packages(targets, names, tools, only_missing=if_missing)
    # INITRD=No: vng boots the image directly, so the slow initramfs build is wasted work.
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", INITRD="No")
    r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *pkgs], env=env)
    return 0 if r.returncode == 0 else 2


# -- accelerator and command line ---------------------------------------------------------------

# Host programs a guest boot needs, and the Debian package that provides each (found by
# booting from a fresh Debian 12 root: vng builds its initramfs around busybox and runs
# `file` on the kernel image). vng itself comes from PyPI with the project.
HOST_TOOLS = {
    "vng": "",
    "qemu-system-x86_64": "qemu-system-x86",
    "busybox": "busybox-static",
    "file": "file",
}
TOOL_FIX = {"vng": "pip install virtme-ng (sh scripts/setup.sh puts it in .venv)"}


def tool_path() -> str:
    """PATH with the running interpreter's folder first: tools installed beside it (a venv's
    vng) are found without activating the venv, by us and by the tools we start."""
    here = os.path.dirname(sys.executable)
    rest = [d for d in os.environ.get("PATH", os.defpath).split(os.pathsep) if d and d != here]
    return os.pathsep.join([here, *rest])


def find_tool(name: str) -> str | None:
    return shutil.which(name, path=tool_path())


def tool_fix(name: str) -> str:
    pkg = HOST_TOOLS.get(name)
    return TOOL_FIX.get(name) or (f"apt-get install {pkg}, or sh scripts/setup.sh as root" if pkg else "")


def find_tools() -> tuple[str, str]:
    """vng and qemu, after checking every host tool a boot needs (one line for what is missing)."""
    found = {}
    for tool in HOST_TOOLS:
        found[tool] = find_tool(tool)
        if not found[tool]:
            what = {"vng": "virtme-ng", "qemu-system-x86_64": "qemu"}.get(tool, tool)
            raise HarnessError(f"{what} is not installed (no {tool!r} beside {sys.executable} or on PATH): "
                               f"{tool_fix(tool)}")
    return found["vng"], found["qemu-system-x86_64"]


@functools.lru_cache(maxsize=None)      # one probe per kernel and command, however many guests
def probe_kvm(qemu: str = "qemu-system-x86_64", image: str | None = None,
              seconds: float = 3.0) -> tuple[bool, str]:
    """Does KVM really work? /dev/kvm can exist while vCPU setup fails (nested virt), and
    vCPU setup can succeed while the first real instructions fail: seen here, a nested KVM
    that starts a paused VM fine and then stops the kernel's decompressor with 'KVM internal
    error. Suberror: 1 ... emulation failure' on a VEX-encoded instruction, leaving the
    guest hung until the boot timeout.

    So with an image, boot it under KVM with no root file system: usable once the kernel
    prints its banner; unusable on an internal error, an exit or silence. Without an
    image, start a paused VM with -cpu host: a broken KVM aborts within milliseconds
    (e.g. 'failed to set MSR'); a working one is still running when we stop it.
    """
    if not os.path.exists("/dev/kvm"):
        return False, "no /dev/kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is not accessible to this user"
    base = [qemu, "-accel", "kvm", "-M", "q35", "-cpu", "host", "-display", "none", "-nodefaults", "-no-reboot"]
    if image is None:
        try:
            p = subprocess.run(base + ["-m", "64", "-S"], stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=seconds)
        except subprocess.TimeoutExpired:
            return True, "KVM usable"
        except OSError as e:
            return False, f"cannot run {qemu}: {e}"
        err = (p.stderr or "").strip().splitlines()
        return False, "KVM unusable: " + (err[0] if err else f"qemu exited with {p.returncode}")
    return _probe_kvm_boot(base + ["-m", "256", "-serial", "stdio", "-kernel", image,
                                   "-append", "console=ttyS0 earlyprintk=serial panic=-1"], max(seconds, 20.0))


def _probe_kvm_boot(cmd: list[str], seconds: float) -> tuple[bool, str]:
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
    except OSError as e:
        return False, f"cannot run {cmd[0]}: {e}"
    seen = b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], 0.2)
            chunk = os.read(p.stdout.fileno(), 65536) if ready else b""
            seen += chunk
            if b"KVM internal error" in seen or b"emulation failure" in seen:
                return False, "KVM unusable: the probe guest stopped with 'KVM internal error' (emulation failure)"
            if b"Linux version" in seen:
                return True, "KVM usable (a probe guest booted its kernel)"
            if ready and not chunk:
                break           # qemu exited
    except OSError as e:
        return False, f"KVM unusable: probe failed: {e}"
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    lines = [x for x in seen.decode(errors="replace").splitlines() if x.strip()]
    if p.returncode not in (None, 0, -9) and lines:
        return False, "KVM unusable: " + lines[0][:200]
    return False, f"KVM unusable: the probe guest printed no kernel banner in {seconds:g} s"


def guest_python_command(argv: list[str], kernel_config: str | None = None, extra_env: dict | None = None) -> str:
    """The command a guest runs: this very interpreter and project (read-only), with argv
    after the interpreter (["-m", "afalg_conformance.harness.guest.runner", ...],
    ["-m", "afalg_conformance.fuzz.guestrun", ...])."""
    # AFALG_IMPORT_MEMO: the tree is read-only in the guest, so importlib's stats are asked once
    # (harness/guest/imports.py)
    env = f"AFALG_IMPORT_MEMO=1 PYTHONDONTWRITEBYTECODE=1 PYTHONPATH={shlex.quote(str(IMPORT_ROOT))} PYTHONUNBUFFERED=1"
    if kernel_config:
        env += f" AFALG_KERNEL_CONFIG={shlex.quote(kernel_config)}"
    for k, v in sorted((extra_env or {}).items()):
        env += f" {k}={shlex.quote(v)}"
    return f"{env} {shlex.quote(sys.executable)} " + " ".join(shlex.quote(a) for a in argv)


# virtme-ng passes the guest command base64-encoded on the kernel command line (virtme.exec=),
# beside ~730 bytes of its own; x86 keeps 2048 (COMMAND_LINE_SIZE) and cuts the rest, its own
# root= arguments included: the guest then panics, unable to mount its root.
KERNEL_CMDLINE_MAX = 2048
VNG_OWN_CMDLINE = 760


def check_cmdline(guest_cmd: str, results_dir: str, append: list[str] = ()) -> None:
    need = VNG_OWN_CMDLINE + 2 * len(results_dir) + 4 * -(-len(guest_cmd.encode()) // 3) + sum(len(a) + 1 for a in append)
    if need > KERNEL_CMDLINE_MAX:
        raise HarnessError(f"the guest command ({len(guest_cmd)} bytes) would not fit the kernel command line "
                           f"(~{need} of {KERNEL_CMDLINE_MAX} bytes): virtme-ng passes it there; pass long "
                           "arguments in a file in the results folder")


# virtme-ng pastes --qemu-opts into a shell command line, and qemu splits options at commas:
# a path outside these characters is not attached (the caller keeps its file-based path).
_SHM_PATH_OK = re.compile(r"[A-Za-z0-9_./+-]+")


def shm_qemu_opts(shm: str) -> str:
    """qemu arguments attaching file shm as an ivshmem-plain device (PCI vendor 1af4, device
    1110; its BAR 2 is the file). The guest gets the file's contents as device memory, not a
    path: the caller keeps the file in a folder of its own, outside every shared one."""
    path = os.path.realpath(shm)
    if not _SHM_PATH_OK.fullmatch(path):
        raise HarnessError(f"{shm}: not usable as a qemu memory path (characters other than A-Z a-z 0-9 _ . / + -)")
    size = os.path.getsize(path)
    return (f"-object memory-backend-file,id=afalgshm,share=on,mem-path={path},size={size} "
            "-device ivshmem-plain,memdev=afalgshm")


def shm_usable(shm: str) -> bool:
    """Whether shm_qemu_opts can attach this path."""
    return bool(_SHM_PATH_OK.fullmatch(os.path.realpath(shm)))


def vng_command(vng: str, target: Target, results_dir: str, guest_cmd: str, use_kvm: bool,
                memory: str = "2G", cpus: int = 2, append: list[str] = (), verbose: bool = True,
                shm: str | None = None) -> list[str]:
    """The vng invocation. The host root is shared read-only (vng's default, never --rw);
    the results folder is the only writable host path. shm: a host file the guest sees as an
    ivshmem-plain PCI device's memory (it stores into it without a host round trip, and what
    it stored is still on the host after a panic)."""
    cmd = [vng, "-r", target.image, "--memory", memory, "--cpus", str(cpus),
           "--rwdir", results_dir, "--cwd", str(PROJECT_ROOT), "--user", "root"]
    if not use_kvm:
        cmd.append("--disable-kvm")
    if verbose:
        cmd.append("--verbose")   # kernel console on stderr: the host keeps it as console.log
    for a in append:
        cmd += ["--append", a]
    if shm is not None:
        cmd.append("--qemu-opts=" + shm_qemu_opts(shm))
    cmd += ["--exec", guest_cmd]
    assert "--rw" not in cmd, "the guest must never get write access to the host root"
    check_cmdline(guest_cmd, results_dir, append)
    return cmd
