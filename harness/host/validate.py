"""Options and file arguments, checked before any guest starts.

A bad value is a one-line HarnessError naming the option (exit status 2), never a
traceback, a guest booted for nothing, or a run that "passes" having selected nothing.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path

from afalg_conformance.harness.host.vm import PROJECT_ROOT, HarnessError

# A full run writes a few MB (events, results.json with vectors, console logs); a fuzz
# campaign more. Below this a run would die on ENOSPC halfway.
MIN_RESULTS_FREE = 20 << 20
MAX_CPUS = 64


def shard(value: str | None) -> str | None:
    if value is None:
        return None
    m = re.fullmatch(r"(\d+)/(\d+)", value)
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise HarnessError(f"--shard {value}: expected I/N with 1 <= I <= N")
    return value


def memory(value: str) -> str:
    m = re.fullmatch(r"(\d+)([KMGT]?)", value.strip(), re.I)
    if not m:
        raise HarnessError(f"--memory {value}: expected a size like 2G or 1536M")
    size = int(m[1]) << {"": 20, "K": 10, "M": 20, "G": 30, "T": 40}[m[2].upper()]
    if size < 256 << 20:
        raise HarnessError(f"--memory {value}: a guest needs at least 256M")
    return value


def cpus(value: int, option: str = "--cpus") -> int:
    if not 1 <= value <= MAX_CPUS:
        raise HarnessError(f"{option} {value}: expected 1 to {MAX_CPUS}")
    return value


def positive(option: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise HarnessError(f"{option} {value:g}: expected a number of seconds above 0")


# What a run leaves in its folder: a second run there would read the first one's events
# as its own (the host tails events-N.jsonl from the start) and overwrite its results.
RUN_FILES = ("results.json", "events-*.jsonl", "matrix.ktap", "*/results.json", "*/events-*.jsonl")


def results_dir(path: Path, fresh: bool = False) -> Path:
    """Create the results folder (as the run would) and prove it takes a file and has room:
    a folder under /proc, on a read-only or full file system, is refused before boot.
    fresh: the folder must not hold an earlier run."""
    path = Path(path).expanduser()
    if fresh and path.is_dir():
        old = next((f for pat in RUN_FILES for f in sorted(path.glob(pat))), None)
        if old is not None:
            raise HarnessError(f"--results {path}: already holds a run ({old.relative_to(path)}); "
                               "give a new folder, nothing of the earlier run is overwritten")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".afalg-write-test"
        with open(probe, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
        free = shutil.disk_usage(path).free
    except OSError as e:
        why = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
        raise HarnessError(f"--results {path}: cannot write there ({why}: {e.strerror or e})") from None
    if free < MIN_RESULTS_FREE:
        raise HarnessError(f"--results {path}: only {free >> 10} KiB free; a run needs at least "
                           f"{MIN_RESULTS_FREE >> 20} MiB (ENOSPC would stop it halfway)")
    return path.resolve()


# What a --driver pattern may hold: the characters of a cra_driver_name (letters, digits,
# - _ . , + @ and the parentheses of a template instance) and the glob's * ? [ ] !.
_DRIVER_CHARS = re.compile(r"[A-Za-z0-9_.,+@()*?\[\]!-]+")
MAX_DRIVER_NAME = 127            # CRYPTO_MAX_ALG_NAME (128) with its NUL


def driver_pattern(value: str) -> str:
    """A --driver value: a /proc/crypto driver name or a glob over driver names (*-aesni).
    Whether a driver matches is the guest's to say (its /proc/crypto); a value no driver
    name could ever match is refused here."""
    v = value
    if not v:
        raise HarnessError("--driver '': expected a driver name or a glob such as '*-aesni'")
    if len(v) > MAX_DRIVER_NAME:
        raise HarnessError(f"--driver {v[:40]}...: {len(v)} characters; a driver name has at most {MAX_DRIVER_NAME}")
    if not _DRIVER_CHARS.fullmatch(v):
        bad = next(c for c in v if not _DRIVER_CHARS.fullmatch(c))
        raise HarnessError(f"--driver {v!r}: {bad!r} cannot be in a driver name or a glob over one "
                           "(letters, digits, - _ . , + @ ( ) and * ? [ ] !)")
    depth, i = 0, 0
    while i < len(v):
        c = v[i]
        if c == "[":
            end = v.find("]", i + 2 if v[i + 1:i + 2] in ("!", "]") else i + 1)
            if end < 0:
                raise HarnessError(f"--driver {v!r}: '[' at {i + 1} is not closed (a glob class is [...])")
            i = end
        elif c == "]":
            raise HarnessError(f"--driver {v!r}: ']' at {i + 1} closes no '['")
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise HarnessError(f"--driver {v!r}: ')' at {i + 1} closes no '('")
        i += 1
    if depth:
        raise HarnessError(f"--driver {v!r}: unbalanced parentheses (a template instance is name(inner))")
    return v


def test_paths(paths: list[str]) -> None:
    """Test files or node ids, as the guest resolves them (from the project folder)."""
    for p in paths:
        file = p.split("::")[0]
        if not (Path(file).exists() or (PROJECT_ROOT / file).exists()):
            raise HarnessError(f"test path {p}: no such file (relative to {PROJECT_ROOT} or here)")


def reproducer(path: str, fuzzer: str | None, max_len: int = 1 << 20) -> dict:
    """A saved fuzz input: a regular file with its fuzzer named (its .json sidecar, as the
    crash store writes it, or the fuzzer given on the command line). Returns the sidecar."""
    src = Path(path)
    if not src.exists():
        raise HarnessError(f"--reproduce {path}: does not exist")
    if not src.is_file():
        raise HarnessError(f"--reproduce {path}: not a regular file")
    if src.stat().st_size > max_len:
        raise HarnessError(f"--reproduce {path}: {src.stat().st_size} bytes, larger than any fuzz input "
                           f"({max_len} at most): not a reproducer")
    side = src.with_name(src.name + ".json")
    meta: dict = {}
    if side.exists():
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError) as e:
            raise HarnessError(f"--reproduce {path}: its sidecar {side.name} is not valid JSON ({e})") from None
        if not isinstance(meta, dict):
            raise HarnessError(f"--reproduce {path}: its sidecar {side.name} is not a JSON object")
    if not (fuzzer or meta.get("fuzzer")):
        raise HarnessError(f"--reproduce {path}: not a reproducer (no {side.name} beside it naming the fuzzer); "
                           "if it is a raw fuzz input, name its fuzzer: afalg-conform fuzz NAME --reproduce FILE")
    return meta
