"""`afalg-conform fuzz-report DIR [DIR ...]`: what fuzz campaigns reached, side by side.

Reads the results folders `afalg-conform fuzz` wrote (stats-NAME.json from the guest,
fuzz-NAME.log from libFuzzer, summary.json from the host) and prints, per fuzzer:
executions, rate, corpus, kernel PCs per input, distinct kernel PCs and distinct
af_alg/algif KCOV sites reached "of N" (KCOV kernels whose build.json lists the sites; the
PCs after calls to functions that tail-called the tracer are counted apart, as covmap does),
and the number of distinct outcomes -- (call, detail, length class, errno) -- each
campaign reached, and how many of them are setsockopt (option, length class, errno). With --outcomes it lists them, grouped by
call and detail: `setsockopt ALG_SET_KEY: 0 ENOPROTOOPT | <16 EBUSY ENOSYS ok | 16 ok`.
With two folders it also lists the outcomes only one of them reached, which is how the
with/without-kernel-feedback comparison of issue 4 is read. From the statistics' growth curve
it gives each campaign's af_alg/algif PCs (outcomes without KCOV) at 1, 2 and 5 minutes and
at its end, and how long each took to reach the smallest final value of those compared; the
last line is the af_alg/algif PCs of all of them together (campaigns on one build).
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cached_property
from pathlib import Path

from afalg_conformance.harness.host import vm
from afalg_conformance.fuzz.cli import FUZZERS, parse_log
from afalg_conformance.fuzz.coverage import STATS_EVERY
from afalg_conformance.harness.errors import HarnessError

# length classes in the order surface.length_class produces them, for stable listings
_LEN_ORDER = ["none", "neg", "0", "<16", "16", "20", "24", "28", "32", "36", "48", "<64", "64", "<=256",
              "<=4096", "<1M", "huge"]


class Campaign:
    """One results folder of `afalg-conform fuzz`."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_dir():
            raise HarnessError(f"{path}: not a folder")
        self.stats: dict[str, dict] = {}
        for n in FUZZERS:
            f = path / f"stats-{n}.json"
            if f.exists():
                try:
                    self.stats[n] = json.loads(f.read_text())
                except ValueError as e:
                    raise HarnessError(f"{f}: corrupt statistics file ({e})") from None
        if not self.stats:
            raise HarnessError(f"{path}: no stats-fuzz_*.json; is this an `afalg-conform fuzz` results folder?")
        try:
            self.summary = json.loads((path / "summary.json").read_text())
        except (OSError, ValueError):
            self.summary = {}
        self.label = path.name

    def row(self, name: str) -> dict:
        st = self.stats[name]
        log = self.path / f"fuzz-{name}.log"
        lp = parse_log(log.read_text(errors="replace")) if log.exists() else {"corpus": 0, "execs": 0}
        execs = max(st.get("execs", 0), lp["execs"])
        secs = st.get("seconds") or 0
        return {"execs": execs, "seconds": secs, "rate": round(st.get("execs", 0) / secs, 1) if secs else 0.0,
                "corpus": lp["corpus"], "mode": st.get("mode", "?"), "fed": st.get("fed", False),
                "feed_scope": st.get("feed_scope"),
                "outcomes": len(st.get("outcome_list", [])),
                "setsockopt": sum(1 for o in st.get("outcome_list", []) if o.startswith("setsockopt|")),
                "pcs_per_input": st.get("pcs_per_input", 0),
                "distinct_pcs": st.get("distinct_pcs", 0), "afalg_pcs": st.get("distinct_afalg_pcs", 0)}

    def outcomes(self, name: str) -> set[str]:
        return set(self.stats[name].get("outcome_list", []))

    @cached_property
    def _build_sites(self) -> dict | None:
        """build.json's afalg_kcov_sites of the target, if `build-kernel` recorded them for the
        same range the guest used."""
        try:
            t = vm.resolve_target(self.summary.get("target", ""))
            info = json.loads((Path(t.image).parent / "build.json").read_text())
            sites = info["afalg_kcov_sites"]
        except Exception:       # noqa: BLE001 - any failure only means: no denominator
            return None
        ranges = {tuple(st.get("afalg_range") or ()) for st in self.stats.values()} - {()}
        return sites if ranges == {tuple(sites["range"])} else None

    @property
    def afalg_sites(self) -> int | None:
        """KCOV call sites in af_alg/algif_* of the target."""
        return self._build_sites["sites"] if self._build_sites else None

    @cached_property
    def site_pcs(self) -> frozenset[int] | None:
        """The PC KCOV records for each site (build.json of a build since 2026-12-04): a trace's
        other af_alg/algif PCs follow calls to functions that tail-called the tracer."""
        pcs = (self._build_sites or {}).get("pcs")
        return frozenset(int(p, 16) for p in pcs) if pcs else None

    def sites_of(self, name: str) -> tuple[int, int] | None:
        """(sites reached, other af_alg/algif PCs) of a fuzzer, when the site list is known."""
        st = self.stats[name]
        if self.site_pcs is None or st.get("afalg_pc_list") is None:
            return None
        got = _pc_set(st)
        on = len(got & self.site_pcs)
        return on, len(got) - on

    @property
    def kernel(self) -> str:
        return self.summary.get("kernel_release") or self.summary.get("target") or "?"


