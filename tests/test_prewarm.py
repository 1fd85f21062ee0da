"""The pre-warm child (harness/guest/prewarm.py): what it binds, that it stops when told and
records every kernel problem with the bind that caused it, and how the host decides to ask for
it and reads its record back (harness/host/runner.py)."""

import json
import sys
import time

from afalg_conformance.harness.afalg import algorithms, proccrypto
from afalg_conformance.harness.guest import prewarm
from afalg_conformance.harness.host import runner


def block(name, driver, prio, type_="skcipher", internal=False):
    return (f"name         : {name}\ndriver       : {driver}\nmodule       : kernel\npriority     : {prio}\n"
            f"refcnt       : 1\nselftest     : passed\ninternal     : {'yes' if internal else 'no'}\n"
            f"type         : {type_}\n")


PROC = "\n".join([block("cbc(aes)", "cbc-aes-aesni", 400), block("__cbc(aes)", "__cbc-aes-aesni", 400, internal=True),
                  block("aes", "aes-aesni", 300, "cipher"), block("aes", "aes-generic", 100, "cipher"),
                  block("sha256", "sha256-avx2", 170, "shash")])


def test_candidates_are_the_listed_drivers_then_the_template_over_each_inner_driver():
    listed, internal = proccrypto.candidates(proccrypto.parse(PROC), "skcipher", "cbc(aes)")
    assert listed == [("cbc-aes-aesni", None), ("cbc(aes-aesni)", ["aes-aesni"]), ("cbc(aes-generic)", ["aes-generic"])]
    assert internal == ["__cbc-aes-aesni"]


def test_plan_is_the_registry_then_what_the_sweep_binds():
    first = prewarm.plan([])
    assert ("skcipher", "cbc(aes)") in first and ("hash", "sha256") in first
    assert len(first) == len({(a.type, a.name) for a in algorithms.ALGORITHMS.values()})
    second = prewarm.plan(proccrypto.parse(PROC))
    i = second.index(("skcipher", "cbc-aes-aesni"))
    assert second[i:i + 3] == [("skcipher", "cbc-aes-aesni"), ("skcipher", "cbc(aes-aesni)"), ("skcipher", "cbc(aes-generic)")]
    assert ("hash", "sha256-avx2") in second and len(second) == len(set(second))


class FakeSock:
    bound: list = []

    def __init__(self, t, n):
        self.t, self.n = t, n

    @classmethod
    def bound_(cls, t, n):
        cls.bound.append((t, n))
        if n == "sha256":
            raise OSError(2, "no")
        return cls(t, n)

    def close(self):
        pass


def _fake_kernel(monkeypatch, tmp_path, stop_after=None, warn_on=None):
    from afalg_conformance.harness.afalg import client
    from afalg_conformance.harness.results import klog
    FakeSock.bound = []
    stop = tmp_path / "stop"

    def bound(t, n):
        s = FakeSock.bound_(t, n)
        if stop_after is not None and len(FakeSock.bound) >= stop_after:
            stop.touch()
        return s
    monkeypatch.setattr(client.AfalgSocket, "bound", staticmethod(bound))
    logged = []

    class Kmsg:
        def __init__(self):
            pass

        def read(self):
            out = list(logged)
            logged.clear()
            if FakeSock.bound and FakeSock.bound[-1][1] == warn_on:
                out += ["WARNING: CPU: 0 PID: 1 at crypto/api.c:1 crypto_larval_wait+0x1/0x2",
                        "Call Trace:", " crypto_alg_mod_lookup+0x1/0x2"]
            return out

        @staticmethod
        def mark(text):
            pass
    monkeypatch.setattr(klog, "KmsgReader", Kmsg)
    monkeypatch.setattr(proccrypto, "read", lambda path="/proc/crypto": proccrypto.parse(PROC))
    return stop


def test_the_child_binds_until_told_and_records_what_it_did(tmp_path, monkeypatch):
    stop = _fake_kernel(monkeypatch, tmp_path, stop_after=5)
    rec = prewarm.run(stop, tmp_path / "prewarm.json")
    assert len(FakeSock.bound) == 5 and rec["stopped"] is True
    assert [b["name"] for b in rec["binds"]] == [n for _, n in FakeSock.bound]
    assert json.loads((tmp_path / "prewarm.json").read_text())["binds"] == rec["binds"]


