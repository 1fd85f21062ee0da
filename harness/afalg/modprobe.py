"""A quick answer to the kernel's crypto module requests that can load nothing.

Binding a template instance (cbc(camellia-generic), ccm(aes-aesni)) makes the crypto API ask
user space for modules named after it: request_module("crypto-cbc(camellia-generic)"),
"crypto-cbc(camellia-generic)-all", "crypto-camellia-generic", ..., and "cryptomgr", about
five usermode-helper runs of /sbin/modprobe per instance. No module has those names, but
each run costs ~0.35 s of a TCG guest (modprobe loads libcrypto and reads the module
indexes over 9p): 2-4 s per driver instance, most of the driver sweep's bind time.

So in a guest the runner points /proc/sys/kernel/modprobe at a shell script built here from
the kernel's own module indexes. For a name starting with `crypto` it answers what modprobe
would where modprobe would do nothing: a builtin module or builtin alias, or a name whose
modules are all loaded already, is exit 0; a name no module, alias or modprobe.d line can
match is exit 1 (modprobe -q's "not found"). Every other request (a module to load, a name
modprobe.d speaks of, anything not crypto) runs the real modprobe with the same arguments.
A kernel with no module folder in the guest (a build with everything built in) gets exit 1
for every crypto name, as modprobe answers there ("not found in directory"). The kernel sees
the same results, sooner. Never on the host (the runner is told by
the host launcher); `afalg-conform run --real-modprobe` turns it off; what was done is written
to the results (modprobe.json).
"""

from __future__ import annotations

import json
import os
import platform
import re
import tempfile
from pathlib import Path

SYSCTL = "/proc/sys/kernel/modprobe"
RECORD = "modprobe.json"
MODPROBE_D = ("/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/lib/modprobe.d",
              "/usr/lib/modprobe.d")


def _quote(c: str) -> str:
    return c if c.isalnum() else "\\" + c


def _pattern(name: str) -> str:
    """A case pattern matching a name the way kmod does: modules.alias entries are fnmatch
    patterns (their glob characters stay), and - and _ are the same character outside
    brackets (libkmod's alias_normalize), for module names and aliases alike."""
    out, in_brackets = [], False
    for c in name:
        if c == "[":
            in_brackets = True
            out.append(c)
        elif c == "]":
            in_brackets = False
            out.append(c)
        elif c in "*?" or in_brackets:
            out.append(c if c.isalnum() or c in "*?-" else _quote(c))
        elif c in "-_":
            out.append("[-_]")
        else:
            out.append(_quote(c))
    return "".join(out)


def _crypto(name: str) -> bool:
    return name.startswith("crypto")


