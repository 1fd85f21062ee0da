"""libFuzzer's dictionary for the fuzzers, made from the surface tables and the algorithm
registry: `python3 -m afalg_conformance.fuzz.dictionary` prints it.

Every word is a 32-bit value written little-endian, the one form in which a decoder takes a
number from the input as it stands (Source.pick_or_raw: FuzzedDataProvider reads integers
from the input's end, least significant byte first in memory). The words are what the kernel
compares a caller's numbers with: option and control message numbers, operations, the sizes
of every registered algorithm (keys, IVs, blocks, digests, tags) and the cmsg_len of an IV
of each size. libFuzzer inserts and overwrites them (its "DE"/"PersAutoDict" mutations),
which a table index cannot give: a length nobody listed, or a tag size an unlisted driver
takes. Algorithm names are not words: a bind takes its name from a table by index.
The engine passes it (-dict=) unless the command line names one; `-dict=/dev/null` runs
without.
"""

from __future__ import annotations

import os
import tempfile

from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg.cmsg import cmsg_len
from afalg_conformance.harness.afalg.constants import SOL_ALG, AlgOp

from . import surface


def words() -> dict[int, list[str]]:
    """value -> why it is a word (sorted by value)."""
    out: dict[int, list[str]] = {}

    def add(v: int, why: str) -> None:
        reasons = out.setdefault(v & 0xFFFFFFFF, [])
        if why not in reasons:
            reasons.append(why)

    for o in surface.OPTIONS:
        if o.level == SOL_ALG:
            add(int(o.opt), f"optname {o.name}")
    for c in surface.CMSGS:
        if c.level == SOL_ALG:
            add(int(c.type), f"cmsg {c.name}")
    for op in AlgOp:
        add(int(op), f"op {op.name}")
    add(cmsg_len(4), "cmsg_len of a u32")
    for a in algorithms.ALGORITHMS.values():
        for k in a.key_sizes:
            add(k, f"key size of {a.name}")
        if a.ivsize:
            add(a.ivsize, f"IV size of {a.name}")
            add(cmsg_len(4 + a.ivsize), f"cmsg_len of {a.name}'s IV")
        if a.blocksize > 1:
            add(a.blocksize, f"block size of {a.name}")
        if a.digestsize:
            add(a.digestsize, f"digest size of {a.name}")
        for t in a.authsizes:
            add(t, f"tag size of {a.name}")
    return dict(sorted(out.items()))


def render(table: dict[int, list[str]] | None = None) -> str:
    lines = ["# afalg-conformance: little-endian u32 words (fuzz/dictionary.py)"]
    for v, why in (words() if table is None else table).items():
        lines.append(f"# {v}: {'; '.join(why[:3])}{' ...' if len(why) > 3 else ''}")
        lines.append('u32_%d="%s"' % (v, "".join(f"\\x{b:02x}" for b in v.to_bytes(4, "little"))))
    return "\n".join(lines) + "\n"


def write_temp() -> tuple[str, int]:
    """The dictionary in a temporary file (the guest's /tmp): its path and how many words."""
    table = words()
    fd, path = tempfile.mkstemp(prefix="afalg-fuzz-", suffix=".dict")
    with os.fdopen(fd, "w") as f:
        f.write(render(table))
    return path, len(table)


if __name__ == "__main__":
    print(render(), end="")
