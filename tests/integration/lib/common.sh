# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for integration tests and the demo: scratch directory, skip on a missing
# tool (exit 77), background processes tracked and stopped by PID, waiting without sleeps
# longer than needed, and TAP-style checks ("ok - NAME" / "not ok - NAME") with a summary.
# Source it from bash, preferably with `set -euo pipefail`; every helper also works under
# plain `set -u`.

SC_PIDS=()
SC_SCRATCH=""
SC_KEEP="${SC_KEEP:-}"
SC_NAME="${SC_NAME:-$(basename "$0" .sh)}"   # the test's name in summaries

sc_log() { printf '%s\n' "$*" >&2; }
sc_die() { sc_log "FAIL: $*"; exit 1; }
sc_skip() { sc_log "SKIP: $*"; exit 77; }

# sc_require CMD...: skip the test unless every command exists.
sc_require() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || sc_skip "'$c' is not installed"
    done
}

# sc_spawn LOGFILE CMD...: start CMD (a command or a shell function) in the background with
# stdout and stderr appended to LOGFILE (a restarted process keeps one log), remember its PID
# in SC_LAST_PID and stop it on exit. The PID must be the process itself: use exec in wrappers.
sc_spawn() {
    local log="$1"; shift
    "$@" >>"$log" 2>&1 &
    SC_LAST_PID=$!
    SC_PIDS+=("$SC_LAST_PID")
}

# sc_stop PID: TERM, wait up to 5 s, then KILL; reap it and stop tracking it (so a reused PID
# is never signalled later). Its exit status is left in SC_STOP_STATUS (137 when killed).
sc_stop() {
    local pid="$1" i
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    SC_STOP_STATUS=0
    wait "$pid" 2>/dev/null || SC_STOP_STATUS=$?
    _sc_untrack "$pid"
}

# sc_wait PID: wait for a spawned process to end by itself and stop tracking it; returns its
# exit status.
sc_wait() {
    local rc=0
    wait "$1" || rc=$?
    _sc_untrack "$1"
    return "$rc"
}

_sc_untrack() {
    local p keep=()
    for p in ${SC_PIDS[@]+"${SC_PIDS[@]}"}; do [ "$p" = "$1" ] || keep+=("$p"); done
    SC_PIDS=(${keep[@]+"${keep[@]}"})
}

sc_cleanup() {
    local pids=(${SC_PIDS[@]+"${SC_PIDS[@]}"}) i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do sc_stop "${pids[$i]}"; done
    SC_PIDS=()
    if [ -n "$SC_SCRATCH" ] && [ -z "$SC_KEEP" ]; then rm -rf "$SC_SCRATCH"; fi
}

# sc_scratch NAME: make a private scratch directory (under $builddir when set) and clean it,
# and every process spawned, on exit.
sc_scratch() {
    local base="${builddir:-${TMPDIR:-/tmp}}"
    SC_SCRATCH=$(mktemp -d "$base/$1.XXXXXX")
    chmod 755 "$SC_SCRATCH"
    trap sc_cleanup EXIT
    trap 'exit 130' INT TERM
}

