"""The project installs and imports under one name, afalg_conformance (pyproject.toml's
package-dir, afalg_conformance/__init__.py, the root conftest.py):

- collecting the conformance suite from the source tree, the way the guest runner and a
  developer do, loads every file of the project as one module, named afalg_conformance.X
  (pytest's folder names, conformance.test_x, are at most other keys for that module).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = "afalg_conformance"
FOLDERS = ("harness", "conformance", "fuzz", "vectors", "vms")

# Runs pytest in a fresh interpreter, then prints what sys.modules holds.
DRIVER = r"""
import json, os, sys
how, results = sys.argv[1], sys.argv[2]
import pytest
if how == "runner":
    # The guest runner's own pytest command line (run_pytest), collect-only. --worker goes
    # straight to it: no AF_ALG probe, no af_alg_restrict (the host has neither).
    real = pytest.main
    pytest.main = lambda args: real([*args, "--collect-only"])
    from afalg_conformance.harness.guest import runner
    claims = os.path.join(results, "claims")
    os.makedirs(claims)
    rc = runner.main(["--results", results, "--worker", "1/1", "--claims", claims])
else:
    rc = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *sys.argv[3:]])
mods = {name: [getattr(m, "__file__", None), id(m), getattr(m, "__name__", None)]
        for name, m in list(sys.modules.items())}
print("\nMODULES " + json.dumps({"rc": int(rc), "modules": mods}))
"""


def collect(tmp_path: Path, how: str, *args: str, cwd: Path = ROOT) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    p = subprocess.run([sys.executable, "-c", DRIVER, how, str(tmp_path), *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=300)
    line = next((x for x in p.stdout.splitlines() if x.startswith("MODULES ")), None)
    log = (tmp_path / "pytest.log").read_text() if (tmp_path / "pytest.log").exists() else ""
    assert line, p.stdout[-3000:] + p.stderr[-3000:] + log[-3000:]
    out = json.loads(line.removeprefix("MODULES "))
    assert out["rc"] == 0, p.stdout[-3000:] + p.stderr[-3000:] + log[-3000:]
    return out["modules"]


@pytest.mark.parametrize("how,args,where", [
    ("runner", (), "tmp"),                                      # the guest: PYTHONPATH=<root>, --rootdir <root>
    ("pytest", ("conformance/",), "root"),                     # a developer's plain pytest conformance/
    ("pytest", ("--import-mode=importlib", "conformance/"), "root"),
    ("pytest", (str(ROOT / "conformance" / "test_smoke.py"), "--rootdir", str(ROOT)), "tmp"),
])
def test_collecting_the_suite_loads_each_file_of_the_project_once(tmp_path, how, args, where):
    mods = collect(tmp_path, how, *args, cwd=tmp_path if where == "tmp" else ROOT)
    by_file: dict[str, dict[int, list[str]]] = {}
    for name, (file, ident, _) in mods.items():
        if file and Path(file).resolve().is_relative_to(ROOT):
            by_file.setdefault(str(Path(file).resolve().relative_to(ROOT)), {}).setdefault(ident, []).append(name)
    twice = {f: list(objs.values()) for f, objs in by_file.items() if len(objs) > 1}
    assert not twice, f"files loaded as two modules: {twice}"

    names = {f: mods[next(iter(objs.values()))[0]][2] for f, objs in by_file.items()}
    for f, name in names.items():
        if f.split("/")[0] in FOLDERS + (PKG,):
            parts = Path(f).with_suffix("").parts
            want = ".".join(parts if parts[0] == PKG else (PKG, *parts)).removesuffix(".__init__")
            assert name == want, f"{f} is loaded as {name}, not {want}"
    # What was collected is this checkout's: every test file asked for, every module of the
    # project from here (a stale install of another tree would show as files outside ROOT).
    wanted = {str(Path(a).resolve().relative_to(ROOT)) for a in args if a.endswith(".py")} or \
        {f"conformance/{p.name}" for p in (ROOT / "conformance").glob("test_*.py")}
    assert wanted <= set(names), wanted - set(names)
    elsewhere = {n: m[0] for n, m in mods.items() if n.split(".")[0] in (PKG, *FOLDERS) and m[0]
                 and not Path(m[0]).resolve().is_relative_to(ROOT)}
    assert not elsewhere, elsewhere
