"""Import-time file stats, asked once per guest process.

A guest imports Python, pytest and the project over virtme-ng's 9p share, where a stat is a
host round trip (2.1 ms under TCG, 0.02 ms on tmpfs: measured). importlib stats a folder
before every lookup in it (to notice files added since) and each module's source (to check
its bytecode): about 2,300 stats, 3.7-4.8 s of each pytest worker's start (cProfile in a
guest). The tree is the host's, read-only in the guest, and nothing is written into it while
the suite runs, so the first answer for a path stands for the process. Failed stats are not
kept: a path that does not exist yet is asked again.

Only where the launcher says so (AFALG_IMPORT_MEMO=1, set for guest commands by
harness/host/vm.guest_python_command); a run on the host itself keeps importlib as it is.
"""

from __future__ import annotations

import os


def memoize_stats() -> bool:
    """Keep importlib's successful stats for the life of the process; whether it was done."""
    import importlib._bootstrap_external as bootstrap     # the private module whose _path_stat every lookup calls

    original = bootstrap._path_stat
    if getattr(original, "afalg_memo", False):
        return True
    memo: dict[str, os.stat_result] = {}

    def _path_stat(path):
        st = memo.get(path)
        if st is None:
            st = memo[path] = original(path)
        return st
    _path_stat.afalg_memo = True
    bootstrap._path_stat = _path_stat
    return True


def from_environment() -> bool:
    return os.environ.get("AFALG_IMPORT_MEMO") == "1" and memoize_stats()