# sc_wait_for TIMEOUT_SECONDS CMD...: run CMD every 50 ms until it succeeds.
sc_wait_for() {
    local t="$1"; shift
    local n=$((t * 20)) i
    for ((i = 0; i < n; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

# sc_first_file PATH...: print the first PATH that exists (nothing if none does).
sc_first_file() {
    local f
    for f in "$@"; do [ -e "$f" ] && { printf '%s\n' "$f"; return 0; }; done
    return 0
}

# sc_free_port: an unused TCP+UDP port on 127.0.0.1.
sc_free_port() {
    /usr/bin/python3 - <<'PY'
import socket
for _ in range(50):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p))
    except OSError:
        t.close(); continue
    u.close(); t.close(); print(p); break
PY
}

# sc_assert_grep PATTERN FILE [MESSAGE]
sc_assert_grep() {
    grep -qE -- "$1" "$2" || { sc_log "--- $2:"; sed 's/^/    /' "$2" >&2; sc_die "${3:-expected /$1/ in $2}"; }
}

# --- TAP-style checks ----------------------------------------------------------------------
# Each check prints "ok - NAME" or "not ok - NAME" followed by "    # " diagnostics, and is
# counted; the test goes on after a failed check (use sc_bail when the rest depends on it) and
# ends with sc_summary, whose status is the test's result. Checks are made in the test's own
# shell, not in $(...), or they are not counted.
SC_PASSED=0
SC_FAILED=0
SC_FAIL_LOGS=()          # files (daemon logs) whose tail every failed check also shows
SC_DETAIL_LINES="${SC_DETAIL_LINES:-60}"

# sc_detail FILE...: print each existing FILE as "    # " lines, only its last SC_DETAIL_LINES.
sc_detail() {
    local f n
    for f in "$@"; do
        [ -f "$f" ] || continue
        n=$(wc -l <"$f")
        if [ "$n" -gt "$SC_DETAIL_LINES" ]; then
            printf '    # --- %s (last %d of %d lines; SC_KEEP=1 keeps it)\n' "$f" "$SC_DETAIL_LINES" "$n"
        else
            printf '    # --- %s\n' "$f"
        fi
        tail -n "$SC_DETAIL_LINES" "$f" | sed 's/^/    # /'
    done
    return 0
}

# sc_ok NAME: a passed check.
sc_ok() {
    printf 'ok - %s\n' "$1"
    SC_PASSED=$((SC_PASSED + 1))
}

# _sc_failed NAME NOTE [DETAIL_FILE...]: the common part of every failed check.
_sc_failed() {
    printf 'not ok - %s\n' "$1"
    [ -z "$2" ] || printf '    # %s\n' "$2"
    shift 2
    sc_detail "$@" ${SC_FAIL_LOGS[@]+"${SC_FAIL_LOGS[@]}"}
    SC_FAILED=$((SC_FAILED + 1))
}

# sc_not_ok NAME [DETAIL_FILE...]: a failed check; shows the DETAIL_FILEs and SC_FAIL_LOGS.
sc_not_ok() {
    _sc_failed "$1" "" "${@:2}"
}

# sc_skip_check NAME REASON: a check that cannot run here (TAP "# SKIP", counted neither way).
sc_skip_check() {
    printf 'ok - %s # SKIP %s\n' "$1" "$2"
}

# sc_bail NAME [DETAIL_FILE...]: a failed check the rest of the test depends on: record it,
# print the summary and exit 1.
sc_bail() {
    sc_not_ok "$@"
    printf 'Bail out! %s\n' "$1"
    sc_summary || true
    exit 1
}

# sc_expect_rc NAME WANT GOT [DETAIL_FILE...]: the status GOT (a PAM code, an exit status)
# is WANT.
sc_expect_rc() {
    if [ "$2" -eq "$3" ] 2>/dev/null; then
        sc_ok "$1 (status $3)"
    else
        _sc_failed "$1" "wanted status $2, got $3" "${@:4}"
    fi
}

# sc_expect_grep [-i] NAME REGEX FILE: FILE has a line matching the extended REGEX (-i: in
# any case); on failure FILE is shown.
sc_expect_grep() {
    local flags=-qE
    if [ "$1" = -i ]; then flags=-qiE; shift; fi
    if grep "$flags" -- "$2" "$3" 2>/dev/null; then
        sc_ok "$1"
    else
        _sc_failed "$1" "no /$2/ in $3" "$3"
    fi
}

# sc_summary [NAME]: print "NAME: N passed, M failed" (NAME defaults to the script's name);
# non-zero when a check failed.
sc_summary() {
    printf '%s: %d passed, %d failed\n' "${1:-$SC_NAME}" "$SC_PASSED" "$SC_FAILED"
    [ "$SC_FAILED" -eq 0 ]
}
