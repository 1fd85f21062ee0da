"""The command line's promises: bad input is one clear line and exit status 2."""

import os
import subprocess
import sys

import pytest

from harness.afalg import afalg_available


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
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
