#!/usr/bin/env bash
# The test suite on an AddressSanitizer + UndefinedBehaviorSanitizer build of the extension
# (llama.cpp included), in its own venv and build directory. CPython is not instrumented, so
# the sanitizer runtimes are preloaded. Used by .ci/run and the `sanitizers` CI job.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-asan}"

python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
LLAMA_MTP_SANITIZE=address,undefined "$venv/bin/python" -m pip install --quiet ".[test]" \
  -C build-dir=build/asan -C build.targets=_core -C cmake.define.LLAMA_MTP_STUBS=OFF

preload="$(c++ -print-file-name=libasan.so):$(c++ -print-file-name=libubsan.so)"
# detect_leaks=0: CPython keeps its objects at exit; allocator_may_return_null=1: an absurd
# allocation fails as llama.cpp expects (std::bad_alloc) instead of ASan aborting on it.
# The stub check is left out: this build generates no stub (the main suite checks it).
LD_PRELOAD="$preload" \
ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:abort_on_error=1" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  "$venv/bin/python" -m pytest tests -p no:cacheprovider -q --deselect tests/test_stubs.py
