"""Host-side tests of the fuzzers' surface description, decoders, seeds and host tooling.

No VM and no AF_ALG needed: decoding makes no system calls.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

atheris = pytest.importorskip("atheris")

from afalg_conformance.fuzz import decoders, seeds, surface  # noqa: E402
from afalg_conformance.fuzz.program import (EncodingSource, Executor, FdpSource, Names, Program, encode_cmsgs,  # noqa: E402
                          request_model)
from afalg_conformance.harness.afalg import algorithms  # noqa: E402
from afalg_conformance.harness.afalg.constants import SOL_ALG, AlgOp, AlgOpt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def test_surface_tables_are_consistent():
    d = surface.describe()
    assert d["socket_types"][0] == "SOCK_SEQPACKET"
    assert {"hash", "skcipher", "aead", "rng"} <= set(surface.BIND_TYPES)
    assert {o.shape for o in surface.OPTIONS} <= {"bytes", "optlen", "u32", "serial"}
    assert {c.shape for c in surface.CMSGS} <= {"u32", "iv", "bytes"}
    names = {o.name for o in surface.OPTIONS}
    assert {"ALG_SET_KEY", "ALG_SET_AEAD_AUTHSIZE", "ALG_SET_DRBG_ENTROPY", "ALG_SET_KEY_BY_KEY_SERIAL"} <= names
    assert {"ALG_SET_OP", "ALG_SET_IV", "ALG_SET_AEAD_ASSOCLEN"} <= {c.name for c in surface.CMSGS}
    assert [n for n, _ in surface.SEND_FLAGS] == ["MSG_MORE", "MSG_DONTWAIT", "MSG_OOB"]
    assert surface.STATES == ["unbound", "bound", "keyed", "accepted", "op"]
    assert set(surface.TRANSITIONS) == set(surface.STATES)


def test_static_names_cover_every_algorithm_and_are_stable():
    static = surface.static_names()
    assert {(a.type, a.name) for a in algorithms.ALGORITHMS.values()} <= set(static)
    assert static == surface.static_names()


def test_runtime_names_from_proc_crypto(tmp_path):
    p = tmp_path / "crypto"
    p.write_text("name         : cbc(aes)\ndriver       : cbc-aes-aesni\nmodule       : kernel\n"
                 "priority     : 400\ntype         : skcipher\ninternal     : no\n\n"
                 "name         : __cbc(aes)\ndriver       : __cbc-aes-aesni\ntype         : skcipher\n"
                 "internal     : yes\n\n")
    assert surface.runtime_names(str(p)) == [("skcipher", "cbc(aes)"), ("skcipher", "cbc-aes-aesni")]


@pytest.mark.parametrize("n,cls", [(None, "none"), (0, "0"), (5, "<16"), (16, "16"), (40, "<64"),
                                   (200, "<=256"), (4096, "<=4096"), (1 << 20, "huge")])
def test_length_classes(n, cls):
    assert surface.length_class(n) == cls


def test_adding_an_option_is_one_line(monkeypatch):
    extra = surface.Option("SO_PRIORITY", 1, 12, "u32")
    monkeypatch.setattr(surface, "OPTIONS", surface.OPTIONS + [extra])
    seen = set()
    rng = random.Random(1)
    for _ in range(3000):
        prog = decoders.decode_setsockopt(FdpSource(rng.randbytes(rng.randint(0, 80))), Names())
        seen |= {c.args.get("name") for c in prog.calls if c.op == "setsockopt"}
    assert "SO_PRIORITY" in seen


@pytest.mark.parametrize("name", sorted(decoders.DECODERS))
def test_decoders_accept_any_bytes_and_print_valid_python(name):
    rng = random.Random(name)
    names = Names([("skcipher", "cbc-aes-aesni"), ("hash", "sha256-generic")])
    for i in range(1500):
        data = rng.randbytes(rng.randint(0, 400))
        prog = decoders.DECODERS[name](FdpSource(data), names)
        assert prog.calls and prog.calls[0].op == "socket"
        assert all(0 <= c.slot < 8 for c in prog.calls)
        if i % 50 == 0:
            compile(prog.to_python(), "<reproducer>", "exec")
        # decoding is a pure function of the bytes
        again = decoders.DECODERS[name](FdpSource(data), names)
        assert [(c.op, c.slot, c.args) for c in again.calls] == [(c.op, c.slot, c.args) for c in prog.calls]


def test_splice_is_only_ever_from_the_executors_own_pipe():
    rng = random.Random(7)
    for _ in range(2000):
        prog = decoders.decode_sequence(FdpSource(rng.randbytes(rng.randint(0, 300))), Names())
        for c in prog.calls:
            if c.op == "splice":
                assert set(c.args) - {"fault"} == {"data", "flags"}     # no fd or path can be named


def test_encoding_source_round_trips_through_fuzzed_data_provider():
    rng = random.Random(3)
    for _ in range(300):
        plan = []
        for _ in range(rng.randint(0, 15)):
            if rng.random() < 0.6:
                lo = rng.randint(-3, 50)
                hi = lo + rng.choice([0, 1, 7, 255, 256, 65535, 1 << 20, (1 << 32) - 1])
                plan.append(("i", lo, hi, rng.randint(lo, hi)))
            else:
                n = rng.randint(0, 20)
                plan.append(("b", n, rng.randbytes(n)))
        it = iter([p for p in plan])
        want = {}

        enc = EncodingSource(lambda tag, lo, hi: want.get(tag), lambda tag, n: want.get(tag, b""))
        for i, p in enumerate(plan):
            if p[0] == "i":
                want[f"t{i}"] = p[3]
                enc.int(p[1], p[2], f"t{i}")
            else:
                want[f"t{i}"] = p[2]
                enc.bytes(p[1], f"t{i}")
        src = FdpSource(enc.data())
        for p in it:
            if p[0] == "i":
                assert src.int(p[1], p[2]) == p[3]
            else:
                assert src.bytes(p[1]) == p[2]


def test_seed_corpus_is_current_and_small():
    assert seeds.check(ROOT / "fuzz" / "corpus") == [], "run: python3 -m afalg_conformance.fuzz.seeds"
    files = [p for p in (ROOT / "fuzz" / "corpus").rglob("*") if p.is_file()]
    assert len(files) >= 40
    # a seed's writes hold at most surface.DATA_BYTES of their data each (two 256 KiB writes
    # are two times 256 bytes of skcipher-two-tx-blocks)
    assert max(p.stat().st_size for p in files) < 1024


def test_seeds_decode_to_valid_requests():
    d = ROOT / "fuzz" / "corpus"
    prog = decoders.decode_cmsg(FdpSource((d / "fuzz_cmsg" / "encrypt-gcm_aes_").read_bytes()), Names())
    ops = [c.op for c in prog.calls]
    assert ops == ["socket", "bind", "setsockopt", "accept", "sendmsg", "check"]
    assert prog.calls[1].args["name"] == "gcm(aes)"
    assert prog.calls[-1].args["param"]["op"] == AlgOp.ENCRYPT
    for alg in algorithms.ALGORITHMS.values():
        label = "setup-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in alg.name)
        prog = decoders.decode_setsockopt(FdpSource((d / "fuzz_setsockopt" / label).read_bytes()), Names())
        bind = prog.calls[1]
        assert (bind.args["type"], bind.args["name"]) == (alg.type, alg.name)
        keys = [c.args["value"] for c in prog.calls if c.op == "setsockopt" and c.args["name"] == "ALG_SET_KEY"]
        if alg.keyed:
            assert keys and len(keys[0]) in (alg.key_sizes if not alg.make_key else (56,))


def test_request_model_follows_the_kernels_cmsg_rules():
    op = surface.CMSGS[0]
    iv = surface.CMSGS[1]
    al = surface.CMSGS[2]
    u32 = lambda v: v.to_bytes(4, "little")  # noqa: E731
    ivp = lambda b: u32(len(b)) + b  # noqa: E731
    # no OP: decrypt; last of each type wins
    m = request_model([(iv, ivp(b"a" * 16), "honest"), (iv, ivp(b"b" * 16), "honest")])
    assert m == {"op": AlgOp.DECRYPT, "iv": b"b" * 16, "assoclen": 0}
    m = request_model([(op, u32(1), "honest"), (al, u32(8), "honest")])
    assert m == {"op": AlgOp.ENCRYPT, "iv": None, "assoclen": 8}
    assert request_model([(op, u32(2), "honest")]) is None              # invalid op
    assert request_model([(al, u32(0x80000000), "honest")]) is None     # assoclen cap
    assert request_model([(op, u32(1), "plus1")]) is None               # lying cmsg_len
    assert request_model([(iv, u32(12) + b"x" * 16, "honest")]) is None  # lying ivlen


def test_encode_cmsgs_lays_out_headers():
    data = encode_cmsgs([(surface.CMSGS[0], (1).to_bytes(4, "little"), "honest"),
                         (surface.CMSGS[0], (1).to_bytes(4, "little"), "zero")])
    assert len(data) == 48
    assert int.from_bytes(data[:8], "little") == 20 and int.from_bytes(data[24:32], "little") == 0
    assert int.from_bytes(data[8:12], "little") == SOL_ALG
    assert int.from_bytes(data[12:16], "little") == AlgOpt.SET_OP


def test_encode_cmsgs_gives_the_bytes_of_the_cmsg_encoder():
    """encode_cmsgs packs headers itself: byte for byte what harness.afalg.cmsg lays out."""
    from afalg_conformance.harness.afalg import cmsg as cm
    classes = [c for c, _fn in surface.CMSG_LEN_CLASSES] + ["len=0", "len=17", f"len={2**64 - 1}"]
    for kind in surface.CMSGS:
        for n in (0, 1, 4, 7, 8, 20, 33):
            payload = bytes(range(n))
            for lclass in classes:
                honest = cm.cmsg_len(n)
                length = None if lclass == "honest" else int(lclass[4:]) if lclass.startswith("len=") \
                    else dict(surface.CMSG_LEN_CLASSES)[lclass](honest)
                want = cm.Cmsg(kind.level, kind.type, payload, length).encode()
                assert encode_cmsgs([(kind, payload, lclass)]) == want, (kind, n, lclass)


def test_dry_run_prints_programs_without_syscalls():
    seed = ROOT / "fuzz" / "corpus" / "fuzz_sequence" / "skcipher-cbc"
    r = subprocess.run([sys.executable, str(ROOT / "fuzz" / "fuzz_sequence.py"), "--dry-run", str(seed)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "sockaddr_alg('skcipher', 'cbc(aes)'" in r.stdout
    compile(r.stdout, "<dry-run>", "exec")


def test_executor_reports_errnos_when_there_is_no_af_alg():
    from afalg_conformance.harness.afalg.client import afalg_available
    if afalg_available()[0]:
        pytest.skip("this machine has AF_ALG; the no-AF_ALG path is what CI exercises")
    seed = ROOT / "fuzz" / "corpus" / "fuzz_cmsg" / "encrypt-cbc_aes_"
    prog = decoders.decode_cmsg(FdpSource(seed.read_bytes()), Names())
    ex = Executor()
    results = ex.run(prog)
    assert results[0] == "EAFNOSUPPORT"
    assert ("socket", "SOCK_SEQPACKET", "none", "EAFNOSUPPORT") in ex.outcomes


def test_fuzzer_runs_on_a_kernel_without_af_alg(tmp_path):
    """The same script OSS-Fuzz would run: libFuzzer flags, python coverage fallback."""
    from afalg_conformance.harness.afalg.client import afalg_available
    if afalg_available()[0]:
        pytest.skip("this machine has AF_ALG: never fuzz the host kernel")
    stats = tmp_path / "stats.json"
    r = subprocess.run([sys.executable, str(ROOT / "fuzz" / "fuzz_setsockopt.py"), "-runs=50",
                        f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True, timeout=300,
                       env={"AFALG_FUZZ_STATS": str(stats), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "coverage mode: python" in r.stderr
    assert "Done 50 runs" in r.stderr


def test_programs_print_results_beside_calls():
    p = Program("fuzz_x")
    p.add("socket", 0, type=5, type_name="SOCK_SEQPACKET", proto=0)
    p.add("close", 0)
    text = p.to_python(["ok", "ok"])
    assert "s[0] = sock(SOCK_SEQPACKET, 0)  # -> ok" in text
    compile(text, "<x>", "exec")


def test_sequence_programs_end_by_checking_every_transform_socket():
    seed = ROOT / "fuzz" / "corpus" / "fuzz_sequence" / "skcipher-cbc"
    prog = decoders.decode_sequence(FdpSource(seed.read_bytes()), Names())
    assert prog.calls[-1].op == "check" and prog.calls[-1].args["what"] == "usable"
    assert prog.calls[-1].slot == 0
    rng = random.Random(7)
    for _ in range(200):
        prog = decoders.decode_sequence(FdpSource(rng.randbytes(rng.randint(0, 300))), Names())
        checks = [c for c in prog.calls if c.op == "check"]
        assert checks == prog.calls[len(prog.calls) - len(checks):]   # only at the end
        assert len({c.slot for c in checks}) == len(checks)


def test_a_second_bind_forgets_the_old_transforms_key(monkeypatch):
    """alg_bind swaps in a fresh, unkeyed tfm when the socket has no children; the oracle
    must not expect the old key to still be set (that was a false positive in waiting)."""
    import socket as socket_mod

    from afalg_conformance.fuzz import program
    real = socket_mod.socket
    monkeypatch.setattr(program.socket, "socket", lambda *a, **k: real(socket_mod.AF_INET, socket_mod.SOCK_DGRAM))
    monkeypatch.setattr(program.AfalgSocket, "bind_raw", lambda self, addr, n=None: None)
    monkeypatch.setattr(program.AfalgSocket, "setsockopt", lambda self, *a, **k: None)
    seen = []
    monkeypatch.setattr(program, "check_usable", lambda st, tracer=None: seen.append((st.alg_name, st.key)) or "n/a")
    prog = Program("fuzz_sequence")
    prog.add("socket", 0, type=5, type_name="SOCK_SEQPACKET", proto=0)
    prog.add("bind", 0, type="skcipher", name="cbc(aes)", feat=0, mask=0, addrlen=None)
    prog.add("setsockopt", 0, name="ALG_SET_KEY", level=SOL_ALG, opt=int(AlgOpt.SET_KEY), value=b"k" * 16,
             optlen=16)
    prog.add("check", 0, what="usable")
    prog.add("bind", 0, type="skcipher", name="ecb(aes)", feat=0, mask=0, addrlen=None)
    prog.add("check", 0, what="usable")
    assert Executor().run(prog) == ["ok", "ok", "ok", "n/a", "ok", "n/a"]
    assert seen == [("cbc(aes)", b"k" * 16), ("ecb(aes)", None)]


def test_every_recv_is_preceded_by_a_poll_in_programs_and_reproducers():
    """af_alg_poll is reached by nothing else the fuzzers do; the executor polls before each
    recv (no input byte decides it) and the printed reproducer does the same."""
    import socket as pysocket
    from afalg_conformance.harness.afalg.client import AfalgSocket
    p = Program("fuzz_x")
    p.add("recv", 2, n=16, flags=0)
    lines = p.to_python(["ok:0"]).splitlines()
    i = next(k for k, line in enumerate(lines) if ".sock.recv(16" in line)
    assert lines[i - 1] == "call(lambda: s[2].poll_mask())" and lines[i].endswith("-> ok:0")
    a, b = pysocket.socketpair()
    with a, b:
        s = AfalgSocket(a)
        assert s.poll_mask() == "OUT"
        b.send(b"x")
        assert s.poll_mask() == "IN+OUT"


def test_key_serial_names_a_key_made_where_the_program_runs(monkeypatch):
    """ALG_SET_KEY_BY_KEY_SERIAL: an input names one of the process's keys; the executor
    passes that key's serial (optlen bytes of it) and the oracle then expects the key's
    payload as the tfm's key; a refused setkey (EINVAL, honest optlen) forgets it again."""
    import errno
    import socket as socket_mod

    from afalg_conformance.fuzz import program
    from afalg_conformance.harness.afalg import keys
    real = socket_mod.socket
    monkeypatch.setattr(program.socket, "socket", lambda *a, **k: real(socket_mod.AF_INET, socket_mod.SOCK_DGRAM))
    monkeypatch.setattr(program.AfalgSocket, "bind_raw", lambda self, addr, n=None: None)
    sent = []

    def setsockopt(self, level, opt, value, optlen):
        sent.append((opt, value, optlen))
        if len(sent) == 2:                      # the second time, the algorithm refuses the key
            raise OSError(errno.EINVAL, "setkey")
    monkeypatch.setattr(program.AfalgSocket, "setsockopt", setsockopt)
    monkeypatch.setattr(keys, "_serials", {"user-32": 1234})
    seen = []
    monkeypatch.setattr(program, "check_usable", lambda st, tracer=None: seen.append((st.key, st.key_ok)) or "n/a")
    data = seeds.encode("fuzz_setsockopt", seeds.Spec(
        name=("hash", "hmac(sha256)"), n_options=1, key_literal=1, key_name="user-32",
        option=[o for o in surface.OPTIONS if o.name == "ALG_SET_KEY_BY_KEY_SERIAL"]))
    prog = decoders.decode_setsockopt(FdpSource(data), Names())
    opt = next(c for c in prog.calls if c.op == "setsockopt")
    assert opt.args["key_name"] == "user-32" and opt.args["value"] is None and opt.args["optlen"] == 4
    assert "key_serial('user-32', 4)" in prog.to_python()
    prog.calls.insert(prog.calls.index(opt) + 1, program.Call("check", 0, {"what": "usable"}))
    prog.calls.insert(prog.calls.index(opt) + 2, program.Call("setsockopt", 0, dict(opt.args)))
    assert Executor().run(prog) == ["ok", "ok", "ok", "n/a", "EINVAL", "n/a"]
    assert sent[0] == (int(AlgOpt.SET_KEY_BY_KEY_SERIAL), (1234).to_bytes(4, "little"), 4)
    assert seen == [(keys.named_payload("user-32"), True), (None, False)]
    assert program.key_serial("user-32", 8) == (1234).to_bytes(4, "little") + bytes(4)
    assert program.key_serial("user-32", 3) == (1234).to_bytes(4, "little")[:3]


