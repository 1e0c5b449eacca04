#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scardd + libscard end to end: a private scardd (scratch socket and readers.d) drives the
# test IFD handler; the C client and OpenSC's opensc-tool (through libscard as its PC/SC
# provider_library) check reader listing, card insert/remove, Transmit, transactions from
# two clients, Cancel, and that a malformed frame only costs its sender the connection.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"

top_builddir=${top_builddir:-$(pwd)}
builddir=${builddir:-$top_builddir}
sc_require opensc-tool python3

scardd=$top_builddir/resmgr/scardd
client=$top_builddir/tests/integration/pcsc-client
driver=$top_builddir/tests/drivers/.libs/ifd-test.so
libscard=$top_builddir/resmgr/client/.libs/libscard.so.1
for f in "$scardd" "$client" "$driver" "$libscard"; do
    [[ -e $f ]] || sc_die "$f not built"
done

# Every step depends on the ones before: the first failed check ends the test (sc_bail),
# showing the scardd log.
sc_scratch resmgr-test
scratch=$SC_SCRATCH
SC_FAIL_LOGS=("$scratch/scardd.log")

A="Test Reader A 00 00"
B="Test Reader B 00 00"
mkdir -p "$scratch/readers.d"
touch "$scratch/cardA"
cat >"$scratch/readers.d/test.conf" <<EOF
# two readers of the test driver: A polled, B with the driver's event function
FRIENDLYNAME "Test Reader A"
DEVICENAME $scratch/cardA
LIBPATH $driver

FRIENDLYNAME "Test Reader B"
DEVICENAME $scratch/cardB:events
LIBPATH $driver

FRIENDLYNAME "Broken Reader"
DEVICENAME /dev/null
LIBPATH $scratch/no-such-driver.so
EOF
cat >"$scratch/scard.conf" <<EOF
[resmgr]
socket = $scratch/run/scardd.sock
readers_dir = $scratch/readers.d
presence_poll_interval = 100
EOF
cat >"$scratch/opensc.conf" <<EOF
app default {
    reader_driver pcsc {
        provider_library = $libscard;
    }
}
EOF
export SCARD_CONF=$scratch/scard.conf
unset SCARD_SOCKET

"$client" noservice || sc_bail "EstablishContext without a daemon"
sc_ok "no daemon: SCARD_E_NO_SERVICE"

sc_spawn "$scratch/scardd.log" "$scardd" -f -d -c "$SCARD_CONF"
daemon=$SC_LAST_PID
sc_wait_for 5 test -S "$scratch/run/scardd.sock" || sc_bail "scardd did not create its socket"
grep -q "Broken Reader" "$scratch/scardd.log" || sc_bail "broken driver not reported"
sc_ok "scardd started, broken driver reported"

"$client" list >"$scratch/list" || sc_bail "list"
grep -qx "$A" "$scratch/list" || sc_bail "reader A not listed" "$scratch/list"
grep -qx "$B" "$scratch/list" || sc_bail "reader B not listed" "$scratch/list"
[[ $(wc -l <"$scratch/list") -eq 2 ]] || sc_bail "broken reader listed" "$scratch/list"
sc_ok "readers listed"

"$client" wait-present "$A" 3000 | grep -q "ATR 3B 85 01" || sc_bail "ATR of card A"
"$client" echo "$A" hello || sc_bail "echo"
if grep -q "31 32 33 34 35 36" "$scratch/scardd.log"; then sc_bail "PIN bytes in the log"; fi
grep -q "PIN data masked" "$scratch/scardd.log" || sc_bail "VERIFY not traced masked"
sc_ok "card present, Transmit, attributes, reconnect"

"$client" tracking "$A" || sc_bail "tracking"
sc_ok "GetStatusChange: timeout, Cancel from another thread, unknown reader, PnP"

"$client" exclusive "$A" || sc_bail "exclusive"
sc_ok "exclusive connections"

