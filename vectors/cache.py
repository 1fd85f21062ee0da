"""Vector files parsed once, on the host, for every guest.

Parsing the vector files (198 sets, 183 files) takes about 4 s of host CPU; a full run parsed each file
twice (the driver sweep, then test_kat), in the guest, under TCG: minutes of emulated
CPU. So before a guest boots, the host parses each file into a pickle
(`python -m afalg_conformance.vectors.cache build DIR`, a no-op for files already done) and the guest loads
the pickle instead (AFALG_VECTOR_CACHE=DIR, vectors/sets.py VectorSet.cases()).

A pickle is used only when it was made from the same vector file (path, size, mtime) by
the same parsing code (the sources of vectors/ and of the algorithm registry, and the
Python version): anything else, or no cache at all, parses the file as before. The
folder holds only what this tool wrote into the user's own cache directory, so loading
its pickles trusts nothing new.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import sys
from pathlib import Path

from .cases import Case

ENV = "AFALG_VECTOR_CACHE"
_CODE = [Path(__file__).parent, Path(__file__).parent.parent / "harness" / "afalg" / "algorithms.py"]
_code_key: str | None = None


def code_key() -> str:
    """What the parsing code is: a change to a loader or an adapter makes every pickle stale."""
    global _code_key
    if _code_key is None:
        h = hashlib.sha256(sys.version.encode())
        for p in _CODE:
            for f in sorted(p.glob("*.py")) if p.is_dir() else [p]:
                h.update(f.name.encode() + f.read_bytes())
        _code_key = h.hexdigest()[:16]
    return _code_key


def file_key(vs) -> str:
    f = vs.file()
    st = f.stat()
    return hashlib.sha256(f"{f}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def path(root: Path, vs) -> Path:
    return root / code_key() / f"{vs.id}.{file_key(vs)}.pickle"


def load(vs):
    """The set's parsed cases from the cache named by AFALG_VECTOR_CACHE, or None."""
    root = os.environ.get(ENV)
    if not root:
        return None
    try:
        with open(path(Path(root), vs), "rb") as f:
            rows = pickle.load(f)
        return [Case(*row) for row in rows]
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None


# A case is pickled as the tuple of its fields, not as the object: pickle rebuilds an object
# through its __dict__, field by field, and a tuple of plain values it reads in C. Case(*row)
# then costs one __init__; the vector files load 2-3 times faster (0.10 -> 0.03 s for a CAVP GCM
# file on the host, ten times that in a TCG guest, where every file is loaded twice a run).
_FIELDS = [f.name for f in dataclasses.fields(Case)]


def _rows(cases: list[Case]) -> list[tuple]:
    return [tuple(getattr(c, n) for n in _FIELDS) for c in cases]


def build(root: Path) -> tuple[int, int, list[str]]:
    """Parse every set not cached yet; (written, already there, problems). A file that does
    not parse is left out (the guest then reports it the usual way)."""
    # here, not at the top: sets imports this module (a cycle)
    from afalg_conformance.vectors.common import VectorError
    from afalg_conformance.vectors.sets import SETS
    folder = root / code_key()
    folder.mkdir(parents=True, exist_ok=True)
    written, there, problems = 0, 0, []
    keep = set()
    for vs in SETS:
        try:
            target = path(root, vs)
        except (OSError, VectorError) as e:
            problems.append(f"{vs.id}: {e}")
            continue
        keep.add(target.name)
        if target.exists():
            there += 1
            continue
        try:
            cases = vs.parse()
        except VectorError as e:
            problems.append(f"{vs.id}: {e}")
            continue
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            pickle.dump(_rows(cases), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)
        written += 1
    for old in folder.iterdir():                 # pickles of files that changed since
        if old.name not in keep:
            old.unlink(missing_ok=True)
    for stale in root.iterdir():                 # pickles made by older parsing code
        if stale.is_dir() and stale.name != folder.name:
            for f in stale.iterdir():
                f.unlink(missing_ok=True)
            stale.rmdir()
    return written, there, problems


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "build":
        print("usage: python -m afalg_conformance.vectors.cache build DIR", file=sys.stderr)
        return 2
    written, there, problems = build(Path(argv[1]))
    print(f"vector cache: {written} parsed, {there} up to date" +
          (f", {len(problems)} not parsed: {problems[0]}" if problems else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
