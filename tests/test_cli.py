"""The command line's promises: bad input is one clear line and exit status 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from afalg_conformance.harness.afalg.client import afalg_available
from afalg_conformance.harness.errors import HarnessError


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "afalg_conformance.harness.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def one_line_error(r, pattern):
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("afalg-conform: error:"), r.stderr
    assert pattern in lines[0]
    assert r.stdout == ""


@pytest.mark.skipif(afalg_available()[0], reason="unsupported:host-has-af-alg (this check needs a kernel without it)")
def test_host_without_af_alg_exits_2():
    one_line_error(cli("run", "--kernel", "host"), "has no AF_ALG")


def test_unknown_target():
    one_line_error(cli("run", "--kernel", "debian-2.4"), "unknown kernel target 'debian-2.4'")


def test_bad_kernel_path(tmp_path):
    one_line_error(cli("run", "--kernel", str(tmp_path / "nope" / "bzImage")), "does not exist")


def test_missing_qemu(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "vng").symlink_to("/bin/true")
    img = tmp_path / "bzImage"
    hdr = bytearray(0x400)
    hdr[0x202:0x206] = b"HdrS"
    img.write_bytes(bytes(hdr))
    env = dict(os.environ, PATH=str(bindir))
    one_line_error(cli("run", "--kernel", str(img), "--results", str(tmp_path / "r"), env=env),
                   "qemu is not installed")


def test_crash_tests_refused_on_host(monkeypatch):
    if not afalg_available()[0]:
        # Without AF_ALG the host is refused earlier; the refusal order is still checked below.
        r = cli("run", "--kernel", "host", "--allow-crash-tests")
        assert r.returncode == 2
        return
    one_line_error(cli("run", "--kernel", "host", "--allow-crash-tests"), "refusing to run crash tests")


def test_spec_md_is_current():
    r = cli("spec", "--check")
    assert r.returncode == 0, r.stderr


# Bad input is refused before any guest starts: each row is argv -> the one line it gives.
# A fake vng that would record a boot proves none was attempted.
BAD_INPUT = [
    (["run", "--shard", "x"], "--shard x: expected I/N with 1 <= I <= N"),
    (["run", "--shard", "5/4"], "--shard 5/4: expected I/N with 1 <= I <= N"),
    (["run", "--shard", "0/4"], "--shard 0/4: expected I/N"),
    (["run", "--memory", "lots"], "--memory lots: expected a size like 2G"),
    (["run", "--memory", "64M"], "--memory 64M: a guest needs at least 256M"),
    (["run", "--cpus", "0"], "--cpus 0: expected 1 to 64"),
    (["run", "--test-timeout", "0"], "--test-timeout 0: expected a number of seconds above 0"),
    (["run", "--max-restarts", "-1"], "--max-restarts -1: expected 0 or more"),
    (["run", "conformance/test_nope.py"], "test path conformance/test_nope.py: no such file"),
    (["run", "--results", "/proc/nope"], "--results /proc/nope: cannot write there (ENOENT"),
    (["run", "--kernel", "debian-6.12", "--kernel", "debian-2.4"], "unknown kernel target 'debian-2.4'"),
    (["run", "--driver", "*-aesni[", "--kernel", "debian-6.12"], "--driver '*-aesni[': '[' at 8 is not closed"),
    (["run", "--driver", "cbc-aes-aesni", "--driver", "cbc(aes"], "--driver 'cbc(aes': unbalanced parentheses"),
    (["fuzz", "--reproduce", "/etc/passwd"], "--reproduce /etc/passwd: not a reproducer"),
    (["fuzz", "--reproduce", "/nope"], "--reproduce /nope: does not exist"),
    (["fuzz", "--reproduce", "/etc"], "--reproduce /etc: not a regular file"),
    (["fuzz", "cmsg", "--memory", "2X"], "--memory 2X: expected a size"),
    (["fuzz", "cmsg", "--time", "-5"], "--time -5: expected seconds"),
]


@pytest.mark.parametrize("argv,message", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_before_boot(tmp_path, argv, message):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    booted = tmp_path / "booted"
    vng = bindir / "vng"
    vng.write_text(f"#!/bin/sh\ntouch {booted}\nexit 1\n")
    vng.chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    one_line_error(cli(*argv, env=env), message)
    assert not booted.exists()


def test_a_sidecar_that_is_not_json_is_named(tmp_path):
    crash = tmp_path / "crash-1"
    crash.write_bytes(b"\x01\x02")
    (tmp_path / "crash-1.json").write_text("{oops")
    one_line_error(cli("fuzz", "--reproduce", str(crash)), "sidecar crash-1.json is not valid JSON")


def test_a_full_results_folder_is_refused_before_boot(monkeypatch, tmp_path):
    from afalg_conformance.harness.host import validate
    monkeypatch.setattr(validate.shutil, "disk_usage", lambda p: type("U", (), {"free": 48 << 10})())
    with pytest.raises(HarnessError, match=r"only 48 KiB free; a run needs at least 20 MiB"):
        validate.results_dir(tmp_path / "r")


def test_a_read_only_results_folder_is_refused(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("unsupported:root-ignores-permissions")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    one_line_error(cli("run", "--results", str(ro / "r")), "cannot write there (EACCES")


@pytest.mark.parametrize("left", ["results.json", "events-0.jsonl", "debian-6.12/events-0.jsonl"])
def test_a_second_run_into_the_same_folder_is_refused(tmp_path, left):
    """The host tails events-N.jsonl from its start: a second run there would take the first
    run's results for its own."""
    (tmp_path / left).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / left).write_text("{}\n")
    for argv in (["run"], ["run", "--kernel", "debian-6.12", "--kernel", "debian-6.1"]):
        one_line_error(cli(*argv, "--results", str(tmp_path)), f"already holds a run ({left})")
    assert (tmp_path / left).read_text() == "{}\n"


@pytest.fixture
def tmpfs(tmp_path):
    """A real small or read-only file system (root only: mount)."""
    if os.geteuid() != 0:
        pytest.skip("unsupported:not-root (mounts a tmpfs)")
    mounted = []

    def make(opts):
        d = tmp_path / f"fs{len(mounted)}"
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(d)], capture_output=True)
        if r.returncode:
            pytest.skip(f"unsupported:cannot-mount-tmpfs ({r.stderr.decode().strip()})")
        mounted.append(d)
        return d
    yield make
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)])


def test_a_real_full_and_a_real_read_only_file_system_are_refused(tmpfs):
    small = tmpfs("size=48k")
    one_line_error(cli("run", "--results", str(small / "r")), "KiB free; a run needs at least 20 MiB")
    ro = tmpfs("ro,size=1m")
    one_line_error(cli("run", "--results", str(ro / "r")), "cannot write there (EROFS")


def test_doctor_runs_where_nothing_is_installed_yet():
    """A fresh machine before setup.sh: python3 has none of the packages (-S: no site-packages).
    doctor still lists what is missing; any other command says so in one line."""
    root = Path(__file__).resolve().parent.parent

    def bare(*args):
        return subprocess.run([sys.executable, "-S", "-m", "afalg_conformance.harness.cli", *args], capture_output=True, text=True,
                              cwd=root, timeout=120)
    r = bare("doctor")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "MISSING  python:cryptography" in r.stdout and r.stdout.splitlines()[-1].startswith("doctor: ")
    one_line_error(bare("run"), "is missing")
    assert "sh scripts/setup.sh" in bare("run").stderr