@pytest.mark.parametrize("alg_name, after_refusal", [
    ("blake2b-256", b"k" * 15),      # optionally keyed: the kernel keeps the key (OPT-29)
    ("hmac(sha256)", None),          # needs a key: NEED_KEY again, nothing left to judge
])
def test_a_refused_setkey_forgets_the_key_only_where_the_kernel_does(monkeypatch, alg_name, after_refusal):
    """The model behind check_usable: a fuzz_sequence campaign judged blake2b-256 against
    unkeyed BLAKE2b after setkey(15 bytes) then setkey(0 bytes) = EINVAL, while the kernel
    hashed with the 15-byte key (blake2b is optionally keyed: no NEED_KEY)."""
    import errno
    import socket as socket_mod

    from afalg_conformance.fuzz import program
    real = socket_mod.socket
    monkeypatch.setattr(program.socket, "socket", lambda *a, **k: real(socket_mod.AF_INET, socket_mod.SOCK_DGRAM))
    monkeypatch.setattr(program.AfalgSocket, "bind_raw", lambda self, addr, n=None: None)

    def setsockopt(self, level, opt, value, optlen):
        if optlen == 0:      # blake2b's setkey refuses keylen 0; for hmac it stands for any refusal
            raise OSError(errno.EINVAL, "setkey")
    monkeypatch.setattr(program.AfalgSocket, "setsockopt", setsockopt)
    seen = []
    monkeypatch.setattr(program, "check_usable", lambda st, tracer=None: seen.append((st.key, st.key_ok)) or "n/a")
    prog = program.Program("fuzz_sequence")
    prog.add("socket", 0, type=socket_mod.SOCK_SEQPACKET, type_name="SOCK_SEQPACKET", proto=0)
    prog.add("bind", 0, type="hash", name=alg_name, feat=0, mask=0, addrlen=None)
    for key in (b"k" * 15, b""):
        prog.add("setsockopt", 0, level=SOL_ALG, opt=int(AlgOpt.SET_KEY), name="ALG_SET_KEY", value=key,
                 optlen=len(key))
        prog.add("check", 0, what="usable")
    assert Executor().run(prog) == ["ok", "ok", "ok", "n/a", "EINVAL", "n/a"]
    assert seen == [(b"k" * 15, True), (after_refusal, after_refusal is not None)]


