#!/usr/bin/env python3
"""AF_ALG fuzzer 'sequence' (see fuzz/decoders.py and fuzz/README.md).

libFuzzer command line: python3 fuzz/fuzz_sequence.py [CORPUS_DIR...] [-runs=N] [-max_total_time=S]
[-artifact_prefix=DIR/] ...; python3 fuzz/fuzz_sequence.py --dry-run FILE... prints programs only.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from afalg_conformance.fuzz import engine  # noqa: E402


def main():
    engine.main("fuzz_sequence")


if __name__ == "__main__":
    main()
