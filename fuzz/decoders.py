"""Input decoders of the three fuzzers: bytes (via a Source) -> Program. No system calls.

  setsockopt  one tfm socket: bind, then a run of setsockopt calls over surface.OPTIONS
              (value shapes, lying optlen, NULL optval), sometimes an accept in between;
              oracle: a setup that succeeded must serve a valid request (check usable)
  cmsg        a set-up skcipher/aead op socket, then sendmsg with sequences of control
              messages well- and ill-formed (lying cmsg_len, truncated headers, repeated and
              unknown types, IVs of every length, assoclen beyond the data, trailers,
              short msg_controllen), data and flags; oracle: a complete well-formed
              request must produce the oracle's output (check request)
  sequence    stateful: up to 8 sockets, interleaved socket/bind/setkey/setsockopt/accept/
              sendmsg/recv/splice/close; splice only from pipes the executor makes;
              oracle: every transform socket still open at the end whose setup succeeded
              must serve a valid request with the oracle's answer (check usable), whatever
              the interleaving did to it and to its children
"""

from __future__ import annotations

from afalg_conformance.harness.afalg import algorithms
from afalg_conformance.harness.afalg.constants import AlgOp, AlgOpt

from . import surface
from .program import (MAX_SLOTS, Names, Program, Source, decode_bind, decode_cmsg_item,
                      decode_key, decode_option, desc_class, desc_items, encode_cmsgs,
                      request_model, socket_call)

_CIPHERS = [a for a in algorithms.ALGORITHMS.values() if a.type in ("skcipher", "aead")]
_HASHES = [a for a in algorithms.ALGORITHMS.values() if a.type == "hash"]


def decode_setsockopt(src: Source, names: Names) -> Program:
    prog = Program("fuzz_setsockopt")
    socket_call(prog, 0, src)
    alg = None
    if src.int(0, 15, "unbound") != 0:
        _t, name = decode_bind(src, prog, 0, names)
        alg = algorithms.ALGORITHMS.get(name)
    n = src.int(1, 8, "n-options")
    for i in range(n):
        if src.int(0, 7, "accept-between") == 0:
            prog.add("accept", 0, dst=1 + i % 3)
        decode_option(src, alg, prog, 0)
    prog.add("check", 0, what="usable")
    return prog


def _setup_cipher(src: Source, prog: Program, pool) -> algorithms.Algorithm:
    alg = src.pick(pool, "alg")
    prog.add("socket", 0, type=surface.SOCKET_TYPES[0][1], type_name=surface.SOCKET_TYPES[0][0], proto=0)
    prog.add("bind", 0, type=alg.type, name=alg.name, feat=0, mask=0, addrlen=None)
    if alg.keyed:
        key = decode_key(src, alg)
        prog.add("setsockopt", 0, name="ALG_SET_KEY", level=279, opt=int(AlgOpt.SET_KEY), value=key,
                 optlen=len(key))
    if alg.type == "aead" and src.int(0, 1, "set-authsize"):
        n = src.pick(alg.authsizes, "authsize") if src.int(0, 7, "authsize-any") else \
            src.pick_or_raw(surface.AUTHSIZE_CHOICES, "authsize-any-value")
        prog.add("setsockopt", 0, name="ALG_SET_AEAD_AUTHSIZE", level=279,
                 opt=int(AlgOpt.SET_AEAD_AUTHSIZE), value=None, optlen=n)
    prog.add("accept", 0, dst=1)
    return alg


def _data(src: Source, alg: algorithms.Algorithm | None, tag: str = "data") -> bytes:
    if alg is not None and src.int(0, 3, "data-aligned") != 0:
        n = alg.blocksize * src.int(1, 8, "data-blocks") if alg.blocksize > 1 else src.int(1, 128, "data-len")
    else:
        n = src.pick_or_raw(surface.DATA_LEN_CHOICES, "data-len-any", surface.RAW_DATA_CAP)
    # the input gives the first DATA_BYTES bytes, the rest is filler: the content of a long
    # write matters to no af_alg path (its length and pages do), and an input, a seed or a
    # reproducer holding 256 KiB for one write would be 256 KiB
    return src.bytes(min(n, surface.DATA_BYTES), tag).ljust(n, b"\xa5")