def test_an_optionally_keyed_hash_is_judged_with_its_key():
    """check_usable holds a keyed blake2b socket to keyed BLAKE2b (what OPT-29 found stays
    watched by the fuzzers), and a key blake2b cannot take is not judged."""
    import hashlib

    from afalg_conformance.fuzz import program
    msg = bytes(128)            # _valid_request's message for a 128-byte block

    class Op:
        def __init__(self, digest):
            self.digest = digest

        def set_nonblocking(self, on):
            pass

        def send(self, data):
            assert data == msg

        def recv(self, n):
            return self.digest

        def close(self):
            pass

    def state(key, digest):
        sock = type("Tfm", (), {"accept": lambda self: Op(digest)})()
        return program.SlotState(sock, state="keyed", alg_type="hash", alg_name="blake2b-256", key=key,
                                 key_ok=key is not None)
    key = b"k" * 15
    keyed = hashlib.blake2b(msg, digest_size=32, key=key).digest()
    assert program.check_usable(state(key, keyed)) == "ok"
    with pytest.raises(AssertionError, match="blake2b-256: kernel output differs from the oracle"):
        program.check_usable(state(key, hashlib.blake2b(msg, digest_size=32).digest()))
    assert program.check_usable(state(b"k" * 65, keyed)) == "n/a"
    assert program.check_usable(state(None, hashlib.blake2b(msg, digest_size=32).digest())) == "ok"


