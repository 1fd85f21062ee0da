"""Where a decoder's choices come from: Source (two primitives, int and bytes) and FdpSource,
which reads them from a fuzz input as atheris.FuzzedDataProvider does.

Its own module, free of the rest of the fuzzer, so engine.py can import it before
atheris.instrument_imports: in Python-coverage mode the reader of every choice would otherwise
be instrumented, its branches ("the input ran out") counted as coverage, each choice slower.
"""

from __future__ import annotations

U32_MAX = 0xFFFFFFFF


class Source:
    """Choices a decoder makes. Only two primitives, so inputs can be encoded too."""

    __slots__ = ()      # so FdpSource's slots hold: no instance dict behind its attributes

    def int(self, lo: int, hi: int, tag: str = "") -> int:
        raise NotImplementedError

    def bytes(self, n: int, tag: str = "") -> bytes:
        raise NotImplementedError

    def remaining(self) -> int:
        raise NotImplementedError

    # conveniences built on int()
    def bool(self, tag: str = "") -> bool:
        return self.int(0, 1, tag) == 1

    def index(self, seq, tag: str = "") -> int:
        return self.int(0, len(seq) - 1, tag)

    def pick(self, seq, tag: str = ""):
        return seq[self.index(seq, tag)]

    def pick_or_raw(self, seq, tag: str = "", cap: int = U32_MAX):
        """An entry of seq or, for the index one past its end, a raw 32-bit value (modulo
        cap + 1). The tables hold the values worth trying; the raw value is how a word of
        the dictionary (fuzz/dictionary.py) or an operand the kernel compared with (the value
        profile of --feed crypto+cmp) becomes a choice: FuzzedDataProvider reads an integer
        from the end of the input, so the four bytes stand there little-endian, as the word
        does. For tables of 2..255 entries the index byte is as wide as pick's, so an input
        whose index bytes are below the table's length (every seed) decodes as before; any
        other byte b now chooses b % (n + 1), not b % n (hence the decoder versions)."""
        i = self.int(0, len(seq), tag)
        if i < len(seq):
            return seq[i]
        return self.int(0, U32_MAX, tag + "-raw") % (cap + 1)


class FdpSource(Source):
    """Choices read the way atheris.FuzzedDataProvider reads them (integers from the end of
    the input, the first byte taken the most significant, modulo the range's size, hi - lo + 1,
    ranges of up to 64 bits; byte strings from the front), in Python: under TCG a
    ConsumeIntInRange call through pybind11 was 31 us where this one is 13 us, and an input makes 30-45 choices (decoding
    was 2.1-3.2 ms of a setsockopt or cmsg input in a kcov-6.12 guest, 2026-12-02). The
    same bytes give the same choices (tests/test_fuzz_fdp.py checks it against atheris), so
    corpora and seeds decode as before; replay and dry runs no longer need atheris.
    pick and pick_or_raw are Source's inlined: under TCG a Python call is ~2-10 us."""

    __slots__ = ("data", "front", "back")

    def __init__(self, data: bytes):
        self.data = bytes(data)
        self.front = 0
        self.back = len(self.data)

    def int(self, lo, hi, tag=""):
        r = hi - lo
        if 0 < r < 256:
            # one byte (most choices): an index instead of a slice and from_bytes
            b = self.back - 1
            if b < self.front:
                return lo
            self.back = b
            return lo + self.data[b] % (r + 1)
        if r < 0:
            raise ValueError(f"int({lo}, {hi}): lo must be <= hi")
        k = (r.bit_length() + 7) >> 3
        if k > 8:
            raise ValueError(f"int({lo}, {hi}): a range wider than 64 bits")
        b = self.back - k
        if b < self.front:
            b = self.front
        v = int.from_bytes(self.data[b:self.back], "little")
        self.back = b
        return lo + v % (r + 1)

    def pick(self, seq, tag=""):
        r = len(seq) - 1
        if 0 < r < 256:
            b = self.back - 1
            if b < self.front:
                return seq[0]
            self.back = b
            return seq[self.data[b] % (r + 1)]
        if r < 0:
            raise ValueError("pick from an empty sequence")
        k = (r.bit_length() + 7) >> 3
        b = self.back - k
        if b < self.front:
            b = self.front
        v = int.from_bytes(self.data[b:self.back], "little")
        self.back = b
        return seq[v % (r + 1)]

    def pick_or_raw(self, seq, tag="", cap=U32_MAX):
        n = len(seq)
        i = self.int(0, n)
        return seq[i] if i < n else self.int(0, U32_MAX) % (cap + 1)

    def bytes(self, n, tag=""):
        if n < 0:
            raise ValueError(f"bytes({n}): a negative count")
        f = self.front
        e = f + n
        if e > self.back:
            e = self.back
        self.front = e
        return self.data[f:e]

    def remaining(self):
        return self.back - self.front