def script(modules_alias: str, modules_dep: str, modules_builtin: str, builtin_modinfo: str,
           modprobe_d: str, real: str, sys_module: str = "/sys/module") -> str:
    """The helper for one kernel, from the text of its module indexes (modules.builtin.modinfo:
    NUL-separated `module.key=value`) and of modprobe.d."""
    configured: set[str] = set()       # names a modprobe.d line can act on: always the real modprobe
    for line in modprobe_d.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("alias", "install", "remove", "softdep", "blacklist", "options"):
            configured.add(words[1])
    configured_arm = sorted({_pattern(n) for n in configured if _crypto(n)})
    # Keyed by case pattern: names kmod would take for one another share an arm. The indexes are
    # searched with regular expressions: line by line in Python, the 27,000 lines of
    # modules.alias took 2.8 s of the guest's start under TCG.
    serves: dict[str, set[str]] = {}    # a crypto name -> the modules modprobe would load for it
    for name, module in re.findall(r"^alias[ \t]+(crypto\S*)[ \t]+(\S+)", modules_alias, re.M):
        if any(c in name for c in "*?["):
            # one request could match several patterns, and a case takes the first only
            raise ValueError(f"modules.alias has a crypto alias pattern ({name}): not answered here")
        serves.setdefault(_pattern(name), set()).add(module.replace("-", "_"))
    for m in re.findall(r"^(?:\S*/)?(crypto[^/\s:]*?)\.ko[^/\s:]*:", modules_dep, re.M):
        m = m.replace("-", "_")
        serves.setdefault(_pattern(m), set()).add(m)
    builtin = set(re.findall(r"^(?:\S*/)?([^/\s]+?)\.ko\s*$", modules_builtin, re.M))
    builtin |= set(re.findall(r"[^\0.]+\.alias=(crypto[^\0]*)", builtin_modinfo))
    # modprobe does nothing for a module the kernel has (libkmod: "already in kernel", 0)
    loaded_arms = ""
    for pat, mods in sorted(serves.items()):
        if pat not in configured_arm:
            have = " && ".join(f"[ -e {sys_module}/{m}/initstate ]" for m in sorted(mods))
            loaded_arms += f'{pat}) {have} && exit 0; exec {real} "$@" ;;\n'
    builtin_arm = sorted({_pattern(n) for n in builtin if _crypto(n)} - set(serves) - set(configured_arm))
    return ("#!/bin/sh\n"
            "# afalg-conformance (harness/afalg/modprobe.py): answers the kernel's crypto module\n"
            "# requests that can load nothing; everything else is the real modprobe.\n"
            f'[ $# -eq 3 ] && [ "$1" = -q ] && [ "$2" = -- ] || exec {real} "$@"\n'
            'case "$3" in\n'
            + (f'{"|".join(configured_arm)}) exec {real} "$@" ;;\n' if configured_arm else "")
            + loaded_arms
            + (f'{"|".join(builtin_arm)}) exit 0 ;;\n' if builtin_arm else "")
            + "crypto*) exit 1 ;;\n"
            "esac\n"
            f'exec {real} "$@"\n')


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def install(record: Path, release: str | None = None, modules_root: Path = Path("/lib/modules")) -> str | None:
    """Point the kernel at the helper. Returns the path it had (to put back), or None when
    nothing was changed; record says which, and why."""
    out: dict = {"installed": False}
    try:
        real = Path(SYSCTL).read_text().strip()
    except OSError as e:
        out["reason"] = f"{SYSCTL}: {e.strerror or e}"
        real = ""
    if not real and "reason" not in out:
        out["reason"] = "module autoloading is off (the kernel's modprobe path is empty)"
    release = release or platform.release()
    mods = modules_root / release
    if real and not re.fullmatch(r"[A-Za-z0-9_./+-]+", real):
        out["reason"] = f"the kernel's modprobe path {real!r} is not a plain path"
    elif real and mods.exists() and not (mods / "modules.dep").is_file():
        out["reason"] = f"{mods}/modules.dep is missing"
    elif real:
        # No module folder at all (a kernel built with everything it needs built in, as the
        # KCOV build was before its interfaces became modules): modprobe finds nothing for any name, "not found in directory", exit 1.
        # The empty indexes give exactly that for every crypto name modprobe.d does not name.
        out["modules"] = str(mods) if mods.exists() else "none"
        conf = "\n".join(_read(f) for d in MODPROBE_D if Path(d).is_dir() for f in sorted(Path(d).glob("*.conf")))
        try:
            text = script(_read(mods / "modules.alias"), _read(mods / "modules.dep"), _read(mods / "modules.builtin"),
                          _read(mods / "modules.builtin.modinfo"), conf, real)
            helper = Path(tempfile.mkdtemp(prefix="afalg-modprobe-")) / "modprobe"
            helper.write_text(text)
            helper.chmod(0o755)
            Path(SYSCTL).write_text(str(helper))
        except ValueError as e:
            out["reason"] = str(e)
        except OSError as e:
            out["reason"] = f"cannot install the helper: {e.strerror or e}"
        else:
            out.update(installed=True, helper=str(helper), real=real, lines=text.count("\n"))
    out["real"] = real
    try:
        record.write_text(json.dumps(out, indent=1) + "\n")
    except OSError:
        pass
    return real if out["installed"] else None


def add_flag(ap) -> None:
    """The guest entry points' switch (guest runner, fuzz guestrun, covreplay): the host passes
    it to guests only, never to a run on the host itself."""
    ap.add_argument("--quick-modprobe", action="store_true",
                    help="answer the kernel's crypto module requests that can load nothing without running "
                         "modprobe (harness/afalg/modprobe.py; guests only)")


def restore(real: str | None) -> None:
    if real:
        try:
            Path(SYSCTL).write_text(real)
        except OSError:
            pass
