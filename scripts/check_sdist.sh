#!/usr/bin/env bash
# The sdist's own check, as the release workflow's `sdist` job runs it (wheels.yml calls this
# script, and so does .ci/run, so that the two cannot drift apart): fetch the pinned llama.cpp
# (it goes into the sdist), build the sdist and check its metadata, build it in a clean venv
# with the package index off (so llama.cpp can only come from the sdist), install that build
# and run the demo. The sdist is left in dist/ (the workflow uploads it from there).
# Usage: scripts/check_sdist.sh [WORKDIR] (default /tmp/sdist-check; its venvs are recreated).
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-/tmp/sdist-check}"
python="${PYTHON:-python3}"

"$python" scripts/fetch_llama_cpp.py

# build and twine as the workflow pinned them for `pipx run`, in a venv of their own
rm -rf "$work/tools" "$work/dist" "$work/src" "$work/wheel" "$work/venv"
"$python" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet "build==1.3.*" "twine==6.*"
"$work/tools/bin/python" -m build --sdist --outdir "$work/dist" .
sdist=$(ls "$work"/dist/llama_mtp-*.tar.gz)
"$work/tools/bin/twine" check --strict "$sdist"  # before the long build: metadata PyPI would refuse

# The sdist carries the pinned, patched llama.cpp tree: the fetch script, run from the unpacked
# sdist, finds it current (its stamp names the commit and every patch) and downloads nothing.
mkdir -p "$work/src"
tar -xzf "$sdist" -C "$work/src" --strip-components=1
(cd "$work/src" && "$python" -c 'import sys; sys.path.insert(0, "scripts"); import fetch_llama_cpp as f
sys.exit(0 if f.is_current(f.DEFAULT_DEST) else "the sdist holds no current extern/llama.cpp")')

# The clean venv gets only the build requirements (pyproject.toml's build-system.requires),
# then builds the sdist without build isolation and with PIP_NO_INDEX: the configure step's
# scripts/fetch_llama_cpp.py must find the pinned tree inside the sdist, since its download
# cannot reach an index (--no-cache-dir: never a wheel pip built from it before). cmake and
# ninja come from the machine where it has them (the hosted runners do), else from wheels.
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet scikit-build-core nanobind==3.1.0 pip
command -v cmake >/dev/null || "$work/venv/bin/python" -m pip install --quiet cmake ninja
PIP_NO_INDEX=1 "$work/venv/bin/python" -m pip wheel --no-cache-dir --no-build-isolation --no-deps -w "$work/wheel" "$sdist"
"$work/venv/bin/python" -m pip install --quiet "$work"/wheel/llama_mtp-*.whl

# outside the source tree, so that only the installed build can be imported
(cd "$work" && "$work/venv/bin/llama-mtp" demo -n 16)

mkdir -p dist
cp "$sdist" dist/
