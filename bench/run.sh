#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs bench/pcsc-bench against scardd + libscard and against pcscd + libpcsclite (pcscd in a
# private mount + network namespace, test-environment.md §3) with the same readers, and prints
# a Markdown table: Transmit round trip, contended transactions/s, removal wake-up latency,
# idle wake-ups and RSS with 4 readers. Both daemons run side by side and the timed runs
# alternate between them, BENCH_REPEAT times (median taken), so background load hits both.
# Usage: bench/run.sh [--smoke] [BUILDDIR]  (--smoke: scardd only, a few iterations, checks that
# numbers come out; used by make check). Knobs: BENCH_RTT_N BENCH_TPS_MSEC BENCH_REMOVALS
# BENCH_REPEAT BENCH_IDLE_SEC BENCH_SETTLE_SEC BENCH_OUT (file to write the table to).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tests/integration/lib/common.sh"

SMOKE=
[ "${1:-}" = --smoke ] && { SMOKE=1; shift; }
B=${1:-${top_builddir:-$(pwd)}}
B=$(cd "$B" && pwd)
SCARDD=$B/resmgr/scardd
BENCH_SCARD=$B/bench/pcsc-bench-scard
BENCH_PCSCLITE=$B/bench/pcsc-bench-pcsclite
DRIVER=$B/tests/drivers/.libs/ifd-test.so
VCARD_TOOL=$B/resmgr/vcard/scard-vcard
VCARD_DRIVER=$B/resmgr/vcard/.libs/libifd-scard-vcard.so
for f in "$SCARDD" "$BENCH_SCARD" "$DRIVER"; do
    [ -e "$f" ] || sc_die "$f not built (make && make tests/drivers/ifd-test.la)"
done

if [ -n "$SMOKE" ]; then
    RTT_N=200 TPS_MSEC=300 REMOVALS=2 REPEAT=1 IDLE_SEC=1 SETTLE_SEC=0 CLIENTS=(1 4)
    STACKS=(scardd)
else
    RTT_N=${BENCH_RTT_N:-5000} TPS_MSEC=${BENCH_TPS_MSEC:-3000} REMOVALS=${BENCH_REMOVALS:-20}
    IDLE_SEC=${BENCH_IDLE_SEC:-10} SETTLE_SEC=${BENCH_SETTLE_SEC:-6} CLIENTS=(1 8 32)
    REPEAT=${BENCH_REPEAT:-3} STACKS=(scardd pcscd)
    [ "$(id -u)" = 0 ] || sc_skip "pcscd's private mount namespace needs root"
    sc_require pcscd unshare
    unshare -m -n --propagation private true 2>/dev/null || sc_skip "unshare -m -n not permitted"
    [ -x "$BENCH_PCSCLITE" ] || sc_die "$BENCH_PCSCLITE not built"
fi

sc_scratch pcsc-bench
W=$SC_SCRATCH
R0="Bench Reader 0 00 00"   # pcsc-lite naming: "<FRIENDLYNAME> <nn> <slot>"
declare -A RES      # RES[stack.config.key] = value
declare -A DAEMON   # DAEMON[stack] = PID
declare -A CLIENT=([scardd]=$BENCH_SCARD [pcscd]=$BENCH_PCSCLITE)

# readers_conf DIR MODE: 4 readers of the test driver (MODE events|polled) whose card files
# live in DIR (all present), or (MODE vcard) 4 virtual PIV cards (inotify-driven vcard driver).
readers_conf() {
    local dir=$1 mode=$2 i suffix=
    rm -rf "$dir/readers" && mkdir -p "$dir/readers"
    [ "$mode" = events ] && suffix=:events
    for i in 0 1 2 3; do
        if [ "$mode" = vcard ]; then
            "$VCARD_TOOL" --store "$W/vcards" reader-conf "bench$i" \
                --friendly-name "Bench Reader $i" --libpath "$VCARD_DRIVER"
        else
            touch "$dir/card$i"
            printf 'FRIENDLYNAME "Bench Reader %d"\nDEVICENAME %s\nLIBPATH %s\n\n' \
                "$i" "$dir/card$i$suffix" "$DRIVER"
        fi
    done >"$dir/readers/bench.conf"
}

