"""The kernel-log classifier, fed real console text and the kernel's report formats.

console-sysrq-panic-6.12.txt is a real console captured from a Debian 6.12 guest
by the crash self-check. The WARN, KASAN, hung-task and oops blocks below follow
the kernel's own printk formats (lib/bug.c __warn, mm/kasan/report.c,
kernel/hung_task.c, arch/x86/mm/fault.c) with the timestamp/caller-id prefixes
that consoles add.
"""

from pathlib import Path

from afalg_conformance.harness.results import klog

DATA = Path(__file__).parent / "data"

WARN = """\
[  112.401122] ------------[ cut here ]------------
[  112.401160] WARNING: CPU: 1 PID: 412 at crypto/af_alg.c:623 af_alg_pull_tsgl+0x1e2/0x210 [af_alg]
[  112.401301] Modules linked in: algif_skcipher af_alg
[  112.401402] CPU: 1 UID: 0 PID: 412 Comm: python3 Not tainted 6.12.117+deb12-amd64 #1
[  112.401517] RIP: 0010:af_alg_pull_tsgl+0x1e2/0x210 [af_alg]
[  112.401790] Call Trace:
[  112.401801]  <TASK>
[  112.401840]  _skcipher_recvmsg+0x2f1/0x480 [algif_skcipher]
[  112.401999] ---[ end trace 0000000000000000 ]---
"""

KASAN = """\
[ 1502.520319][T14140] ==================================================================
[ 1502.527398][T14140] BUG: KASAN: slab-use-after-free in af_alg_free_areq_sgls+0x5c/0x1b0
[ 1502.534436][T14140] Read of size 8 at addr ffff88800853aa88 by task python3/14140
[ 1502.541084][T14140]
[ 1502.550591][T14140] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009)
[ 1502.558322][T14140] Call Trace:
[ 1502.561155][T14140]  <TASK>
[ 1502.563628][T14140]  dump_stack_lvl+0x5d/0x80
[ 1502.567645][T14140]  print_report+0xc1/0x5e0
[ 1502.590618][T14140]  kasan_report+0xbd/0xf0
"""

HUNG = """\
[  363.112233] INFO: task python3:291 blocked for more than 120 seconds.
[  363.112301]       Not tainted 6.1.0-56-amd64 #1 Debian 6.1.192-2
[  363.112390] "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
[  363.112470] task:python3         state:D stack:0     pid:291   ppid:1      flags:0x00004002
"""

OOPS = """\
[   41.000001] BUG: kernel NULL pointer dereference, address: 0000000000000008
[   41.000050] #PF: supervisor read access in kernel mode
[   41.000090] Oops: 0000 [#1] PREEMPT SMP NOPTI
[   41.000130] RIP: 0010:scatterwalk_copychunks+0x40/0x1c0
"""

QUIET = """\
[    0.000000] Linux version 6.12.117+deb12-amd64
[   66.889540] NET: Registered PF_ALG protocol family
[   82.147425] hrtimer: interrupt took 12853536 ns
[   95.486166] sysrq: Trigger a crash
"""


def kinds(text):
    return [p.kind for p in klog.scan(text.splitlines())]


def test_real_sysrq_panic_is_a_panic_of_the_running_test():
    lines = (DATA / "console-sysrq-panic-6.12.txt").read_text().splitlines()
    problems = klog.scan(lines)
    assert [p.kind for p in problems] == ["panic"]
    assert problems[0].test == "zz_selfcheck_crash.test_crash_kernel_with_sysrq"
    assert "sysrq triggered crash" in problems[0].line
    assert any("Call Trace" in c for c in problems[0].context)
    assert klog.last_started_test(lines) == "zz_selfcheck_crash.test_crash_kernel_with_sysrq"


def test_warning_is_one_report_not_two():
    problems = klog.scan(WARN.splitlines())
    assert [p.kind for p in problems] == ["warning"]
    assert problems[0].line.startswith("WARNING: CPU: 1 PID: 412 at crypto/af_alg.c:623")


def test_kasan_with_caller_id_prefix():
    problems = klog.scan(KASAN.splitlines())
    assert [p.kind for p in problems] == ["kasan"]
    assert "slab-use-after-free" in problems[0].line


def test_hung_task_and_oops():
    assert kinds(HUNG) == ["hung-task"]
    assert kinds(OOPS) == ["oops"]


def test_ordinary_boot_noise_is_not_a_problem():
    assert kinds(QUIET) == []


def test_attribution_follows_markers():
    text = ("[ 1.0] afalg-conform: start a.test_one\n[ 1.1] afalg-conform: end a.test_one\n"
            "[ 2.0] afalg-conform: start a.test_two\n" + WARN + "[ 3.0] afalg-conform: end a.test_two\n"
            + OOPS)
    problems = klog.scan(text.splitlines())
    assert [(p.kind, p.test) for p in problems] == [("warning", "a.test_two"), ("oops", None)]


def test_kmsg_record_prefix_is_stripped():
    assert klog.classify_line("<4>[  12.5] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2") == "warning"


def test_a_report_the_test_explains_is_kept_and_says_why():
    """An XFAIL's own kernel report (debian-6.1: testmgr's WARN on cryptd's AEAD self-test) is
    in the result with its explanation; any other report still has no explanation."""
    from afalg_conformance.harness.guest.plugin import Recorder
    from afalg_conformance.harness.results.model import kernel_report_line
    (warn,) = klog.scan((DATA / "console-selftest-fail-6.1.txt").read_text().splitlines())
    rec = Recorder()
    name = "cryptd(gcm_base(ctr(aes-generic),ghash-generic))"
    rec.explain(lambda p: (klog.selftest_failure(p) or ("", ""))[1] == name, "AEAD-18 known defect")
    assert rec.explanation(warn) == "AEAD-18 known defect"
    assert rec.explanation(klog.scan(WARN.splitlines())[0]) is None
    line = kernel_report_line({**warn.to_json(), "explained": "AEAD-18 known defect"})
    assert line.startswith("kernel warning: WARNING: CPU: 1 PID: 285 at crypto/testmgr.c")
    assert line.endswith("(explained: AEAD-18 known defect)")
