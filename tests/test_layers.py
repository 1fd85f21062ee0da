"""The layers of harness/ (docs/ARCHITECTURE.md), checked on the source: which layer may
import which, no import circles, and no import inside a function without its reason."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = "afalg_conformance"
# The folders at the root, each a subpackage of PKG (pyproject.toml's package-dir).
PROJECT = ("harness", "fuzz", "conformance", "vectors", "vms")

# layer -> the layers it may import (itself always). `cli` may import anything; nothing
# imports `cli`. The guest side needs the client and the results model, never the host's.
ALLOWED = {
    "afalg_conformance.harness": set(),
    "afalg_conformance.harness.errors": set(),
    "afalg_conformance.harness.afalg": {"afalg_conformance.harness.errors"},
    "afalg_conformance.harness.results": {"afalg_conformance.harness.errors"},
    "afalg_conformance.harness.guest": {"afalg_conformance.harness.afalg", "afalg_conformance.harness.results",
                                        "afalg_conformance.harness.errors"},
    "afalg_conformance.harness.host": {"afalg_conformance.harness.results", "afalg_conformance.harness.errors"},
    "afalg_conformance.harness.report": {"afalg_conformance.harness.results", "afalg_conformance.harness.errors",
                                         "afalg_conformance.conformance"},
    "afalg_conformance.fuzz": {"afalg_conformance.harness.afalg", "afalg_conformance.harness.results",
                               "afalg_conformance.harness.host", "afalg_conformance.harness.errors",
                               "afalg_conformance.vms"},
}
NEVER = {"afalg_conformance.harness.host": {"pytest"}, "afalg_conformance.harness.results": {"pytest", "subprocess"}}


def modules():
    """(module name, file) of harness/ and fuzz/, by the names they are imported as."""
    for folder in ("harness", "fuzz"):
        for f in sorted((ROOT / folder).rglob("*.py")):
            yield ".".join((PKG, *f.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__"), f


def layer(mod: str) -> str:
    """afalg_conformance.harness.X for harness/X, else the subpackage: afalg_conformance.fuzz."""
    parts = mod.split(".")
    assert parts[0] == PKG and len(parts) > 1, mod
    return ".".join(parts[:3]) if parts[1] == "harness" and len(parts) > 2 else ".".join(parts[:2])


def imports(f: Path):
    """(imported module, line, inside a function, source line and the one above)."""
    src = f.read_text()
    lines = src.splitlines()
    tree = ast.parse(src)
    in_function = {id(x) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for x in ast.walk(fn)}
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            names = [n.module] + [f"{n.module}.{a.name}" for a in n.names]
        elif isinstance(n, ast.Import):
            names = [a.name for a in n.names]
        else:
            continue
        ctx = lines[n.lineno - 1] + "\n" + (lines[n.lineno - 2] if n.lineno > 1 else "")
        for name in names:
            yield name, n.lineno, id(n) in in_function, ctx


def project_imports(f: Path):
    known = {m for m, _ in modules()}
    for name, line, inner, ctx in imports(f):
        parts = name.split(".")
        if parts[0] == PKG and len(parts) > 1 and parts[1] in PROJECT and \
                (name in known or parts[1] not in ("harness", "fuzz")):
            yield name, line, inner, ctx


def test_no_relative_imports_in_harness():
    bad = [f"{f.relative_to(ROOT)}:{n.lineno}" for mod, f in modules() if layer(mod).startswith(f"{PKG}.harness")
           for n in ast.walk(ast.parse(f.read_text())) if isinstance(n, ast.ImportFrom) and n.level]
    assert not bad, "harness/ imports absolutely (its modules move between layers): " + ", ".join(bad)


@pytest.mark.parametrize("mod,path", list(modules()), ids=[m for m, _ in modules()])
def test_layer_rules(mod, path):
    own = layer(mod)
    for name, line, _, _ in imports(path):
        if name.split(".")[0] in NEVER.get(own, set()):
            pytest.fail(f"{mod}:{line} imports {name}: {own} must not")
    if own == "afalg_conformance.harness.cli":
        return
    allowed = ALLOWED.get(own)
    assert allowed is not None, f"{mod}: layer {own} has no rule; add it to ALLOWED and docs/ARCHITECTURE.md"
    for name, line, _, _ in project_imports(path):
        target = layer(name)
        if target == own:
            continue
        ok = target in allowed
        assert ok, f"{mod}:{line} imports {name}: {own} may import only {sorted(allowed) or 'nothing'}"


def test_nothing_imports_the_command_line():
    for mod, path in modules():
        if layer(mod) == "afalg_conformance.harness.cli":
            continue
        for name, line, _, _ in project_imports(path):
            assert layer(name) != "afalg_conformance.harness.cli", f"{mod}:{line} imports {name}"


def test_no_import_circles():
    known = dict(modules())
    graph = {m: set() for m in known}
    for m, path in known.items():
        for name, _, _, _ in project_imports(path):
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != m and not (m.startswith(name + ".")):   # a package's own __init__
                graph[m].add(name)
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                pytest.fail("import circle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if not state.get(d):
                visit(d, stack + [d])
        state[m] = 2
    for m in sorted(graph):
        if not state.get(m):
            visit(m, [m])


def test_imports_inside_functions_say_why():
    bad = []
    for mod, path in modules():
        if not layer(mod).startswith(f"{PKG}.harness"):
            continue
        for name, line, inner, ctx in imports(path):
            if inner and "#" not in ctx:
                bad.append(f"{path.relative_to(ROOT)}:{line} ({name})")
    assert not bad, "an import inside a function needs its reason in a comment beside it: " + ", ".join(sorted(set(bad)))


def test_the_c_library_is_bound_once():
    """harness/afalg/libc.py is the one ctypes.CDLL: prototypes declared in two places on the
    same library object would change each other's calls without a word. The fuzzers' feedback
    opens atheris' own module (not the C library) to read where its counters are."""
    where = []
    for folder in PROJECT:
        for f in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.Attribute) and node.attr == "CDLL":
                    where.append(str(f.relative_to(ROOT)))
    assert sorted(set(where)) == ["fuzz/coverage.py", "harness/afalg/libc.py"]
    feedback = (ROOT / "fuzz" / "coverage.py").read_text()
    assert feedback.count("CDLL(") == 1 and "CDLL(mod.__file__)" in feedback and "argtypes" not in feedback


