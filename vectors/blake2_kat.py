"""The BLAKE2 reference KAT files (blake2.net's blake2b-test.txt, as pycryptodome ships it).

Layout: `#` comments, then blocks of tab-separated `name:<TAB>hex` lines --
`in:` (the message, empty for the first), `key:`, `hash:` -- separated by blank
lines. A block starts at `in:`. blake2.net's file ends in the word `ok` printed by the
generator, glued to the last hash without a newline: it is cut off there (only there). Returns vectors.common.Record objects, so
`rec.bytes("in")`, `rec.bytes("key")`, `rec.bytes("hash")` work as elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from .common import Record, VectorError, read_lines

FIELDS = ("in", "key", "hash")


def load(path: Path | str) -> list[Record]:
    path = Path(path)
    records: list[Record] = []
    cur: Record | None = None
    for n, raw in enumerate(read_lines(path), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = raw.partition(":")
        name = name.strip().lower()
        if not sep or name not in FIELDS:
            raise VectorError(path, n, f"not a 'in:/key:/hash:' line: {line[:60]!r}")
        if name == "in":
            cur = Record(str(path), n, file=path.name)
            records.append(cur)
        elif cur is None:
            raise VectorError(path, n, f"{name}: before the first in:")
        if name in cur.fields:
            raise VectorError(path, n, f"{name} given twice in the block starting at line {cur.line}")
        cur.fields[name] = (value.strip(), n)
    if not records:
        raise VectorError(path, None, "no in:/key:/hash: blocks: not a BLAKE2 KAT file")
    last = records[-1].fields.get("hash")
    if last and last[0].endswith("ok") and len(last[0]) % 2 == 0:
        records[-1].fields["hash"] = (last[0][:-2], last[1])      # the generator's trailing "ok"
    for r in records:
        missing = [f for f in FIELDS if f not in r.fields]
        if missing:
            raise VectorError(path, r.line, f"block lacks {', '.join(missing)}")
    return records
