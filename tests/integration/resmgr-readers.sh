#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scardd readers at run time, with the test IFD handler: reader.conf files added, changed
# and removed in readers_dir (inotify) add and remove readers and wake \\?PnP?\Notification;
# multi-slot and same-name readers get pcsc-lite's "<name> NN SS" names; a driver that fails
# to load or open is skipped; a hanging driver call and failing presence checks mark only
# that reader defective (UNAVAILABLE) while the others carry on; re-plugging restores it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"

top_builddir=${top_builddir:-$(pwd)}
top_srcdir=${top_srcdir:-$here/../..}
scardd=$top_builddir/resmgr/scardd
client=$top_builddir/tests/integration/pcsc-client
driver=$top_builddir/tests/drivers/.libs/ifd-test.so
for f in "$scardd" "$client" "$driver"; do
    [[ -e $f ]] || sc_die "$f not built"
done

sc_scratch resmgr-readers
scratch=$SC_SCRATCH
SC_FAIL_LOGS=("$scratch/scardd.log")
rd=$scratch/readers.d
log=$scratch/scardd.log
mkdir -p "$rd" "$scratch/drivers/ifd-x.bundle/Contents/Linux"
cp "$top_srcdir/tests/data/ifd-ccid-Info.plist" "$scratch/drivers/ifd-x.bundle/Contents/Info.plist"
touch "$scratch/cardA" "$scratch/cardM" "$scratch/cardT1" "$scratch/cardT2" "$scratch/cardH"

# $1 file name, then lines "NAME|DEVICE[|LIB]"; written elsewhere and moved in, like an editor
conf() {
    local name=$1 tmp=$scratch/.tmp-$1
    shift
    : >"$tmp"
    for e in "$@"; do
        IFS='|' read -r fn dev lib <<<"$e"
        printf 'FRIENDLYNAME "%s"\nDEVICENAME %s\nLIBPATH %s\n\n' "$fn" "$dev" "${lib:-$driver}" >>"$tmp"
    done
    mv "$tmp" "$rd/$name"
}
listed() { "$client" list >"$scratch/list" && grep -qxF "$1" "$scratch/list"; }
not_listed() { "$client" list >"$scratch/list" && ! grep -qxF "$1" "$scratch/list"; }

conf a.conf "Test A|$scratch/cardA"
cat >"$scratch/scard.conf" <<EOF
[resmgr]
socket = $scratch/run/scardd.sock
readers_dir = $rd
presence_poll_interval = 100
drivers_dir = $scratch/drivers
hotplug = yes
driver_hang_warning = 1
allow_all = yes
EOF
export SCARD_CONF=$scratch/scard.conf
unset SCARD_SOCKET

sc_spawn "$log" "$scardd" -f -d -c "$SCARD_CONF"
daemon=$SC_LAST_PID
sc_wait_for 5 test -S "$scratch/run/scardd.sock" || sc_bail "scardd did not create its socket"
listed "Test A 00 00" || sc_bail "static reader not listed" "$scratch/list"
sc_expect_grep "driver bundle of drivers_dir parsed (libxml2)" "USB hot-plug: 1 driver bundle" "$log"

# the per-reader event counter (upper 16 bits of dwEventState) counts insertions and removals
events() { "$client" state "$1" | sed -n 's/.*events=\([0-9]*\).*/\1/p'; }
"$client" wait-present "Test A 00 00" 3000 >/dev/null || sc_bail "card in Test A"
e1=$(events "Test A 00 00")
"$client" removed "Test A 00 00" "$scratch/cardA" >/dev/null || sc_bail "card removal"
touch "$scratch/cardA"
"$client" wait-present "Test A 00 00" 3000 >/dev/null || sc_bail "card back in Test A"
e2=$(events "Test A 00 00")
[[ -n $e1 && $e2 -eq $((e1 + 2)) ]] || sc_bail "event counter $e1 -> $e2, expected +2"
sc_ok "event counter: +1 on removal, +1 on insertion ($e1 -> $e2)"

# a 2-slot reader added at run time wakes a waiting PnP GetStatusChange
sc_spawn "$scratch/pnp1" "$client" pnp-wait 5000
w=$SC_LAST_PID
sleep 0.3
conf multi.conf "Multi|$scratch/cardM:slots=2"
sc_wait "$w" || sc_bail "PnP notification for an added reader" "$scratch/pnp1"
grep -q "pnp readers=3" "$scratch/pnp1" || sc_bail "PnP upper 16 bits != reader count" "$scratch/pnp1"
sc_ok "reader.conf added at run time: PnP notification, reader count 3"
listed "Multi 00 00" && listed "Multi 00 01" || sc_bail "2-slot reader names" "$scratch/list"
sc_ok "2-slot reader: 'Multi 00 00' and 'Multi 00 01'"

