"""Debian kernels from suites the host does not use (trixie-backports, sid), unpacked into
the project's cache: the host's apt sources, preferences and dpkg database stay as they are.

Since 6.19 Debian splits a kernel into linux-binary-REL (the image, under
usr/lib/modules/REL/vmlinuz), linux-modules-REL and linux-base-REL (config, System.map,
modules.builtin); linux-image-REL is only a meta package. A private apt configuration
(its own sources, lists, cache and an empty dpkg status) downloads the three, dpkg-deb
unpacks them into CACHE/kernels/REL, and depmod prepares the modules there. vng finds
them by itself: it walks up from the image to the tree that holds usr/lib/modules, and
links /lib/modules/REL to it in the guest.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

from afalg_conformance.harness.errors import HarnessError

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"   # bookworm's verifies trixie and sid


def debian_mirror() -> str:
    """This machine's Debian mirror, from its apt sources (deb822 first, then sources.list)."""
    for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for line in Path(f).read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    if Path("/etc/apt/sources.list").exists():
        for line in Path("/etc/apt/sources.list").read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["deb"] and "security" not in line:
                return next(p for p in parts[1:] if "://" in p)
    raise HarnessError("no Debian mirror in this machine's apt sources (/etc/apt/sources.list*)")


class PrivateApt:
    """apt-get and apt-cache with their own state under `work`, for one suite."""

    def __init__(self, work: Path, suite: str, mirror: str | None = None):
        self.work = work
        for d in ("state/lists/partial", "cache/archives/partial", "empty", "debs"):
            (work / d).mkdir(parents=True, exist_ok=True)
        (work / "status").touch()
        (work / "sources.list").write_text(
            f"deb [signed-by={KEYRING}] {mirror or debian_mirror()} {suite} main\n")
        self.opts = [f"-o=Dir::Etc::sourcelist={work}/sources.list", f"-o=Dir::Etc::sourceparts={work}/empty",
                     "-o=Dir::Etc::preferences=/dev/null", f"-o=Dir::Etc::preferencesparts={work}/empty",
                     f"-o=Dir::State={work}/state", f"-o=Dir::State::status={work}/status",
                     f"-o=Dir::Cache={work}/cache", "-o=APT::Architecture=amd64", "-o=APT::Architectures::=amd64"]

    def run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        r = subprocess.run([tool, "-q", *self.opts, *args], capture_output=True, text=True, cwd=cwd)
        if r.returncode:
            err = next((x for x in r.stderr.splitlines() if x.startswith("E:")), r.stderr.strip()[-200:])
            raise HarnessError(f"{tool} {args[0]} failed: {err}")
        return r.stdout

    def update(self) -> None:
        self.run("apt-get", "update")

    def newest_release(self, release_regex: str) -> str:
        """The newest REL with a linux-binary-REL package matching release_regex."""
        out = self.run("apt-cache", "search", "--names-only", f"^linux-binary-{release_regex}$")
        rels = [line.split(" - ")[0].removeprefix("linux-binary-") for line in out.splitlines() if line.strip()]
        if not rels:
            raise HarnessError(f"no linux-binary-{release_regex} package in {self.work.name}")
        return sorted(rels, key=lambda r: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", r)])[-1]

    def download(self, *pkgs: str) -> list[Path]:
        debs = self.work / "debs"
        for old in debs.glob("*.deb"):
            old.unlink()
        self.run("apt-get", "download", *pkgs, cwd=debs)
        return sorted(debs.glob("*.deb"))


def fetch(cache: Path, suite: str, release_regex: str, say=print) -> Path:
    """Download and unpack the newest kernel of `suite` matching release_regex into
    cache/kernels/REL; returns its vmlinuz. Nothing is done when that release is there."""
    apt = PrivateApt(cache / "apt" / suite, suite)
    say(f"bootstrap: reading {suite}'s package index (private apt state in {apt.work})")
    apt.update()
    rel = apt.newest_release(release_regex)
    tree = cache / "kernels" / rel
    image = tree / "usr/lib/modules" / rel / "vmlinuz"
    if image.exists() and (tree / "usr/lib/modules" / rel / "modules.dep").exists():
        say(f"bootstrap: {rel} already unpacked in {tree}")
        return image
    say(f"bootstrap: downloading linux-binary/modules/base-{rel} from {suite}")
    debs = apt.download(f"linux-binary-{rel}", f"linux-modules-{rel}", f"linux-base-{rel}")
    partial = tree.with_name(rel + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for deb in debs:
        r = subprocess.run(["dpkg-deb", "-x", str(deb), str(partial)], capture_output=True, text=True)
        if r.returncode:
            raise HarnessError(f"dpkg-deb -x {deb.name} failed: {r.stderr.strip()[-200:]}")
        deb.unlink()          # the unpacked tree is what is kept (about 135 MB)
    # depmod is in /usr/sbin, off a user's PATH; kmod looks under BASE/lib/modules, and the
    # modules are in usr/lib/modules
    depmod = shutil.which("depmod", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if not depmod:
        raise HarnessError("depmod is not installed: apt-get install kmod")
    r = subprocess.run([depmod, "-b", str(partial / "usr"), rel], capture_output=True, text=True)
    if r.returncode:
        raise HarnessError(f"depmod for {rel} failed: {r.stderr.strip()[-200:]}")
    shutil.rmtree(tree, ignore_errors=True)
    partial.rename(tree)
    say(f"bootstrap: {rel} ready: {image}")
    return image
