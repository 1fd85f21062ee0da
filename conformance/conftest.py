"""Fixtures every conformance test uses.

- `spec`: checks an observation against a clause and records it as evidence;
- `kat`: records nested per-vector results (one KTAP subtest each);
- `kernel`: the running kernel's release and version tuple;
- `crypto`: /proc/crypto, to find drivers and skip algorithms that are absent;
- `alg_socket`: a bound tfm socket, or a SKIP with `unsupported:alg-missing=<name>`.

Every bind of an algorithm goes through `bind_name` (`bind_focused`, `bind_or_skip`,
`alg_socket`, the KAT runner): under `afalg-conform run --driver NAME` it binds the
matching driver in place of the generic name (proccrypto.focus_driver decides from
/proc/crypto) and records, per test, what was asked for, what was bound and which driver
served it.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import platform
import sys

import pytest

from afalg_conformance.conformance import catalogue
from afalg_conformance.harness.afalg import absent
from afalg_conformance.harness.afalg import client as afalg
from afalg_conformance.harness.afalg import cgroupbpf, netns, proccrypto, restrict
from afalg_conformance.harness.afalg.client import AfalgSocket, errno_name
from afalg_conformance.harness.guest.plugin import recorder_for

# Hypothesis' settings for the property tests live in _util_hypothesis.py, imported by the
# modules that use Hypothesis: importing it here cost every guest ~5 s of its start under TCG
# (a cProfile of the smoke suite), property tests or not.


# run --driver: the patterns (guest runner: AFALG_DRIVERS), and those no driver of this
# kernel matches (AFALG_DRIVERS_MISSING); harness/guest/runner.py driver_focus sets both.
FOCUS: list[str] = json.loads(os.environ.get("AFALG_DRIVERS") or "[]")
FOCUS_MISSING: list[str] = json.loads(os.environ.get("AFALG_DRIVERS_MISSING") or "[]")


def pytest_collection_modifyitems(config, items):
    # Tests that need AF_ALG skip, with the reason, on a kernel that has none.
    ok, why = afalg.afalg_available()
    if not ok:
        mark = pytest.mark.skip(reason=f"unsupported:no-af-alg ({why})")
        for item in items:
            item.add_marker(mark)
    elif FOCUS_MISSING:
        # A run asked for a driver this kernel does not have is not run on the generic one.
        mark = pytest.mark.skip(reason=" ".join(f"unsupported:driver-missing={p}" for p in FOCUS_MISSING))
        for item in items:
            item.add_marker(mark)
    # Read here, in the process that collected: plugin.ForkWorkers forks the workers after
    # collection, and each would otherwise parse the clause catalogue and the kernel's config
    # itself at its first check (4 and 2-4 s of a TCG worker under cProfile, 2026-12-02).
    # Only a head start: a catalogue or config that does not load makes each test that reads
    # it an error (the loads are not cached when they raise), not the whole session stop here.
    try:
        catalogue.load()
        _kernel_config()
    except Exception as e:  # noqa: BLE001 -- reported by every test that needs them
        print(f"afalg-conformance: preloading the clause catalogue or kernel config failed: {e}",
              file=sys.stderr)


class Spec:
    """`spec.check(clause, seen, ...)`: record evidence and assert the linux expectation."""

    def __init__(self, node, release: str):
        self.node = node
        self.release = release
        self.rec = recorder_for(node)
        self.failures: list[str] = []
        self.checked = 0                  # checks of clauses that apply to this kernel
        self.not_applicable: list[str] = []
        self.rec.finishers.append(self.finish)

    def require(self, clause_id: str) -> None:
        """Skip now when the kernel's config contradicts the clause's `needs`, or an algorithm
        it needs is absent (decided as bind_or_skip decides: a broken one fails); for a test
        whose calls only make sense where the clause applies (others just check, see check())."""
        clause = catalogue.get(clause_id)
        if why := clause.missing_config(_kernel_config()):
            pytest.skip(why)
        for want in clause.needs.get("alg", []):    # "type:name": absent skips, broken fails
            alg_type, name = want.split(":", 1)
            bind_or_skip(alg_type, name, focus=False).close()

    def expected(self, clause_id: str) -> str:
        return catalogue.get(clause_id).linux_expect(self.release)

    def check(self, clause_id: str, seen, expected=None, sent: str = "", note: str = "",
              soft: bool = False) -> bool:
        """Compare `seen` with the clause's linux token (or an explicit expectation).

        soft=True records a failure without stopping the test, so one test can
        report several checks of one clause.
        """
        clause = catalogue.get(clause_id)
        seen_s = seen.hex() if isinstance(seen, (bytes, bytearray)) else str(seen)
        if why := clause.missing_config(_kernel_config()):
            # The clause is about a kernel built otherwise (its `needs`): what was seen is
            # kept as an observation, and the test skips if nothing else applied.
            self.not_applicable.append(f"{why} ({clause_id})")
            self.rec.add_evidence(clause=clause_id, sent=sent, expected=None, seen=seen_s[:512], ok=True,
                                  note=f"not applicable to this kernel: {why}")
            return True
        self.checked += 1
        exp = clause.linux_expect(self.release) if expected is None else expected
        if exp == "computed" and expected is None:
            raise AssertionError(f"{clause_id} has a computed expectation; pass expected=")
        exp_s = exp.hex() if isinstance(exp, (bytes, bytearray)) else str(exp)
        ok = seen_s == exp_s
        self.rec.add_evidence(clause=clause_id, sent=sent, expected=exp_s[:512], seen=seen_s[:512],
                              ok=ok, note=note)
        if not ok:
            msg = f"{clause_id}: {sent}: expected {exp_s[:80]}, seen {seen_s[:80]}"
            if soft:
                self.failures.append(msg)
            else:
                raise AssertionError(msg)
        return ok

    def check_errno(self, clause_id: str, fn, expected=None, sent: str = "", note: str = "",
                    soft: bool = False):
        """Run fn(); the errno name it raises (or "ok") is the observation."""
        result = None
        try:
            result = fn()
            seen = "ok"
        except OSError as e:
            seen = errno_name(e.errno)
        self.check(clause_id, seen, expected, sent, note, soft)
        return result

    def observe(self, clause_id: str, seen, sent: str = "", note: str = "") -> None:
        """Evidence for profile comparison only: the linux verdict is not asserted here."""
        seen_s = seen.hex() if isinstance(seen, (bytes, bytearray)) else str(seen)
        self.rec.add_evidence(clause=clause_id, sent=sent, expected=None, seen=seen_s[:512],
                              ok=True, note=note)

    def finish(self, stopped: bool = False) -> None:
        """Fail with the soft failures; once (the results plugin calls it in the call phase)."""
        failures, self.failures = self.failures, []
        if failures:
            raise AssertionError("; ".join(failures)[:2000])
        if self.not_applicable and not self.checked and not stopped:
            pytest.skip(self.not_applicable[0])


@pytest.fixture
def kernel():
    release = platform.release()
    return {"release": release, "version": catalogue.kernel_version(release)}


@pytest.fixture
def spec(request, kernel):
    s = Spec(request.node, kernel["release"])
    yield s
    s.finish(stopped=True)      # without the results plugin: late, as an ERROR, but not lost


class Kat:
    """Nested per-vector results: one test, many vectors, each a KTAP subtest."""

    def __init__(self, node):
        self.rec = recorder_for(node)
        self.counts = {"pass": 0, "fail": 0, "skip": 0, "xfail": 0}
        self.failed: list[str] = []
        self.finished = False
        self.rec.finishers.append(self.finish)

    def case(self, name: str, outcome: str, reason: str = "", **detail) -> None:
        """outcome: pass | fail | skip (unsupported:...) | xfail (a known kernel
        deviation that has its own clause; KTAP `ok N name # XFAIL reason`)."""
        assert outcome in ("pass", "fail", "skip", "xfail"), outcome
        self.counts[outcome] += 1
        self.rec.add_subtest(name, outcome, reason, **detail)
        if outcome == "fail":
            self.failed.append(f"{name}: {reason}")

    def finish(self, stopped: bool = False) -> None:
        """The verdict of the vectors, once. stopped: the test ended early (a skip), so only
        the failures recorded so far count."""
        if self.finished:
            return
        self.finished = True
        if self.failed:
            head = "; ".join(self.failed[:5])
            raise AssertionError(f"{len(self.failed)} vector(s) failed: {head}"[:2000])
        if stopped or self.counts["pass"] + self.counts["xfail"] > 0:
            return
        if self.counts["skip"] > 0:
            pytest.skip(f"unsupported:all-{self.counts['skip']}-vectors-inexpressible")
        raise AssertionError("no vector checked: a test of vectors that ran none proves nothing")


@pytest.fixture
def kat(request):
    k = Kat(request.node)
    yield k
    k.finish(stopped=True)


@pytest.fixture(scope="session")
def crypto():
    return proccrypto.read()


@functools.cache
def _kernel_config():
    return absent.kernel_config()


def absent_reason(alg_type: str, name: str, err: OSError) -> str:
    """The skip reason for a bind of name that failed with err when the kernel does not
    offer name, or refuses it to this process by its af_alg_restrict mode (Linux 7.3, a
    run with --restrict 1); a FAIL, with the evidence, when it offers it (harness/afalg/absent.py
    decides)."""
    if err.errno == errno.ENOENT and (refused := restrict.refusal(alg_type, name)):
        return refused
    verdict, why = absent.classify(alg_type, name, err.errno, proccrypto.read(), _kernel_config())
    if verdict != "unsupported":
        pytest.fail(f"bind({alg_type}, {name}): {why}", pytrace=False)
    return f"unsupported:alg-missing={name} ({errno_name(err.errno)})"


_current: dict = {"rec": None}      # the running test's recorder, for bind records


@pytest.fixture(autouse=True)
def _bind_records(request):
    _current["rec"] = recorder_for(request.node) if FOCUS else None
    yield
    _current["rec"] = None


def bind_name(alg_type: str, name: str) -> str:
    """The name a bind of `name` uses: under run --driver the focused driver of `name` when
    /proc/crypto lists one (proccrypto.focus_driver), else `name` itself. The one place."""
    if not FOCUS:
        return name
    e = proccrypto.focus_driver(proccrypto.read(), alg_type, name, FOCUS)
    return e.driver if e else name


def _record_bind(alg_type: str, name: str, bound: str) -> None:
    rec = _current["rec"]
    if rec is not None:
        driver = proccrypto.driver_of(proccrypto.read(), alg_type, bound) or "unknown"
        rec.add_bind(type=alg_type, name=name, bound=bound, driver=driver)


def bind_focused(alg_type: str, name: str) -> AfalgSocket:
    """AfalgSocket.bound(alg_type, bind_name(alg_type, name)): raises OSError as it does,
    for a test that reads the bind's errno itself."""
    bound = bind_name(alg_type, name)
    s = AfalgSocket.bound(alg_type, bound)
    _record_bind(alg_type, name, bound)
    return s


