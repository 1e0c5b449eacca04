# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for integration tests and the demo: scratch directory, skip on a missing
# tool (exit 77), background processes tracked and stopped by PID, waiting without sleeps
# longer than needed. Source it from bash with `set -euo pipefail`.

SC_PIDS=()
SC_SCRATCH=""
SC_KEEP="${SC_KEEP:-}"

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

# sc_spawn LOGFILE CMD...: start CMD in the background, remember its PID in SC_LAST_PID.
sc_spawn() {
    local log="$1"; shift
    "$@" >"$log" 2>&1 &
    SC_LAST_PID=$!
    SC_PIDS+=("$SC_LAST_PID")
}

# sc_stop PID: TERM, wait up to 5 s, then KILL.
sc_stop() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

sc_cleanup() {
    local i
    for ((i = ${#SC_PIDS[@]} - 1; i >= 0; i--)); do sc_stop "${SC_PIDS[$i]}"; done
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
