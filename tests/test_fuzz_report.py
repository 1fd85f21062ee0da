"""fuzz-report: campaigns read back from results folders, outcomes grouped and compared."""

from __future__ import annotations

import json

import pytest

from afalg_conformance.harness import cli
from afalg_conformance.fuzz import report as fuzzreport


def _campaign(root, name, outcomes, mode="kcov", fed=True, afalg=None, execs=100, scope=None, growth=None,
              pcs=None):
    d = root / name
    d.mkdir()
    (d / "stats-fuzz_setsockopt.json").write_text(json.dumps({
        "mode": mode, "fed": fed, "feed_scope": scope, "execs": execs, "seconds": 50.0, "pcs_per_input": 3000.5,
        "distinct_pcs": 2500, "distinct_afalg_pcs": sum((afalg or {}).values()),
        "afalg_functions": afalg or {}, "outcome_list": sorted(outcomes), "growth": growth or [],
        "afalg_pc_list": pcs or []}))
    (d / "fuzz-fuzz_setsockopt.log").write_text("#100\tDONE   cov: 9 ft: 9 corp: 42/1000b exec/s: 2 rss: 51Mb\n")
    (d / "summary.json").write_text(json.dumps({"target": "kcov-6.12", "kernel_release": "6.12.117"}))
    return d


def test_outcomes_are_grouped_by_call_and_detail_in_length_order():
    lines = fuzzreport.group_outcomes({"setsockopt|ALG_SET_KEY|16|ok", "setsockopt|ALG_SET_KEY|0|ENOPROTOOPT",
                                       "setsockopt|ALG_SET_KEY|<16|EINVAL", "setsockopt|ALG_SET_KEY|<16|EBUSY",
                                       "socket|SOCK_SEQPACKET|SOCK_CLOEXEC|none|ok", "bind|skcipher\x00x|0|EINVAL"})
    assert lines == ["bind skcipher\\x00x: 0 EINVAL",
                     "setsockopt ALG_SET_KEY: 0 ENOPROTOOPT | <16 EBUSY EINVAL | 16 ok",
                     "socket SOCK_SEQPACKET|SOCK_CLOEXEC: none ok"]


def test_two_campaigns_are_compared(tmp_path, capsys):
    a = _campaign(tmp_path, "fed", {"bind|hash|none|ok", "setsockopt|ALG_SET_KEY|16|ok"},
                  afalg={"alg_bind": 3, "hash_accept": 2})
    b = _campaign(tmp_path, "measure", {"bind|hash|none|ok", "bind|hash|0|EINVAL"}, mode="kcov-measure",
                  fed=False, afalg={"alg_bind": 2}, execs=200)
    assert cli.main(["fuzz-report", str(a), str(b), "--outcomes"]) == 0
    out = capsys.readouterr().out
    assert "| fed | 6.12.117 | kcov (fed) | 100 | 50.0 | 2.0 | 42 | 2 | 1 | 3000.5 | 2,500 | 5 |" in out
    assert "| measure | 6.12.117 | kcov-measure (not fed) | 200 |" in out
    assert "outcomes reached by both: 1; only fed: 1; only measure: 1" in out
    assert "only fed: hash_accept" in out
    assert "    setsockopt ALG_SET_KEY: 16 ok" in out and "    bind hash: 0 EINVAL" in out


def test_growth_says_how_soon_each_campaign_reached_the_common_plateau(tmp_path, capsys):
    fast = _campaign(tmp_path, "fast", {"bind|hash|none|ok"}, afalg={"alg_bind": 5},
                     growth=[[10.0, 50, 100, 3], [60.2, 300, 140, 4], [130.0, 700, 150, 5], [590.0, 3000, 151, 6]])
    slow = _campaign(tmp_path, "slow", {"bind|hash|none|ok"}, afalg={"alg_bind": 5},
                     growth=[[10.0, 60, 90, 3], [70.0, 400, 120, 4], [310.0, 1500, 150, 5], [400.0, 2000, 150, 5]])
    short = _campaign(tmp_path, "short", {"bind|hash|none|ok"}, afalg={"alg_bind": 5},
                      growth=[[10.0, 60, 150, 3], [100.0, 400, 155, 4]])
    assert cli.main(["fuzz-report", str(fast), str(slow)]) == 0
    out = capsys.readouterr().out
    assert "af_alg/algif PCs at 60 s / 120 s / 300 s / the end; time to 150 (the smallest final):" in out
    assert "    fast: 140 / 140 / 150 / 151 (590 s); 130 s" in out      # 60.2 s stands for 1 minute
    assert "    slow: 90 / 120 / 120 / 150 (400 s); 310 s" in out
    assert cli.main(["fuzz-report", str(fast), str(short)]) == 0
    assert "    short: 150 / - / - / 155 (100 s); 100 s" in capsys.readouterr().out   # ended before 120 s
    # a campaign whose last dump came within a dump interval of a mark has a value there; one
    # without a curve (older statistics) is named, not compared
    near = _campaign(tmp_path, "near", {"bind|hash|none|ok"}, growth=[[10.2, 60, 150, 3], [291.0, 400, 160, 4]],
                     pcs=["0x1"])
    old = _campaign(tmp_path, "old", {"bind|hash|none|ok"})
    assert cli.main(["fuzz-report", str(near), str(old)]) == 0
    out = capsys.readouterr().out
    assert "    near: 150 / 150 / 160 / 160 (291 s); 291 s" in out
    assert "(no growth curve, left out: old)" in out


