"""pytest in the source tree: the results plugin, and one module per file.

The results plugin is needed wherever conformance tests run (guest runner, a developer's
plain `pytest conformance/`); pytest only honours pytest_plugins in the root conftest.

pytest names a file it collects by its folders: conformance/test_hash.py is
`conformance.test_hash` to it, conformance/conftest.py `conformance.conftest`. No option
changes that: both import modes (prepend, importlib), consider_namespace_packages and
--pyargs take the name from the __init__.py files above the file, and nothing in it says
that the folder conformance/ is the package afalg_conformance.conformance (package-dir).
The tests import each other, the conftest and the package by the project's one name,
afalg_conformance.conformance.X, so left alone pytest would load such a file a second time
as another module: two copies of the conftest's FOCUS and Spec, of the package's state.

So this file, which pytest imports before anything under conformance/ (it is the rootdir's
conftest, for the guest runner's --rootdir <root> and a developer's `pytest conformance/`
alike), puts _FolderNames first on sys.meta_path: pytest's name for a file it collects (the
folder's package, a conftest, a test module) is answered with the module of the project's
name, imported once under that name: `conformance.test_hash` is then only another key in
sys.modules for the same module (as os.path is for posixpath). Any other bare folder name
of this checkout (`import harness.host.vm`) raises: the project imports itself as
afalg_conformance.X, and a second copy of a module would otherwise go unnoticed.

An installed wheel has the real layout (afalg_conformance/conformance/test_hash.py), where
pytest's name is already the project's, and no root conftest: nothing of this is needed.
tests/test_one_name.py collects the suite as the guest runner and a developer do (both
import modes) and checks that no file of the project is loaded as two modules.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PKG = "afalg_conformance"
FOLDERS = ("harness", "conformance", "fuzz", "vectors", "vms")

pytest_plugins = ["afalg_conformance.harness.guest.plugin"]


class _FolderNames:
    """A sys.meta_path finder and loader for pytest's folder-derived names of this tree."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec] = {}

    @staticmethod
    def _collected(name: str) -> bool:
        """A name pytest imports by path: a folder's package, a conftest, a test module."""
        leaf = name.rpartition(".")[2]
        return "." not in name or leaf == "conftest" or leaf.startswith("test_") or leaf.endswith("_test")

    @staticmethod
    def _here(folder: str, path) -> bool:
        """Whether the name means this checkout's folder. A top-level name: found there on
        sys.path (prepend mode: pytest put the root first), or looked up by pytest's importlib
        mode in the package's own folder. A submodule: its parent package's folder is here.
        Another project's `harness` (and harness.x) is left alone."""
        if path is not None:
            return any(Path(p).resolve() == ROOT or Path(p).resolve().is_relative_to(ROOT / folder) for p in path)
        found = importlib.machinery.PathFinder.find_spec(folder)
        return found is not None and bool(found.origin) and Path(found.origin).resolve().parent == ROOT / folder

    def find_spec(self, fullname, path=None, target=None):
        folder = fullname.partition(".")[0]
        if folder not in FOLDERS:
            return None
        if not self._here(folder, path):
            return None
        if not self._collected(fullname):
            raise ImportError(f"import {PKG}.{fullname}, not {fullname}: the project's modules have one name",
                              name=fullname)
        real = importlib.util.find_spec(f"{PKG}.{fullname}")
        if real is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, origin=real.origin,
                                              is_package=real.submodule_search_locations is not None)

    def create_module(self, spec):
        module = importlib.import_module(f"{PKG}.{spec.name}")
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        # The import system stamped the alias's spec on the module; it keeps its own.
        module.__spec__ = self._specs.pop(module.__spec__.name)


if (ROOT / "afalg_conformance").is_dir() and not any(isinstance(f, _FolderNames) for f in sys.meta_path):
    sys.meta_path.insert(0, _FolderNames())
