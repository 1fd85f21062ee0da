"""pyca/cryptography's own NIST-like .txt vector files.

Same `name = value` blocks as CAVP, with the differences of the files
cryptography_vectors writes itself:
- CMAC/nist-800-38b-*.txt: COUNT, KEY, MESSAGE, OUTPUT (empty MESSAGE allowed);
- HMAC/rfc-4231-*.txt, rfc-2202-*.txt: blocks start at `Len = bits`; Key, Msg, MD;
- ciphers/AES/CTR/aes-*-ctr.txt: [ENCRYPT]/[DECRYPT], COUNT, KEY, IV, PLAINTEXT, CIPHERTEXT;
- ciphers/ChaCha20/rfc7539.txt: KEY, NONCE, INITIAL_BLOCK_COUNTER, PLAINTEXT, CIPHERTEXT;
- ciphers/ChaCha20Poly1305/openssl.txt: Key, IV, AAD, Tag, Plaintext, Ciphertext, and
  `Result = CIPHERFINAL_ERROR` for a tag that must not verify;
- ciphers/ChaCha20Poly1305/boringssl.txt: `KEY= hex`, and values that are quoted
  ASCII strings (`IN= "Ladies and ..."`, `CT= ""`).

`load` returns vectors.common.Record objects whose quoted values are already
turned into hex, so `rec.bytes(name)` works for either spelling; Result lines
set `rec.fail`.
"""

from __future__ import annotations

from pathlib import Path

from .common import Record, VectorError, read_lines, tokenize

START_KEYS = ("count", "len")
FAIL_RESULTS = ("cipherfinal_error", "fail")


def load(path: Path | str) -> list[Record]:
    path = Path(path)
    records = tokenize(path, read_lines(path), START_KEYS)
    if not records:
        raise VectorError(path, None, "no COUNT/Len blocks: not a cryptography .txt vector file")
    for r in records:
        for name, (value, line) in list(r.fields.items()):
            if value.startswith('"'):
                if len(value) < 2 or not value.endswith('"'):
                    raise VectorError(path, line, f"unterminated quoted string in {name}")
                try:
                    r.fields[name] = (value[1:-1].encode("ascii").hex(), line)
                except UnicodeEncodeError:
                    raise VectorError(path, line, f"{name} is not ASCII") from None
        if "result" in r.fields:
            value, line = r.fields["result"]
            r.fail = value.lower() in FAIL_RESULTS
            if not r.fail and value.lower() not in ("ok", "pass"):
                raise VectorError(path, line, f"unknown Result {value!r}")
    return records