def test_every_bind_is_made_once_and_a_failed_one_is_recorded(tmp_path, monkeypatch):
    stop = _fake_kernel(monkeypatch, tmp_path)
    rec = prewarm.run(stop, tmp_path / "prewarm.json")
    assert rec["stopped"] is False and len(FakeSock.bound) == len(set(FakeSock.bound))
    assert ("skcipher", "cbc(aes-generic)") in FakeSock.bound        # the sweep's, after the registry
    assert next(b for b in rec["binds"] if b["name"] == "sha256")["outcome"] == "ENOENT"


def test_a_kernel_problem_during_a_bind_is_recorded_with_that_bind(tmp_path, monkeypatch):
    stop = _fake_kernel(monkeypatch, tmp_path, warn_on="cbc(aes)")
    rec = prewarm.run(stop, tmp_path / "prewarm.json")
    (p,) = rec["problems"]
    assert p["kind"] == "warning" and p["during"] == "prewarm bind('skcipher', 'cbc(aes)')"
    # and the host makes it a kernel problem of the run
    got = runner._prewarm_record(tmp_path / "prewarm.json")
    assert got["problems"][0]["console"] == "prewarm.json" and "crypto_larval_wait" in json.dumps(got["problems"])
    assert got["summary"]["binds"] == len(rec["binds"]) and got["summary"]["stopped"] is False


def test_the_collector_stops_the_child_and_notes_how_long_it_waited(tmp_path, monkeypatch):
    script = tmp_path / "child.py"
    script.write_text("import json, pathlib, sys, time\n"
                      "stop, rec = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])\n"
                      "while not stop.exists(): time.sleep(0.01)\n"
                      "rec.write_text(json.dumps({'binds': [], 'problems': [], 'stopped': True}))\n")
    real = prewarm.subprocess.Popen
    monkeypatch.setattr(prewarm.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(prewarm.subprocess, "Popen", lambda argv, **kw: real(
        [sys.executable, str(script), argv[argv.index("--stop") + 1], argv[argv.index("--record") + 1]], **kw))
    assert prewarm.start(tmp_path)
    time.sleep(0.2)
    prewarm.finish()
    prewarm.finish()                                   # the runner's second call does nothing
    rec = json.loads((tmp_path / prewarm.RECORD).read_text())
    assert rec["stopped"] is True and 0 <= rec["collector_waited_s"] < 10
    monkeypatch.setattr(prewarm.os, "cpu_count", lambda: 1)
    assert not prewarm.start(tmp_path)                 # no second vCPU: nothing to gain


def test_the_host_asks_for_it_only_for_a_first_guest_running_the_whole_suite():
    def args(skip=None, **kw):
        return runner._guest_args(runner.RunOptions(**kw), "events.jsonl", skip)
    assert "--prewarm" in args(suite="full")
    for kw in ({"suite": "smoke"}, {"suite": "full", "keyword": "kat"}, {"suite": "full", "paths": ["x.py"]},
               {"suite": "full", "kcov": 1000}, {"suite": "full", "drivers": ["*-aesni"]},
               {"suite": "full", "preload_modules": "/m"}, {"suite": "full", "cpus": 1},
               {"suite": "full", "shard": "1/2"}):
        assert "--prewarm" not in args(**kw), kw
    assert "--prewarm" not in args("skip-1.txt", suite="full")          # a restart after a crash
    assert "--prewarm" not in runner._guest_args(runner.RunOptions(suite="full"), "e.jsonl", None, host=True)


def test_an_odd_record_from_the_guest_is_read_safely(tmp_path):
    p = tmp_path / "prewarm.json"
    p.write_text("[1, 2]")
    assert runner._prewarm_record(p) is None
    p.write_text(json.dumps({"binds": "x", "problems": [1, {"kind": "oops", "lines": ["a" * 9000] * 100}],
                             "seconds": "7", "note": "n" * 1000}))
    got = runner._prewarm_record(p)
    assert got["summary"]["binds"] == 0 and got["summary"]["seconds"] is None and len(got["summary"]["note"]) == 300
    (prob,) = got["problems"]
    assert len(prob["lines"]) == 40 and len(prob["lines"][0]) == 500
    assert runner._prewarm_record(tmp_path / "none.json") is None