def decode_cmsg(src: Source, names: Names) -> Program:
    prog = Program("fuzz_cmsg")
    pool = _CIPHERS + _HASHES[:2]
    alg = _setup_cipher(src, prog, pool)
    nsends = src.int(1, 3, "n-sends")
    for _ in range(nsends):
        k = src.int(0, 6, "n-cmsgs")
        items = [decode_cmsg_item(src, alg) for _ in range(k)]
        trailer = surface.CONTROL_TRAILERS[0] if src.int(0, 7, "trailer") else src.pick(surface.CONTROL_TRAILERS, "trailer-kind")
        control = encode_cmsgs(items) + trailer
        lname, lfn = surface.CONTROLLEN_CLASSES[0] if src.int(0, 7, "controllen") else \
            src.pick(surface.CONTROLLEN_CLASSES, "controllen-class")
        controllen = lfn(len(control))
        if k == 0 and not trailer and src.int(0, 1, "no-control"):
            control, controllen = None, 0
        data = _data(src, alg)
        flags = 0 if src.int(0, 3, "flags-zero") else surface.send_flags_mask(src.int(0, 7, "flags"))
        desc = desc_items(items) + (f" trailer{len(trailer)}" if trailer else "") + \
            ("" if lname == "honest" else f" controllen<{lname}>")
        prog.add("sendmsg", 1, data=data, control=control, controllen=controllen, flags=flags,
                 desc=desc, desc_class=desc_class(items) + ("" if lname == "honest" and not trailer else "~"))
        model = request_model(items) if (control is not None and lname == "honest" and not trailer) else None
        if control is None:
            model = {"op": AlgOp.DECRYPT, "iv": None, "assoclen": 0}
        if nsends == 1 and model is not None and src.int(0, 3, "check") != 0:
            prog.add("check", 1, what="request", param=model)
        else:
            prog.add("recv", 1, n=src.pick_or_raw(surface.RECV_LEN_CHOICES, "recv-len", surface.RAW_DATA_CAP),
                     flags=surface.recv_flags_mask(src.int(0, 7, "recv-flags")) if src.int(0, 7, "rf") == 0 else 0)
    return prog


# New operations go at the end: a choice is encoded as its index (seeds.py), so the seeds keep
# their meaning. accept-op: accept on an op socket (algif_hash exports the running hash state
# into the new socket, hash_accept; the other types refuse it), which no campaign reached
# while accept chose among tfm sockets only (2026-12-01).
# aio-recv: a read through io_submit, the only way into skcipher/aead_recvmsg's asynchronous
# branch (the request gets af_alg_async_cb as its completion), which nothing reached before.
# module: unload, load or reload an algif interface module in the fuzzer's own task, where KCOV
# sees the type's registration (af_alg_register_type / af_alg_unregister_type: 21 sites no
# campaign reached while the interfaces were built in); EAGAIN while a socket of the type is
# open. The executor loads at the program's end what the program left unloaded.
# epoll: the socket registered with an epoll instance (a waiter on its queue from then on);
# fasync: O_ASYNC on it. Both for the branches of af_alg's wake-ups and waits that only a
# waiter or SOCK_FASYNC takes (af_alg_poll's poll_wait, sk_wake_async).
# background: a child process of the fuzzer makes a blocking write of `n` bytes (MSG_MORE) on
# the op socket and the program goes on once it sleeps for budget (af_alg_wait_for_wmem drops
# the socket lock): the traced thread's next write finds ctx->write set (EBUSY), its reads run
# beside a writer. KCOV traces the calling thread only, so the sleeper is the child. The
# executor ends it (SIGKILL) before the program's sockets close.
# optmem: net.core.optmem_max of the executor's own network namespace (harness.afalg.netns)
# set to `value` for the rest of the program: sock_kmalloc's refusals (the skcipher context's
# IV, a read's request, a hash's result), which no fault number reaches as deterministically.
# sockopt-cgroup: the program's sockets are made in a cgroup with a pass-through BPF setsockopt
# program (harness.afalg.cgroupbpf), so every option reaches af_alg from a kernel buffer
# (alg_setsockopt's and rng_setentropy's kernel-sockptr copies); where the op stands does not
# matter, the executor joins before the program's first socket.
SEQ_OPS = ["socket", "bind", "setkey", "setsockopt", "accept", "sendmsg", "recv", "splice", "close", "accept-op",
           "aio-recv", "module", "epoll", "fasync", "background", "optmem", "sockopt-cgroup"]
