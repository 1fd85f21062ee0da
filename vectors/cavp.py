"""NIST CAVP response files (.rsp).

Layout: `#` comments, bracketed section headers (`[Keylen = 128]`,
`[Alen = 0, Plen = 0, Nlen = 7, Tlen = 4]`, `[ENCRYPT]`), then blocks of
`Name = hex` lines. A block starts at `Count = n` (ciphers, AEADs) or
`Len = bits` (hashes, which have no Count). A bare `FAIL` line marks a decrypt
vector that must fail authentication; CCM's DVPT files say `Result = Fail`
instead. Values that precede the first block of a section (CCM Key/Nonce) or of
the file (CCM `Plen = 24`) are inherited by every block after them.

    records = cavp.load(path)            # [Record], see vectors.common.Record
    rec.bytes("key"), rec.int("len"), rec.params["keylen"], rec.fail
"""

from __future__ import annotations

from pathlib import Path

from .common import Record, VectorError, read_lines, tokenize

START_KEYS = ("count", "len")


def load(path: Path | str) -> list[Record]:
    path = Path(path)
    records = tokenize(path, read_lines(path), START_KEYS)
    if not records:
        raise VectorError(path, None, "no Count/Len blocks: not a CAVP response file")
    for r in records:
        if "result" in r.fields:                      # CCM DVPT: Result = Pass | Fail
            word = r.fields["result"][0].split()[0].lower()
            if word not in ("pass", "fail"):
                raise VectorError(path, r.fields["result"][1], f"Result must be Pass or Fail, not {word!r}")
            r.fail = word == "fail"
    return records
