#!/usr/bin/env bash
# The suite on a free-threaded CPython (no GIL): the interpreter from
# scripts/free_threaded_python.sh, a venv of its own, the package built for it (nanobind's
# FREE_THREADED), the README's test command. tests/test_info.py checks that the module was
# built free-threaded and that importing it leaves the GIL off.
#
#   bash scripts/free_threaded_tests.sh [VENV]      (default: .venv-ft)
#   PYTHON_FT=/path/to/python3.14t bash scripts/free_threaded_tests.sh   (an interpreter at hand)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(realpath -m "${1:-.venv-ft}")
python_ft=${PYTHON_FT:-$(bash scripts/free_threaded_python.sh)}
"$python_ft" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# The test extra as pyproject.toml lists it, but plain uvicorn: uvicorn[standard] adds uvloop and
# httptools, which have no free-threaded builds (the server runs on asyncio and h11 without them);
# and huggingface_hub before 0.32, whose hf-xet has no free-threaded wheel (a Rust build).
# Wheels for the packages whose source builds fetch from outside the package index (Rust
# crates: jiter, pydantic-core, hypothesis 6.156+; matplotlib's freetype): new releases often
# come without free-threaded wheels, and pip then takes the newest release that has one.
mapfile -t test_deps < <("$venv/bin/python" - <<'PY'
import tomllib
extra = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["test"]
pins = {"uvicorn[standard]": "uvicorn>=0.30", "huggingface_hub>=0.25": "huggingface_hub>=0.25,<0.32"}
print("\n".join(pins.get(d.split(">")[0] if d.startswith("uvicorn") else d, d) for d in extra))
PY
)
"$venv/bin/python" -m pip install --quiet --prefer-binary --only-binary=jiter,pydantic-core,hypothesis,matplotlib \
  "${test_deps[@]}"
"$venv/bin/python" -m pip install --quiet -C build-dir=build/free-threaded .
# outside the source tree, so that the installed module is the one imported
(cd "$(mktemp -d)" && "$venv/bin/python" -c \
  "import sys, llama_mtp as m; assert m.build_info()['free_threaded'] and not sys._is_gil_enabled(); print('free-threaded import ok', sys.version)")
"$venv/bin/python" -m pytest tests -p no:cacheprovider