# How a blocking call (block) is woken: by the executor's signal alone, or first by another
# thread's call once it sleeps (a send ending the request a reader waits for: the woken exit of
# af_alg_wait_for_data; a read freeing a writer's budget: af_alg_wait_for_wmem's), or by io_uring
# task work (a timeout submitted before the call: TIF_NOTIFY_SIGNAL, the waits' signal_pending
# branch without a signal, and the call restarted).
# send-more: the same send with MSG_MORE, the request still open (a reader waiting for a whole
# block: the wait's `used >= min` test).
WAKES = ["signal", "send", "recv", "uring", "send-more"]
# the buffer of a non-blocking read: ours, or a page of ours the kernel may not touch or write
# (af_alg_get_rsgl's fault exit and the types' frees behind it)
RECV_BUFS = ["own", "no-access", "read-only"]
BACKGROUND_LENS = [262144, 65536, 1 << 20]
# (the limits that refuse one allocation exactly depend on the build's struct sizes: raw values,
# seeds.OPTMEM_SEEDS)
OPTMEM_CHOICES = [0, 64, 128, 256, 512, 1024, 4096, 1]
MODULE_ACTIONS = ["reload", "unload", "load"]
# Calls that may carry an injected fault (harness.afalg.faults): one in FAULT_ONE_IN fails its
# Nth allocation or user copy, N in 1..FAULT_MAX_NTH (af_alg_sendmsg's sgl and pages, the
# request in recvmsg, the child socket in accept, the key copy in setsockopt...). The lowest
# choice is "no fault", so seeds encoded without it stay fault-free.
FAULT_OPS = frozenset({"bind", "setkey", "setsockopt", "accept", "accept-op", "sendmsg", "recv", "splice",
                       "aio-recv", "module"})
FAULT_ONE_IN = 8
FAULT_MAX_NTH = 8


def decode_fault(src: Source) -> int:
    """0 (no fault) or the fault's number N."""
    v = src.int(0, FAULT_ONE_IN * FAULT_MAX_NTH - 1, "fault")
    return v - (FAULT_ONE_IN - 1) * FAULT_MAX_NTH + 1 if v >= (FAULT_ONE_IN - 1) * FAULT_MAX_NTH else 0


def _recv_len(src: Source, alg: algorithms.Algorithm | None) -> int:
    """A read's length: the whole answer of alg (a digest, some blocks) or any length class."""
    if alg is not None and src.int(0, 1, "recv-exact"):
        return alg.digestsize or alg.blocksize * src.int(1, 8, "recv-blocks")
    return src.pick_or_raw(surface.RECV_LEN_CHOICES, "recv-len", surface.RAW_DATA_CAP)


