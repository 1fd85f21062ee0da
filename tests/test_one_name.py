"""The project installs and imports under one name, afalg_conformance (pyproject.toml's
package-dir, afalg_conformance/__init__.py, the root conftest.py):

- collecting the conformance suite from the source tree, the way the guest runner and a
  developer do, loads every file of the project as one module, named afalg_conformance.X
  (pytest's folder names, conformance.test_x, are at most other keys for that module);
- the wheel holds afalg_conformance/ and its dist-info only, package data included, and
  works from a folder of its own with nothing else of the project importable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
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
    pytest.main = lambda args, plugins=None: real([*args, "--collect-only"], plugins=plugins)
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


def _untracked(folder: str, names: list[str]) -> set[str]:
    """What .gitignore keeps out of a checkout, by where it is (harness/results is source)."""
    out = {n for n in names if n in (".git", ".venv", "__pycache__", ".tox", ".hypothesis", ".pytest_cache")
           or n.endswith(".egg-info")}
    here = Path(folder).resolve()
    if here == ROOT:
        out |= {n for n in names if n in ("results", "build")}
    if here == ROOT / "fuzz":
        out |= {n for n in names if n in ("artifacts", "work")}
    return out


def source_copy(dest: Path) -> Path:
    """The checkout's own files in dest: setuptools builds in the source folder (build/,
    *.egg-info), where a stale build/lib would also leak removed modules into the wheel."""
    try:
        p = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60)
    except FileNotFoundError:               # no git at all (a fresh machine runs from a copy)
        p = None
    if p is not None and p.returncode == 0:
        for rel in p.stdout.decode().split("\0"):
            if rel and (ROOT / rel).is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, dest / rel)
    else:                                   # not a git checkout (an unpacked sdist, a copy)
        shutil.copytree(ROOT, dest, dirs_exist_ok=True, ignore=_untracked)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = source_copy(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheel")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                        "-q", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert p.returncode == 0, ("pip wheel failed (setuptools builds wheels by itself from 70.1 on: the dev "
                               "extra installs one)\n" + p.stdout[-2000:] + p.stderr[-3000:])
    (whl,) = out.glob("afalg_conformance-*.whl")
    return whl


def test_the_wheel_holds_afalg_conformance_only_with_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    assert len(dist_info) == 1, dist_info
    stray = [n for n in names if n.split("/")[0] not in (PKG, *dist_info)]
    assert not stray, f"installed beside afalg_conformance/: {stray}"
    tops = {tuple(n.split("/")[:2]) for n in names if n.startswith(PKG + "/") and n.count("/") > 1}
    assert {t[1] for t in tops} == set(FOLDERS)

    def packaged(folder: str, pattern: str) -> set[str]:
        return {str(p.relative_to(ROOT)) for p in (ROOT / folder).glob(pattern) if p.is_file()}
    data = (packaged("conformance", "spec/*.toml") | packaged("vms", "*.toml") | packaged("vms", "*.config")
            | packaged("vectors", "data/*") | packaged("fuzz", "corpus/**/*"))
    assert len(data) > 50 and any(d.startswith("fuzz/corpus/") for d in data)
    missing = sorted(d for d in data if f"{PKG}/{d}" not in names)
    assert not missing, f"package data left out of the wheel: {missing[:10]}"
    py = {str(p.relative_to(ROOT)) for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")
          if "corpus" not in p.parts}
    assert not sorted(f for f in py if f"{PKG}/{f}" not in names)
    entry = zipfile.ZipFile(wheel).read(f"{dist_info.pop()}/entry_points.txt").decode()
    assert "afalg-conform = afalg_conformance.harness.cli:main" in entry


CLEAN = r"""
import importlib.util, json, sys
where = sys.argv[1]
sys.path.insert(0, where)
import afalg_conformance.harness.cli, afalg_conformance.harness.cli.run, afalg_conformance.harness.guest.runner
import afalg_conformance.harness.guest.plugin, afalg_conformance.fuzz.surface, afalg_conformance.vectors.sets
from afalg_conformance.conformance import catalogue
from afalg_conformance.harness.host import vm
from afalg_conformance.vectors import common


def origin(name):
    spec = importlib.util.find_spec(name)
    return None if spec is None else spec.origin or list(spec.submodule_search_locations or [None])[0]


print(json.dumps({
    "files": {n: m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "afalg_conformance"},
    "path": list(sys.modules["afalg_conformance"].__path__),
    "bare": {n: origin(n) for n in ("harness", "conformance", "fuzz", "vectors", "vms")},
    "clauses": len(catalogue.load()), "targets": len(vm.load_targets()), "root": str(vm.PROJECT_ROOT),
    "import_root": str(vm.IMPORT_ROOT),
    "vector_files": len(list(common.DATA_DIR.iterdir())),
}))
"""


def test_the_wheel_works_from_a_folder_of_its_own(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # -I: no PYTHONPATH, no user site, no current folder: the folder and the venv's
    # site-packages (the dependencies) only.
    p = subprocess.run([sys.executable, "-I", "-c", CLEAN, str(site)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120, env={**os.environ, "AFALG_CACHE": str(tmp_path / "cache")})
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    assert out["path"] == [str(site / PKG)], "an installed afalg_conformance must not reach past its folder"
    outside = {n: f for n, f in out["files"].items() if not Path(f).is_relative_to(site)}
    assert not outside, f"imported from elsewhere than the wheel: {outside}"
    assert out["root"] == str(site / PKG) and out["import_root"] == str(site)   # a guest's PYTHONPATH
    assert out["clauses"] > 50 and out["targets"] > 2 and out["vector_files"] >= 1, out
    # Nothing called harness, fuzz, ... comes with the wheel (the venv may still hold an old
    # editable install of the project that maps them: that one is not the wheel's).
    from_wheel = {n: o for n, o in out["bare"].items() if o and Path(o).is_relative_to(site)}
    assert not from_wheel, f"the wheel makes these importable: {from_wheel}"
