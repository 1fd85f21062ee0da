"""afalg-conformance under its one import name.

The sources sit at the repository root (harness/, conformance/, fuzz/, vectors/, vms/);
pyproject.toml's package-dir maps each to a subpackage of this one, so a wheel installs
afalg_conformance/ only, and nothing called `harness` or `fuzz` that could collide with
another project's. Everything imports the full name: afalg_conformance.harness.cli, ...

In a wheel the subpackages are folders beside this file and __path__ stays as it is. In the
source tree this folder holds only this file: a checkout runs without installing (the guest
runs PYTHONPATH=<root> python -m afalg_conformance.harness.guest.runner over the host's
read-only tree, and a developer runs pytest there), so __path__ also covers the repository
root and afalg_conformance.harness is <root>/harness. Only there: the parent folder must be
this project's checkout (pyproject.toml and harness/ beside this folder), never, say, a
site-packages that happens to hold another project's harness/.
"""

import os as _os

_here = _os.path.dirname(_os.path.abspath(__file__))
_root = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "harness")) and \
        _os.path.isfile(_os.path.join(_root, "pyproject.toml")) and \
        _os.path.isfile(_os.path.join(_root, "harness", "__init__.py")):
    __path__.append(_root)
del _os, _here, _root