def test_named_keys_are_made_once_each_the_way_their_name_says(monkeypatch):
    from afalg_conformance.harness.afalg import keys
    made, ctl = [], []
    monkeypatch.setattr(keys, "_serials", {})
    monkeypatch.setattr(keys, "add_key", lambda t, d, p, r=keys.KEY_SPEC_PROCESS_KEYRING: made.append((t, d, p)) or 100 + len(made))
    monkeypatch.setattr(keys, "keyctl", lambda *a: ctl.append(a) or 0)
    assert keys.named_serial("user-16") == keys.named_serial("user-16") == 101
    assert made == [("user", "afalg-fuzz:user-16", keys.named_payload("user-16"))] and len(made[0][2]) == 16
    assert keys.named_serial("logon-32") == 102 and made[-1][:2] == ("logon", "afalg:logon-32")
    assert keys.named_serial("revoked") == 103 and ctl[-1] == (keys.KEYCTL_REVOKE, 103)
    assert keys.named_serial("no-search") == 104 and ctl[-1][:2] == (keys.KEYCTL_SETPERM, 104)
    assert keys.named_serial("keyring") == keys.KEY_SPEC_PROCESS_KEYRING and len(made) == 4
    assert {keys.named_payload(n) is None for n in ("revoked", "no-search", "keyring")} == {True}
    with pytest.raises(ValueError):
        keys.named_serial("nonsense")