# Names this worker found missing (ENOENT, and absent_reason called it unsupported), with the
# af_alg_restrict mode and the modules loaded when it asked. A bind of a missing name is the
# slow one: the kernel asks user space for four or five modules and cryptomgr tries the
# template before it gives up, 0.6-1.8 s under TCG (ofb(aes), cfb(aes) on 6.12: 72 skips of
# a full run, 53 s summed). The next test that needs the name skips on that answer while the
# mode and the modules are the same and /proc/crypto (about 10 ms to read) still does not
# list it: another test's bind can register an instance without loading a module, and a name
# listed but not bound is a FAIL, which absent_reason decides after a bind of its own.
_MISSING: dict[tuple[str, str], tuple[str, int | None, str]] = {}


def bind_or_skip(alg_type: str, name: str, focus: bool = True) -> AfalgSocket:
    """A bound tfm socket for name (its focused driver under run --driver, unless focus is
    False), or SKIP when the kernel does not offer it; a focused driver that /proc/crypto
    lists but that does not bind is a FAIL (absent_reason)."""
    bound = bind_name(alg_type, name) if focus else name
    key = (alg_type, bound)
    if (known := _MISSING.get(key)) is not None:
        reason, mode, mods = known
        if mode == restrict.read() and mods == proccrypto.loaded_modules() and \
                absent.classify(alg_type, bound, errno.ENOENT, proccrypto.read(), _kernel_config())[0] == "unsupported":
            pytest.skip(reason)
        del _MISSING[key]
    try:
        s = AfalgSocket.bound(alg_type, bound)
    except OSError as e:
        reason = absent_reason(alg_type, bound, e)       # a FAIL does not return
        if e.errno == errno.ENOENT and reason.startswith("unsupported:alg-missing="):
            _MISSING[key] = (reason, restrict.read(), proccrypto.loaded_modules())
        pytest.skip(reason)
    if focus:
        _record_bind(alg_type, name, bound)
    return s


