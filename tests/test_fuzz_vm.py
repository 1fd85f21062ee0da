"""Fuzz smoke runs in real guests (marked vm: slow, a TCG boot is 30-60 s).

1. every fuzzer runs ~15 s in one Debian 6.12 guest and prints its summary line;
2. the opt-in crash hook: a special input makes the guest write 'c' to
   /proc/sysrq-trigger; the host must save that input as a deduplicated kernel
   crash, and `fuzz --reproduce` must replay it in a fresh guest and see the panic.
They SKIP with the reason where vng, qemu or the kernel image are missing.
"""

from __future__ import annotations

import json
import re

import pytest

from guestutil import cli, target_or_skip

pytestmark = pytest.mark.vm

LINE = re.compile(r"^fuzz (\w+): (\d+) execs, ([\d.]+) execs/s, corpus (\d+), crashes (\d+), "
                  r"coverage (kcov|kcov-measure|python)$", re.M)


def test_each_fuzzer_runs_in_a_guest(tmp_path):
    target_or_skip(needs=("atheris",))
    res = tmp_path / "fuzz"
    r = cli("fuzz", "all", "--kernel", "debian-6.12", "--time", "15", "--results", str(res))
    lines = {m.group(1): m for m in LINE.finditer(r.stdout)}
    assert set(lines) == {"setsockopt", "cmsg", "sequence"}, r.stdout + r.stderr[-3000:]
    for name, m in lines.items():
        assert int(m.group(2)) > 0, f"{name} executed nothing: {r.stderr[-2000:]}"
        assert int(m.group(5)) == 0, f"{name} crashed: {r.stderr[-3000:]}"
        assert m.group(6) == "python"            # the Debian kernel has no KCOV
    assert r.returncode == 0
    stats = json.loads((res / "stats-fuzz_cmsg.json").read_text())
    assert stats["outcomes"] > 5


def test_crash_hook_is_caught_saved_and_reproduced(tmp_path):
    target_or_skip(needs=("atheris",))
    res = tmp_path / "crash"
    r = cli("fuzz", "setsockopt", "--kernel", "debian-6.12", "--time", "60", "--crash-hook",
            "--results", str(res))
    assert r.returncode == 1, r.stdout + r.stderr[-3000:]
    m = LINE.search(r.stdout)
    assert m and m.group(5) == "1", r.stdout
    index = json.loads((res / "crashes" / "index.json").read_text())
    (sig, entry), = index.items()
    assert entry["kind"] == "kernel" and "sysrq" in sig
    crash = res / "crashes" / entry["file"]
    assert crash.read_bytes().startswith(b"AFALG-FUZZ-SYSRQ-CRASH")
    # the names the fuzzer decoded with survive the panic, in the crash's sidecar
    names = json.loads(crash.with_name(crash.name + ".json").read_text())["runtime_names"]
    assert ["hash", "sha256"] in names, names[:20]
    # replay it in a fresh guest
    rep = cli("fuzz", "--reproduce", str(crash), "--kernel", "debian-6.12", "--results", str(tmp_path / "repro"))
    assert rep.returncode == 1, rep.stdout + rep.stderr[-3000:]
    assert f"decoded with the {len(names)} runtime names the campaign had" in rep.stdout, rep.stdout
    assert "reproduced a kernel crash" in rep.stdout and "same signature as recorded" in rep.stdout
    assert "/proc/sysrq-trigger" in rep.stdout      # the readable reproducer was printed


def test_a_report_the_kernel_survives_is_caught_and_minimised(tmp_path):
    """The warn hook logs a synthetic WARNING once the input has made an op socket. The
    fuzzer must save that input (the guest keeps running), and --reproduce --minimize must
    cut the program down to the calls a successful accept needs."""
    target_or_skip(needs=("atheris",))
    res = tmp_path / "warn"
    r = cli("fuzz", "cmsg", "--kernel", "debian-6.12", "--time", "60", "--crash-hook", "warn",
            "--results", str(res))
    assert r.returncode == 1, r.stdout + r.stderr[-3000:]
    m = LINE.search(r.stdout)
    assert m and m.group(5) == "1", r.stdout + r.stderr[-3000:]
    index = json.loads((res / "crashes" / "index.json").read_text())
    (sig, entry), = index.items()
    assert entry["kind"] == "kernel" and "afalg_fuzz_selftest_warn" in sig, sig
    crash = res / "crashes" / entry["file"]
    rep = cli("fuzz", "--reproduce", str(crash), "--minimize", "--kernel", "debian-6.12",
              "--results", str(tmp_path / "repro"))
    assert rep.returncode == 1, rep.stdout + rep.stderr[-3000:]
    assert "reproduced a kernel report" in rep.stdout and "same signature as recorded" in rep.stdout, rep.stdout
    # accept on an unkeyed transform succeeds (a "nokey" op socket), so the key goes too
    assert "# minimised from 6 to 3 calls:" in rep.stdout, rep.stdout
    tail = rep.stdout.split("# minimised from 6 to 3 calls:")[1]
    assert "sock(" in tail and "sockaddr_alg('skcipher', 'cbc(aes)'" in tail and "accept(s[0])" in tail
    assert "sendmsg_raw" not in tail and "ALG_SET_KEY" not in tail
