#!/usr/bin/env bash
# Build a free-threaded CPython (configure --disable-gil) from the source package of Debian's
# next suite (bookworm packages no free-threaded interpreter; trixie ships CPython 3.13 as
# source), install it under PREFIX and print the interpreter's path. Idempotent: an
# interpreter already at PREFIX that reports Py_GIL_DISABLED is reused.
#
#   bash scripts/free_threaded_python.sh [PREFIX]      (default: build/python-ft)
#
# The archive's address is read from this machine's own apt configuration; only the suite
# and the type (deb-src) are ours. Needs root for apt (CI and the dev machines run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(realpath -m "${1:-build/python-ft}")
suite=trixie
package=python3.13

if [ -x "$prefix/bin/python3" ] &&
  "$prefix/bin/python3" -c 'import sys, sysconfig; sys.exit(0 if sysconfig.get_config_var("Py_GIL_DISABLED") else 1)'; then
  echo "$prefix/bin/python3"
  exit 0
fi

sources=/etc/apt/sources.list.d/llama-mtp-$suite-src.sources
if [ ! -f "$sources" ]; then
  uri=$(grep -h -m1 -E '^URIs: .*/debian$' /etc/apt/sources.list.d/*.sources | awk '{print $2}')
  if [ -z "$uri" ]; then
    echo "no Debian archive in /etc/apt/sources.list.d/*.sources" >&2
    exit 1
  fi
  printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" "$suite" >"$sources"
fi
apt-get update -qq >&2
# CPython's optional modules that the suite and pip need (ssl for pip, ctypes, lzma, sqlite3).
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential libssl-dev libffi-dev \
  zlib1g-dev libbz2-dev liblzma-dev libsqlite3-dev libreadline-dev uuid-dev >&2

work=$(mktemp -d)
(cd "$work" && apt-get source --download-only -qq "$package" >&2)
tarball=$(ls "$work"/"${package}"_*.orig.tar.xz)
tar -xf "$tarball" -C "$work"
srcdir=$(find "$work" -maxdepth 1 -mindepth 1 -type d -name 'Python-*' -o -maxdepth 1 -mindepth 1 -type d -name "${package}-*" | head -n1)
(
  cd "$srcdir"
  # No PGO/LTO: the interpreter runs the suite, it is not what is measured.
  ./configure --quiet --disable-gil --prefix="$prefix" --with-ensurepip=install >&2
  make -s -j"$(nproc)" >&2
  make -s install >&2
)
rm -rf "$work"
"$prefix/bin/python3" -c 'import sys, sysconfig; assert sysconfig.get_config_var("Py_GIL_DISABLED"), sys.version' >&2
echo "$prefix/bin/python3"
