"""What every guest would otherwise redo at each boot under TCG, made once on the host:
compiled bytecode (warm) and the parsed vector files (vector_cache).

Bytecode:

A guest runs this tree read-only with PYTHONDONTWRITEBYTECODE, so whatever has no
up-to-date .pyc beside its source is compiled again at every boot, in every worker, under
TCG: the project's own modules and, above all, the test modules and plugins pytest rewrites
for its assertions. On the host that is about a second of CPU; under TCG it is tens of
seconds of every guest's start. So before a guest boots, the host compiles the project's
modules into their __pycache__ (compileall: a no-op when up to date) and lets pytest write
its rewritten test modules by collecting the suite once (only when a test module changed).
Both are what Python and pytest would write themselves; __pycache__ is ignored by git.
A tree the host cannot write is left as it is: the guest then compiles, as before.
"""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
from pathlib import Path

from afalg_conformance.harness.host.vm import CACHE_DIR, PROJECT_ROOT

PACKAGES = ("harness", "conformance", "fuzz", "vectors", "vms")
_done = False


def _rewritten(src: Path) -> Path | None:
    """The pyc pytest writes for a rewritten module (any pytest version), if there is one."""
    cache = src.parent / "__pycache__"
    found = sorted(cache.glob(f"{src.stem}.{sys.implementation.cache_tag}-pytest-*.pyc")) if cache.is_dir() else []
    return found[-1] if found else None


def stale_rewrites(root: Path = PROJECT_ROOT) -> list[Path]:
    """Test modules and conftests whose rewritten pyc is missing or older than the source."""
    mods = [*sorted((root / "conformance").glob("test_*.py")), root / "conformance" / "conftest.py",
            root / "conftest.py", root / "harness" / "guest" / "plugin.py"]
    out = []
    for m in mods:
        pyc = _rewritten(m)
        if m.exists() and (pyc is None or pyc.stat().st_mtime < m.stat().st_mtime):
            out.append(m)
    return out


def warm(root: Path = PROJECT_ROOT) -> str:
    """Bring the tree's bytecode up to date for the guest (once per command). Returns what
    was done, for the log; never raises: a guest without the bytecode is only slower."""
    global _done
    if _done:
        return "bytecode: up to date"
    _done = True
    if not os.access(root / "harness", os.W_OK):
        return f"bytecode: {root} is read-only; the guest compiles at start"
    ok = all(compileall.compile_dir(str(root / p), quiet=1, workers=1) for p in PACKAGES if (root / p).is_dir())
    stale = stale_rewrites(root)
    if stale:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPATH=str(root), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        try:
            subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                            "-p", "afalg_conformance.harness.guest.plugin", "-p", "_hypothesis_pytestplugin",
                            "--rootdir", str(root), str(root / "conformance")],
                           cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=300)
        except (OSError, subprocess.TimeoutExpired):
            ok = False
    left = stale_rewrites(root)
    return (f"bytecode: compiled{'' if ok else ' (some modules failed)'}; "
            f"{len(stale) - len(left)} rewritten test modules written" + (f", {len(left)} not" if left else ""))


VECTOR_CACHE = CACHE_DIR / "vectors"
_vectors: dict[str, str] | None = None


def vector_cache(root: Path = PROJECT_ROOT, folder: Path = VECTOR_CACHE) -> dict[str, str]:
    """The vector files parsed into folder by `python -m afalg_conformance.vectors.cache build` (a no-op for
    files done before), once per command; the guest's environment that points at it
    ({} when it could not be made: the guest then parses the files itself, as before).
    A subprocess, so the host layer does not import the vector loaders."""
    global _vectors
    if _vectors is None:
        env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
        try:
            r = subprocess.run([sys.executable, "-m", "afalg_conformance.vectors.cache", "build", str(folder)], cwd=root, env=env,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
            _vectors = {"AFALG_VECTOR_CACHE": str(folder)} if r.returncode == 0 else {}
        except (OSError, subprocess.TimeoutExpired):
            _vectors = {}
    return _vectors