def _pc_set(stats: dict) -> set[int]:
    """A fuzzer's af_alg/algif PCs (stored as hex strings; ints in older statistics)."""
    return {int(p, 16) if isinstance(p, str) else p for p in stats.get("afalg_pc_list") or ()}


def _len_key(c: str) -> tuple:
    return (_LEN_ORDER.index(c) if c in _LEN_ORDER else len(_LEN_ORDER), c)


def _printable(text: str) -> str:
    """Details can hold the fuzzer's bytes (a NUL inside a bind type): escape them."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def group_outcomes(outcomes: set[str]) -> list[str]:
    """`call detail: lenclass errno errno | lenclass errno` lines, one per (call, detail)."""
    by: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for o in outcomes:
        parts = o.split("|")
        if len(parts) < 4:
            continue
        call, errno_, length = parts[0], parts[-1], parts[-2]
        detail = "|".join(parts[1:-2])
        by[(call, detail)][length].add(errno_)
    lines = []
    for (call, detail), lens in sorted(by.items()):
        cells = " | ".join(f"{lc} {' '.join(sorted(e))}" for lc, e in sorted(lens.items(), key=lambda kv: _len_key(kv[0])))
        lines.append(_printable(f"{call} {detail}: {cells}"))
    return lines


GROWTH_MARKS = (60, 120, 300)
# the statistics are dumped at the first traced call after GROWTH_STEP seconds since the last
# dump (so a little later each time); the last dump comes up to one step before the end
GROWTH_STEP = STATS_EVERY


def _at(growth: list, t: float, col: int):
    """The value in column col at t seconds: of the last point no more than half a dump
    interval after t; None when the campaign had ended more than a dump interval before t."""
    if not growth or growth[-1][0] + GROWTH_STEP < t:
        return None
    best = None
    for p in growth:
        if p[0] <= t + GROWTH_STEP / 2:
            best = p[col]
    return best


def _first_reaching(growth: list, col: int, value: int) -> float | None:
    return next((p[0] for p in growth if p[col] >= value), None)


def growth_lines(campaigns: list[Campaign], name: str) -> list[str]:
    """When each campaign got where it got: af_alg/algif PCs (KCOV) or outcomes at fixed times,
    and how long each took to reach the smallest final value of them all. Arms that end on
    the same plateau can still differ in how soon they reach it."""
    have = [c for c in campaigns if c.stats.get(name, {}).get("growth")]
    if not have:
        return []
    without = [c.label for c in campaigns if name in c.stats and c not in have]
    col, what = (2, "af_alg/algif PCs") if all(c.stats[name]["growth"][-1][2] for c in have) else (3, "outcomes")
    target = min(c.stats[name]["growth"][-1][col] for c in have)
    out = [f"{what} at {' / '.join(f'{m} s' for m in GROWTH_MARKS)} / the end; time to {target} "
           f"(the smallest final):"]
    for c in have:
        g = c.stats[name]["growth"]
        vals = " / ".join("-" if (v := _at(g, m, col)) is None else f"{v:,}" for m in GROWTH_MARKS)
        t = _first_reaching(g, col, target)
        out.append(f"    {c.label}: {vals} / {g[-1][col]:,} ({g[-1][0]:g} s); {'-' if t is None else f'{t:g} s'}")
    if without:            # statistics from before the growth curve: not in the comparison
        out.append(f"    (no growth curve, left out: {', '.join(without)})")
    return out


def union_line(campaigns: list[Campaign]) -> list[str]:
    """The af_alg/algif PCs of every fuzzer of every campaign, together, when more than one
    contributed. PCs are addresses: campaigns on different builds (another af_alg/algif text
    range) have no union."""
    with_pcs = [(c, st) for c in campaigns for st in c.stats.values() if st.get("afalg_pc_list")]
    if len(with_pcs) < 2:
        return []
    ranges = {tuple(st.get("afalg_range") or ()) for _c, st in with_pcs}
    if len(ranges) > 1:
        return [f"af_alg/algif PCs together: none counted, the campaigns ran on {len(ranges)} different builds"]
    union = set().union(*(_pc_set(st) for _c, st in with_pcs))
    site_lists = {c.site_pcs for c, _st in with_pcs}
    if len(site_lists) == 1 and None not in site_lists:
        sites = site_lists.pop()
        on = len(union & sites)
        return [f"af_alg/algif KCOV sites of every fuzzer and campaign above together: {on:,} of "
                f"{len(sites):,} (and {len(union) - on:,} PCs after calls to functions that "
                f"tail-called the tracer: their coverage, not sites)"]
    denominators = {c.afalg_sites for c, _st in with_pcs}
    of = f" ({denominators.pop():,} sites: a PC is not a site, see covmap)" if (
        len(denominators) == 1 and None not in denominators) else ""
    return [f"af_alg/algif PCs of every fuzzer and campaign above together: {len(union):,}{of}"]


def _fmt(v) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def report(campaigns: list[Campaign], list_outcomes: bool = False) -> str:
    out = []
    names = [n for n in FUZZERS if any(n in c.stats for c in campaigns)]
    cols = [("execs", "execs"), ("seconds", "s"), ("rate", "execs/s"), ("corpus", "corpus"),
            ("outcomes", "outcomes"), ("setsockopt", "of which setsockopt"), ("pcs_per_input", "PCs/input"), ("distinct_pcs", "kernel PCs"),
            ("afalg_pcs", "af_alg/algif PCs")]
    for n in names:
        out.append(f"## {n.removeprefix('fuzz_')}")
        out.append("")
        out.append("| campaign | kernel | coverage | " + " | ".join(h for _k, h in cols) + " |")
        out.append("|---|---|---|" + "---:|" * len(cols))
        for c in campaigns:
            if n not in c.stats:
                continue
            r = c.row(n)
            on = c.sites_of(n)
            if on is not None:
                r["afalg_pcs"] = f"{on[0]:,} of {c.afalg_sites:,} sites (+{on[1]:,} other PCs)"
            elif r["afalg_pcs"] and c.afalg_sites:
                r["afalg_pcs"] = f"{r['afalg_pcs']:,} PCs, {c.afalg_sites:,} sites"
            fed = f" (fed: {r['feed_scope']})" if r["feed_scope"] else " (fed)"
            mode = r["mode"] + (fed if r["fed"] else " (not fed)" if r["mode"].startswith("kcov") else "")
            out.append(f"| {c.label} | {c.kernel} | {mode} | " + " | ".join(_fmt(r[k]) for k, _h in cols) + " |")
        out.append("")
        grown = growth_lines(campaigns, n)
        if grown:
            out.extend(grown + [""])
        have = [c for c in campaigns if n in c.stats]
        if len(have) == 2:
            a, b = have
            oa, ob = a.outcomes(n), b.outcomes(n)
            out.append(f"outcomes reached by both: {len(oa & ob)}; only {a.label}: {len(oa - ob)}; "
                       f"only {b.label}: {len(ob - oa)}")
            fa, fb = set(a.stats[n].get("afalg_functions", {})), set(b.stats[n].get("afalg_functions", {}))
            if fa or fb:
                out.append(f"af_alg/algif functions reached: {a.label} {len(fa)}, {b.label} {len(fb)}; "
                           f"only {a.label}: {', '.join(sorted(fa - fb)) or '-'}; "
                           f"only {b.label}: {', '.join(sorted(fb - fa)) or '-'}")
            if list_outcomes:
                for label, diff in ((a.label, oa - ob), (b.label, ob - oa)):
                    out.append("")
                    out.append(f"only {label}:")
                    out.extend(f"    {x}" for x in group_outcomes(diff))
            out.append("")
        elif list_outcomes:
            for c in have:
                out.append(f"distinct outcomes of {c.label} (call detail: length class errno ...):")
                out.extend(f"    {x}" for x in group_outcomes(c.outcomes(n)))
                out.append("")
    out.extend(union_line(campaigns))
    return "\n".join(out).rstrip() + "\n"


def cmd_report(a) -> int:
    campaigns = [Campaign(Path(d)) for d in a.dirs]
    labels = [c.label for c in campaigns]
    if len(set(labels)) != len(labels):        # same folder names under different parents
        for c in campaigns:
            c.label = str(c.path)
    print(report(campaigns, a.outcomes), end="")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("fuzz-report", help="compare fuzz campaigns: rates, corpus, kernel PCs, outcomes",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("dirs", nargs="+", metavar="DIR", help="results folders of `afalg-conform fuzz`")
    p.add_argument("--outcomes", action="store_true", help="list the distinct outcomes (or, for two, the difference)")
    p.set_defaults(fn=cmd_report)
