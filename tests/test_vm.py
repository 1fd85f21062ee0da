"""Target resolution, the KVM probe and the vng command line, without booting anything."""

import os
import stat
from pathlib import Path

import pytest

from afalg_conformance.harness.host import vm
from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.host.vm import Target


def fake_exe(path, body):
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_command_shares_host_read_only_and_results_writable():
    t = Target("debian-6.12", "/boot/vmlinuz-6.12.117+deb12-amd64", "6.12.117+deb12-amd64")
    cmd = vm.vng_command("vng", t, "/tmp/res", "python3 -m afalg_conformance.harness.guest.runner", use_kvm=False,
                         append=["panic_on_warn=0"])
    assert cmd[:3] == ["vng", "-r", t.image]
    assert "--rw" not in cmd
    assert cmd[cmd.index("--rwdir") + 1] == "/tmp/res"
    assert cmd.count("--rwdir") == 1
    assert "--disable-kvm" in cmd and "--verbose" in cmd
    assert cmd[cmd.index("--append") + 1] == "panic_on_warn=0"
    assert cmd[-2:] == ["--exec", "python3 -m afalg_conformance.harness.guest.runner"]
    assert "--disable-kvm" not in vm.vng_command("vng", t, "/r", "true", use_kvm=True)


def test_guest_command_uses_this_interpreter_and_project():
    cmd = vm.guest_python_command(["-m", "afalg_conformance.harness.guest.runner", "--results", "/tmp/res dir", "--suite", "smoke"])
    assert "PYTHONDONTWRITEBYTECODE=1" in cmd and f"PYTHONPATH={vm.PROJECT_ROOT} " in cmd
    assert vm.IMPORT_ROOT == vm.PROJECT_ROOT       # the checkout: afalg_conformance/ is at its root
    assert "-m afalg_conformance.harness.guest.runner --results '/tmp/res dir' --suite smoke" in cmd


def test_unknown_target_names_the_known_ones():
    with pytest.raises(HarnessError, match="unknown kernel target 'nope'.*debian-6.12"):
        vm.resolve_target("nope")


def test_bad_kernel_paths(tmp_path):
    with pytest.raises(HarnessError, match="does not exist"):
        vm.resolve_target(str(tmp_path / "missing-bzImage"))
    junk = tmp_path / "junk"
    junk.write_bytes(b"\0" * 4096)
    with pytest.raises(HarnessError, match="not an x86 bzImage"):
        vm.resolve_target(str(junk))
    with pytest.raises(HarnessError, match="no arch/x86/boot/bzImage"):
        vm.resolve_target(str(tmp_path))


def test_path_to_real_bzimage_reads_its_release(tmp_path):
    img = tmp_path / "bzImage"
    hdr = bytearray(0x400)
    hdr[0x202:0x206] = b"HdrS"
    hdr[0x20E:0x210] = (0x100).to_bytes(2, "little")       # version string at 0x300
    hdr[0x300:0x320] = b"6.12.99-test (me@here) #1\0".ljust(0x20, b"\0")
    img.write_bytes(bytes(hdr))
    t = vm.resolve_target(str(img))
    assert t.release == "6.12.99-test" and t.image == str(img)


def test_target_not_installed_says_how(monkeypatch, tmp_path):
    targets = tmp_path / "t.toml"
    targets.write_text('["debian-9.9"]\nimage = "/nonexistent/vmlinuz-9.9*"\npackage = "linux-image-9.9"\n')
    monkeypatch.setattr(vm, "TARGETS_FILE", targets)
    monkeypatch.setattr(vm, "load_targets", lambda path=targets: __import__("tomllib").loads(targets.read_text()))
    with pytest.raises(HarnessError, match="install it with: apt-get update && .*linux-image-9.9"):
        vm.resolve_target("debian-9.9")


