#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build: each fuzz/fuzz_*.py is a self-contained libFuzzer
# target (atheris). Without KCOV or AF_ALG in the runner, the fuzzers fall back to
# Python coverage + outcome features and never fail for a missing feature.
pip3 install .
for f in fuzz/fuzz_*.py; do
  name=$(basename "$f" .py)
  compile_python_fuzzer "$f" --add-data "fuzz/corpus:fuzz/corpus"
  (cd "fuzz/corpus/$name" && zip -q "$OUT/${name}_seed_corpus.zip" ./*)
done
