#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The test command: install what is missing, build, run `make check` (unit + integration).
# Usage: tools/check.sh [--distcheck]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/deps.sh" --tests
build=$("$top/tools/build.sh" | tail -n1)
cd "$build"
rc=0
make -j"$(nproc)" check || rc=$?
# One closing line for whoever reads the output: "N passed, N failed, N skipped".
sum() { cat $(find . -name '*.trs') 2>/dev/null | grep -c "^:test-result: $1" || true; }
printf '%s passed, %s failed, %s skipped\n' "$(sum PASS)" "$(($(sum FAIL) + $(sum ERROR)))" "$(sum SKIP)"
if [ $rc -ne 0 ]; then
    for f in $(find . -name '*.log' -path '*tests*' | sort); do
        grep -qE '^(FAIL|ERROR)' "${f%.log}.trs" 2>/dev/null && { echo "===== $f"; tail -n 60 "$f"; }
    done
    exit $rc
fi
if [ "${1:-}" = "--distcheck" ]; then
    make distcheck
fi
