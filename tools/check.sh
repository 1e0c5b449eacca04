#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The test command: install what is missing, build, run `make check` (unit + integration),
# then a short fuzzing run (tests/fuzz/run.sh).
# Usage: tools/check.sh [--distcheck]   (--distcheck also runs `make distcheck`)
# Ends with one line "N passed, N failed, N skipped" for `make check` plus the fuzzing run.
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
# A short libFuzzer run (tests/fuzz/run.sh: ~30 s per target over the committed corpus),
# counted in the summary as one test; skipped (77) without clang + libFuzzer.
fuzz_pass=0 fuzz_fail=0 fuzz_skip=0
if [ $rc -eq 0 ]; then
    frc=0
    SC_BUILD="$build" "$top/tests/fuzz/run.sh" || frc=$?
    case $frc in 0) fuzz_pass=1 ;; 77) fuzz_skip=1 ;; *) fuzz_fail=1; rc=1 ;; esac
fi
count() { cat $(find . -path './scard-[0-9]*' -prune -o -name '*.trs' -print) 2>/dev/null | grep -c "^:test-result: $1" || true; }
printf '%s passed, %s failed, %s skipped\n' "$(($(count PASS) + fuzz_pass))" \
    "$(($(count FAIL) + $(count ERROR) + fuzz_fail))" "$(($(count SKIP) + fuzz_skip))"
exit $rc
