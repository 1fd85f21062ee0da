"""A brand-new Debian 12 root to run a README command in, as a new user's machine would be.

The base is what a stock Debian 12 cloud image has: debootstrap's minbase plus python3 and
ca-certificates (no pip, no venv module, no qemu, no kernels, no busybox). It is built once
and cached as a tarball outside the checkout; every run unpacks a new copy, so nothing an
earlier run installed survives. The project goes in with `git archive HEAD`: the committed
tree, as a fresh clone would have it (commit first; uncommitted changes are not in it).

Downloads are cached across runs (apt's .deb archive, pip's wheel cache): they make a
repeated run faster and change nothing about what is installed, which is always done anew.

Needs root (debootstrap, chroot, bind mounts). Used by tests/test_fresh.py; by hand:
    .venv/bin/python tests/freshroot.py "sh scripts/main.sh --suite smoke" [--keep]
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from afalg_conformance.harness.host.kernels import debian_mirror

PROJECT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("AFALG_FRESH_CACHE", "/var/cache/afalg-conformance/fresh"))
BASE = CACHE / "bookworm-minbase-python3.tar"
# Variables that let the root reach the same registries as this machine (proxies, CA bundle).
PASS_ENV = re.compile(r"^(PIP_|REQUESTS_CA_BUNDLE$|SSL_CERT_FILE$|https?_proxy$|HTTPS?_PROXY$|no_proxy$|NO_PROXY$)")


class FreshRootError(RuntimeError):
    """The root could not be set up (not the command's failure)."""


def _run(cmd, log, **kw):
    with open(log, "ab") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)
    if r.returncode:
        raise FreshRootError(f"{' '.join(map(str, cmd))[:120]} failed (exit {r.returncode}); see {log}")


def _copy_host_net_config(root: Path) -> None:
    """Resolver, CA bundle (a proxy's CA may be in it) and pip configuration: the same
    registries as this machine."""
    for src in ("/etc/resolv.conf", "/etc/ssl/certs/ca-certificates.crt", "/etc/pip.conf"):
        if os.path.exists(src):
            dst = root / src.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    if os.path.isdir("/etc/xdg/pip"):
        shutil.copytree("/etc/xdg/pip", root / "etc/xdg/pip", dirs_exist_ok=True)


def ensure_base() -> Path:
    """The cached base tarball, built on first use (about a minute here)."""
    if BASE.is_file() and BASE.stat().st_size:
        return BASE
    CACHE.mkdir(parents=True, exist_ok=True)
    if not shutil.which("debootstrap"):
        _run(["apt-get", "install", "-y", "-q", "debootstrap"], CACHE / "debootstrap.log",
             env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    log = CACHE / "debootstrap.log"
    with tempfile.TemporaryDirectory(prefix="afalg-fresh-base-", dir="/var/tmp") as d:
        b = Path(d)
        _run(["debootstrap", "--variant=minbase", "bookworm", str(b), debian_mirror()], log)
        (b / "etc/apt/sources.list").unlink(missing_ok=True)
        for f in glob.glob("/etc/apt/sources.list.d/*.sources"):
            shutil.copy(f, b / "etc/apt/sources.list.d/")
        if os.path.exists("/etc/apt/sources.list"):
            shutil.copy("/etc/apt/sources.list", b / "etc/apt/")
        _copy_host_net_config(b)
        _run(["chroot", str(b), "sh", "-c", "apt-get update -q && DEBIAN_FRONTEND=noninteractive "
              "apt-get install -y -q python3 ca-certificates && apt-get clean"], log)
        _run(["tar", "-C", str(b), "-cf", f"{BASE}.tmp", "."], log)
        os.replace(f"{BASE}.tmp", BASE)
    return BASE


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    root: Path


def run(cmd: str, timeout: float = 3000, keep: bool = False, inspect=None) -> Result:
    """Run `cmd` in /root/project of a new root made from the base. `inspect(root)` is
    called before the root is removed (to read files the command left)."""
    if os.geteuid() != 0:
        raise FreshRootError("needs root (debootstrap, chroot, bind mounts)")
    base = ensure_base()
    root = Path(tempfile.mkdtemp(prefix="afalg-fresh-root-", dir="/var/tmp"))
    mounts: list[Path] = []
    try:
        subprocess.run(["tar", "-C", str(root), "-xf", str(base)], check=True)
        _copy_host_net_config(root)
        for m in ("proc", "sys", "dev", "dev/pts"):
            (root / m).mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "--bind", f"/{m}", str(root / m)], check=True)
            mounts.append(root / m)
        # Download caches only: what they hold is installed anew every run.
        for cache, inside in ((CACHE / "apt-archives", "var/cache/apt/archives"), (CACHE / "pip", "root/.cache/pip")):
            cache.mkdir(parents=True, exist_ok=True)
            (root / inside).mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "--bind", str(cache), str(root / inside)], check=True)
            mounts.append(root / inside)
        proj = root / "root" / "project"
        proj.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(PROJECT), "archive", "HEAD"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(proj)], input=archive.stdout, check=True)
        env = ["HOME=/root", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]
        env += [f"{k}={v}" for k, v in os.environ.items() if PASS_ENV.match(k)]
        t0 = time.monotonic()
        r = subprocess.run(["chroot", str(root), "/usr/bin/env", "-i", *env, "/bin/sh", "-c",
                            f"cd /root/project && {cmd}"], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=timeout)
        res = Result(r.returncode, r.stdout, r.stderr, time.monotonic() - t0, root)
        if inspect:
            inspect(root)
        return res
    finally:
        for m in reversed(mounts):
            subprocess.run(["umount", "-l", str(m)], stderr=subprocess.DEVNULL)
        if keep or any(os.path.ismount(m) for m in mounts):
            # Never rmtree through a bind mount of the host's /dev or /sys.
            print(f"freshroot: root kept at {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    res = run(sys.argv[1] if len(sys.argv) > 1 else "sh scripts/main.sh --suite smoke",
              keep="--keep" in sys.argv)
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    print(f"freshroot: {'PASS' if res.returncode == 0 else 'FAIL'} (exit {res.returncode}) in {res.seconds:.0f} s",
          file=sys.stderr)
    sys.exit(res.returncode)
