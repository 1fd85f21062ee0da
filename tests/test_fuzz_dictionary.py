"""Raw values in the decoders (Source.pick_or_raw) and the dictionary made for them.

A dictionary word helps only where the decoder reads the input's bytes as the number
itself; these tests hold the two to each other. No VM, no AF_ALG.
"""

from __future__ import annotations

import re

import pytest

atheris = pytest.importorskip("atheris")

from afalg_conformance.fuzz import decoders, dictionary, seeds, surface  # noqa: E402
from afalg_conformance.fuzz.program import EncodingSource, FdpSource, Names, encode_cmsgs, request_model  # noqa: E402
from afalg_conformance.harness.afalg import algorithms  # noqa: E402
from afalg_conformance.harness.afalg.constants import SOL_ALG, AlgOpt  # noqa: E402


def _setsockopts(data: bytes):
    prog = decoders.decode_setsockopt(FdpSource(data), Names([]))
    return [c.args for c in prog.calls if c.op == "setsockopt"]


def test_a_raw_option_number_is_the_dictionary_word_in_the_input():
    data = seeds.encode("fuzz_setsockopt", seeds.Spec(unbound=0, n_options=1, option=5, authsize_valid=0,
                                                      authsize_any=13))
    word = (5).to_bytes(4, "little")
    assert word in data                          # as the dictionary spells it
    (call,) = _setsockopts(data)
    # 5 is the table's ALG_SET_AEAD_AUTHSIZE: it gets that option's shape (NULL optval, the size as optlen)
    assert (call["opt"], call["name"], call["value"], call["optlen"]) == (5, "ALG_SET_AEAD_AUTHSIZE", None, 13)
    # overwriting the word with another changes the option, nothing else
    other = _setsockopts(data.replace(word, (int(AlgOpt.SET_KEY)).to_bytes(4, "little")))
    assert other[0]["name"] == "ALG_SET_KEY"


def test_an_unknown_raw_option_goes_to_sol_alg_with_bytes_under_one_name():
    data = seeds.encode("fuzz_setsockopt", seeds.Spec(unbound=0, n_options=1, option=0xDEAD, len=16))
    (call,) = _setsockopts(data)
    assert (call["level"], call["opt"], call["name"]) == (SOL_ALG, 0xDEAD, "SOL_ALG:raw")
    assert len(call["value"]) == call["optlen"] == 16
    # an optname is a C int
    assert surface.sol_alg_option(0xFFFFFFFF).opt == -1


def test_raw_lengths_are_capped_and_u32_optlen_never_exceeds_the_buffer():
    data = seeds.encode("fuzz_setsockopt", seeds.Spec(unbound=0, n_options=1, option=[o for o in surface.OPTIONS
                                                      if o.name == "SO_SNDBUF"], u32=0x12345678, u32_optlen=200))
    (call,) = _setsockopts(data)
    assert call["value"][:4] == (0x12345678).to_bytes(4, "little")
    assert call["optlen"] == 200 and len(call["value"]) == 200
    big = seeds.encode("fuzz_setsockopt", seeds.Spec(unbound=0, n_options=1, option=[surface.OPTIONS[0]],
                                                     key_valid=0, key_len=surface.RAW_BYTES_CAP + 5))
    (call,) = _setsockopts(big)
    assert call["optlen"] == 4 == len(call["value"])         # modulo RAW_BYTES_CAP + 1


def test_raw_cmsg_type_and_length():
    # a raw type that the table has takes the table's shape; a raw cmsg_len is written as given
    # and makes the request one the model does not predict
    prog = decoders.decode_cmsg(FdpSource(seeds.encode("fuzz_cmsg", seeds.Spec(
        alg=[algorithms.ALGORITHMS["cbc(aes)"]], n_sends=1, n_cmsgs=1, cmsg_kind=int(AlgOpt.SET_IV),
        cmsg_len_honest=0, cmsg_len=20))), Names([]))
    send = next(c for c in prog.calls if c.op == "sendmsg")
    assert send.args["desc"].startswith("ALG_SET_IV[20]<len=20>")
    assert send.args["control"][:8] == (20).to_bytes(8, "little")
    assert not any(c.op == "check" and c.args.get("what") == "request" for c in prog.calls)
    kind = surface.sol_alg_cmsg(int(AlgOpt.SET_IV))
    assert kind.shape == "iv" and surface.sol_alg_cmsg(77).name == "SOL_ALG:raw"
    items = [(surface.CMSGS[0], (1).to_bytes(4, "little"), "len=17")]
    assert encode_cmsgs(items)[:8] == (17).to_bytes(8, "little") and request_model(items) is None


def test_seeds_never_take_the_raw_branch_so_they_decode_as_before():
    # pick_or_raw's index byte is as wide as pick's: the committed corpus is still what seeds.py makes
    assert seeds.main(["--check"]) == 0


def test_the_dictionary_holds_what_the_kernel_compares_with():
    text = dictionary.render()
    vals = set()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'u32_(\d+)="((?:\\x[0-9a-f]{2}){4})"', line)
        assert m, line
        raw = bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-f]{2})", m.group(2)))
        assert int.from_bytes(raw, "little") == int(m.group(1))
        vals.add(int(m.group(1)))
    assert {int(o.opt) for o in surface.OPTIONS if o.level == SOL_ALG} <= vals
    assert {int(c.type) for c in surface.CMSGS if c.level == SOL_ALG} <= vals
    for a in algorithms.ALGORITHMS.values():
        assert set(a.key_sizes) | set(a.authsizes) <= vals
        if a.ivsize:
            assert {a.ivsize, 16 + 4 + a.ivsize} <= vals          # the IV and its cmsg_len
    # every word reaches a raw choice: decoded from an input that holds it, it is that value
    for v in vals:
        src = FdpSource(b"\x00" * 8 + v.to_bytes(4, "little") + bytes([len(surface.U32_CHOICES)]))
        assert src.pick_or_raw(surface.U32_CHOICES, "u32") == v


def test_encoding_a_raw_value_round_trips():
    src = EncodingSource(lambda tag, lo, hi: 4097 if tag == "data-len-any" else None)
    assert src.pick_or_raw(surface.DATA_LEN_CHOICES, "data-len-any") == 4097          # in the table
    src = EncodingSource(lambda tag, lo, hi: 4098 if tag == "data-len-any" else None)
    assert src.pick_or_raw(surface.DATA_LEN_CHOICES, "data-len-any", surface.RAW_DATA_CAP) == 4098
    assert FdpSource(src.data()).pick_or_raw(surface.DATA_LEN_CHOICES, "x", surface.RAW_DATA_CAP) == 4098


def test_every_table_with_a_raw_escape_keeps_its_index_width():
    # pick_or_raw reads an index over len + 1 values: as wide as pick's only for 2..255 entries
    for table in (surface.OPTIONS, surface.CMSGS, surface.BYTES_LEN_CHOICES, surface.BYTES_LEN_CHOICES[:12],
                  surface.AUTHSIZE_CHOICES, surface.U32_CHOICES, surface.U32_OPTLENS, surface.OP_VALUES,
                  surface.ASSOCLEN_VALUES, surface.IV_LEN_CHOICES, surface.IV_LEN_CHOICES + [0xFFFFFFFF],
                  surface.CMSG_LEN_CLASSES, surface.DATA_LEN_CHOICES, surface.RECV_LEN_CHOICES):
        assert 2 <= len(table) <= 255
