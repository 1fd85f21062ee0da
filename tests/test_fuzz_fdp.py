"""FdpSource reads choices as atheris.FuzzedDataProvider does: the same bytes, the same
program. Corpora, seeds and crash reproducers written by earlier fuzzers depend on it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from afalg_conformance.fuzz import decoders
from afalg_conformance.fuzz.program import FdpSource, Names

SEEDS = Path(__file__).resolve().parents[1] / "fuzz" / "corpus"
RANGES = [0, 1, 2, 7, 255, 256, 1000, 65535, 65536, 2**24, 2**32 - 1, 2**64 - 6]


def test_layout_without_atheris():
    # integers from the end, the last byte the most significant; bytes from the front
    src = FdpSource(bytes([9, 8, 7, 0x01, 0x02, 0x03]))
    assert src.int(0, 65535) == 0x0302
    assert src.bytes(2) == bytes([9, 8])
    assert src.int(10, 10 + 255) == 10 + 0x01
    assert src.remaining() == 1
    assert src.int(0, 2**32 - 1) == 7            # fewer bytes left than the range wants
    assert src.int(0, 255) == 0 and src.bytes(5) == b""   # an exhausted input reads zeros
    assert FdpSource(bytes([200])).int(0, 9) == 200 % 10
    assert FdpSource(bytes([5])).pick("abc") == "c"
    with pytest.raises(ValueError):
        FdpSource(b"x").int(3, 2)
    with pytest.raises(ValueError):
        FdpSource(b"x").pick([])
    with pytest.raises(ValueError):
        FdpSource(b"x").int(0, 2**64)             # wider than atheris' reader takes


def test_same_choices_as_atheris():
    atheris = pytest.importorskip("atheris")
    rng = random.Random(20261202)
    for _ in range(20000):
        data = rng.randbytes(rng.randint(0, 48))
        ref, src = atheris.FuzzedDataProvider(data), FdpSource(data)
        for _ in range(rng.randint(1, 14)):
            kind = rng.random()
            if kind < 0.6:
                lo = rng.choice([0, 0, 1, 3, -5])
                hi = lo + rng.choice(RANGES + [rng.randint(0, 2**32)])
                assert src.int(lo, hi) == ref.ConsumeIntInRange(lo, hi), data.hex()
            elif kind < 0.8:
                seq = list(range(rng.randint(1, 300)))
                assert src.pick(seq) == seq[ref.ConsumeIntInRange(0, len(seq) - 1)], data.hex()
            else:
                n = rng.randint(0, 16)
                assert src.bytes(n) == ref.ConsumeBytes(n), data.hex()
            assert src.remaining() == ref.remaining_bytes()


@pytest.mark.parametrize("name", sorted(decoders.DECODERS))
def test_seeds_decode_as_with_atheris(name):
    """Every seed decodes to the program atheris' reader gives (a reader that wraps atheris,
    as FdpSource did before it read the bytes itself)."""
    atheris = pytest.importorskip("atheris")

    class AtherisSource(FdpSource):
        def __init__(self, data):
            self.fdp = atheris.FuzzedDataProvider(data)

        def int(self, lo, hi, tag=""):
            return self.fdp.ConsumeIntInRange(lo, hi)

        def pick(self, seq, tag=""):
            return seq[self.fdp.ConsumeIntInRange(0, len(seq) - 1)]

        def pick_or_raw(self, seq, tag="", cap=0xFFFFFFFF):
            i = self.int(0, len(seq))
            return seq[i] if i < len(seq) else self.int(0, 0xFFFFFFFF) % (cap + 1)

        def bytes(self, n, tag=""):
            return self.fdp.ConsumeBytes(n)

        def remaining(self):
            return self.fdp.remaining_bytes()

    files = sorted((SEEDS / name).iterdir())
    assert files
    rng = random.Random(name)
    inputs = [f.read_bytes() for f in files] + [rng.randbytes(rng.randint(0, 400)) for _ in range(300)]
    for data in inputs:
        a = decoders.DECODERS[name](FdpSource(data), Names())
        b = decoders.DECODERS[name](AtherisSource(data), Names())
        assert a.to_python() == b.to_python()