def test_corrupt_target_list_is_named(tmp_path):
    bad = tmp_path / "targets.toml"
    bad.write_text("[oops\n")
    with pytest.raises(HarnessError, match="targets.toml is not valid TOML"):
        vm.load_targets(bad)


def test_missing_qemu_and_vng(monkeypatch, tmp_path):
    """Each tool a boot needs, in turn missing: one line naming it and the package to install."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(vm.sys, "executable", str(tmp_path / "python3"))
    for tool, message in (("vng", "virtme-ng is not installed"),
                          ("qemu-system-x86_64", "qemu is not installed.*apt-get install qemu-system-x86"),
                          ("busybox", "busybox is not installed.*apt-get install busybox-static"),
                          ("file", "file is not installed.*apt-get install file")):
        with pytest.raises(HarnessError, match=message):
            vm.find_tools()
        fake_exe(tmp_path / tool, "exit 0")
    assert vm.find_tools() == (str(tmp_path / "vng"), str(tmp_path / "qemu-system-x86_64"))


def test_tools_beside_the_interpreter_come_before_path(monkeypatch, tmp_path):
    """.venv/bin/afalg-conform works without activating the venv: its vng is found."""
    venv, elsewhere = tmp_path / "venv" / "bin", tmp_path / "usr" / "bin"
    venv.mkdir(parents=True)
    elsewhere.mkdir(parents=True)
    mine, other = fake_exe(venv / "vng", "exit 0"), fake_exe(elsewhere / "vng", "exit 0")
    monkeypatch.setenv("PATH", f"{elsewhere}{os.pathsep}{venv}")
    monkeypatch.setattr(vm.sys, "executable", str(venv / "python3"))
    assert vm.find_tool("vng") == str(mine) != str(other)
    assert vm.tool_path().split(os.pathsep) == [str(venv), str(elsewhere)]
    monkeypatch.setattr(vm.sys, "executable", str(tmp_path / "python3"))
    assert vm.find_tool("vng") == str(other)


def test_kvm_probe_reads_qemu(tmp_path, monkeypatch):
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        ok, why = vm.probe_kvm(fake_exe(tmp_path / "q", "exit 0"))
        assert not ok and "kvm" in why.lower()
        return
    broken = fake_exe(tmp_path / "broken", "echo 'qemu: error: failed to set MSR 0x10a' >&2; exit 134")
    ok, why = vm.probe_kvm(broken)
    assert not ok and "failed to set MSR" in why
    working = fake_exe(tmp_path / "working", "sleep 10")
    assert vm.probe_kvm(working, seconds=0.5) == (True, "KVM usable")
    # With a kernel image the probe boots it: a paused VM is not enough (seen: nested KVM that
    # starts fine, then stops the decompressor with an emulation failure).
    img = str(tmp_path / "bzImage")
    stuck = fake_exe(tmp_path / "stuck", "echo 'KVM internal error. Suberror: 1'; echo 'emulation failure'; sleep 30")
    ok, why = vm.probe_kvm(stuck, img)
    assert not ok and "KVM internal error" in why
    boots = fake_exe(tmp_path / "boots", "echo 'Probing EDD'; echo '[    0.000000] Linux version 6.12'; sleep 30")
    assert vm.probe_kvm(boots, img) == (True, "KVM usable (a probe guest booted its kernel)")
    dies = fake_exe(tmp_path / "dies", "echo 'qemu: could not load kernel' >&2; exit 1")
    ok, why = vm.probe_kvm(dies, img)
    assert not ok and "could not load kernel" in why


def test_bootstrap_without_root_prints_the_command(capsys, monkeypatch):
    monkeypatch.setattr(vm.os, "geteuid", lambda: 1000)
    assert vm.bootstrap(["debian-6.12"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("run as root: apt-get update && INITRD=No apt-get install")
    assert "qemu-system-x86" in out and "linux-image-6.12.*+deb12-amd64-unsigned" in out


def test_bootstrap_if_missing_installs_only_what_is_missing(capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(vm.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or vm.subprocess.CompletedProcess(cmd, 0))
    monkeypatch.setattr(vm.os, "geteuid", lambda: 0)
    monkeypatch.setattr(vm, "find_tool", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(vm, "target_installed", lambda name: True)
    assert vm.bootstrap(["debian-6.12", "debian-6.1"], if_missing=True) == 0
    assert calls == []                      # not even apt-get update
    assert capsys.readouterr().out.startswith("bootstrap: nothing to install")
    monkeypatch.setattr(vm, "find_tool", lambda name: None if name == "busybox" else f"/usr/bin/{name}")
    monkeypatch.setattr(vm, "target_installed", lambda name: name != "debian-6.1")
    monkeypatch.setattr(vm, "newest_package", lambda pattern, regex=None: "linux-image-6.1.0-99-amd64-unsigned")
    assert vm.bootstrap(["debian-6.12", "debian-6.1"], if_missing=True) == 0
    assert calls[0] == ["apt-get", "update"]
    assert calls[1][-2:] == ["busybox-static", "linux-image-6.1.0-99-amd64-unsigned"]
    monkeypatch.setattr(vm.os, "geteuid", lambda: 1000)
    calls.clear()
    assert vm.bootstrap(["debian-6.12", "debian-6.1"], if_missing=True, dry_run=True) == 0
    out = capsys.readouterr().out.splitlines()
    assert calls == [] and len(out) == 1
    assert out[0].startswith("missing busybox-static, linux-image-6.1.0-*-amd64-unsigned; as root run: apt-get")


def test_flavoured_kernels_are_not_picked(tmp_path, monkeypatch):
    """debian-6.1's glob also matches -rt and -cloud images; the regex keeps the plain one."""
    import tomllib
    for name in ("vmlinuz-6.1.0-56-amd64", "vmlinuz-6.1.0-57-rt-amd64", "vmlinuz-6.1.0-58-cloud-amd64"):
        (tmp_path / name).write_bytes(b"")
    t = tomllib.loads(vm.TARGETS_FILE.read_text())["debian-6.1"]
    t["image"] = str(tmp_path / "vmlinuz-6.1.0-*-amd64")
    t["image_regex"] = t["image_regex"].replace("/boot", str(tmp_path))
    monkeypatch.setattr(vm, "load_targets", lambda path=None: {"debian-6.1": t})
    assert vm.resolve_target("debian-6.1").image.endswith("vmlinuz-6.1.0-56-amd64")


