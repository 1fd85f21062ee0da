"""/proc/crypto: which drivers implement which algorithm, and their properties."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

# /proc/crypto 'type' values that AF_ALG can bind as each socket type.
BINDABLE = {
    "hash": {"ahash", "shash"},
    "skcipher": {"skcipher", "lskcipher"},
    "aead": {"aead"},
    "rng": {"rng"},
}


@dataclass
class Entry:
    name: str
    driver: str
    module: str = ""
    priority: int = 0
    type: str = ""
    internal: bool = False
    selftest: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def int_field(self, key: str, default: int = 0) -> int:
        try:
            return int(self.fields.get(key, default))
        except ValueError:
            return default


def _entry(block: str) -> Entry | None:
    kv: dict[str, str] = {}
    for line in block.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            kv[k.strip()] = v.strip()
    if "name" not in kv or "driver" not in kv:
        return None
    return Entry(name=kv["name"], driver=kv["driver"], module=kv.get("module", ""),
                 priority=int(kv.get("priority", "0") or 0), type=kv.get("type", ""),
                 internal=kv.get("internal") == "yes", selftest=kv.get("selftest", ""),
                 fields=kv)


# Each block's parse, by its text. The suite reads /proc/crypto around every bind (a bind can
# register a template instance); under TCG the read costs ~10 ms and a whole parse of its
# ~300 entries ~60 ms. The text seldom repeats whole (each entry's refcnt moves as sockets
# come and go: 257 of 574 reads in a profile of test_kat + the driver sweep were new texts),
# but all its blocks except a few do, so only those are parsed again. Entries are shared
# between callers: read-only.
_blocks: dict[str, Entry | None] = {}
_BLOCKS_MAX = 20000


def parse(text: str) -> list[Entry]:
    entries: list[Entry] = []
    if len(_blocks) > _BLOCKS_MAX:
        _blocks.clear()
    for block in text.split("\n\n"):
        try:
            e = _blocks[block]
        except KeyError:
            e = _blocks[block] = _entry(block)
        if e is not None:
            entries.append(e)
    return entries


def read(path: str = "/proc/crypto") -> list[Entry]:
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return []
    return parse(text)


def loaded_modules(path: str = "/proc/modules") -> str:
    """The names of the loaded modules, as one string to compare: a module loaded since an
    answer (by another test, or the kernel's own request) can change the kernel's answer to
    a bind. A few lines, about 1 ms to read under TCG."""
    try:
        with open(path) as f:
            return " ".join(line.split(" ", 1)[0] for line in f)
    except OSError:
        return ""


def drivers_for(entries: list[Entry], alg_type: str, name: str) -> list[Entry]:
    """Every non-internal driver of `name` that AF_ALG can bind as `alg_type`, best first.

    The same driver can appear twice (e.g. as shash and ahash); keep one.
    """
    kinds = BINDABLE[alg_type]
    seen, out = set(), []
    for e in sorted(entries, key=lambda e: -e.priority):
        if e.name == name and e.type in kinds and not e.internal and e.driver not in seen:
            seen.add(e.driver)
            out.append(e)
    return out


def driver_of(entries: list[Entry], alg_type: str, name: str) -> str | None:
    """The driver a bind of the generic `name` resolves to: highest priority wins."""
    if any(e.driver == name for e in entries):
        return name
    d = drivers_for(entries, alg_type, name)
    return d[0].driver if d else None


# -- driver focus (afalg-conform run --driver PATTERN) --------------------------------------------
GLOB_CHARS = "*?["


def driver_matches(pattern: str, driver: str) -> bool:
    """A --driver pattern (a driver name or a shell glob: *, ?, [..]) against one driver name;
    case-sensitive, as the kernel compares names."""
    return fnmatch.fnmatchcase(driver, pattern)


def focus_driver(entries: list[Entry], alg_type: str, name: str, patterns: list[str]) -> Entry | None:
    """The driver a driver-focused run binds in place of the algorithm `name`, or None (bind
    `name` itself). The one rule every bind of the suite goes through:
    - only drivers /proc/crypto lists for `name` itself (its cra_name), bindable as
      alg_type and not internal, can stand in for it;
    - the first pattern (in the order given) that matches one of them decides;
    - among the drivers that pattern matches, the highest priority wins (the kernel's own
      rule for a generic name), then the first listed.
    A name that is itself a driver name (cbc(aes-generic), aes-generic) has no entry
    named so and is bound as it is."""
    candidates = drivers_for(entries, alg_type, name)
    for pattern in patterns:
        hit = [e for e in candidates if driver_matches(pattern, e.driver)]
        if hit:
            return hit[0]
    return None


def focus_matches(entries: list[Entry], pattern: str) -> list[Entry]:
    """Every driver a --driver pattern selects: non-internal, of a type AF_ALG binds."""
    kinds = set().union(*BINDABLE.values())
    seen, out = set(), []
    for e in sorted(entries, key=lambda e: -e.priority):
        if e.type in kinds and not e.internal and e.driver not in seen and driver_matches(pattern, e.driver):
            seen.add(e.driver)
            out.append(e)
    return out
