"""Write the seed corpus: `python3 -m afalg_conformance.fuzz.seeds [--out fuzz/corpus] [--check]`.

Seeds are valid requests, one per algorithm and request type, written as the
bytes the fuzzers' decoders turn back into those requests (EncodingSource runs
the decoder "backwards"). --check verifies the committed corpus is what this
script produces (so decoder changes that silently invalidate seeds are caught).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from afalg_conformance.harness.afalg import algorithms

from . import decoders, surface
from .program import EncodingSource, Names

# the common branch of every yes/no gate in the decoders
GATES = {
    "unbound": 15, "lie": 7, "accept-between": 7, "type-override": 7, "bind-feat?": 7, "bind-mask?": 7,
    "socket-type": 15, "key-valid": 3, "name-from-proc": 0, "data-aligned": 3, "trailer": 7,
    "controllen": 7, "cmsg-len-honest": 7, "u32-short": 15, "iv-valid": 3, "ccm-iv": 3, "ivlen-lie": 7,
    "check": 3, "flags-zero": 3, "rf": 7, "slot-random": 7, "authsize-any": 7, "set-authsize": 1,
    "authsize-valid": 1, "no-control": 0, "recv-exact": 1, "default-op": 0, "block": 7, "recv-buf": 15,
}


class Spec:
    """Wanted choices by tag: a value, or a list consumed in order."""

    def __init__(self, **choices):
        self.choices = {k.replace("_", "-"): (list(v) if isinstance(v, list) else [v]) for k, v in choices.items()}
        self.pos: dict[str, int] = {}

    def __call__(self, tag, lo, hi):
        vals = self.choices.get(tag)
        if vals:
            i = self.pos.get(tag, 0)
            self.pos[tag] = i + 1
            return vals[min(i, len(vals) - 1)]
        if tag in GATES:
            return GATES[tag]
        return None


def encode(fuzzer: str, spec: Spec, payload=None) -> bytes:
    src = EncodingSource(spec, payload or (lambda tag, n: bytes((7 * i + 1) & 0xFF for i in range(n))))
    decoders.DECODERS[fuzzer](src, Names([]))
    return src.data()


def _option(name: str) -> list:
    return [o for o in surface.OPTIONS if o.name == name]


def _name_entry(alg):
    return (alg.type, alg.name)


# fault seeds: label -> (algorithm, ops, index of the faulted call among the ops that take
# one (decoders.FAULT_OPS), more choices); FAULT_SEEDS: the fault numbers kept
FAULT_SHAPES = {
    # the first write's allocations and copy: af_alg_sendmsg's ENOMEM and EFAULT exits
    "skcipher-fault-first-write": ("cbc(aes)", ["setkey", "accept", "sendmsg"], 2, {"n_cmsgs": [0]}),
    # the copy into the page a previous write left room in (the merge branch)
    "skcipher-fault-merge": ("ctr(aes)", ["setkey", "accept", "sendmsg", "sendmsg"], 3, {"n_cmsgs": [2, 0]}),
    # the key read by serial: alg_setsockopt's copy of the key
    "hmac-key-serial-fault": ("hmac(sha256)", ["setsockopt"], 0, {}),
    # the result buffer of a finalising empty write
    "hash-final-fault": ("sha256", ["accept", "sendmsg", "sendmsg"], 2, {"data_aligned": 0, "data_len_any": [32, 0]}),
    # the read's request, its TX list copy, its RX list
    "aead-fault-recv": ("gcm(aes)", ["setkey", "setsockopt", "accept", "sendmsg", "recv"], 4,
                        {"recv_exact": 0, "recv_len": 48}),
    # the DRBG test interface: the additional input's copy
    "rng-cavp-fault-copy": ("stdrng", ["setsockopt", "setkey", "accept", "sendmsg", "recv"], 3, {}),
}
SLOTS = {"skcipher-fault-merge": [0, 0, 1, 1], "hash-final-fault": [0, 1, 1]}
FLAGS = {"skcipher-fault-merge": [1, 0], "hash-final-fault": [1, 0]}
OPTIONS_OF = {"hmac-key-serial-fault": "ALG_SET_KEY_BY_KEY_SERIAL", "rng-cavp-fault-copy": "ALG_SET_DRBG_ENTROPY"}
# kept from N = 1..5 of each (`afalg-conform coverage --kernel kcov-6.12 conformance/test_smoke.py`,
# 2026-12-04): the ones whose sites no other seed reaches. Two shapes tried then kept no N: an
# AEAD accept (gcm(aes): setkey, setsockopt, accept) and a DRBG read (stdrng: accept, recv 16)
# with their faults come to no exit a seed lacks.
FAULT_SEEDS = {"skcipher-fault-first-write": [2, 3, 4], "skcipher-fault-merge": [2, 3],
               "hmac-key-serial-fault": [2], "hash-final-fault": [2], "aead-fault-recv": [1, 2],
               "rng-cavp-fault-copy": [3]}


# optmem_max for the optmem seeds: the lowest limit that lets the call through, minus one
# (bisected in a guest on kcov-6.12, 2026-12-04: only the call's last allocation is refused);
# the hash clone's final is refused at any limit below its digest buffer
OPTMEM_SEEDS = {"skcipher-accept-optmem": 120, "skcipher-recv-optmem": 5136, "hash-final-optmem": 1}


def seeds() -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {n: {} for n in decoders.DECODERS}
    for alg in algorithms.ALGORITHMS.values():
        # setsockopt: bind + valid key (+ valid authsize) -> usable check
        opts = []
        if alg.keyed:
            opts.append("ALG_SET_KEY")
        if alg.type == "aead":
            opts.append("ALG_SET_AEAD_AUTHSIZE")
        if not opts:
            opts = ["SO_SNDBUF"]
        spec = Spec(name=_name_entry(alg), n_options=len(opts),
                    option=[o for name in opts for o in _option(name)],
                    key_size=alg.key_sizes[0] if alg.keyed else None,
                    authsize=alg.authsizes[-1] if alg.authsizes else None, u32=4096)
        out["fuzz_setsockopt"][f"setup-{alg.name}"] = encode("fuzz_setsockopt", spec)
        if alg.name == "hmac(sha256)":
            # keyed from the keyring: ALG_SET_KEY_BY_KEY_SERIAL with a user key of the process's own
            spec = Spec(name=_name_entry(alg), n_options=1, option=_option("ALG_SET_KEY_BY_KEY_SERIAL"),
                        key_literal=1, key_name="user-32")
            out["fuzz_setsockopt"][f"keyring-{alg.name}"] = encode("fuzz_setsockopt", spec)
        if alg.type in ("skcipher", "aead"):
            # cmsg: OP=ENCRYPT, IV, (ASSOCLEN) then a checked request
            kinds = [surface.CMSGS[0], surface.CMSGS[1]] + ([surface.CMSGS[2]] if alg.type == "aead" else [])
            spec = Spec(alg=alg, key_size=alg.key_sizes[-1], set_authsize=0, n_sends=1, n_cmsgs=len(kinds),
                        cmsg_kind=kinds, op=1, assoclen=16 if not alg.assoclen_fixed else 16,
                        data_blocks=2, data_len=32)
            out["fuzz_cmsg"][f"encrypt-{alg.name}"] = encode("fuzz_cmsg", spec)
            # and a decryption of the same shape, without ASSOCLEN
            spec = Spec(alg=alg, key_size=alg.key_sizes[0], set_authsize=0, n_sends=1, n_cmsgs=2,
                        cmsg_kind=[surface.CMSGS[0], surface.CMSGS[1]], op=0, data_blocks=4, data_len=64)
            out["fuzz_cmsg"][f"decrypt-{alg.name}"] = encode("fuzz_cmsg", spec)
    # sequence: a full request lifecycle per socket type
    rng_cavp = ("stdrng", ["setsockopt", "setkey", "accept", "sendmsg", "recv"])
    seq = {
        "skcipher-cbc": ("cbc(aes)", ["setkey", "accept", "sendmsg", "recv", "close"]),
        "skcipher-splice": ("ctr(aes)", ["setkey", "accept", "splice", "sendmsg", "recv"]),
        "aead-gcm": ("gcm(aes)", ["setkey", "setsockopt", "accept", "sendmsg", "recv"]),
        "hash-sha256-more": ("sha256", ["accept", "sendmsg", "sendmsg", "recv", "accept", "recv"]),
        "hmac-two-ops": ("hmac(sha256)", ["setkey", "accept", "accept", "sendmsg", "recv", "close", "recv"]),
        "rng": ("stdrng", ["accept", "recv", "recv"]),
        # accept on a hash op socket mid-digest: the state is exported into the new socket
        "hash-export-accept": ("sha256", ["accept", "sendmsg", "accept-op", "sendmsg", "recv"]),
        # CAVP test interface (CONFIG_CRYPTO_USER_API_RNG_CAVP): entropy set, the DRBG seeded
        # (ALG_SET_KEY: without a seed it has no state, and a read is EINVAL), then the op socket
        # takes additional data by sendmsg (rng_test_sendmsg) before the read
        "rng-cavp": rng_cavp,
        "hmac-key-serial": ("hmac(sha256)", ["setsockopt", "accept", "sendmsg", "recv"]),
        # a blocking read of an AEAD request left open by MSG_MORE waits for the rest
        # (af_alg_wait_for_data; an skcipher read goes ahead with a whole block queued) until
        # the signal the executor sends once the thread sleeps (a blocking write past the send
        # budget: skcipher-blocking-write, below)
        "aead-blocking-read": ("gcm(aes)", ["setkey", "setsockopt", "accept", "sendmsg", "recv"]),
        # injected faults (harness.afalg.faults): the read's first allocation (the request,
        # af_alg_alloc_areq) and the write's second (a page of af_alg_sendmsg's sgl) fail
        "skcipher-fault-recv": ("cbc(aes)", ["setkey", "accept", "sendmsg", "recv"]),
        "aead-fault-send": ("gcm(aes)", ["setkey", "setsockopt", "accept", "sendmsg", "recv"]),
        # the DRBG test interface's two allocations, which only an injected fault fails: the
        # entropy's copy (rng_setentropy's memdup_sockptr, the setsockopt's first fault site)
        # and the additional input's buffer (rng_test_sendmsg's kmalloc, the sendmsg's second,
        # after the msghdr's copy); each ENOMEM, the rest of the program runs on (kcov-6.12,
        # a sweep of fault numbers 1..8 over every call of every seed, 2026-12-01: nothing else
        # the seeds make reaches a site the coverage map had unreached)
        "rng-cavp-fault-entropy": rng_cavp,
        "rng-cavp-fault-addtl": rng_cavp,
        # a hash op socket read at once with its second fault site failing: hash_recvmsg's
        # error path after the result (two sites only a 2026-12-01 campaign input had reached;
        # the coverage map of 2026-12-02's campaigns missed them)
        "hash-fault-recv": ("sha256", ["accept", "recv"]),
        # reads through io_submit: the asynchronous branch of skcipher/aead_recvmsg
        "skcipher-aio": ("cbc(aes)", ["setkey", "accept", "sendmsg", "aio-recv"]),
        "aead-aio": ("gcm(aes)", ["setkey", "setsockopt", "accept", "sendmsg", "aio-recv"]),
        # the same through an asynchronous driver: the read is queued (-EIOCBQUEUED) and
        # completes through af_alg_async_cb in cryptd's worker
        "skcipher-cryptd-aio": ("cbc(aes)", ["setkey", "accept", "sendmsg", "aio-recv"]),
        # ordinary reads and sends through asynchronous drivers: each hash step and each read
        # waits for cryptd's worker (crypto_wait_req in hash_sendmsg/hash_recvmsg, aead_recvmsg),
        # and the hash state is exported and imported through it
        "hash-cryptd-export": ("sha256", ["accept", "sendmsg", "accept-op", "sendmsg", "recv"]),
        "aead-cryptd": ("gcm(aes)", ["setkey", "setsockopt", "accept", "sendmsg", "recv"]),
        # The sites only the suite reached (coverage map of 2026-12-04, kcov-6.12 with the
        # interfaces as modules), as programs. Op sockets accepted before the key: each nokey
        # path refused (ENOKEY), then the key set and each path taken once keyed (the first
        # call after setkey clears the socket's nokey reference: *_check_key's tail)
        "hash-nokey-then-key": ("hmac(sha256)", ["accept", "sendmsg", "recv", "accept-op", "setkey",
                                                 "accept-op", "sendmsg", "recv"]),
        "aead-nokey-then-key": ("gcm(aes)", ["accept", "sendmsg", "setkey", "setsockopt", "sendmsg", "recv"]),
        # an AIO read through cryptd's AEAD: queued, -EIOCBQUEUED (the skcipher one is above)
        "aead-cryptd-aio": ("gcm(aes)", ["setkey", "setsockopt", "accept", "sendmsg", "aio-recv"]),
        # poly1305 as a hash: its key is the data's first 32 bytes (no setkey); 16 bytes are
        # ENOKEY from the final of the send and again from the read's: the error exits
        "hash-poly1305": ("sha256", ["accept", "sendmsg", "recv"]),
        # an interface module unloaded and loaded again by the fuzzer's task: the type's
        # unregistration and registration (af_alg_unregister_type / af_alg_register_type),
        # which KCOV sees only there (the socket is a hash's: algif_hash is built in)
        "module-reload": ("sha256", ["module"]),
        # an skcipher op socket accepted before the key, used after it
        "skcipher-nokey-then-key": ("cbc(aes)", ["accept", "setkey", "sendmsg", "recv"]),
        # additional input longer than the DRBG test interface takes (MAXSIZE 128): EMSGSIZE
        "rng-cavp-long-addtl": rng_cavp,
        # a waiter on the op socket's queue (epoll) and SOCK_FASYNC (O_ASYNC), each before a
        # blocking read of an open AEAD request and before a write past the budget, whose
        # waits and wake-ups then take their waiter and sk_wake_async branches
        "aead-epoll-blocking-read": ("gcm(aes)", ["setkey", "setsockopt", "accept", "epoll", "sendmsg", "recv"]),
        "aead-fasync-blocking-read": ("gcm(aes)", ["setkey", "setsockopt", "accept", "fasync", "sendmsg", "recv"]),
        "skcipher-epoll-blocking-write": ("ctr(aes)", ["setkey", "accept", "epoll", "sendmsg", "recv"]),
        "skcipher-fasync-blocking-write": ("ctr(aes)", ["setkey", "accept", "fasync", "sendmsg", "recv"]),
        # a spliced piece and a sent one, read as one request: two TX entries walked
        "skcipher-splice-two-entries": ("ctr(aes)", ["setkey", "accept", "splice", "sendmsg", "recv"]),
        # 65537 bytes read by one 256 KiB read: more than ALG_MAX_PAGES (16) pages, a second RX
        # scatterlist (af_alg_get_rsgl's sock_kmalloc, freed by af_alg_free_resources)
        "skcipher-big-read": ("ctr(aes)", ["setkey", "accept", "sendmsg", "recv"]),
        # the op socket's budget forced to 2 MiB, two 256 KiB sends: 128 pages, more than one
        # TX scatterlist block holds (MAX_SGL_ENTS, 126), read back by 256 KiB reads, the
        # second across the blocks
        "skcipher-two-tx-blocks": ("ctr(aes)", ["setkey", "accept", "setsockopt", "sendmsg", "sendmsg",
                                                "recv", "recv"]),
        # a blocking 256 KiB write: past the default budget it sleeps for room
        # (af_alg_wait_for_wmem) until the executor's signal; a read then takes what was queued
        "skcipher-blocking-write": ("ctr(aes)", ["setkey", "accept", "sendmsg", "recv"]),
        # A blocking call woken by another thread's call once it sleeps (decoders.WAKES): an
        # AEAD read waiting for the rest of its request gets it (the woken exit of
        # af_alg_wait_for_data, aead_recvmsg's path after it); a write asleep for budget is
        # freed by a read (af_alg_sendmsg's after af_alg_wait_for_wmem)
        "aead-blocked-read-woken-by-send": ("gcm(aes)", ["setkey", "setsockopt", "accept", "sendmsg", "recv"]),
        "skcipher-blocked-write-woken-by-recv": ("ctr(aes)", ["setkey", "accept", "sendmsg", "recv"]),
        # an skcipher read with less than a block queued, the block completed by a send that
        # keeps the request open (MSG_MORE): the wait's `used >= min` test lets the read go on
        "skcipher-blocked-read-woken-by-send-more": ("cbc(aes)", ["setkey", "accept", "sendmsg", "recv"]),
        # the same waits interrupted by io_uring task work (a timeout's completion): their
        # signal_pending exits without a signal, the call restarted
        "aead-uring-blocked-read": ("gcm(aes)", ["setkey", "setsockopt", "accept", "sendmsg", "recv"]),
        "skcipher-uring-blocked-write": ("ctr(aes)", ["setkey", "accept", "sendmsg", "recv"]),
        # a write while another (the background op's process) sleeps in one: EBUSY
        "skcipher-background-write-ebusy": ("ctr(aes)", ["setkey", "accept", "sendmsg", "background", "sendmsg",
                                                         "recv"]),
        # a read into a page of ours the kernel may not touch: af_alg_get_rsgl's fault exit,
        # the request freed; then the read into our own buffer gets the whole output
        "skcipher-recv-no-access": ("cbc(aes)", ["setkey", "accept", "sendmsg", "recv", "recv"]),
        "aead-recv-no-access": ("gcm(aes)", ["setkey", "setsockopt", "accept", "sendmsg", "recv", "recv"]),
        # an AEAD decryption read through io_submit (the AIO branch's crypto_aead_decrypt)
        "aead-aio-decrypt": ("gcm(aes)", ["setkey", "setsockopt", "accept", "sendmsg", "aio-recv"]),
        # optmem_max lowered (the optmem op; values: OPTMEM_SEEDS) so that one sock_kmalloc is
        # refused: the skcipher context's IV in accept, the last of a read's allocations, a hash
        # clone's result buffer in the final of an empty write
        "skcipher-accept-optmem": ("cbc(aes)", ["setkey", "optmem", "accept", "sendmsg", "recv"]),
        "skcipher-recv-optmem": ("cbc(aes)", ["setkey", "accept", "sendmsg", "optmem", "recv"]),
        "hash-final-optmem": ("sha256", ["accept", "sendmsg", "accept-op", "optmem", "sendmsg"]),
        # options through a cgroup's pass-through BPF setsockopt program: a key, a key serial
        # and DRBG entropy copied from a kernel buffer
        "skcipher-key-sockopt-cgroup": ("cbc(aes)", ["sockopt-cgroup", "setkey", "accept", "sendmsg", "recv"]),
        "hmac-key-serial-sockopt-cgroup": ("hmac(sha256)", ["sockopt-cgroup", "setsockopt", "accept", "sendmsg",
                                                            "recv"]),
        "rng-cavp-sockopt-cgroup": ("stdrng", ["sockopt-cgroup", "setsockopt", "setkey", "accept", "sendmsg",
                                               "recv"]),
    }
    nth = (decoders.FAULT_ONE_IN - 1) * decoders.FAULT_MAX_NTH - 1     # + N: fault number N
    extra = {"aead-blocking-read": {"block": [7, 0]},
             "skcipher-fault-recv": {"fault": [0, 0, 0, nth + 1]},
             "aead-fault-send": {"fault": [0, 0, 0, nth + 2, 0]},
             "rng-cavp-fault-entropy": {"fault": [nth + 1, 0, 0, 0, 0]},
             "rng-cavp-fault-addtl": {"fault": [0, 0, 0, nth + 2, 0]},
             "hash-fault-recv": {"fault": [0, nth + 2], "recv_exact": 0, "recv_len": 16},
             # the whole answer: 32 bytes of ciphertext and the 16-byte tag
             "aead-aio": {"recv_exact": 0, "recv_len": 48},
             # a name outside the algorithm table: the decoder knows no sizes for it
             "skcipher-cryptd-aio": {"name": ("", "cryptd(cbc(aes-generic))"), "type_override": 0,
                                     "bind_type": "skcipher", "key_len": 16, "iv_len": 16,
                                     "data_len_any": 32, "recv_len": 32},
             "hash-cryptd-export": {"name": ("", "cryptd(sha256-generic)"), "type_override": 0,
                                    "bind_type": "hash", "data_len_any": 32, "recv_len": 32},
             "aead-cryptd": {"name": ("", "cryptd(gcm_base(ctr(aes-generic),ghash-generic))"),
                             "type_override": 0, "bind_type": "aead", "key_len": 16, "iv_len": 12,
                             "authsize_any": 16, "data_len_any": 32, "recv_len": 48}}
    big = {"data_len_any": [262144], "recv_len": 262144, "data_aligned": 0, "recv_exact": 0}
    extra |= {
        "hash-nokey-then-key": {"accept_dst": [1, 2, 3], "recv_len": 32},
        "aead-nokey-then-key": {"accept_dst": [1], "recv_exact": 0, "recv_len": 48},
        "aead-cryptd-aio": extra["aead-cryptd"],
        "hash-poly1305": {"name": ("", "poly1305"), "type_override": 0, "bind_type": "hash",
                          "data_aligned": 0, "data_len_any": 16, "recv_exact": 0, "recv_len": 16},
        "skcipher-splice-two-entries": {"recv_exact": 0, "recv_len": 64},
        "module-reload": {"module_action": "reload", "module": "algif_skcipher"},
        "skcipher-big-read": {**big, "data_len_any": 65537},
        "skcipher-blocking-write": {**big, "block": [0, 7]},
        # the setsockopt on the op socket (slot 1): not the slot kind its op wants
        "skcipher-two-tx-blocks": {**big, "slot_random": [7, 7, 0, 7], "slot_any": 1, "u32": 1 << 20,
                                   "n_cmsgs": [2, 0]},
    }
    extra |= {
        "skcipher-nokey-then-key": {"accept_dst": [1]},
        "rng-cavp-long-addtl": {"data_aligned": 0, "data_len_any": 256},
        "aead-epoll-blocking-read": extra["aead-blocking-read"],
        "aead-fasync-blocking-read": extra["aead-blocking-read"],
        "skcipher-epoll-blocking-write": extra["skcipher-blocking-write"],
        "skcipher-fasync-blocking-write": extra["skcipher-blocking-write"],
    }
    woken_read = {"block": [7, 0]}
    extra |= {
        "aead-blocked-read-woken-by-send": {**woken_read, "wake": "send", "recv_exact": 0, "recv_len": 64},
        "skcipher-blocked-write-woken-by-recv": {**big, "block": [0, 7], "wake": "recv"},
        "skcipher-blocked-read-woken-by-send-more": {**woken_read, "wake": "send-more", "data_aligned": 0,
                                                     "data_len_any": 5, "recv_exact": 0, "recv_len": 32},
        "aead-uring-blocked-read": {**woken_read, "wake": "uring"},
        "skcipher-uring-blocked-write": {**big, "block": [0, 7], "wake": "uring"},
        "skcipher-recv-no-access": {"recv_buf": [0, 15], "buf": "no-access"},
        "aead-recv-no-access": {"recv_buf": [0, 15], "buf": "no-access", "recv_exact": 0, "recv_len": 48},
        "aead-aio-decrypt": {"op": 0, "recv_exact": 0, "recv_len": 48},
        "skcipher-accept-optmem": {"optmem": OPTMEM_SEEDS["skcipher-accept-optmem"]},
        "skcipher-recv-optmem": {"optmem": OPTMEM_SEEDS["skcipher-recv-optmem"], "data_blocks": 4,
                                 "recv_exact": 0, "recv_len": 64},
        "hash-final-optmem": {"optmem": OPTMEM_SEEDS["hash-final-optmem"], "data_aligned": 0,
                              "data_len_any": [32, 0]},
    }
    options = {**{label: "ALG_SET_DRBG_ENTROPY" for label, shape in seq.items() if shape is rng_cavp},
               "skcipher-two-tx-blocks": "SO_SNDBUFFORCE",
               "hmac-key-serial": "ALG_SET_KEY_BY_KEY_SERIAL",
               "hmac-key-serial-sockopt-cgroup": "ALG_SET_KEY_BY_KEY_SERIAL",
               "rng-cavp-sockopt-cgroup": "ALG_SET_DRBG_ENTROPY"}
    slots = {"hash-export-accept": [0, 1, 1, 2, 2], "hash-cryptd-export": [0, 1, 1, 2, 2],
             "hash-nokey-then-key": [0, 1, 1, 1, 0, 1, 1, 1], "aead-nokey-then-key": [0, 1, 0, 0, 1, 1],
             "skcipher-two-tx-blocks": [0, 0, 1, 1, 1, 1, 1],
             "skcipher-accept-optmem": [0, 0, 1, 1], "skcipher-recv-optmem": [0, 0, 1, 1],
             "hash-final-optmem": [0, 1, 1, 2], "skcipher-key-sockopt-cgroup": [0, 0, 1, 1],
             "hmac-key-serial-sockopt-cgroup": [0, 0, 1, 1], "rng-cavp-sockopt-cgroup": [0, 0, 0, 1, 1]}
    flags = {"hash-export-accept": [1, 0], "hash-cryptd-export": [1, 0], "aead-blocking-read": [1, 0],
             "skcipher-two-tx-blocks": [1, 0], "aead-epoll-blocking-read": [1, 0],
             "aead-fasync-blocking-read": [1, 0], "aead-blocked-read-woken-by-send": [1, 0],
             "aead-uring-blocked-read": [1, 0],
             "skcipher-background-write-ebusy": [1, 1], "hash-final-optmem": [1, 0],
             "skcipher-blocked-read-woken-by-send-more": [1, 0]}
    # Error exits only an injected fault takes: the call's Nth fault site fails. Which N is
    # which allocation or copy was found by running every N here in a guest and keeping the
    # ones that reached a site no other seed reached (FAULT_SEEDS).
    for label, (name, ops, at, more) in FAULT_SHAPES.items():
        for n in FAULT_SEEDS.get(label, ()):
            seq[f"{label}-{n}"] = (name, ops)
            faults = [0] * sum(1 for o in ops if o in decoders.FAULT_OPS)
            faults[at] = nth + n
            extra[f"{label}-{n}"] = {**more, "fault": faults}
            for table, per_shape in ((slots, SLOTS), (flags, FLAGS), (options, OPTIONS_OF)):
                if label in per_shape:
                    table[f"{label}-{n}"] = per_shape[label]
    for label, (name, ops) in seq.items():
        alg = algorithms.get(name)
        want = dict(name=_name_entry(alg), steps=len(ops), seq_op=ops, key_size=alg.key_sizes[0] if alg.keyed else None,
                    accept_dst=[1, 2],
                    slot=slots.get(label, [0 if o in ("setkey", "setsockopt", "accept", "bind") else 1 for o in ops]),
                    n_cmsgs=[2 if alg.type not in ("hash", "rng") else 0] * len(ops),
                    cmsg_kind=[surface.CMSGS[0], surface.CMSGS[1]] * 4, op=1,
                    option=_option(options.get(label, "ALG_SET_AEAD_AUTHSIZE")), len=48,
                    key_literal=1, key_name="user-32", key_len=48,
                    authsize=16, flags=flags.get(label, [1 if label.endswith("more") else 0, 0]),
                    data_blocks=2, data_len=32, recv_blocks=2, recv_len=32)
        spec = Spec(**(want | extra.get(label, {})))
        out["fuzz_sequence"][label] = encode("fuzz_sequence", spec)
    return out


def selftest_warn_input(fuzzer: str) -> bytes:
    """An input for the opt-in warn hook (fuzz.engine.WARN_MAGIC): a program that makes an op
    socket and then does more, so minimisation has calls to drop (the key, the request) and
    calls it must keep (socket, bind, accept)."""
    from .engine import WARN_MAGIC
    fuzzer = decoders.canonical(fuzzer)
    if fuzzer == "fuzz_setsockopt":
        alg = algorithms.get("sha256")
        sndbuf = _option("SO_SNDBUF")
        body = encode(fuzzer, Spec(name=_name_entry(alg), n_options=3, accept_between=[7, 0, 7],
                                   option=sndbuf * 3, u32=4096))
    else:
        label = {"fuzz_cmsg": "encrypt-cbc(aes)", "fuzz_sequence": "skcipher-cbc"}[fuzzer]
        body = seeds()[fuzzer][label]
    return WARN_MAGIC + body


def write(root: Path) -> int:
    n = 0
    for fuzzer, items in seeds().items():
        d = root / fuzzer
        d.mkdir(parents=True, exist_ok=True)
        for label, data in items.items():
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
            (d / safe).write_bytes(data)
            n += 1
    return n


def check(root: Path) -> list[str]:
    bad = []
    for fuzzer, items in seeds().items():
        for label, data in items.items():
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
            p = root / fuzzer / safe
            if not p.exists() or p.read_bytes() != data:
                bad.append(str(p))
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="afalg_conformance.fuzz.seeds")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "corpus"))
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)
    if a.check:
        bad = check(Path(a.out))
        for b in bad:
            print(f"stale seed: {b}", file=sys.stderr)
        return 1 if bad else 0
    n = write(Path(a.out))
    print(f"wrote {n} seeds under {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
