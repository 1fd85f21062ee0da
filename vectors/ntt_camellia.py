"""NTT's Camellia known-answer file (t_camelia.txt, as cryptography ships it per key size:
ciphers/Camellia/camellia-{128,192,256}-ecb.txt).

Layout: `#` comments; `K No.NNN : hex bytes` sets the key for the `P No.NNN : ...` and
`C No.NNN : ...` pairs that follow it, the numbers starting again under each key. Returns
vectors.common.Record objects with the CAVP loaders' field names (key, plaintext, ciphertext,
count = KEY.PAIR), so the skcipher adapter reads them as it reads an ECB .rsp file.
"""

from __future__ import annotations

import re
from pathlib import Path

from .common import Record, VectorError, read_lines

LINE = re.compile(r"([KPC])\s+No\.(\d+)\s*:\s*(.*)")


def load(path: Path | str) -> list[Record]:
    path = Path(path)
    records: list[Record] = []
    key: tuple[str, int, str] | None = None        # hex, line, number
    keys: set[str] = set()
    pairs: set[str] = set()                         # under the current key
    cur: Record | None = None
    pending: str | None = None                      # the number of the P line awaiting its C
    for n, raw in enumerate(read_lines(path), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = LINE.fullmatch(line)
        if m is None:
            raise VectorError(path, n, f"not a 'K|P|C No.N : hex' line: {line[:60]!r}")
        kind, num, value = m.groups()
        if not value:
            raise VectorError(path, n, f"{kind} No.{num} has no value")
        if kind != "C" and pending is not None:
            raise VectorError(path, cur.line, f"P No.{pending} has no C line")
        if kind == "K":
            if key is not None and not pairs:
                raise VectorError(path, key[1], f"K No.{key[2]} has no P/C pairs")
            if num in keys:
                raise VectorError(path, n, f"K No.{num} given twice")
            keys.add(num)
            key, cur, pairs = (value, n, num), None, set()
        elif kind == "P":
            if key is None:
                raise VectorError(path, n, "P before the first K line")
            if num in pairs:
                raise VectorError(path, n, f"P No.{num} given twice under K No.{key[2]}")
            pairs.add(num)
            pending = num
            cur = Record(str(path), n, file=path.name)
            cur.fields = {"count": (f"{key[2]}.{num}", n), "key": (key[0], key[1]), "plaintext": (value, n)}
            records.append(cur)
        else:
            if pending != num:
                raise VectorError(path, n, f"C No.{num} does not follow its P line")
            cur.fields["ciphertext"] = (value, n)
            pending = None
    if pending is not None:
        raise VectorError(path, cur.line, f"P No.{pending} has no C line")
    if key is not None and not pairs:
        raise VectorError(path, key[1], f"K No.{key[2]} has no P/C pairs")
    if not records:
        raise VectorError(path, None, "no K/P/C lines: not an NTT Camellia file")
    return records