def test_a_blocking_call_ends_in_the_signal_sent_once_it_sleeps():
    """fuzz_sequence's blocking sends and reads: the socket blocks for the call only, and a
    call that sleeps (here a read of an empty AF_UNIX socket) ends in EINTR, not a hang."""
    import errno
    import os
    import socket as pysocket
    import time

    from afalg_conformance.fuzz import program
    from afalg_conformance.harness.afalg.client import AfalgSocket
    from afalg_conformance.harness.afalg.libc import recv_raw
    a, b = pysocket.socketpair()
    with a, b:
        a.setblocking(False)
        s = AfalgSocket(a)
        t = time.monotonic()
        with pytest.raises(OSError) as e:
            program.blocking(s, "recvfrom", lambda: recv_raw(a.fileno(), 16, 0))
        assert e.value.errno == errno.EINTR and time.monotonic() - t < 5
        assert not os.get_blocking(a.fileno())              # as it was
        b.send(b"x")
        assert program.blocking(s, "recvfrom", lambda: recv_raw(a.fileno(), 16, 0)) == b"x"
    p = Program("fuzz_sequence")
    p.add("recv", 1, n=16, flags=0, block=True)
    assert "blocking(s[1], 'recvfrom', lambda: recv_raw(s[1].fileno(), 16, 0))" in p.to_python()


def test_fdp_source_shortcuts_choose_as_source_does():
    """FdpSource's own pick/pick_or_raw (one Python call shallower) take the same bytes and
    make the same choices as Source's, so every decoder reads an input as before."""
    import random
    pytest.importorskip("atheris")
    from afalg_conformance.fuzz import decoders
    from afalg_conformance.fuzz.program import FdpSource, Names, Source

    class Generic(FdpSource):
        pick = Source.pick
        pick_or_raw = Source.pick_or_raw

    names = Names([])
    rnd = random.Random(7)
    for name, decode in decoders.DECODERS.items():
        for _ in range(200):
            data = rnd.randbytes(rnd.randrange(0, 400))
            assert decode(FdpSource(data), names).to_python() == decode(Generic(data), names).to_python(), name
