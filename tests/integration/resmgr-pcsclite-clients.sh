#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# pcsc-lite's own client programs against scardd: binaries linked with libpcsclite.so.1
# (pcsc-tools' pcsc_scan, pyscard's _scard module) load libscard instead, through a scratch
# directory holding libpcsclite.so.1 -> libscard.so.1 on LD_LIBRARY_PATH. Checks reader listing,
# insert/remove events in pcsc_scan, and a testpcsc-style pyscard run (list, status change,
# connect, status, transaction, transmit, attribute). Skips (77) without pcsc_scan and pyscard.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"

PYTHON=/usr/bin/python3
B=${top_builddir:-$(pwd)}
SCARDD=$B/resmgr/scardd
CLIENT=$B/tests/integration/pcsc-client
DRIVER=$B/tests/drivers/.libs/ifd-test.so
LIBSCARD=$B/resmgr/client/.libs/libscard.so.1
for f in "$SCARDD" "$CLIENT" "$DRIVER" "$LIBSCARD"; do
    [ -e "$f" ] || sc_die "$f not built"
done
HAVE_SCAN=1 HAVE_PYSCARD=1
command -v pcsc_scan >/dev/null 2>&1 || HAVE_SCAN=
"$PYTHON" -c 'import smartcard.scard' 2>/dev/null || HAVE_PYSCARD=
[ -n "$HAVE_SCAN$HAVE_PYSCARD" ] || sc_skip "neither pcsc_scan (pcsc-tools) nor pyscard installed"

sc_scratch resmgr-pcsclite
W=$SC_SCRATCH
SC_FAIL_LOGS=("$W/scardd.log")
A="Test Reader A 00 00"
B_="Test Reader B 00 00"

mkdir -p "$W/readers.d" "$W/lib"
ln -s "$LIBSCARD" "$W/lib/libpcsclite.so.1"
touch "$W/cardA"
cat >"$W/readers.d/test.conf" <<EOF
FRIENDLYNAME "Test Reader A"
DEVICENAME $W/cardA:events
LIBPATH $DRIVER

FRIENDLYNAME "Test Reader B"
DEVICENAME $W/cardB:events
LIBPATH $DRIVER
EOF
cat >"$W/scard.conf" <<EOF
[resmgr]
socket = $W/scardd.sock
readers_dir = $W/readers.d
EOF
export SCARD_CONF=$W/scard.conf
# a pcscd that might run on the host must not be what answers
export PCSCLITE_CSOCK_NAME=$W/no-pcscd.comm
unset SCARD_SOCKET

sc_spawn "$W/scardd.log" "$SCARDD" -f -d -c "$SCARD_CONF"
DAEMON=$SC_LAST_PID
sc_wait_for 10 test -S "$W/scardd.sock" || sc_bail "scardd did not create its socket"
sc_wait_for 5 "$CLIENT" wait-present "$A" 200 || sc_bail "card A not present"
sc_ok "scardd started with two test readers"

