#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scardd + libscard end to end: a private scardd (scratch socket and readers.d) drives the
# test IFD handler; the C client and OpenSC's opensc-tool (through libscard as its PC/SC
# provider_library) check reader listing, card insert/remove, Transmit, transactions from
# two clients, Cancel, and that a malformed frame only costs its sender the connection.
set -euo pipefail

top_builddir=${top_builddir:-$(pwd)}
builddir=${builddir:-$top_builddir}
for tool in opensc-tool python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool not found"
        exit 77
    fi
done

scardd=$top_builddir/resmgr/scardd
client=$top_builddir/tests/integration/pcsc-client
driver=$top_builddir/tests/drivers/.libs/ifd-test.so
libscard=$top_builddir/resmgr/client/.libs/libscard.so.1
for f in "$scardd" "$client" "$driver" "$libscard"; do
    [[ -e $f ]] || { echo "FAIL: $f not built"; exit 1; }
done

scratch=$(mktemp -d "$builddir/resmgr-test.XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$scratch"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    echo "--- scardd log"
    cat "$scratch/scardd.log" || true
    exit 1
}

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

echo "# no daemon: SCARD_E_NO_SERVICE"
"$client" noservice || fail "EstablishContext without a daemon"

echo "# start scardd"
"$scardd" -f -d -c "$SCARD_CONF" >"$scratch/scardd.log" 2>&1 &
daemon=$!
pids+=("$daemon")
for _ in $(seq 50); do
    [[ -S $scratch/run/scardd.sock ]] && break
    sleep 0.1
done
[[ -S $scratch/run/scardd.sock ]] || fail "scardd did not create its socket"
grep -q "Broken Reader" "$scratch/scardd.log" || fail "broken driver not reported"

echo "# readers listed"
"$client" list >"$scratch/list" || fail "list"
grep -qx "$A" "$scratch/list" || fail "reader A not listed"
grep -qx "$B" "$scratch/list" || fail "reader B not listed"
[[ $(wc -l <"$scratch/list") -eq 2 ]] || fail "broken reader listed"

echo "# card present, Transmit, attributes, reconnect"
"$client" wait-present "$A" 3000 | grep -q "ATR 3B 85 01" || fail "ATR of card A"
"$client" echo "$A" hello || fail "echo"
if grep -q "31 32 33 34 35 36" "$scratch/scardd.log"; then fail "PIN bytes in the log"; fi
grep -q "PIN data masked" "$scratch/scardd.log" || fail "VERIFY not traced masked"

echo "# GetStatusChange: timeout, Cancel from another thread, unknown reader, PnP"
"$client" tracking "$A" || fail "tracking"

echo "# exclusive connections"
"$client" exclusive "$A" || fail "exclusive"

echo "# transactions from two clients serialise"
"$client" hold "$A" 400 one >"$scratch/one" &
c1=$!
pids+=("$c1")
"$client" hold "$A" 400 two >"$scratch/two" &
c2=$!
pids+=("$c2")
wait "$c1" || fail "client one"
wait "$c2" || fail "client two"
read -r _ _ b1 < <(grep begin "$scratch/one")
read -r _ _ e1 < <(grep end "$scratch/one")
read -r _ _ b2 < <(grep begin "$scratch/two")
read -r _ _ e2 < <(grep end "$scratch/two")
if ! ((b2 >= e1 || b1 >= e2)); then
    fail "transactions overlapped: one $b1-$e1, two $b2-$e2"
fi

echo "# card insert and removal seen by GetStatusChange (driver event thread)"
"$client" wait-empty "$B" 2000 >/dev/null || fail "reader B should start empty"
"$client" wait-present "$B" 5000 >"$scratch/waitB" &
w=$!
pids+=("$w")
sleep 0.3
touch "$scratch/cardB"
wait "$w" || fail "insertion in reader B not seen"
"$client" removed "$B" "$scratch/cardB" || fail "removal in reader B"

echo "# malformed frames from a raw socket client"
python3 - "$scratch/run/scardd.sock" <<'EOF' || fail "raw client"
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
kill -0 "$daemon" || fail "scardd died"
"$client" list >/dev/null || fail "scardd stopped serving after malformed frames"
grep -q "malformed" "$scratch/scardd.log" || fail "malformed frame not logged"

echo "# OpenSC through libscard"
export OPENSC_CONF=$scratch/opensc.conf
opensc-tool -l >"$scratch/opensc-l" 2>&1 || fail "opensc-tool -l: $(cat "$scratch/opensc-l")"
grep -q "$A" "$scratch/opensc-l" || fail "opensc-tool -l did not list reader A"
opensc-tool -a >"$scratch/opensc-a" 2>&1 || fail "opensc-tool -a: $(cat "$scratch/opensc-a")"
grep -qi "3b:85:01:73:63:61:72:64:e3" "$scratch/opensc-a" || fail "opensc-tool -a ATR"

echo "# SIGTERM: clean exit, socket removed"
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[[ $rc -eq 0 ]] || fail "scardd exit status $rc"
[[ ! -e $scratch/run/scardd.sock ]] || fail "socket left behind"
echo "PASS"
