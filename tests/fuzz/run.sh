#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build the libFuzzer targets (tests/fuzz/fuzz-*.c) in their own tree with clang, ASan and
# UBSan, and run each for a short time over its committed corpus (tests/fuzz/corpus/NAME/).
# New inputs go to the build tree, never into the source tree; a crash leaves its input there.
# Usage: tests/fuzz/run.sh [SECONDS]   seconds per target (default $FUZZ_SECONDS or 30)
#        FUZZ_BUILD=DIR  the fuzz build tree (default ${SC_BUILD:-_build}-fuzz)
# Prints one "fuzz: NAME ok|CRASH ..." line per target; exit 0, 1 on any crash or build
# failure, 77 when clang or libFuzzer is missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
secs="${1:-${FUZZ_SECONDS:-30}}"
build="${FUZZ_BUILD:-${SC_BUILD:-$top/_build}-fuzz}"
targets=(wire piv)

skip() { echo "fuzz: SKIP ($*)"; exit 77; }
command -v clang >/dev/null || skip "clang is not installed"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
    >"$probe/p.c"
clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>/dev/null ||
    skip "clang cannot link -fsanitize=fuzzer (libclang-rt-dev missing)"

[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi >/dev/null)
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ] || [ "$top/configure" -nt config.status ]; then
    CC=clang "$top/configure" -q --enable-fuzz CFLAGS="-g -O1"
fi
make -j"$(nproc)" "${targets[@]/#/tests/fuzz/fuzz-}" >make.log 2>&1 || {
    tail -n 40 make.log
    echo "fuzz: build FAILED"
    exit 1
}

rc=0
for t in "${targets[@]}"; do
    work="$build/tests/fuzz/work-$t"
    corpus="$top/tests/fuzz/corpus/$t"
    log="$build/tests/fuzz/fuzz-$t.log"
    rm -rf "$work" "$build/tests/fuzz/crash-$t-"* "$build/tests/fuzz/leak-$t-"* "$build/tests/fuzz/timeout-$t-"*
    mkdir -p "$work"
    dirs=("$work")
    [ -d "$corpus" ] && dirs+=("$corpus")
    if "./tests/fuzz/fuzz-$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/tests/fuzz/crash-$t-" "${dirs[@]}" >"$log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        echo "fuzz: $t ok ($secs s, ${execs:-?} runs, ${speed:-?}/s, corpus $(find "${dirs[@]}" -type f | wc -l))"
    else
        rc=1
        echo "fuzz: $t CRASH"
        grep -E "check failed|ERROR: (Address|Leak|libFuzzer)|runtime error|SUMMARY" "$log" | head -n 5 | sed 's/^/    /'
        for f in "$build/tests/fuzz/crash-$t-"*; do
            [ -f "$f" ] || continue
            echo "    input: $f"
            echo "    base64: $(base64 -w0 "$f")"
            echo "    reproduce: $build/tests/fuzz/fuzz-$t $f"
        done
    fi
done
exit $rc