def test_cached_debian_targets_resolve_in_the_cache(tmp_path, monkeypatch):
    """debian-7.3 / debian-sid live in the cache (downloaded by bootstrap with a private apt
    configuration), the newest unpacked release wins, and doctor looks for their modules there."""
    from afalg_conformance.harness.cli import doctor
    monkeypatch.setattr(vm, "CACHE_DIR", tmp_path)
    with pytest.raises(HarnessError, match="install it with: afalg-conform bootstrap debian-7.3"):
        vm.resolve_target("debian-7.3")
    for rel in ("7.3.2+deb13-amd64", "7.3.10+deb13-amd64"):
        d = tmp_path / "kernels" / rel / "usr/lib/modules" / rel
        d.mkdir(parents=True)
        (d / "vmlinuz").write_bytes(b"")
    t = vm.resolve_target("debian-7.3")
    assert t.release == "7.3.10+deb13-amd64" and t.kind == "debian-cache"
    (mods,) = [c for c in doctor.check_target("debian-7.3") if c.name.startswith("modules")]
    assert not mods.ok and str(tmp_path / "kernels/7.3.10+deb13-amd64") in mods.detail
    (Path(t.image).parent / "modules.dep").write_text("")
    assert all(c.ok for c in doctor.check_target("debian-7.3"))