def test_every_guest_starts_in_the_one_launcher():
    """run, matrix, bench, mutants, fuzz and coverage all boot through harness/host/launch.py:
    one place builds the vng command and registers the process for Ctrl-C."""
    where = []
    for folder in PROJECT:
        for f in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                        node.func.attr in ("vng_command", "start") and \
                        getattr(node.func.value, "id", "") in ("vm", "processes", "guests"):
                    where.append(str(f.relative_to(ROOT)))
    assert sorted(set(where)) == ["harness/host/launch.py"]


BARE = "|".join(PROJECT)
BARE_MODULE = re.compile(rf"(?:{BARE})(?:\.\w+)+")
# A bare name after -m or -p (harness.cli, harness.guest.plugin), or imported from (fuzz.replay_api)
BARE_COMMAND = re.compile(rf"-[mp]\s+(?:{BARE})\.\w+|\bfrom\s+(?<![\w.])(?:{BARE})(?:\.\w+)*\s+import\b")


def _is_project_module(dotted: str) -> bool:
    """harness.guest.runner, conformance.conftest (and attribute paths into them): a module
    of a root folder named by its folder, not by its import name."""
    parts = dotted.split(".")
    return BARE_MODULE.fullmatch(dotted) is not None and \
        ((ROOT / parts[0] / parts[1] / "__init__.py").is_file() or (ROOT / parts[0] / f"{parts[1]}.py").is_file())


def test_the_project_is_imported_by_its_one_name():
    """Every import of the project's code and every string naming one of its modules (-m,
    -p, pytest_plugins, the commands in docstrings and docs) says afalg_conformance.X: a
    wheel installs no top-level harness or fuzz, and a checkout that imported
    harness.afalg.client beside afalg_conformance.harness.afalg.client would run it twice
    (or, where an old install still maps `harness`, run another tree's code)."""
    bad = []
    py = [ROOT / "conftest.py", *(f for folder in (*PROJECT, "afalg_conformance", "tests", "kselftest", "scripts")
                                  for f in sorted((ROOT / folder).rglob("*.py")))]
    for f in py:
        for node in ast.walk(ast.parse(f.read_text())):
            where = f"{f.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.split(".")[0] in PROJECT:
                bad.append(f"{where} from {node.module} import")
            elif isinstance(node, ast.Import):
                bad += [f"{where} import {a.name}" for a in node.names if a.name.split(".")[0] in PROJECT]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if _is_project_module(node.value):
                    bad.append(f"{where} {node.value!r}")
                bad += [f"{where} {m.group(0)!r}" for m in BARE_COMMAND.finditer(node.value)]
    texts = [ROOT / "README.md", ROOT / "tox.ini", ROOT / ".ci" / "run", *sorted((ROOT / "docs").glob("*.md")),
             *(f for folder in (*PROJECT, "kselftest", "scripts", ".github")
               for f in sorted((ROOT / folder).rglob("*")) if f.suffix in (".md", ".sh", ".yml", "") and f.is_file()
               and "corpus" not in f.parts)]
    for f in texts:
        for i, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            bad += [f"{f.relative_to(ROOT)}:{i} {m.group(0)!r}" for m in BARE_COMMAND.finditer(line)]
    assert not bad, "name the project's modules afalg_conformance.X:\n" + "\n".join(bad)