@pytest.fixture
def alg_socket():
    opened: list[AfalgSocket] = []

    def make(alg_type: str, name: str) -> AfalgSocket:
        s = bind_or_skip(alg_type, name)
        opened.append(s)
        return s
    yield make
    for s in opened:
        s.close()


def _inside(ctx, unavailable):
    """A fixture's body: the test runs inside ctx, or SKIPs with ctx's own reason why not."""
    try:
        entered = ctx.__enter__()
    except unavailable as e:
        pytest.skip(f"unsupported:{e}")
    try:
        yield entered
    finally:
        ctx.__exit__(None, None, None)


@pytest.fixture
def private_netns():
    """The test runs in a network namespace of its own (harness/afalg/netns.py), where it may
    lower net.core.optmem_max without touching another worker's sockets; sockets it makes
    there keep that namespace. SKIP where the kernel or our privileges do not allow it."""
    yield from _inside(netns.PrivateNetns(), netns.Unavailable)


@pytest.fixture
def sockopt_cgroup():
    """A cgroup with a pass-through BPF setsockopt program (harness/afalg/cgroupbpf.py):
    sockets made inside `with sockopt_cgroup.joined():` get their options through a kernel
    copy. SKIP where the kernel or our privileges do not allow it."""
    config = _kernel_config()
    for opt in ("BPF_SYSCALL", "CGROUP_BPF"):
        if config is not None and config.get(opt) != "y":
            pytest.skip(f"unsupported:config-missing=CONFIG_{opt}")
    yield from _inside(cgroupbpf.SockoptCgroup(), cgroupbpf.Unavailable)


@pytest.fixture
def tmp_owned(tmp_path):
    """A directory of files this run created itself: the only files ever spliced."""
    os.chmod(tmp_path, 0o700)
    return tmp_path