conf twins.conf "Twin|$scratch/cardT1" "Twin|$scratch/cardT2"
sc_wait_for 5 listed "Twin 01 00" || sc_bail "second reader of the same name" "$scratch/list"
listed "Twin 00 00" || sc_bail "first Twin" "$scratch/list"
sc_ok "same name twice: 'Twin 00 00' and 'Twin 01 00'"
"$client" echo "Twin 01 00" hi >/dev/null || sc_bail "echo on Twin 01 00"
"$client" echo "Multi 00 01" hi >/dev/null || sc_bail "echo on slot 1 of Multi"
sc_ok "second device and second slot carry APDUs"

# removal: PnP again, the names go; a reader with open handles goes too
sc_spawn "$scratch/pnp2" "$client" pnp-wait 5000
w=$SC_LAST_PID
sleep 0.3
rm "$rd/multi.conf"
sc_wait "$w" || sc_bail "PnP notification for a removed reader" "$scratch/pnp2"
not_listed "Multi 00 00" && not_listed "Multi 00 01" || sc_bail "Multi still listed" "$scratch/list"
sc_ok "reader.conf removed: PnP notification, readers gone"
"$client" reader-removed "Twin 00 00" "$rd/twins.conf" >"$scratch/rr" 2>&1 ||
    sc_bail "reader removed under open handles" "$scratch/rr"
sc_ok "handles of a removed reader: W_REMOVED_CARD / READER_UNAVAILABLE, Disconnect works"
conf twins.conf "Twin|$scratch/cardT1"
sc_wait_for 5 listed "Twin 00 00" || sc_bail "Twin back as 00" "$scratch/list"
sc_ok "lowest free index reused: 'Twin 00 00' again"

# drivers that cannot be loaded or opened are logged and skipped
conf broken.conf "No Driver|/dev/null|$scratch/no-such-driver.so" "Closed|$scratch/cardA:fail" \
    "Fine|$scratch/cardA"
sc_wait_for 5 listed "Fine 00 00" || sc_bail "good entry after broken ones" "$scratch/list"
sc_expect_grep "driver that fails to load is logged" "No Driver' skipped, cannot load" "$log"
sc_expect_grep "channel that fails to open is logged" "Closed' skipped, cannot open channel" "$log"
not_listed "Closed 00 00" || sc_bail "failed reader listed" "$scratch/list"

# a driver call that hangs: reported, the reader UNAVAILABLE, the others carry on
conf hang.conf "Hang|$scratch/cardH"
sc_wait_for 5 listed "Hang 00 00" || sc_bail "Hang reader" "$scratch/list"
"$client" wait-present "Hang 00 00" 3000 >/dev/null || sc_bail "card in Hang"
touch "$scratch/cardH.hang"
start=$(date +%s%N)
"$client" echo-rc "Hang 00 00" >"$scratch/hang-rc" 2>&1 || true
took=$((($(date +%s%N) - start) / 1000000))
grep -q "rc 0x80100017" "$scratch/hang-rc" || sc_bail "call on a hung reader: not READER_UNAVAILABLE" "$scratch/hang-rc"
((took < 5000)) || sc_bail "call on a hung reader took ${took} ms"
sc_ok "client of a hung driver call answered READER_UNAVAILABLE after ${took} ms"
sc_expect_grep "hang logged with reader and call" "reader 'Hang 00 00': driver call IFDH[A-Za-z]* has not returned after 1 s" "$log"
"$client" state "Hang 00 00" >"$scratch/hstate" || sc_bail "state of Hang"
grep -q "unavailable" "$scratch/hstate" || sc_bail "hung reader not UNAVAILABLE" "$scratch/hstate"
"$client" echo "Test A 00 00" hello >/dev/null || sc_bail "other reader blocked by a hung driver"
sc_ok "hung reader is UNAVAILABLE; 'Test A 00 00' keeps working"
rm "$scratch/cardH.hang"
sleep 0.5
"$client" state "Hang 00 00" | grep -q unavailable || sc_bail "defective until re-plugged"
touch "$rd/hang.conf" # re-plug: the file is written again
sc_wait_for 5 sh -c "'$client' state 'Hang 00 00' | grep -q present" ||
    sc_bail "re-plugged reader not back" "$log"
"$client" echo "Hang 00 00" again >/dev/null || sc_bail "echo after re-plug"
sc_ok "re-plugging (file rewritten) restores the defective reader"

# presence checks failing 5 times in a row
conf bad.conf "BadPresence|$scratch/cardA:badpresence"
sc_wait_for 5 grep -q "reader 'BadPresence 00 00': IFDHICCPresence failed 5 times" "$log" ||
    sc_bail "repeated presence failures not reported"
"$client" state "BadPresence 00 00" | grep -q unavailable || sc_bail "BadPresence not UNAVAILABLE"
sc_ok "5 presence failures in a row: reader defective"

kill -0 "$daemon" || sc_bail "scardd died"
sc_stop "$daemon"
sc_expect_rc "scardd exits cleanly on SIGTERM" 0 "$SC_STOP_STATUS"
sc_summary resmgr-readers
