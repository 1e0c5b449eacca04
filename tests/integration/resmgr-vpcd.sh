#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# scardd with a real third-party IFD handler: vsmartcard's vpcd (Debian vsmartcard-vpcd) from a
# reader.conf entry, scardd in a private network namespace (vpcd listens on all interfaces), and
# a small test card (vpcd-card.py) connecting to vpcd's port from inside that namespace. Checks:
# both vpcd slots listed, insert/removal seen by GetStatusChange, Transmit, OpenSC through libscard.
# Skips (77) unless root with vpcd, unshare, nsenter, ip, /usr/bin/python3 and opensc-tool.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"

VPCD=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
[ "$(id -u)" = 0 ] || sc_skip "needs root for unshare -n / nsenter"
[ -e "$VPCD" ] || sc_skip "vsmartcard-vpcd is not installed ($VPCD)"
PYTHON=/usr/bin/python3
sc_require unshare nsenter ip "$PYTHON" opensc-tool
unshare -n true 2>/dev/null || sc_skip "unshare -n not permitted here"

B=${top_builddir:-$(pwd)}
SCARDD=$B/resmgr/scardd
CLIENT=$B/tests/integration/pcsc-client
BENCH=$B/bench/pcsc-bench-scard
LIBSCARD=$B/resmgr/client/.libs/libscard.so.1
CARD=$here/vpcd-card.py
for f in "$SCARDD" "$CLIENT" "$BENCH" "$LIBSCARD"; do
    [ -e "$f" ] || sc_die "$f not built"
done

sc_scratch resmgr-vpcd
W=$SC_SCRATCH
SC_FAIL_LOGS=("$W/scardd.log" "$W/card.log")
R0="Virtual PCD 00 00"   # vpcd slot 0: port 0x8C7B (35963)
R1="Virtual PCD 00 01"   # vpcd slot 1: port 35964
ATR="3B 05 76 70 63 64 31"

mkdir -p "$W/readers.d"
cat >"$W/readers.d/vpcd.conf" <<EOF
FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      $VPCD
CHANNELID    0x8C7B
EOF
cat >"$W/scard.conf" <<EOF
[resmgr]
socket = $W/scardd.sock
readers_dir = $W/readers.d
presence_poll_interval = 100
EOF
cat >"$W/opensc.conf" <<EOF
app default {
    reader_driver pcsc {
        provider_library = $LIBSCARD;
    }
}
EOF
export SCARD_CONF=$W/scard.conf OPENSC_CONF=$W/opensc.conf
unset SCARD_SOCKET

# scardd in its own network namespace (unshare -> bash -> exec scardd: one PID); its Unix
# socket is a file, reachable from outside. Cards join the namespace with nsenter -t PID -n.
sc_spawn "$W/scardd.log" unshare -n bash -c 'ip link set lo up && exec "$1" -f -d -c "$2"' \
    _ "$SCARDD" "$W/scard.conf"
DAEMON=$SC_LAST_PID
sc_wait_for 10 test -S "$W/scardd.sock" || sc_bail "scardd did not create its socket"
sc_ok "scardd started in a private network namespace"

# start_card PORT: the test card on vpcd's PORT inside scardd's namespace; sets CARD_PID.
start_card() {
    sc_spawn "$W/card.log" nsenter -t "$DAEMON" -n "$PYTHON" "$CARD" --port "$1"
    CARD_PID=$SC_LAST_PID
}

sc_wait_for 5 sh -c '"$1" list | grep -qx "$2"' _ "$CLIENT" "$R0"
"$CLIENT" list >"$W/list" 2>&1
if grep -qx "$R0" "$W/list" && grep -qx "$R1" "$W/list"; then
    sc_ok "both vpcd slots listed ('$R0', '$R1')"
else
    sc_bail "vpcd slots not listed as '$R0' and '$R1'" "$W/list"
fi

"$CLIENT" wait-empty "$R0" 2000 >"$W/empty0" 2>&1 || sc_bail "slot 0 should start empty" "$W/empty0"
sc_spawn "$W/insert" "$CLIENT" wait-present "$R0" 10000
waiter=$SC_LAST_PID
sleep 0.3
start_card 35963
card0=$CARD_PID
sc_wait "$waiter" && grep -q "ATR $ATR" "$W/insert" &&
    sc_ok "card insert seen by GetStatusChange, ATR $ATR" ||
    sc_bail "insertion not seen" "$W/insert"

if timeout 60 "$BENCH" rtt "$R0" 200 >"$W/rtt" 2>&1; then
    sc_ok "Transmit: 200 ECHO APDUs, median $(awk '/^rtt_median_usec/ { print $2 }' "$W/rtt") µs round trip"
else
    sc_not_ok "Transmit ECHO through vpcd" "$W/rtt"
fi
grep -q "apdu 80ee0000" "$W/card.log" && sc_ok "APDUs reached the test card" ||
    sc_not_ok "no APDU in the card's log" "$W/card.log"

opensc-tool -l >"$W/opensc-l" 2>&1
if grep -q "$R0" "$W/opensc-l" && grep -q "$R1" "$W/opensc-l"; then
    sc_ok "opensc-tool -l lists both slots through libscard"
else
    sc_not_ok "opensc-tool -l" "$W/opensc-l"
fi
opensc-tool -r "$R0" -a >"$W/opensc-a" 2>&1
sc_expect_grep -i "opensc-tool -a prints the card's ATR" "^3b:05:76:70:63:64:31" "$W/opensc-a"

start_card 35964
card1=$CARD_PID
if "$CLIENT" wait-present "$R1" 10000 >"$W/insert1" 2>&1 && grep -q "ATR $ATR" "$W/insert1"; then
    sc_ok "second card in slot 1 seen"
else
    sc_not_ok "card in slot 1 not seen" "$W/insert1"
fi

sc_spawn "$W/remove" "$CLIENT" wait-empty "$R0" 10000
waiter=$SC_LAST_PID
sleep 0.3
sc_stop "$card0"
if sc_wait "$waiter"; then
    sc_ok "card removal seen by GetStatusChange"
else
    sc_not_ok "removal not seen" "$W/remove"
fi
"$CLIENT" wait-present "$R1" 1000 >/dev/null 2>&1 && sc_ok "slot 1 unaffected by removal in slot 0" ||
    sc_not_ok "slot 1 lost its card"
sc_stop "$card1"

kill -0 "$DAEMON" 2>/dev/null || sc_bail "scardd died"
sc_stop "$DAEMON"
sc_expect_rc "scardd exits cleanly on SIGTERM" 0 "$SC_STOP_STATUS"
sc_summary resmgr-vpcd
