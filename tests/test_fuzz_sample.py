"""fuzz-bench's sample of the inputs a fuzzer ran (engine.Sample). No VM."""

from __future__ import annotations

from afalg_conformance.fuzz import engine


def _kept(folder):
    files = sorted(folder.iterdir())
    assert all(f.name.startswith(f"{engine.os.getpid()}-") for f in files)
    return files, [d for f in files for d in engine.sample_inputs(f.read_bytes())]


def test_every_nth_input_is_kept_in_order_up_to_the_cap(tmp_path):
    s = engine.Sample(str(tmp_path / "sample"), every=4, cap=3, batch=2)
    inputs = [bytes([i]) * (i + 1) for i in range(20)]
    for data in inputs:
        s.add(data)
    files, kept = _kept(tmp_path / "sample")
    assert kept == [inputs[3], inputs[7], inputs[11]]    # the 4th, 8th, 12th
    assert len(files) == 2 and (s.seen, s.kept) == (20, 3)   # a batch of two, then the cap's last


def test_kept_inputs_are_written_a_batch_at_a_time(tmp_path):
    """A file per batch, not per input (each write cost the measured fuzzer); an unfilled
    batch stays in memory; an empty input and a torn record read back as they should."""
    s = engine.Sample(str(tmp_path / "sample"), every=1, batch=3)
    inputs = [b"", b"a", b"bc", b"def", b"g"]
    for data in inputs:
        s.add(data)
    files, kept = _kept(tmp_path / "sample")
    assert len(files) == 1 and kept == inputs[:3]
    s.flush()
    files, kept = _kept(tmp_path / "sample")
    assert len(files) == 2 and kept == inputs
    torn = files[1].read_bytes()[:-1]
    assert engine.sample_inputs(torn) == [b"def"] and engine.sample_inputs(b"junk") == []
