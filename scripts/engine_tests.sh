#!/usr/bin/env bash
# The C++ engine alone (a plain CMake build: no Python module, no nanobind) and its own tests
# (tests/engine, ctest) on the tiny models the Python suite writes. Needs an interpreter with
# llama_mtp installed (for the models) and cmake + ninja; .ci/run and ci.yml's `engine` job run it.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/engine}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_MTP_PYTHON=OFF -DLLAMA_MTP_ENGINE_TESTS=ON
cmake --build "$build" --target engine_tests
models="$(python -c 'from llama_mtp.testing import tiny_mtp_model as t; print("hybrid=%s,dense=%s" % (t(kind="hybrid"), t(kind="dense")))')"
LLAMA_MTP_TEST_MODELS="$models" ctest --test-dir "$build" --output-on-failure