make_vcards() {
    local i
    for i in 0 1 2 3; do
        printf '123456\n12345678\n' | "$VCARD_TOOL" --store "$W/vcards" create "bench$i" \
            --alg eccp256 --pin-file - --puk-file - >/dev/null || return 1
    done
}

# start_scardd MODE / start_pcscd MODE: the daemon with MODE's readers (files under
# $W/<stack>/); exports what its client needs to find it.
start_scardd() {
    local d=$W/scardd
    readers_conf "$d" "$1"
    printf '[resmgr]\nsocket = %s\nreaders_dir = %s\n' "$d/scardd.sock" "$d/readers" >"$d/scard.conf"
    export SCARD_CONF=$d/scard.conf
    unset SCARD_SOCKET
    sc_spawn "$W/scardd-$1.log" "$SCARDD" -f -c "$d/scard.conf"
    DAEMON[scardd]=$SC_LAST_PID
    sc_wait_for 10 test -S "$d/scardd.sock" || sc_die "scardd did not start ($W/scardd-$1.log)"
}

start_pcscd() {
    local d=$W/pcscd
    readers_conf "$d" "$1"
    mkdir -p "$d/run" "$d/drivers"
    rm -f "$d/run/pcscd.comm"
    export PCSCLITE_CSOCK_NAME=$d/run/pcscd.comm
    # private /run (its socket path is fixed) and network; no USB driver bundles
    sc_spawn "$W/pcscd-$1.log" env PCSCLITE_HP_DROPDIR="$d/drivers" \
        unshare -m -n --propagation private bash -c '
        mount -t tmpfs tmpfs /run && mkdir /run/pcscd && mount --bind "$1/run" /run/pcscd &&
        exec pcscd --foreground --config "$1/readers"' _ "$d"
    DAEMON[pcscd]=$SC_LAST_PID
    sc_wait_for 10 test -S "$PCSCLITE_CSOCK_NAME" || sc_die "pcscd did not start ($W/pcscd-$1.log)"
}

# ctxt_switches PID: voluntary + involuntary context switches summed over all its threads.
ctxt_switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}

# ctxt_sampler PID: print "TASK-STATUS-FILE:...ctxt_switches: N" lines for PID's threads every
# 50 ms until killed. A thread that exits (pcscd has one per client) takes its counts with it,
# so busy periods are sampled while they run and each thread's last count is used.
ctxt_sampler() {
    while :; do
        grep -H ctxt_switches /proc/"$1"/task/*/status 2>/dev/null
        sleep 0.05
    done
}

# ctxt_delta BEFORE AFTER: switches between two sampler outputs, summed over threads.
ctxt_delta() {
    awk -F'[:\t ]+' 'FNR == NR { base[$1 ":" $2] = $3; next }
        { k = $1 ":" $2; if ($3 > last[k]) last[k] = $3 }
        END { for (k in last) s += last[k] - base[k]; print s + 0 }' "$1" "$2"
}

# median VALUE...: the middle value (lower middle for an even count).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# bench_run STACK ARGS...: run STACK's client; its "key value" lines land in OUT[key].
declare -A OUT
bench_run() {
    local stack=$1 k v; shift
    OUT=()
    if ! timeout 300 "${CLIENT[$stack]}" "$@" >"$W/out" 2>"$W/err"; then
        sc_log "--- ${CLIENT[$stack]} $*:"; cat "$W/err" >&2
        sc_die "pcsc-bench $1 against $stack failed"
    fi
    while read -r k v; do OUT[$k]=$v; done <"$W/out"
    [ -z "$SMOKE" ] || cat "$W/out"
}

# idle CONFIG: context switches per second of each daemon over IDLE_SEC (no client), and RSS.
idle() {
    local config=$1 st
    declare -A c0
    sleep "$SETTLE_SEC"
    for st in "${STACKS[@]}"; do c0[$st]=$(ctxt_switches "${DAEMON[$st]}"); done
    sleep "$IDLE_SEC"
    for st in "${STACKS[@]}"; do
        RES[$st.$config.idle_wakeups]=$(awk -v d=$(($(ctxt_switches "${DAEMON[$st]}") - c0[$st])) \
            -v s="$IDLE_SEC" 'BEGIN { printf "%.1f", d / s }')
        RES[$st.$config.rss_kib]=$(awk '/^VmRSS:/ { print $2 }' /proc/"${DAEMON[$st]}"/status)
    done
}

# rtt: REPEAT rounds of RTT_N round trips, the stacks taking turns; medians of the rounds.
rtt() {
    local st i sampler; declare -A med p99 cs
    for ((i = 0; i < REPEAT; i++)); do
        for st in "${STACKS[@]}"; do
            grep -H ctxt_switches /proc/"${DAEMON[$st]}"/task/*/status >"$W/cs0" 2>/dev/null
            : >"$W/cs1"
            sc_spawn "$W/cs1" ctxt_sampler "${DAEMON[$st]}"
            sampler=$SC_LAST_PID
            bench_run "$st" rtt "$R0" "$RTT_N"
            sc_stop "$sampler"
            cs[$st]+=" $(awk -v d="$(ctxt_delta "$W/cs0" "$W/cs1")" -v n="$RTT_N" \
                'BEGIN { printf "%.2f", d / n }')"
            med[$st]+=" ${OUT[rtt_median_usec]}" p99[$st]+=" ${OUT[rtt_p99_usec]}"
        done
    done
    for st in "${STACKS[@]}"; do
        RES[$st.events.rtt_median_usec]=$(median ${med[$st]})
        RES[$st.events.rtt_p99_usec]=$(median ${p99[$st]})
        RES[$st.events.rtt_ctxt]=$(median ${cs[$st]})
    done
}