def decode_sequence(src: Source, names: Names) -> Program:
    prog = Program("fuzz_sequence")
    kinds: dict[int, str] = {}          # decode-time guess of each slot: tfm | op
    algs: dict[int, algorithms.Algorithm | None] = {}
    socket_call(prog, 0)
    kinds[0] = "tfm"
    _t, name = decode_bind(src, prog, 0, names)
    algs[0] = algorithms.ALGORITHMS.get(name)
    steps = src.int(1, 24, "steps")
    for _ in range(steps):
        if src.remaining() <= 0:
            break
        op = src.pick(SEQ_OPS, "seq-op")
        if op == "module":          # no socket: no slot to choose
            prog.add("module", 0, action=src.pick(MODULE_ACTIONS, "module-action"),
                     module=src.pick(surface.INTERFACE_MODULES, "module"))
            nth = decode_fault(src)
            if nth:
                prog.calls[-1].args["fault"] = nth
            continue
        if op == "optmem":          # the namespace's: no socket either
            prog.add("optmem", 0, value=src.pick_or_raw(OPTMEM_CHOICES, "optmem", 65535))
            continue
        if op == "sockopt-cgroup":
            prog.add("sockopt-cgroup", 0)
            continue
        want = {"accept": "tfm", "setkey": "tfm", "setsockopt": "tfm", "bind": "tfm",
                "sendmsg": "op", "recv": "op", "splice": "op", "accept-op": "op", "aio-recv": "op",
                "epoll": "op", "fasync": "op", "background": "op"}.get(op)
        cands = [s for s, k in kinds.items() if k == want] if want else list(kinds)
        if cands and src.int(0, 7, "slot-random") != 0:
            slot = src.pick(sorted(cands), "slot")
        else:
            slot = src.int(0, MAX_SLOTS - 1, "slot-any")
        alg = algs.get(slot)
        if op == "socket":
            socket_call(prog, slot, src)
            kinds[slot], algs[slot] = "tfm", None
        elif op == "bind":
            _t, name = decode_bind(src, prog, slot, names)
            algs[slot] = algorithms.ALGORITHMS.get(name)
        elif op == "setkey":
            key = decode_key(src, alg)
            prog.add("setsockopt", slot, name="ALG_SET_KEY", level=279, opt=int(AlgOpt.SET_KEY), value=key,
                     optlen=len(key))
        elif op == "setsockopt":
            decode_option(src, alg, prog, slot)
        elif op in ("accept", "accept-op"):
            dst = src.int(0, MAX_SLOTS - 1, "accept-dst")
            prog.add("accept", slot, dst=dst)
            kinds[dst], algs[dst] = "op", alg
        elif op == "sendmsg":
            items = [decode_cmsg_item(src, alg, honest_bias=7) for _ in range(src.int(0, 3, "n-cmsgs"))]
            if not items and src.int(0, 1, "default-op"):
                items = [(surface.CMSGS[0], int(AlgOp.ENCRYPT).to_bytes(4, "little"), "honest")]
            control = encode_cmsgs(items) if items else None
            flags = surface.send_flags_mask(src.int(0, 7, "flags"))
            prog.add("sendmsg", slot, data=_data(src, alg), control=control,
                     controllen=len(control) if control else 0, flags=flags,
                     desc=desc_items(items), desc_class=desc_class(items),
                     block=src.int(0, 7, "block") == 0)
            if prog.calls[-1].args["block"]:
                prog.calls[-1].args["wake"] = src.pick(WAKES, "wake")
        elif op == "recv":
            c = prog.add("recv", slot, n=_recv_len(src, alg), flags=surface.recv_flags_mask(src.int(0, 7, "recv-flags"))
                         if src.int(0, 7, "rf") == 0 else 0, block=src.int(0, 7, "block") == 0)
            if c.args["block"]:
                c.args["wake"] = src.pick(WAKES, "wake")
            elif src.int(0, 15, "recv-buf") == 0:
                c.args["buf"] = src.pick(RECV_BUFS, "buf")
        elif op == "aio-recv":
            prog.add("recv", slot, n=_recv_len(src, alg), flags=0, aio=True)
        elif op == "splice":
            prog.add("splice", slot, data=_data(src, alg, "splice-data"),
                     flags=surface.splice_flags_mask(src.int(0, 7, "splice-flags")))
        elif op in ("epoll", "fasync"):
            prog.add(op, slot)
        elif op == "background":
            prog.add("background", slot, n=src.pick(BACKGROUND_LENS, "background-len"))
        elif op == "close":
            prog.add("close", slot)
            kinds.pop(slot, None)
            algs.pop(slot, None)
        if op in FAULT_OPS:
            nth = decode_fault(src)
            # not on a blocking call: the signal that ends it is delivered inside the window,
            # and a fault in rt_sigreturn's copy of the frame is a SIGSEGV of the fuzzer
            if nth and not prog.calls[-1].args.get("block"):
                prog.calls[-1].args["fault"] = nth
    for slot in sorted(s for s, k in kinds.items() if k == "tfm"):
        prog.add("check", slot, what="usable")
    return prog


# Bumped whenever the same bytes decode to another program (fuzz_sequence 2: accept-op, which
# changed what every op byte >= 9 means; fuzz_setsockopt 2 and fuzz_sequence 3: the key serial
# option names a key of the process's own, harness.afalg.keys; fuzz_cmsg 2 and fuzz_sequence 3:
# writes and reads past the send budget; fuzz_sequence 4: blocking sends and reads; fuzz_sequence
# 5 and fuzz_setsockopt 3: injected faults, AIO reads, two cryptd names; fuzz_sequence 6 and
# fuzz_setsockopt 4: two cryptd hash names; all three 5 / 3 / 7: a table choice's index one past
# the table is a raw value, Source.pick_or_raw, so a byte that chose entry b % n now chooses
# b % (n + 1); fuzz_sequence 8: the module op, the twelfth; fuzz_setsockopt 6, fuzz_sequence 9:
# SO_SNDBUFFORCE among the options; fuzz_cmsg 4 and fuzz_sequence 9: a write takes at most
# surface.DATA_BYTES bytes of the input, the rest filler; fuzz_sequence 10: the epoll and fasync
# ops; fuzz_sequence 11: the background and optmem ops, a blocking call's wake, a read's
# buffer, the sockopt-cgroup op). A saved
# crash records it; --reproduce refuses one from another version rather than replay a
# different program under its name.
DECODER_VERSION = {"fuzz_setsockopt": 6, "fuzz_cmsg": 4, "fuzz_sequence": 11}

DECODERS = {
    "fuzz_setsockopt": decode_setsockopt,
    "fuzz_cmsg": decode_cmsg,
    "fuzz_sequence": decode_sequence,
}
# short names accepted everywhere
ALIASES = {n.removeprefix("fuzz_"): n for n in DECODERS}


def canonical(name: str) -> str:
    name = name.removesuffix(".py")
    name = ALIASES.get(name, name)
    if name not in DECODERS:
        raise KeyError(f"unknown fuzzer {name!r}; known: {', '.join(DECODERS)}")
    return name