# pcsclite_run CMD...: CMD with libpcsclite.so.1 resolved to libscard.
pcsclite_run() { LD_LIBRARY_PATH=$W/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$@"; }

if [ -n "$HAVE_SCAN" ]; then
    pcsclite_run ldd "$(command -v pcsc_scan)" >"$W/ldd" 2>&1
    sc_expect_grep "pcsc_scan resolves libpcsclite.so.1 to libscard" "libpcsclite\.so\.1 => $W/lib/" "$W/ldd"

    pcsclite_run timeout 20 pcsc_scan -r >"$W/scan-r" 2>&1
    if grep -qF "$A" "$W/scan-r" && grep -qF "$B_" "$W/scan-r"; then
        sc_ok "pcsc_scan -r lists both readers"
    else
        sc_not_ok "pcsc_scan -r" "$W/scan-r"
    fi

    # pcsc_scan watching: insert a card into B, remove A, while it runs for a few seconds.
    sc_spawn "$W/scan" pcsclite_run timeout 30 pcsc_scan -n -t 4
    scan=$SC_LAST_PID
    sleep 1.2
    touch "$W/cardB"
    sleep 0.8
    rm -f "$W/cardA"
    sc_wait "$scan"
    scan_rc=$?
    sc_expect_rc "pcsc_scan -t 4 ends by itself" 0 "$scan_rc" "$W/scan"
    sc_expect_grep "pcsc_scan shows the card in A at start" "ATR: 3B 85 01 73 63 61 72 64 E3" "$W/scan"
    if awk -v r="$B_" 'index($0, r) { inr = 1; next } /Reader [0-9]+:/ { inr = 0 }
                       inr && /Card inserted/ { f = 1 } END { exit !f }' "$W/scan"; then
        sc_ok "pcsc_scan reports the insertion in B"
    else
        sc_not_ok "pcsc_scan did not report the insertion in B" "$W/scan"
    fi
    sc_expect_grep "pcsc_scan reports the removal" "Card removed" "$W/scan"
    touch "$W/cardA"
    rm -f "$W/cardB"
    "$CLIENT" wait-present "$A" 3000 >/dev/null 2>&1 || sc_bail "card A not back"
else
    sc_skip_check "pcsc_scan" "pcsc-tools not installed"
fi

if [ -n "$HAVE_PYSCARD" ]; then
    pcsclite_run "$PYTHON" - "$A" "$B_" >"$W/pyscard" 2>&1 <<'EOF'
# testpcsc-style run through pyscard's low-level binding (it links libpcsclite.so.1)
import sys
from smartcard.scard import *

a, b = sys.argv[1], sys.argv[2]

def ok(rv, what):
    if rv != SCARD_S_SUCCESS:
        sys.exit(f"FAIL {what}: {SCardGetErrorMessage(rv)} (0x{rv & 0xffffffff:08X})")
    print(f"ok {what}")

rv, ctx = SCardEstablishContext(SCARD_SCOPE_SYSTEM); ok(rv, "SCardEstablishContext")
ok(SCardIsValidContext(ctx), "SCardIsValidContext")
rv, readers = SCardListReaders(ctx, []); ok(rv, "SCardListReaders")
assert a in readers and b in readers, readers
rv, states = SCardGetStatusChange(ctx, 0, [(a, SCARD_STATE_UNAWARE), (b, SCARD_STATE_UNAWARE)])
ok(rv, "SCardGetStatusChange")
assert states[0][1] & SCARD_STATE_PRESENT and states[1][1] & SCARD_STATE_EMPTY, states
rv, _ = SCardGetStatusChange(ctx, 100, [(b, states[1][1])])
assert rv == SCARD_E_TIMEOUT, hex(rv & 0xffffffff)
print("ok SCardGetStatusChange times out")
rv, card, proto = SCardConnect(ctx, a, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1)
ok(rv, "SCardConnect")
rv, name, state, sproto, atr = SCardStatus(card); ok(rv, "SCardStatus")
assert name == a and sproto == proto and bytes(atr).hex().upper() == "3B85017363617264E3", (name, atr)
ok(SCardBeginTransaction(card), "SCardBeginTransaction")
rv, resp = SCardTransmit(card, proto, [0x80, 0xEE, 0, 0, 3, 1, 2, 3]); ok(rv, "SCardTransmit")
assert resp == [1, 2, 3, 0x90, 0x00], resp
ok(SCardEndTransaction(card, SCARD_LEAVE_CARD), "SCardEndTransaction")
rv, attr = SCardGetAttrib(card, SCARD_ATTR_ATR_STRING); ok(rv, "SCardGetAttrib(ATR)")
assert bytes(attr) == bytes(atr), attr
rv, card2, _ = SCardConnect(ctx, a, SCARD_SHARE_EXCLUSIVE, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1)
assert rv == SCARD_E_SHARING_VIOLATION, hex(rv & 0xffffffff)
print("ok exclusive connect refused while shared")
ok(SCardDisconnect(card, SCARD_RESET_CARD), "SCardDisconnect")
ok(SCardReleaseContext(ctx), "SCardReleaseContext")
print("pyscard: all ok")
EOF
    pyrc=$?
    sc_expect_rc "pyscard testpcsc-style run through libscard" 0 "$pyrc" "$W/pyscard"
else
    sc_skip_check "pyscard" "python3-pyscard not installed"
fi

kill -0 "$DAEMON" 2>/dev/null || sc_bail "scardd died"
sc_stop "$DAEMON"
sc_summary resmgr-pcsclite-clients