# tps: for each client count, REPEAT rounds per stack taking turns; median transactions/s,
# and the fewest/most transactions any one client got in any round.
tps() {
    local st i n; declare -A rate lo hi
    for n in "${CLIENTS[@]}"; do
        rate=() lo=() hi=()
        for ((i = 0; i < REPEAT; i++)); do
            for st in "${STACKS[@]}"; do
                bench_run "$st" tps "$R0" "$n" "$TPS_MSEC"
                rate[$st]+=" ${OUT[tps_per_sec]}"
                [ "${lo[$st]:-999999999}" -le "${OUT[tps_client_min]}" ] || lo[$st]=${OUT[tps_client_min]}
                [ "${hi[$st]:-0}" -ge "${OUT[tps_client_max]}" ] || hi[$st]=${OUT[tps_client_max]}
            done
        done
        for st in "${STACKS[@]}"; do
            RES[$st.events.tps$n]=$(median ${rate[$st]})
            RES[$st.events.fair$n]="${lo[$st]}/${hi[$st]}"
        done
    done
}

# removal CONFIG: REMOVALS removals of the card in reader 0, per stack.
removal() {
    local st
    for st in "${STACKS[@]}"; do
        bench_run "$st" removal "$R0" "$W/$st/card0" "$REMOVALS"
        RES[$st.$1.removal_median_usec]=${OUT[removal_median_usec]}
        RES[$st.$1.removal_max_usec]=${OUT[removal_max_usec]}
    done
}

# measure CONFIG WHAT...: start every stack's daemon with CONFIG's readers, measure, stop.
measure() {
    local config=$1 st what; shift
    for st in "${STACKS[@]}"; do
        "start_$st" "$config"
        sc_wait_for 10 "${CLIENT[$st]}" present "$R0" 200 || sc_die "$st: no card in '$R0' ($config)"
    done
    idle "$config"
    for what in "$@"; do "$what" "$config"; done
    for st in "${STACKS[@]}"; do sc_stop "${DAEMON[$st]}"; done
}

# --- table ---------------------------------------------------------------------------------
# row LABEL KEY [SCALE [TARGET [FORMAT]]]: scardd, pcscd and scardd/pcscd for RES[*.KEY]
# (KEY is config.key), each value divided by SCALE and printed with FORMAT (default %.0f).
row() {
    local label=$1 key=$2 scale=${3:-1} target=${4:-} fmt=${5:-%.0f} a b
    a=${RES[scardd.$key]:-} b=${RES[pcscd.$key]:-}
    awk -v l="$label" -v a="$a" -v b="$b" -v s="$scale" -v t="$target" -v f="$fmt" 'BEGIN {
        fa = a == "" ? "n/a" : sprintf(f, a / s)
        fb = b == "" ? "n/a" : sprintf(f, b / s)
        r = (a == "" || b == "" || b + 0 == 0) ? "–" : sprintf("%.2f", a / b)
        printf "| %s | %s | %s | %s | %s |\n", l, fa, fb, r, t }'
}

