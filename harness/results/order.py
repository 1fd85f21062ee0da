"""The one order tests run and are reported in, and the stable shard of each test: the
guest plugin sorts and shards by these, and merge puts shards back together by them."""

import os
import re
import zlib


def read_ids(path: str | None) -> set[str]:
    """A file of test node ids, one a line (the resume list of tests already run, the
    control's failures a stopping run ignores); none for no path, '-' or a missing file."""
    if not path or path == "-" or not os.path.exists(path):
        return set()
    with open(path) as f:
        return {line.strip() for line in f if line.strip()}


def shard_of(nodeid: str, n: int) -> int:
    """Stable shard assignment: a hash of the node id, the same on every machine."""
    return zlib.crc32(nodeid.encode()) % n


def canonical_order_key(nodeid: str) -> tuple:
    """The one order tests run and are reported in: by node id, numbers compared as numbers.

    Sharded runs use it too, so `afalg-conform merge` (harness/results/merge.py) can put shard
    results back into exactly the order of an unsharded run."""
    parts = re.split(r"(\d+)", nodeid)
    return ([int(p) if i % 2 else p for i, p in enumerate(parts)], nodeid)
