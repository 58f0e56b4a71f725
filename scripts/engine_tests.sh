#!/usr/bin/env bash
# The C++ engine alone (a plain CMake build: no Python module, no nanobind) and its own tests
# (tests/engine, ctest) on the tiny models the Python suite writes, and the GGUF fuzz driver
# on mutations of them. Needs an interpreter with
# llama_mtp installed (for the models) and cmake + ninja; .ci/run and ci.yml's `engine` job run it.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/engine}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_MTP_PYTHON=OFF -DLLAMA_MTP_ENGINE_TESTS=ON
cmake --build "$build" --target engine_tests upstream_parity gguf_fuzz
models="$(python -c 'from llama_mtp.testing import tiny_mtp_model as t; print("hybrid=%s,dense=%s" % (t(kind="hybrid"), t(kind="dense")))')"
# gguf_fuzz's inputs: the Python fuzzer's seeded mutations of both tiny models, as files
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
python - "$corpus" "${LLAMA_MTP_FUZZ_CASES:-600}" <<'PY'
import sys, tempfile
from pathlib import Path
from llama_mtp import _fuzz
out, n = Path(sys.argv[1]), int(sys.argv[2])
with tempfile.TemporaryDirectory() as cache:
    for kind, seed in _fuzz.corpus(n):
        _fuzz.write_case(kind, seed, Path(cache), out)
PY
LLAMA_MTP_TEST_MODELS="$models" LLAMA_MTP_FUZZ_CORPUS="$corpus" ctest --test-dir "$build" --output-on-failure