# text_row LABEL KEY: values shown as they are (e.g. "min/max"), no ratio.
text_row() {
    printf '| %s | %s | %s | – | %s |\n' "$1" "${RES[scardd.$2]:-n/a}" "${RES[pcscd.$2]:-n/a}" "${3:-}"
}

table() {
    local n
    echo "| measure | scardd + libscard | pcscd + libpcsclite | scardd ÷ pcscd | target |"
    echo "|---|---:|---:|---:|---|"
    row "SCardTransmit round trip, median (µs, $RTT_N short APDUs)" events.rtt_median_usec 1 "≤ 0.5"
    row "SCardTransmit round trip, p99 (µs)" events.rtt_p99_usec 1 "≤ 0.5"
    row "daemon context switches per SCardTransmit (all threads)" events.rtt_ctxt 1 "" %.2f
    for n in "${CLIENTS[@]}"; do
        row "transactions/s, $n client(s) (Begin → Transmit → End)" "events.tps$n" 1 \
            "$([ "$n" -gt 1 ] && echo "≥ 5")"
    done
    for n in "${CLIENTS[@]}"; do
        [ "$n" -gt 1 ] && text_row "fairness, $n clients: fewest/most transactions per client" "events.fair$n"
    done
    row "removal → GetStatusChange wake-up, driver event thread, median (ms)" \
        events.removal_median_usec 1000 "" %.1f
    row "removal → GetStatusChange wake-up, driver event thread, max (ms)" events.removal_max_usec 1000 "" %.1f
    [ -n "$SMOKE" ] && return 0
    row "removal → GetStatusChange wake-up, polled driver, median (ms)" \
        polled.removal_median_usec 1000 "" %.1f
    row "removal → GetStatusChange wake-up, polled driver, max (ms)" polled.removal_max_usec 1000 "" %.1f
    row "idle wake-ups/s, 4 readers, inotify driver (vcard)" vcard.idle_wakeups 1 "0 (scardd)" %.1f
    row "idle wake-ups/s, 4 readers, test driver event thread (sleeps in 20 ms steps)" \
        events.idle_wakeups 1 "" %.1f
    row "idle wake-ups/s, 4 readers, polled test driver" polled.idle_wakeups 1 "" %.1f
    row "RSS, 4 readers, test driver (KiB)" events.rss_kib
    row "RSS, 4 readers, vcard driver (KiB)" vcard.rss_kib
}

if [ -n "$SMOKE" ]; then
    measure events rtt tps removal
    for k in rtt_median_usec rtt_p99_usec tps1 tps4 removal_median_usec idle_wakeups rss_kib; do
        [[ ${RES[scardd.events.$k]:-} =~ ^[0-9]+(\.[0-9]+)?$ ]] || sc_die "no number for $k"
    done
    table
    sc_log "bench smoke: ok"
    exit 0
fi

pcscd_version=$(pcscd --version 2>&1 | head -1 | sed 's/ version / /; s/\.$//')
sc_log "pcsc-bench: $(nproc) CPUs, Linux $(uname -r), $pcscd_version; about 3 minutes"
have_vcard=
[ -x "$VCARD_TOOL" ] && [ -e "$VCARD_DRIVER" ] && make_vcards && have_vcard=1
sc_log "== test driver with event thread: idle, round trip, transactions, removal"
measure events rtt tps removal
sc_log "== polled test driver: idle, removal"
measure polled removal
if [ -n "$have_vcard" ]; then
    sc_log "== vcard driver (inotify): idle"
    measure vcard
fi

{
    echo "Measured $(date -u +%Y-%m-%d) on $(nproc) CPUs, Linux $(uname -r), against $pcscd_version" \
        "(Debian). Same IFD handler under both daemons (tests/drivers/ifd-test.c; vcard rows:" \
        "resmgr/vcard), both daemons running side by side, timed runs alternating between them," \
        "median of $REPEAT rounds. Produced by \`make bench\` (bench/run.sh)."
    echo
    table
} >"$W/table.md"
cat "$W/table.md"
if [ -n "${BENCH_OUT:-}" ]; then
    cp "$W/table.md" "$BENCH_OUT"
    sc_log "table written to $BENCH_OUT"
fi