def test_private_apt_picks_the_newest_matching_release(tmp_path, monkeypatch):
    from afalg_conformance.harness.host import kernels
    apt = kernels.PrivateApt(tmp_path, "trixie-backports", mirror="http://deb.example/debian")
    assert "trixie-backports main" in (tmp_path / "sources.list").read_text()
    assert any(o.startswith("-o=Dir::State::status=") for o in apt.opts)     # never the host's dpkg status
    listing = "\n".join(f"linux-binary-{r} - Linux {r}" for r in
                        ("7.3.4+deb13-amd64", "7.3.12+deb13-amd64", "7.3.9+deb13-amd64"))
    monkeypatch.setattr(apt, "run", lambda tool, *a, cwd=None: listing)
    assert apt.newest_release(r"7\.3\.[0-9]+\+deb13-amd64") == "7.3.12+deb13-amd64"


def test_a_targets_config_is_found_beside_its_image_and_reaches_the_guest(tmp_path, monkeypatch):
    from afalg_conformance.harness.afalg import absent
    img = tmp_path / "kcov-6.12" / "bzImage"
    img.parent.mkdir()
    img.write_bytes(b"")
    assert vm.Target("k", str(img), "6.12.0").config is None
    (img.parent / "config").write_text("CONFIG_CRYPTO_USER_API_RNG_CAVP=y\n# CONFIG_KEYS is not set\n")
    t = vm.Target("k", str(img), "6.12.0")
    assert t.config == str(img.parent / "config")
    assert f"AFALG_KERNEL_CONFIG={t.config}" in vm.guest_python_command(["-m", "x"], t.config)
    monkeypatch.setenv("AFALG_KERNEL_CONFIG", t.config)
    assert absent.kernel_config("no-such-release") == {"CRYPTO_USER_API_RNG_CAVP": "y", "KEYS": "n"}


def test_a_guest_command_too_long_for_the_kernel_command_line_is_refused_before_boot():
    """virtme-ng puts the command on the kernel command line (2048 bytes on x86): one that does
    not fit would be cut with the kernel's own root= arguments, and the guest panics."""
    from afalg_conformance.harness.host import vm as vm_mod
    vm_mod.check_cmdline("python -m x " + "a" * 300, "/work/results")
    with pytest.raises(HarnessError, match="kernel command line"):
        # the coverage replay that hit it: twelve NAME=DIR folders after the environment
        vm_mod.check_cmdline("AFALG_IMPORT_MEMO=1 PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=/work/main PYTHONUNBUFFERED=1 "
                             "AFALG_KERNEL_CONFIG=/root/.cache/afalg-conformance/kcov-6.12/config "
                             "/work/main/.venv/bin/python -m afalg_conformance.fuzz.covreplay " + " ".join(
                                 f"fuzz_setsockopt=/work/cov-s5/fuzz-inputs/fed-s{i}/fuzz_setsockopt" for i in range(12)),
                             "/work/cov-s5")


def test_shared_memory_is_attached_as_an_ivshmem_device(tmp_path):
    t = Target("x", "/boot/vmlinuz-x", "6.12")
    shm = tmp_path / "journal.shm"
    shm.write_bytes(bytes(4096))
    cmd = vm.vng_command("vng", t, "/tmp/res", "true", use_kvm=False, shm=str(shm))
    opt = next(c for c in cmd if c.startswith("--qemu-opts="))
    assert f"mem-path={shm},size=4096" in opt and "-device ivshmem-plain" in opt
    assert cmd.index(opt) < cmd.index("--exec")
    assert not any(c.startswith("--qemu-opts") for c in vm.vng_command("vng", t, "/r", "true", use_kvm=False))
    # virtme-ng pastes the options into a shell line and qemu splits at commas
    for bad in ("a,b", "a b", "a;b"):
        p = tmp_path / bad
        p.write_bytes(bytes(16))
        assert not vm.shm_usable(str(p))
        with pytest.raises(HarnessError, match="qemu memory path"):
            vm.vng_command("vng", t, "/r", "true", use_kvm=False, shm=str(p))