def test_the_union_of_the_campaigns_pcs_closes_the_report(tmp_path, capsys):
    a = _campaign(tmp_path, "a", {"bind|hash|none|ok"}, pcs=["0x1", "0x2", "0x3"])
    b = _campaign(tmp_path, "b", {"bind|hash|none|ok"}, pcs=["0x3", "0x4"])
    assert cli.main(["fuzz-report", str(a), str(b)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("af_alg/algif PCs of every fuzzer and campaign above together: 4")
    assert cli.main(["fuzz-report", str(a)]) == 0          # one fuzzer of one campaign: its own row says it
    assert "together" not in capsys.readouterr().out


def test_the_union_is_only_of_one_builds_pcs_and_says_of_how_many_sites(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fuzzreport.Campaign, "afalg_sites", property(lambda self: 658))
    a = _campaign(tmp_path, "a", {"bind|hash|none|ok"}, pcs=["0x1", "0x2"])
    b = _campaign(tmp_path, "b", {"bind|hash|none|ok"}, pcs=["0x2", "0x5"])
    py = _campaign(tmp_path, "py", {"bind|hash|none|ok"}, mode="python", fed=False)
    assert cli.main(["fuzz-report", str(a), str(b), str(py)]) == 0     # python mode adds no PCs
    # no site list: PCs, with the number of sites beside them (a PC is not a site)
    assert capsys.readouterr().out.rstrip().endswith("together: 3 (658 sites: a PC is not a site, see covmap)")
    other = tmp_path / "other"
    other.mkdir()
    st = json.loads((a / "stats-fuzz_setsockopt.json").read_text())
    st["afalg_range"] = ["0xffffffff81000000", "0xffffffff81001000"]     # another build
    (other / "stats-fuzz_setsockopt.json").write_text(json.dumps(st))
    assert cli.main(["fuzz-report", str(a), str(other)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("none counted, the campaigns ran on 2 different builds")


def test_a_folder_without_stats_or_with_corrupt_stats_is_named(tmp_path, capsys):
    assert cli.main(["fuzz-report", str(tmp_path)]) == 2
    assert "no stats-fuzz_*.json" in capsys.readouterr().err
    (tmp_path / "stats-fuzz_cmsg.json").write_text("{not json")
    assert cli.main(["fuzz-report", str(tmp_path)]) == 2
    assert "corrupt statistics file" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["nowhere"])
def test_a_missing_folder_is_named(tmp_path, capsys, missing):
    assert cli.main(["fuzz-report", str(tmp_path / missing)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_af_alg_pcs_are_shown_against_the_builds_kcov_sites(tmp_path, monkeypatch, capsys):
    from afalg_conformance.harness.host import vm
    kdir = tmp_path / "kernel"
    kdir.mkdir()
    (kdir / "build.json").write_text(json.dumps({"afalg_kcov_sites": {"range": ["0x10", "0x20"], "sites": 658}}))
    monkeypatch.setattr(vm, "resolve_target", lambda name: vm.Target(name, str(kdir / "bzImage")))
    d = _campaign(tmp_path, "fed", {"bind|hash|none|ok"}, afalg={"alg_bind": 3})
    st = json.loads((d / "stats-fuzz_setsockopt.json").read_text())
    st["afalg_range"] = ["0x10", "0x20"]
    (d / "stats-fuzz_setsockopt.json").write_text(json.dumps(st))
    # a build.json of before the site list: PCs, and the sites beside them (not a fraction)
    assert cli.main(["fuzz-report", str(d)]) == 0
    assert "| 3 PCs, 658 sites |" in capsys.readouterr().out
    st["afalg_range"] = ["0x10", "0x30"]            # another range: no denominator
    (d / "stats-fuzz_setsockopt.json").write_text(json.dumps(st))
    assert cli.main(["fuzz-report", str(d)]) == 0
    assert "| 3 |" in capsys.readouterr().out


def test_only_pcs_of_sites_count_as_sites_reached(tmp_path, monkeypatch, capsys):
    """A PC after a call to a function that tail-called the tracer is in af_alg's range but is
    that function's coverage: 17-27 of a campaign's 'af_alg/algif PCs' were such on kcov-6.12."""
    from afalg_conformance.harness.host import vm
    kdir = tmp_path / "kernel"
    kdir.mkdir()
    (kdir / "build.json").write_text(json.dumps({"afalg_kcov_sites": {
        "range": ["0x10", "0x80"], "sites": 3, "pcs": ["15", "25", "35"]}}))
    monkeypatch.setattr(vm, "resolve_target", lambda name: vm.Target(name, str(kdir / "bzImage")))
    runs = []
    for name, pcs in (("a", ["0x15", "0x25", "0x40"]), ("b", ["0x15", "0x44"])):
        d = _campaign(tmp_path, name, {"bind|hash|none|ok"}, afalg={"alg_bind": len(pcs)}, pcs=pcs)
        st = json.loads((d / "stats-fuzz_setsockopt.json").read_text())
        st["afalg_range"] = ["0x10", "0x80"]
        (d / "stats-fuzz_setsockopt.json").write_text(json.dumps(st))
        runs.append(str(d))
    assert cli.main(["fuzz-report", *runs]) == 0
    out = capsys.readouterr().out
    assert "| 2 of 3 sites (+1 other PCs) |" in out and "| 1 of 3 sites (+1 other PCs) |" in out
    assert "together: 2 of 3 (and 2 PCs after calls" in out


def test_the_feed_scope_is_named(tmp_path, capsys):
    a = _campaign(tmp_path, "afalg", {"bind|hash|none|ok"}, scope="afalg+python")
    b = _campaign(tmp_path, "measure", {"bind|hash|none|ok"}, mode="kcov-measure", fed=False)
    assert cli.main(["fuzz-report", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "| afalg | 6.12.117 | kcov (fed: afalg+python) | 100 |" in out
    assert "| measure | 6.12.117 | kcov-measure (not fed) | 100 |" in out