sc_spawn "$scratch/one" "$client" hold "$A" 400 one
c1=$SC_LAST_PID
sc_spawn "$scratch/two" "$client" hold "$A" 400 two
c2=$SC_LAST_PID
sc_wait "$c1" || sc_bail "client one" "$scratch/one"
sc_wait "$c2" || sc_bail "client two" "$scratch/two"
read -r _ _ b1 < <(grep begin "$scratch/one")
read -r _ _ e1 < <(grep end "$scratch/one")
read -r _ _ b2 < <(grep begin "$scratch/two")
read -r _ _ e2 < <(grep end "$scratch/two")
if ! ((b2 >= e1 || b1 >= e2)); then
    sc_bail "transactions overlapped: one $b1-$e1, two $b2-$e2"
fi
sc_ok "transactions from two clients serialise"

"$client" wait-empty "$B" 2000 >/dev/null || sc_bail "reader B should start empty"
sc_spawn "$scratch/waitB" "$client" wait-present "$B" 5000
w=$SC_LAST_PID
sleep 0.3
touch "$scratch/cardB"
sc_wait "$w" || sc_bail "insertion in reader B not seen" "$scratch/waitB"
"$client" removed "$B" "$scratch/cardB" || sc_bail "removal in reader B"
sc_ok "card insert and removal seen by GetStatusChange (driver event thread)"

python3 - "$scratch/run/scardd.sock" <<'EOF' || sc_bail "raw client"
import socket, struct, sys
def closed(payload):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall(payload)
    s.settimeout(5)
    try:
        data = s.recv(64)
    except ConnectionResetError:
        data = b""
    s.close()
    return data == b""
# unknown command
assert closed(struct.pack("=IHHIi", 0, 999, 0, 1, 0)), "unknown command kept"
# oversized length
assert closed(struct.pack("=IHHIi", 0x7fffffff, 12, 0, 1, 0)), "oversized frame kept"
# HELLO with a bad magic
assert closed(struct.pack("=IHHIi", 16, 1, 0, 1, 0) + b"\0" * 16), "bad HELLO kept"
# request before HELLO
assert closed(struct.pack("=IHHIi", 0, 3, 0, 1, 0)), "request before HELLO kept"
# wrong major version: refused with an error reply, then closed
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(struct.pack("=IHHIi", 16, 1, 0, 1, 0) + struct.pack("=IHHII", 0x53435244, 99, 0, 0, 0))
hdr = s.recv(16)
length, cmd, flags, seq, status = struct.unpack("=IHHIi", hdr)
assert status < 0, "version 99 accepted"
assert s.recv(16) == b"", "connection kept after version mismatch"
EOF
kill -0 "$daemon" || sc_bail "scardd died"
"$client" list >/dev/null || sc_bail "scardd stopped serving after malformed frames"
grep -q "malformed" "$scratch/scardd.log" || sc_bail "malformed frame not logged"
sc_ok "malformed frames from a raw socket client cost only that connection"

export OPENSC_CONF=$scratch/opensc.conf
opensc-tool -l >"$scratch/opensc-l" 2>&1 || sc_bail "opensc-tool -l" "$scratch/opensc-l"
grep -q "$A" "$scratch/opensc-l" || sc_bail "opensc-tool -l did not list reader A" "$scratch/opensc-l"
opensc-tool -a >"$scratch/opensc-a" 2>&1 || sc_bail "opensc-tool -a" "$scratch/opensc-a"
grep -qi "3b:85:01:73:63:61:72:64:e3" "$scratch/opensc-a" || sc_bail "opensc-tool -a ATR" "$scratch/opensc-a"
sc_ok "OpenSC through libscard"

sc_stop "$daemon"
sc_expect_rc "scardd exits cleanly on SIGTERM" 0 "$SC_STOP_STATUS"
[[ ! -e $scratch/run/scardd.sock ]] && sc_ok "socket removed on exit" || sc_not_ok "socket left behind"

sc_summary resmgr
