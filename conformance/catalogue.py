"""The clause catalogue: conformance/spec/*.toml, one file per area.

A clause is one observable rule of the interface:

    [[clause]]
    id = "SOCK-1"                       # AREA-N, stable forever
    title = "Only SOCK_SEQPACKET"
    statement = "socket(AF_ALG, type, 0) accepts SOCK_SEQPACKET only; ..."
    source = "crypto/af_alg.c alg_create"
    check = "socket(AF_ALG, SOCK_STREAM, 0) fails"   # what the test observes
    linux = "ESOCKTNOSUPPORT"           # expected token on the merged kernel
    # or, when the kernel changed:  linux = { default = "ok", "<6.2" = "ENOPROTOOPT" }
    # or, when the test computes the expectation (bytes vs. an oracle):  linux = "computed"
    untestable = "why"                  # only for clauses no user-space test can observe
    fixes = { commit = "a664bf3d603d", cve = "CVE-2026-31431" }   # the kernel change this guards
    needs = { config = ["CRYPTO_USER_API_RNG_CAVP"] }  # "!X": needs X off; alg = ["rng:stdrng"]

    [clause.linux-doc]                  # Documentation/crypto/userspace-if.rst
    says = "..."                        # what the document says
    expect = "EPERM"                    # token it implies; omit when it agrees with linux
    where = "userspace-if.rst, 'Setsockopt interface'"

    [clause.proposal-2010]              # the 2010 design proposal (the seed)
    says = "socket(AF_ALG, SOCK_STREAM, 0)"
    expect = "ok"
    where = "proposal, first example"

A profile table that is absent means the profile does not speak to the clause.
A profile table without `expect` means it agrees with `linux`.
Tokens are errno names ("EBADMSG"), "ok", or short behaviour words
("blocks", "clone", "hashed-as-data") that tests report as `seen`.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SPEC_DIR = Path(__file__).parent / "spec"
PROFILES = ("linux", "linux-doc", "proposal-2010")
CLAUSE_ID = re.compile(r"^[A-Z]+-\d+$")
COMMIT = re.compile(r"^[0-9a-f]{12,40}$")
CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
CONFIG = re.compile(r"^!?[A-Z0-9_]+$")
NEEDS_ALG = re.compile(r"^(hash|skcipher|aead|rng):\S+$")


class CatalogueError(ValueError):
    pass


@dataclass
class ProfileView:
    says: str = ""
    expect: str | None = None     # None: agrees with linux
    where: str = ""


@dataclass
class Clause:
    id: str
    title: str
    statement: str
    source: str
    check: str = ""
    linux: str | dict = "computed"
    untestable: str = ""
    area: str = ""
    profiles: dict[str, ProfileView] = field(default_factory=dict)
    # What the clause guards (LTP's .tags): {"commit": sha, "cve": id, "subject": text}
    fixes: dict[str, str] = field(default_factory=dict)
    # What a kernel must have for the clause to apply (LTP's .needs_kconfigs):
    # {"config": ["X", "!Y"], "alg": ["type:name"]}; tests of it skip with the reason otherwise
    needs: dict[str, list[str]] = field(default_factory=dict)

    def missing_config(self, config: dict[str, str] | None) -> str | None:
        """The first `needs.config` entry the kernel's config contradicts, as a skip reason;
        None when all hold or the config is unknown (then the test decides by evidence)."""
        if config is None:
            return None
        for want in self.needs.get("config", []):
            name = want.lstrip("!")
            on = config.get(name, "n") in ("y", "m")
            if on == want.startswith("!"):
                return f"unsupported:config-{'set' if on else 'missing'}=CONFIG_{name}"
        return None

    def linux_expect(self, release: str | None = None) -> str:
        if isinstance(self.linux, str):
            return self.linux
        ver = kernel_version(release) if release else None
        for cond, token in self.linux.items():
            if cond == "default" or ver is None:
                continue
            if version_matches(ver, cond):
                return token
        return self.linux.get("default", "computed")

    def expect(self, profile: str, release: str | None = None) -> str | None:
        """The token a profile expects; None when the profile is silent on the clause."""
        if profile == "linux":
            return self.linux_expect(release)
        view = self.profiles.get(profile)
        if view is None:
            return None
        return view.expect if view.expect is not None else self.linux_expect(release)


def kernel_version(release: str) -> tuple[int, int, int]:
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release or "")
    if not m:
        return (0, 0, 0)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def version_matches(ver: tuple[int, int, int], cond: str) -> bool:
    m = re.match(r"^(<=|>=|<|>|==)\s*(\d+(?:\.\d+){0,2})$", cond.strip())
    if not m:
        raise CatalogueError(f"bad version condition {cond!r}")
    op, v = m.groups()
    want = tuple(int(x) for x in v.split(".")) + (0,) * (3 - len(v.split(".")))
    return {"<": ver < want, "<=": ver <= want, ">": ver > want, ">=": ver >= want, "==": ver == want}[op]


def _parse_file(path: Path) -> list[Clause]:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise CatalogueError(f"{path}: {e}") from None
    out = []
    for raw in data.get("clause", []):
        missing = [k for k in ("id", "title", "statement", "source") if k not in raw]
        if missing:
            raise CatalogueError(f"{path}: clause {raw.get('id', '?')} lacks {', '.join(missing)}")
        if not CLAUSE_ID.match(raw["id"]):
            raise CatalogueError(f"{path}: bad clause id {raw['id']!r}")
        profiles = {}
        for p in PROFILES[1:]:
            if p in raw:
                view = raw[p]
                if not isinstance(view, dict):
                    raise CatalogueError(f"{path}: {raw['id']}.{p} must be a table")
                profiles[p] = ProfileView(view.get("says", ""), view.get("expect"), view.get("where", ""))
        fixes, needs = raw.get("fixes", {}), raw.get("needs", {})
        bad = ([k for k in fixes if k not in ("commit", "cve", "subject")] + [k for k in needs if k not in ("config", "alg")]
               + ([] if COMMIT.match(fixes.get("commit", "0" * 12)) else [f"commit {fixes['commit']!r}"])
               + ([] if CVE.match(fixes.get("cve", "CVE-0000-0000")) else [f"cve {fixes['cve']!r}"])
               + [f"config {c!r}" for c in needs.get("config", []) if not CONFIG.match(c)]
               + [f"alg {a!r}" for a in needs.get("alg", []) if not NEEDS_ALG.match(a)])
        if bad:
            raise CatalogueError(f"{path}: {raw['id']}: bad fixes/needs: {', '.join(map(str, bad))}")
        out.append(Clause(id=raw["id"], title=raw["title"], statement=raw["statement"],
                          source=raw["source"], check=raw.get("check", ""),
                          linux=raw.get("linux", "computed"), untestable=raw.get("untestable", ""),
                          area=path.stem, profiles=profiles, fixes=dict(fixes),
                          needs={k: list(v) for k, v in needs.items()}))
    return out


@functools.lru_cache(maxsize=4)
def load(spec_dir: str | None = None) -> dict[str, Clause]:
    d = Path(spec_dir) if spec_dir else SPEC_DIR
    clauses: dict[str, Clause] = {}
    for path in sorted(d.glob("*.toml")):
        for c in _parse_file(path):
            if c.id in clauses:
                raise CatalogueError(f"{path}: duplicate clause id {c.id}")
            clauses[c.id] = c
    return clauses


def get(clause_id: str) -> Clause:
    cat = load()
    if clause_id not in cat:
        raise CatalogueError(f"unknown clause {clause_id!r}: add it to conformance/spec/*.toml")
    return cat[clause_id]


def render_markdown(clauses: dict[str, Clause] | None = None) -> str:
    """SPEC.md, generated from the catalogue (tests check it is current)."""
    clauses = clauses or load()
    out = ["# AF_ALG specification: clause catalogue", "",
           "Generated from `conformance/spec/*.toml` by `afalg-conform spec`; edit the TOML, not this file.",
           "", "Profiles: `linux` (the interface as merged and as it behaves), `linux-doc` "
           "(Documentation/crypto/userspace-if.rst), `proposal-2010` (Herbert Xu's 2010 proposal).",
           "A profile column reads `=` where the profile agrees with `linux`, `—` where it is silent.", ""]
    by_area: dict[str, list[Clause]] = {}
    for c in clauses.values():
        by_area.setdefault(c.area, []).append(c)
    for area in sorted(by_area):
        out += [f"## {area}", ""]
        for c in sorted(by_area[area], key=lambda c: int(c.id.split("-")[1])):
            out += [f"### {c.id} — {c.title}", "", c.statement, "",
                    f"- Source: {c.source}"]
            if c.check:
                out.append(f"- Check: {c.check}")
            if c.untestable:
                out.append(f"- Not testable from user space: {c.untestable}")
            if c.fixes:
                out.append("- Guards: " + ", ".join(
                    f"commit `{v}`" if k == "commit" else v if k == "cve" else f"\"{v}\""
                    for k, v in c.fixes.items()))
            if c.needs:
                out.append("- Needs: " + "; ".join(
                    ", ".join(f"CONFIG_{x.lstrip('!')} {'off' if x.startswith('!') else 'on'}" if k == "config"
                              else f"`{x}`" for x in v) for k, v in c.needs.items()))
            lin = c.linux if isinstance(c.linux, str) else ", ".join(f"{k}: {v}" for k, v in c.linux.items())
            out.append(f"- linux: `{lin}`")
            for p in PROFILES[1:]:
                v = c.profiles.get(p)
                if v is None:
                    out.append(f"- {p}: —")
                elif v.expect is None:
                    out.append(f"- {p}: = ({v.where})" if v.where else f"- {p}: =")
                else:
                    out.append(f"- {p}: expects `{v.expect}` — \"{v.says}\" ({v.where})")
            out.append("")
    return "\n".join(out)
