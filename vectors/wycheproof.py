"""Wycheproof JSON test vectors, v1 format (testvectors_v1).

Top level: algorithm, schema, numberOfTests, notes {flag: {bugType, description}},
testGroups [{type, keySize, ivSize, tagSize (bits), ..., tests: [...]}]; a test
has tcId, comment, flags, result (valid | invalid | acceptable) and hex fields
(key, iv, aad, msg, ct, tag). `load` checks the structure (numberOfTests must
match, so a truncated file is caught) and gives every test the line of its
tcId, so errors point into the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .common import VectorError, unhex

RESULTS = ("valid", "invalid", "acceptable")


@dataclass
class Test:
    path: str
    line: int
    tc_id: int
    comment: str
    flags: tuple[str, ...]
    result: str
    group: dict
    fields: dict

    def bytes(self, name: str, default: bytes | None = None) -> bytes:
        if name not in self.fields:
            if default is not None:
                return default
            raise VectorError(self.path, self.line, f"tcId {self.tc_id} lacks {name!r}")
        value = self.fields[name]
        if not isinstance(value, str):
            raise VectorError(self.path, self.line, f"tcId {self.tc_id}: {name} is not a string")
        return unhex(self.path, self.line, f"tcId {self.tc_id} {name}", value)

    @property
    def where(self) -> str:
        return f"{Path(self.path).name}:{self.line}"


@dataclass
class File:
    path: str
    algorithm: str
    schema: str
    notes: dict
    tests: list[Test] = field(default_factory=list)


_TCID = re.compile(r'"tcId"\s*:\s*(\d+)')


def load(path: Path | str) -> File:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VectorError(path, None, "vector file missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise VectorError(path, None, f"cannot read: {e}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise VectorError(path, e.lineno, f"not valid JSON: {e.msg} (column {e.colno})") from None
    lines: dict[int, int] = {}
    for m in _TCID.finditer(text):
        lines.setdefault(int(m.group(1)), text.count("\n", 0, m.start()) + 1)
    if not isinstance(doc, dict):
        raise VectorError(path, 1, "top level is not an object")
    for key in ("algorithm", "schema", "numberOfTests", "testGroups"):
        if key not in doc:
            raise VectorError(path, 1, f"not a Wycheproof v1 file: no {key!r}")
    if not str(doc["schema"]).endswith(".json"):
        raise VectorError(path, 1, f"unexpected schema {doc['schema']!r}")
    out = File(str(path), doc["algorithm"], doc["schema"], doc.get("notes") or {})
    for gi, group in enumerate(doc["testGroups"]):
        if not isinstance(group, dict) or not isinstance(group.get("tests"), list):
            raise VectorError(path, None, f"testGroups[{gi}] has no tests list")
        params = {k: v for k, v in group.items() if k != "tests"}
        for t in group["tests"]:
            tc = t.get("tcId") if isinstance(t, dict) else None
            if not isinstance(tc, int):
                raise VectorError(path, None, f"testGroups[{gi}]: a test without an integer tcId")
            line = lines.get(tc, 0)
            if t.get("result") not in RESULTS:
                raise VectorError(path, line, f"tcId {tc}: result {t.get('result')!r} is not one of {RESULTS}")
            flags = t.get("flags") or []
            if not isinstance(flags, list):
                raise VectorError(path, line, f"tcId {tc}: flags is not a list")
            fields = {k: v for k, v in t.items() if k not in ("tcId", "comment", "flags", "result")}
            out.tests.append(Test(str(path), line, tc, t.get("comment", ""), tuple(flags), t["result"],
                                  params, fields))
    if len(out.tests) != doc["numberOfTests"]:
        raise VectorError(path, None, f"numberOfTests says {doc['numberOfTests']}, file holds {len(out.tests)}")
    return out
