#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Configure and build scard out of tree in _build/ (re-running only what changed).
# Usage: tools/build.sh   — prints the build directory on the last line.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build="${SC_BUILD:-$top/_build}"
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ] || [ "$top/configure" -nt config.status ]; then
    "$top/configure" -q --enable-werror
fi
make -j"$(nproc)" >/dev/null || make
echo "$build"
