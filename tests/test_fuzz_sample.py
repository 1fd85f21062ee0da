"""fuzz-bench's sample of the inputs a fuzzer ran (engine.Sample). No VM."""

from __future__ import annotations

from afalg_conformance.fuzz import engine


def test_every_nth_input_is_kept_in_order_up_to_the_cap(tmp_path):
    s = engine.Sample(str(tmp_path / "sample"), every=4, cap=3)
    inputs = [bytes([i]) * (i + 1) for i in range(20)]
    for data in inputs:
        s.add(data)
    files = sorted((tmp_path / "sample").iterdir())
    assert all(f.name.startswith(f"{engine.os.getpid()}-") for f in files)
    assert [f.read_bytes() for f in files] == [inputs[3], inputs[7], inputs[11]]    # the 4th, 8th, 12th
    assert (s.seen, s.kept) == (20, 3)
