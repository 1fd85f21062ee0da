"""The coverage map of `afalg-conform coverage`: which KCOV sites of crypto/af_alg.c and
crypto/algif_*.c the conformance suite reaches, which the fuzz corpora reach, and which
neither does, with the tests (and inputs) that reach each one.

A KCOV *site* is a call to __sanitizer_cov_trace_pc in the af_alg/algif text (objdump of the
target's vmlinux over the range fuzz/coverage.py uses; vms/build_kernel.py counts the same
calls for build.json). The PC KCOV records for a site is that call's return address: the
address of the instruction after it (call + 5 on x86-64, taken here from the disassembly, not
assumed). A recorded PC that is no site's return address is one of two things:
  - the return address of a call to another function (`callee_pcs`): that function ended by
    tail-calling the tracer (`jmp __sanitizer_cov_trace_pc`, seen in sock_kfree_s,
    __folio_put, unpin_user_page... on kcov-6.12), so its last block's PC is the caller's
    return address. Coverage of the callee, not a site of af_alg/algif: counted apart;
  - anything else (`unmatched_pcs`): the guest's and the host's addresses disagree (KASLR
    not undone, another build). Expected to be empty; reported when not.

Function names come from System.map (the kernel has no debug info: no source lines); a site
is named function+offset, the offset of its call instruction in the function, with the
first instructions after it from objdump. The source file is inferred from the function's
name (hash_* algif_hash.c, skcipher_* algif_skcipher.c, aead_* algif_aead.c, rng_*
algif_rng.c, the rest af_alg.c).
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from afalg_conformance.fuzz.engine import NAMES_FILE, load_names
from afalg_conformance.fuzz.guestrun import names_path
from afalg_conformance.harness.afalg.kcov import AFALG_ANCHORS, Symbols
from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.results.model import Run
from afalg_conformance.vms import build_kernel

SEEDS = Path(__file__).resolve().parent / "corpus"
FUZZERS = ("fuzz_setsockopt", "fuzz_cmsg", "fuzz_sequence")
NOTES = [
    "KCOV traces the thread that enabled it only: threads a test starts, processes it forks and "
    "kernel work in other contexts (workqueues, softirqs, cryptd) are not in the map.",
    "A site is a call to __sanitizer_cov_trace_pc (objdump of vmlinux); the kernel has no debug "
    "info, so sites are named function+offset (System.map), not source lines.",
]
_FUNC = re.compile(r"^([0-9a-f]{16}) <([^>]+)>:$", re.M)
_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(.*)$")
# A site whose next instructions are a BUG/WARN (ud2) or a call that reports a broken list or
# refcount runs only once the kernel is already wrong: a "check" site, counted apart in the
# summary (reaching one is a kernel bug found, not coverage a test or an input can aim at).
_CHECK = re.compile(r"^ud2\b|<(__list_(add|del_entry)_valid_or_report|refcount_warn_saturate|__warn_printk|"
                    r"__stack_chk_fail|__ubsan_handle_\w+)>")


@dataclass
class Site:
    addr: int                 # the call instruction
    pc: int                   # what KCOV records: its return address
    function: str = "?"
    offset: int = 0
    after: list[str] = field(default_factory=list)   # the next instructions (objdump)

    @property
    def check(self) -> bool:
        """Whether only a kernel already in error reaches this site (_CHECK), judged on the
        instructions of its own block (up to an unconditional jump or a return)."""
        for t in self.after:
            if _CHECK.search(t):
                return True
            if re.match(r"(jmp|ret)\b", t):
                return False
        return False

    @property
    def label(self) -> str:
        return f"{self.function}+{self.offset:#x}"


def file_of(function: str) -> str:
    name = function.lstrip("_")
    for prefix, f in (("hash_", "algif_hash.c"), ("skcipher_", "algif_skcipher.c"), ("aead_", "algif_aead.c"),
                      ("crypto_aead_copy", "algif_aead.c"), ("rng_", "algif_rng.c"),
                      ("algif_hash", "algif_hash.c"), ("algif_skcipher", "algif_skcipher.c"),
                      ("algif_aead", "algif_aead.c"), ("algif_rng", "algif_rng.c")):
        if name.startswith(prefix):
            return f
    return "af_alg.c"


def parse_sites(disassembly: str, after: int = 4) -> list[Site]:
    """Sites from `objdump -d --no-show-raw-insn` text: each call to __sanitizer_cov_trace_pc,
    its return address (the next instruction's address) and up to `after` instructions
    that follow it (KCOV's own calls, __sanitizer_cov_trace_cmp* included, left out)."""
    insns: list[tuple[int, str]] = []
    for line in disassembly.splitlines():
        m = _INSN.match(line)
        if m and m.group(2).strip():
            insns.append((int(m.group(1), 16), " ".join(m.group(2).split())))
    sites = []
    for i, (addr, text) in enumerate(insns):
        if "<__sanitizer_cov_trace_pc>" not in text or not text.startswith("call"):
            continue
        pc = insns[i + 1][0] if i + 1 < len(insns) else addr + 5
        nxt = [t for _a, t in insns[i + 1:i + 1 + 2 * after] if "<__sanitizer_cov_" not in t][:after]
        sites.append(Site(addr, pc, after=[re.sub(r"\b[0-9a-f]{16} <", "<", t) for t in nxt]))
    return sites


def call_returns(disassembly: str) -> set[int]:
    """The return addresses of every call to a function other than the tracer (where a
    callee's tail call into __sanitizer_cov_trace_pc records its PC)."""
    insns = [(int(m.group(1), 16), m.group(2).strip()) for m in map(_INSN.match, disassembly.splitlines())
             if m and m.group(2).strip()]
    return {insns[i + 1][0] for i, (_a, t) in enumerate(insns[:-1])
            if t.startswith("call") and "<__sanitizer_cov_" not in t}


def name_sites(sites: list[Site], syms: Symbols) -> None:
    for s in sites:
        i = bisect.bisect_right(syms.addrs, s.addr) - 1
        s.function, s.offset = (syms.names[i], s.addr - syms.addrs[i]) if i >= 0 else ("?", 0)


def functions_in(syms: Symbols, rng: tuple[int, int]) -> list[str]:
    """Every function in the range, in address order (no __pfx_ padding symbols)."""
    lo, hi = rng
    out = []
    for a, n in zip(syms.addrs, syms.names):
        if lo <= a < hi and not n.startswith("__pfx_") and n not in out:
            out.append(n)
    return out


# -- what ran ---------------------------------------------------------------------------------

def suite_pcs(run: Run) -> tuple[dict[str, set[int]], list[str], list[str]]:
    """(test id -> af_alg/algif PCs, tests whose trace buffer filled, tests with no trace)."""
    by, truncated, missing = {}, [], []
    for t in run.tests:
        if not t.kcov or "pcs" not in t.kcov:
            missing.append(t.id)
            continue
        by[t.id] = {int(x, 16) for x in t.kcov["pcs"]}
        if t.kcov.get("truncated"):
            truncated.append(t.id)
    return by, truncated, missing


def fuzz_pcs(path: Path) -> tuple[dict[str, set[int]], list[str], dict]:
    """From covreplay's JSON lines: (input label -> PCs, truncated inputs, {kcov status, failures,
    ran, planned, ended})."""
    by, truncated = {}, []
    info: dict = {"failures": {}, "ran": 0, "planned": None, "ended": False}
    if not path.exists():
        return by, truncated, info
    for line in path.read_text(errors="replace").splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue                     # a line torn by a guest that died mid-write
        if "kcov" in d:
            info["kcov"] = d["kcov"]
            info["planned"] = d["kcov"].get("inputs")
        elif "end" in d:
            info["ended"] = True
        elif "input" in d:
            label = input_label(d["input"])
            by[label] = {int(x, 16) for x in d.get("pcs", [])}
            info["ran"] += 1
            if d.get("truncated"):
                truncated.append(label)
            if d.get("failure"):
                info["failures"][label] = d["failure"]
    return by, truncated, info


def input_label(path: str) -> str:
    """SOURCE/FUZZER/FILE from the copy under RESULTS/fuzz-inputs/."""
    parts = Path(path).parts
    return "/".join(parts[-3:]) if len(parts) >= 3 else path


def corpus_sources(dirs: list[str], seeds: bool) -> list[tuple[str, str, Path]]:
    """(source label, fuzzer, folder of inputs) for each corpus: the repo's seeds (fuzz/corpus/*)
    and each --corpus DIR, which may be a fuzzer's folder (DIR named fuzz_X or X), a folder of
    fuzzer folders (a corpus root), or an `afalg-conform fuzz` results folder (DIR/corpus/fuzz_X)."""
    out: list[tuple[str, str, Path]] = []
    if seeds:
        out += [("seeds", n, SEEDS / n) for n in FUZZERS if (SEEDS / n).is_dir()]
    used = {"seeds"}
    for d in dirs:
        p = Path(d).expanduser()
        if not p.is_dir():
            raise HarnessError(f"--corpus {d}: not a folder")
        label = re.sub(r"[^A-Za-z0-9_.-]", "_", p.resolve().name) or "corpus"
        base, i = label, 2
        while label in used:
            label, i = f"{base}-{i}", i + 1
        used.add(label)
        name = p.name if p.name.startswith("fuzz_") else f"fuzz_{p.name}"
        if name in FUZZERS:
            found = [(label, name, p)]
        else:
            root = p / "corpus" if (p / "corpus").is_dir() else p
            found = [(label, n, root / n) for n in FUZZERS if (root / n).is_dir()]
        if not found:
            raise HarnessError(f"--corpus {d}: no fuzz inputs (expected a folder named after a fuzzer, "
                               f"or one holding {', '.join(FUZZERS)}/, or a fuzz results folder)")
        out += found
    return out


def corpus_names(folder: Path, name: str) -> Path | None:
    """The file of runtime names a campaign's fuzzer decoded its corpus with (engine.save_names),
    for a corpus folder inside an `afalg-conform fuzz` results folder (RESULTS/corpus/NAME; of a
    `--jobs` campaign, its first job's: the jobs share the corpus and boot the same kernel);
    None for seeds (decoded without runtime names) and other folders: those are replayed with
    the guest's own names. A file that is not such a list: HarnessError, before any boot."""
    results = folder.parent.parent
    if folder.parent.name != "corpus":
        return None
    for cand in [names_path(name, results), *sorted(results.glob(f"job-*/{names_path(name, Path()).name}"))]:
        if cand.is_file():
            try:
                load_names(str(cand))
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise HarnessError(f"--corpus {results}: {cand.name} is not a list of runtime names ({e})") from None
            return cand
    return None


# -- the map ----------------------------------------------------------------------------------

def build(sites: list[Site], rng: tuple[int, int], functions: list[str], suite: dict[str, set[int]],
          fuzz: dict[str, set[int]], meta: dict | None = None, after_calls: set[int] | None = None) -> dict:
    """coverage.json: the summary, per function, per site (with who reaches it), the unreached.
    after_calls: call_returns() of the disassembly (PCs that are callees' coverage)."""
    by_pc = {s.pc: s for s in sites}
    after_calls = after_calls or set()
    reach: dict[int, dict[str, list[str]]] = {s.pc: {"suite": [], "fuzz": []} for s in sites}
    unmatched: dict[str, set[int]] = {"suite": set(), "fuzz": set()}
    callee: dict[str, set[int]] = {"suite": set(), "fuzz": set()}
    for who, runs in (("suite", suite), ("fuzz", fuzz)):
        for key in sorted(runs):
            for pc in runs[key]:
                if pc in by_pc:
                    reach[pc][who].append(key)
                else:
                    (callee if pc in after_calls else unmatched)[who].add(pc)
    funcs: dict[str, dict] = {f: {"name": f, "file": file_of(f), "sites": 0, "suite": 0, "fuzz": 0, "union": 0}
                              for f in functions}
    site_rows = []
    for s in sites:
        r = reach[s.pc]
        f = funcs.setdefault(s.function, {"name": s.function, "file": file_of(s.function), "sites": 0,
                                          "suite": 0, "fuzz": 0, "union": 0})
        f["sites"] += 1
        f["suite"] += bool(r["suite"])
        f["fuzz"] += bool(r["fuzz"])
        f["union"] += bool(r["suite"] or r["fuzz"])
        site_rows.append({"site": s.label, "function": s.function, "offset": s.offset, "addr": hex(s.addr),
                          "pc": hex(s.pc), "after": s.after, "suite": r["suite"], "fuzz": r["fuzz"],
                          **({"check": True} if s.check else {})})
    n = len(sites)
    summary = {"suite": sum(1 for r in site_rows if r["suite"]), "fuzz": sum(1 for r in site_rows if r["fuzz"]),
               "union": sum(1 for r in site_rows if r["suite"] or r["fuzz"]), "sites": n}
    summary["suite_only"] = summary["union"] - summary["fuzz"]
    summary["fuzz_only"] = summary["union"] - summary["suite"]
    checks = [r for r in site_rows if r.get("check")]
    summary["check_sites"] = len(checks)
    summary["check_reached"] = sum(1 for r in checks if r["suite"] or r["fuzz"])
    flist = list(funcs.values())
    return {
        "schema": "afalg-conformance/coverage/1",
        **(meta or {}),
        "range": [hex(rng[0]), hex(rng[1])],
        "summary": summary,
        "unmatched_pcs": {k: sorted(hex(x) for x in v) for k, v in unmatched.items()},
        "callee_pcs": {k: sorted(hex(x) for x in v) for k, v in callee.items()},
        "functions": flist,
        "unreached_functions": [f["name"] for f in flist if f["sites"] and not f["union"]],
        "functions_without_sites": [f["name"] for f in flist if not f["sites"]],
        "unreached_sites": [r["site"] for r in site_rows if not (r["suite"] or r["fuzz"])],
        "sites": site_rows,
        "notes": NOTES + list((meta or {}).get("extra_notes", [])),
    }


def summary_line(cov: dict) -> str:
    s = cov["summary"]
    return f"sites reached: suite {s['suite']}, fuzz {s['fuzz']}, union {s['union']} of {s['sites']}"


def _who(r: dict, limit: int = 3) -> str:
    parts = []
    for k in ("suite", "fuzz"):
        xs = r[k]
        if xs:
            short = [x.split("::")[-1] if k == "suite" else x for x in xs[:limit]]
            more = f", +{len(xs) - limit}" if len(xs) > limit else ""
            parts.append(f"{k} {len(xs)}: {', '.join(short)}{more}")
    return "; ".join(parts) or "UNREACHED"


def _details(cov: dict) -> str:
    """What the summary line leaves out: the one-sided sites and the PCs that count for none."""
    s, un, ca = cov["summary"], cov["unmatched_pcs"], cov["callee_pcs"]
    return (f"suite only {s['suite_only']}, fuzz only {s['fuzz_only']}; recorded PCs that are no site: "
            f"suite {len(un['suite'])}, fuzz {len(un['fuzz'])}; callees' tail calls into the tracer, "
            f"not counted: suite {len(ca['suite'])}, fuzz {len(ca['fuzz'])}")


def checks_line(cov: dict) -> str:
    """The sites only a kernel already in error reaches (BUG/WARN, list and refcount reports),
    and the union over the others."""
    s = cov["summary"]
    if "check_sites" not in s:
        return ""
    rest = s["sites"] - s["check_sites"]
    return (f"kernel checks (BUG/WARN, list and refcount reports) {s['check_sites']} sites, {s['check_reached']} "
            f"reached; the union over the other {rest}: {s['union'] - s['check_reached']}")


def _sites_by_function(cov: dict):
    """(function, its site rows) in the map's function order, functions without sites left out."""
    by_fn: dict[str, list[dict]] = {}
    for r in cov["sites"]:
        by_fn.setdefault(r["function"], []).append(r)
    for f in cov["functions"]:
        if by_fn.get(f["name"]):
            yield f, by_fn[f["name"]]


def render_text(cov: dict) -> str:
    out = [f"# KCOV coverage of crypto/af_alg.c and crypto/algif_*.c on {cov.get('target', '?')} "
           f"({cov.get('kernel_release', '?')}), text {cov['range'][0]}-{cov['range'][1]}",
           summary_line(cov), f"  {_details(cov)}"]
    if checks := checks_line(cov):
        out.append(f"  {checks}")
    for k in ("suite_runs", "fuzz_runs"):
        if cov.get(k):
            out.append(f"  {k.replace('_', ' ')}: {cov[k]}")
    if cov.get("kat_budget"):
        out.append(f"  CAVP GCM files sampled: {cov['kat_budget']} vectors each (--quick)")
    if cov.get("mct_budget"):
        out.append(f"  CAVP Monte Carlo files sampled: {cov['mct_budget']} checkpoints each")
    if cov.get("wall_s"):
        out.append(f"  wall {cov['wall_s']:.0f} s (suite guest {cov.get('suite_s') or 0:.0f} s, "
                   f"replay guest {cov.get('replay_s') or 0:.0f} s)")
    out += [f"  note: {n}" for n in cov["notes"]]
    out += ["", "## Functions (sites reached / sites; file inferred from the name)", "",
            f"{'function':40} {'file':18} {'sites':>5} {'suite':>5} {'fuzz':>5} {'union':>5}"]
    for f in cov["functions"]:
        if f["sites"]:
            out.append(f"{f['name'][:40]:40} {f['file']:18} {f['sites']:5} {f['suite']:5} {f['fuzz']:5} {f['union']:5}")
    out += ["", f"## Unreached functions ({len(cov['unreached_functions'])})", ""]
    out += [f"  {n}" for n in cov["unreached_functions"]] or ["  (none)"]
    out += ["", f"## Unreached sites ({len(cov['unreached_sites'])})", ""]
    checks = {r["site"] for r in cov["sites"] if r.get("check")}
    out += [f"  {x}{'  (kernel check)' if x in checks else ''}" for x in cov["unreached_sites"]] or ["  (none)"]
    out += ["", "## Sites (S suite, F fuzz; the instructions after the call)", ""]
    for f, rows in _sites_by_function(cov):
        out.append(f"{f['name']} ({f['file']}): {f['union']}/{f['sites']}")
        for r in rows:
            flags = ("S" if r["suite"] else "-") + ("F" if r["fuzz"] else "-")
            out.append(f"  +{r['offset']:<#7x} {flags}  {_who(r)}{'  (kernel check)' if r.get('check') else ''}")
            if r["after"]:
                out.append(f"            | {' ; '.join(r['after'])}")
    return "\n".join(out) + "\n"


_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:10px;background:#eee;width:120px;vertical-align:middle}
.bar span{display:block;height:10px;background:#3a7}
.both{background:#d7f0dd}.suite{background:#dbe8fb}.fuzz{background:#fbe7cf}.none{background:#f8d4d4}
code,pre{font:12px ui-monospace,monospace}details{margin:2px 0}summary{cursor:pointer}
.key span{padding:1px 6px;margin-right:6px}"""


def render_html(cov: dict) -> str:
    h = [f"<!doctype html><meta charset=utf-8><title>AF_ALG KCOV coverage {escape(cov.get('target', ''))}</title>",
         f"<style>{_CSS}</style>",
         f"<h1>KCOV coverage of af_alg.c and algif_*.c</h1><p>{escape(cov.get('target', '?'))} "
         f"({escape(cov.get('kernel_release', '?'))}), text <code>{cov['range'][0]}-{cov['range'][1]}</code></p>",
         f"<p><b>{escape(summary_line(cov))}</b> ({escape(_details(cov))})</p>"]
    for k in ("suite_runs", "fuzz_runs"):
        if cov.get(k):
            h.append(f"<p>{escape(k.replace('_', ' '))}: {escape(str(cov[k]))}</p>")
    h.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in cov["notes"]) + "</ul>")
    h.append('<p class=key><span class=both>suite and fuzz</span><span class=suite>suite only</span>'
             '<span class=fuzz>fuzz only</span><span class=none>unreached</span></p>')
    h.append(f"<h2>Unreached functions ({len(cov['unreached_functions'])})</h2><p>"
             + (", ".join(f"<code>{escape(n)}</code>" for n in cov["unreached_functions"]) or "none") + "</p>")
    h.append("<h2>Functions</h2><table><tr><th>function</th><th>file (by name)</th><th>sites</th><th>suite</th>"
             "<th>fuzz</th><th>union</th><th></th></tr>")
    for f in cov["functions"]:
        if not f["sites"]:
            continue
        pct = 100 * f["union"] // f["sites"]
        h.append(f"<tr><td><a href='#f-{escape(f['name'])}'><code>{escape(f['name'])}</code></a></td>"
                 f"<td>{escape(f['file'])}</td><td class=n>{f['sites']}</td><td class=n>{f['suite']}</td>"
                 f"<td class=n>{f['fuzz']}</td><td class=n>{f['union']}</td>"
                 f"<td><span class=bar><span style='width:{pct}%'></span></span></td></tr>")
    h.append("</table><h2>Sites</h2>")
    for f, rows in _sites_by_function(cov):
        h.append(f"<h3 id='f-{escape(f['name'])}'><code>{escape(f['name'])}</code> {escape(f['file'])}: "
                 f"{f['union']}/{f['sites']}</h3><table><tr><th>site</th><th>after the call</th>"
                 "<th>suite</th><th>fuzz</th></tr>")
        for r in rows:
            cls = "both" if r["suite"] and r["fuzz"] else "suite" if r["suite"] else "fuzz" if r["fuzz"] else "none"
            cells = []
            for k in ("suite", "fuzz"):
                xs = r[k]
                cells.append(f"<details><summary>{len(xs)}</summary>"
                             + "<br>".join(f"<code>{escape(x)}</code>" for x in xs) + "</details>" if xs else "0")
            h.append(f"<tr class={cls}><td><code>+{r['offset']:#x}</code></td>"
                     f"<td><code>{escape(' ; '.join(r['after']))}</code></td><td>{cells[0]}</td><td>{cells[1]}</td></tr>")
        h.append("</table>")
    return "\n".join(h) + "\n"


def write(cov: dict, folder: Path) -> list[Path]:
    paths = [folder / "coverage.json", folder / "coverage.txt", folder / "coverage.html"]
    paths[0].write_text(json.dumps(cov, indent=1) + "\n")
    paths[1].write_text(render_text(cov))
    paths[2].write_text(render_html(cov))
    return paths


def load_sites(vmlinux: Path, system_map: Path) -> tuple[tuple[int, int], list[Site], list[str], Symbols, set[int]]:
    """The target's sites, named, the functions of the range, and the return addresses of
    the other calls (objdump of vmlinux)."""
    got = build_kernel.afalg_kcov_objdump(vmlinux, system_map)
    if got is None:
        raise HarnessError(f"no KCOV site list: need {vmlinux}, {system_map} with the af_alg/algif "
                           f"symbols ({', '.join(sorted(AFALG_ANCHORS)[:3])}...) and objdump (binutils)")
    rng, text = got
    # names from the disassembly's own function headers: they cover the interfaces built as
    # modules, placed at their slots, which System.map does not
    syms = Symbols.from_pairs((int(a, 16), n) for a, n in _FUNC.findall(text))
    sites = parse_sites(text)
    if len(sites) != len(build_kernel.kcov_site_lines(text)):
        raise HarnessError("objdump: the site parser and build-kernel's count disagree")
    name_sites(sites, syms)
    return rng, sites, functions_in(syms, rng), syms, call_returns(text)
