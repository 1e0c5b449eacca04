#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The test command: install what is missing, build, run `make check` (unit + integration).
# Usage: tools/check.sh [--distcheck]   (--distcheck also runs `make distcheck`)
# Ends with one line "N passed, N failed, N skipped" for the `make check` run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/deps.sh" --tests
build=$("$top/tools/build.sh" | tail -n1)
cd "$build"
rc=0
make -j"$(nproc)" check || rc=$?
if [ $rc -ne 0 ]; then
    for f in $(find . -name '*.trs' | sort); do
        grep -qE '^:test-result: (FAIL|ERROR)' "$f" && { echo "===== ${f%.trs}.log"; tail -n 60 "${f%.trs}.log"; }
    done
elif [ "${1:-}" = "--distcheck" ]; then
    make distcheck || rc=$?
fi
count() { cat $(find . -path './scard-[0-9]*' -prune -o -name '*.trs' -print) 2>/dev/null | grep -c "^:test-result: $1" || true; }
printf '%s passed, %s failed, %s skipped\n' "$(count PASS)" "$(($(count FAIL) + $(count ERROR)))" "$(count SKIP)"
exit $rc
