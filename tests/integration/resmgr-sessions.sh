#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scardd sessions end to end, with the test IFD handler: share modes both ways, DIRECT
# without a card, resets seen by other handles (W_RESET_CARD) and cleared by Reconnect,
# transactions handed over first-come first-served, the idle-transaction timeout, a
# holder killed with SIGKILL, access refused and allowed by group, and the limits on
# contexts, handles and connections, with malformed and oversized frames on the side.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"

top_builddir=${top_builddir:-$(pwd)}
builddir=${builddir:-$top_builddir}
py=/usr/bin/python3 # the system one: also runs as user nobody
sc_require "$py"

scardd=$top_builddir/resmgr/scardd
client=$top_builddir/tests/integration/pcsc-client
driver=$top_builddir/tests/drivers/.libs/ifd-test.so
for f in "$scardd" "$client" "$driver"; do
    [[ -e $f ]] || sc_die "$f not built"
done

sc_scratch resmgr-sessions
scratch=$SC_SCRATCH
log=$scratch/scardd.log
SC_FAIL_LOGS=("$log")

A="Test Reader A 00 00"
E="Test Reader E 00 00" # never has a card
mkdir -p "$scratch/readers.d"
touch "$scratch/cardA"
cat >"$scratch/readers.d/test.conf" <<EOF
FRIENDLYNAME "Test Reader A"
DEVICENAME $scratch/cardA:events
LIBPATH $driver

FRIENDLYNAME "Test Reader E"
DEVICENAME $scratch/no-card-here
LIBPATH $driver
EOF
export SCARD_CONF=$scratch/scard.conf
unset SCARD_SOCKET

# start_scardd KEY=VALUE...: (re)start scardd with these extra [resmgr] keys.
daemon=""
start_scardd() {
    [[ -z $daemon ]] || sc_stop "$daemon"
    {
        echo "[resmgr]"
        echo "socket = $scratch/run/scardd.sock"
        echo "readers_dir = $scratch/readers.d"
        echo "presence_poll_interval = 100"
        printf '%s\n' "$@"
    } >"$SCARD_CONF"
    chmod 644 "$SCARD_CONF"
    echo "=== scardd with: $*" >>"$log"
    rm -f "$scratch/run/scardd.sock"
    sc_spawn "$log" "$scardd" -f -d -c "$SCARD_CONF"
    daemon=$SC_LAST_PID
    sc_wait_for 5 test -S "$scratch/run/scardd.sock" || sc_bail "scardd did not start"
    "$client" wait-present "$A" 3000 >/dev/null || sc_bail "card A not seen"
}

# log_count REGEX: lines of the scardd log matching REGEX.
log_count() { grep -cE -- "$1" "$log" || true; }

# check_cmd NAME OUT CMD...: run CMD (output to OUT), a check that it exits 0.
check_cmd() {
    local name=$1 out=$2 rc=0
    shift 2
    "$@" >"$out" 2>&1 || rc=$?
    sc_expect_rc "$name" 0 "$rc" "$out"
}

# --- sharing -------------------------------------------------------------------------------
start_scardd "transaction_idle_timeout = 1"
check_cmd "SHARED/EXCLUSIVE/DIRECT conflicts both ways, protocol rules" "$scratch/sharing" \
    "$client" sharing "$A"
check_cmd "DIRECT without a card: protocol UNDEFINED, Control and GetAttrib" "$scratch/direct" \
    "$client" direct "$E"
check_cmd "RESET/UNPOWER/EJECT by one handle: W_RESET_CARD for the other until Reconnect" \
    "$scratch/reset" "$client" reset-seen "$A"

# --- transactions: idle timeout ------------------------------------------------------------
before=$(log_count "idle for more than 1 s")
check_cmd "idle transaction: calls restart the 1 s timer, idling resets the card" \
    "$scratch/idle" "$client" idle "$A" 1000
after=$(log_count "idle for more than 1 s")
[[ $((after - before)) -eq 1 ]] && sc_ok "the idle timeout fired exactly once (logged)" ||
    sc_not_ok "idle timeout log lines: $((after - before)), want 1"
grep -q "card reset" "$log" && sc_ok "the card was reset by the worker" ||
    sc_not_ok "no card reset in the log"

# --- transactions: FIFO with three waiters -------------------------------------------------
start_scardd "transaction_idle_timeout = 60"
parked() { log_count "BEGIN_TRANSACTION from client [0-9]+ waits for the transaction"; }
parked_more() { [[ $(parked) -gt $1 ]]; }
sc_spawn "$scratch/h0" "$client" hold "$A" 1500 h0
h0=$SC_LAST_PID
sc_wait_for 5 grep -q "h0 begin" "$scratch/h0" || sc_bail "holder did not begin" "$scratch/h0"
pids=()
for w in w1 w2 w3; do
    n=$(parked)
    sc_spawn "$scratch/$w" "$client" hold "$A" 100 "$w"
    pids+=("$SC_LAST_PID")
    # the next waiter starts only when this one is queued (its BEGIN parked, in order)
    sc_wait_for 5 parked_more "$n" || sc_bail "$w did not queue" "$scratch/$w"
done
sc_wait "$h0" || sc_bail "holder failed" "$scratch/h0"
for i in 0 1 2; do sc_wait "${pids[$i]}" || sc_bail "waiter w$((i + 1)) failed" "$scratch/w$((i + 1))"; done
read -r _ _ e0 < <(grep " end " "$scratch/h0")
read -r _ _ b1 < <(grep begin "$scratch/w1")
read -r _ _ e1 < <(grep " end " "$scratch/w1")
read -r _ _ b2 < <(grep begin "$scratch/w2")
read -r _ _ e2 < <(grep " end " "$scratch/w2")
read -r _ _ b3 < <(grep begin "$scratch/w3")
if ((e0 <= b1 && e1 <= b2 && e2 <= b3)); then
    sc_ok "three waiters got the card in arrival order (h0 ..$e0, w1 $b1.., w2 $b2.., w3 $b3..)"
else
    sc_not_ok "order: h0 end $e0, w1 $b1-$e1, w2 $b2-$e2, w3 $b3"
fi
# hand-over latency ("end" printed → EndTransaction → the next waiter's "begin" printed): one
# loop turn and two process wake-ups; pcscd's 100 ms retry loop averages 50 ms per hand-over
if (((b1 - e0) + (b2 - e1) + (b3 - e2) < 120)); then
    sc_ok "hand-overs without polling: $((b1 - e0)) ms, $((b2 - e1)) ms, $((b3 - e2)) ms"
else
    sc_not_ok "hand-overs too slow: $((b1 - e0)) ms, $((b2 - e1)) ms, $((b3 - e2)) ms"
fi

# --- transactions: the holder is killed ----------------------------------------------------
sc_spawn "$scratch/k0" "$client" hold "$A" 60000 k0
k0=$SC_LAST_PID
sc_wait_for 5 grep -q "k0 begin" "$scratch/k0" || sc_bail "holder did not begin" "$scratch/k0"
n=$(parked)
sc_spawn "$scratch/k1" "$client" wait-begin "$A" k1
k1=$SC_LAST_PID
sc_wait_for 5 parked_more "$n" || sc_bail "k1 did not queue" "$scratch/k1"
killed=$(date +%s%3N)
kill -KILL "$k0"
sc_wait "$k0" || true
sc_wait "$k1" || sc_bail "waiter after the kill" "$scratch/k1"
read -r _ _ r1 < <(grep " reset " "$scratch/k1") || r1=""
read -r _ _ b1 < <(grep " begin " "$scratch/k1")
[[ -n $r1 ]] && sc_ok "the waiter saw W_RESET_CARD: the dead holder's card was reset" ||
    sc_not_ok "no W_RESET_CARD after the holder died" "$scratch/k1"
((b1 - killed < 1000)) && sc_ok "the waiter got the card $((b1 - killed)) ms after SIGKILL" ||
    sc_not_ok "the waiter got the card only $((b1 - killed)) ms after SIGKILL"
sc_expect_grep "the death was logged" "gone inside a transaction, resetting the card" "$log"

# --- access control ------------------------------------------------------------------------
nobody_group=$(id -gn nobody 2>/dev/null || true)
if [[ $(id -u) -ne 0 ]] || ! command -v setpriv >/dev/null || [[ -z $nobody_group ]]; then
    sc_skip_check "access control for other users" "needs root, setpriv and user nobody"
else
    as_nobody=(setpriv --reuid=nobody --regid="$nobody_group" --clear-groups --)
    start_scardd "allow_users_on_local_seat = yes"
    check_cmd "uid nobody without a seat session is refused" "$scratch/refused" \
        "${as_nobody[@]}" "$client" refused
    sc_expect_grep "refusal logged with the uid and the reason" \
        "access refused: .*(logind|local-seat)" "$log"
    # on the wire: the HELLO reply carries -EACCES (SCARD_E_NO_ACCESS), then the link closes
    check_cmd "refused peer gets -EACCES in the HELLO reply, then EOF" "$scratch/refused-wire" \
        "${as_nobody[@]}" "$py" -c '
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(struct.pack("=IHHIi", 16, 1, 0, 7, 0) + struct.pack("=IHHII", 0x53435244, 1, 0, 0, 0))
length, cmd, flags, seq, status = struct.unpack("=IHHIi", s.recv(16))
print("HELLO reply: command", cmd, "seq", seq, "status", status)
assert (cmd, seq, status) == (1, 7, -13)
assert s.recv(16) == b"", "connection kept"
' "$scratch/run/scardd.sock"
    check_cmd "root is always allowed" "$scratch/root" "$client" list
    start_scardd "allowed_groups = wheel-does-not-exist $nobody_group"
    check_cmd "uid nobody allowed through allowed_groups = $nobody_group" "$scratch/allowed" \
        "${as_nobody[@]}" "$client" echo "$A" nobody
    start_scardd "allow_all = yes" "allow_users_on_local_seat = no"
    check_cmd "uid nobody allowed through allow_all" "$scratch/allowed-all" \
        "${as_nobody[@]}" "$client" list
fi

# --- limits and bad input ------------------------------------------------------------------
start_scardd "max_contexts_per_uid = 4" "max_handles_per_context = 3" "max_clients = 6"
check_cmd "max_contexts_per_uid: the 5th context gets SCARD_E_NO_MEMORY" "$scratch/contexts" \
    "$client" contexts 4
sc_expect_grep "the context limit was logged" "max_contexts_per_uid reached" "$log"
check_cmd "max_handles_per_context: the 4th handle gets SCARD_E_NO_MEMORY" "$scratch/handles" \
    "$client" handles "$A" 3
sc_expect_grep "the handle limit was logged" "more than 3 card handles" "$log"

rc=0
"$py" - "$scratch/run/scardd.sock" >"$scratch/flood" 2>&1 <<'EOF' || rc=$?
import socket, struct, sys, time
path = sys.argv[1]
HELLO = struct.pack("=IHHIi", 16, 1, 0, 1, 0) + struct.pack("=IHHII", 0x53435244, 1, 0, 0, 0)

def hello(s):
    s.settimeout(5)
    try:
        s.sendall(HELLO)
        hdr = s.recv(16)
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        return "closed"
    if len(hdr) < 16:
        return "closed"
    length, cmd, flags, seq, status = struct.unpack("=IHHIi", hdr)
    if length:
        s.recv(length)
    return "ok" if status == 0 else "err%d" % status

# 30 connections at once: 4 admitted (max_contexts_per_uid), the others refused with
# -ENOMEM or, past the refused backlog, closed; none of it stops scardd.
socks = []
for _ in range(30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    socks.append(s)
res = [hello(s) for s in socks]
print(res)
assert res.count("ok") == 4, res
assert all(r in ("ok", "err-12", "closed") for r in res), res
assert res.count("err-12") >= 10, res
for s in socks:
    s.close()
time.sleep(0.3)  # let scardd see the EOFs before the next connections are counted

def closed(payload, after_hello=False):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    if after_hello:
        assert hello(s) == "ok"
    s.sendall(payload)
    s.settimeout(5)
    try:
        data = s.recv(64)
    except ConnectionResetError:
        data = b""
    s.close()
    return data == b""

# a huge length header, before and after the handshake
assert closed(struct.pack("=IHHIi", 0xFFFFFFF0, 12, 0, 1, 0)), "huge frame kept"
assert closed(struct.pack("=IHHIi", 0xFFFFFFF0, 12, 0, 2, 0), True), "huge frame kept"
# a reply flag on a request, a truncated fixed part
assert closed(struct.pack("=IHHIi", 0, 3, 1, 3, 0), True), "reply-flagged request kept"
assert closed(struct.pack("=IHHIi", 4, 6, 0, 4, 0) + b"\0" * 4, True), "short CONNECT kept"
print("bad input ok")
EOF
sc_expect_rc "a connection flood past the limits and malformed frames: only their senders lose" \
    0 "$rc" "$scratch/flood"
kill -0 "$daemon" 2>/dev/null && sc_ok "scardd still running" || sc_bail "scardd died"
sc_expect_grep "malformed frames logged" "malformed" "$log"
check_cmd "other clients carry on afterwards" "$scratch/after" "$client" echo "$A" after

# a card handle's data channel (SOCK_SEQPACKET, passed with the CONNECT reply): a packet that
# is not a valid request for that handle drops that handle only; scardd and the other
# handles of the same context carry on
rc=0
"$py" - "$scratch/run/scardd.sock" "$A" >"$scratch/datachan" 2>&1 <<'EOF' || rc=$?
import array, socket, struct, sys, time
path, reader = sys.argv[1], sys.argv[2].encode()

def frame(cmd, seq, payload=b"", flags=0, length=None):
    n = len(payload) if length is None else length
    return struct.pack("=IHHIi", n, cmd, flags, seq, 0) + payload

c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(path)
c.settimeout(5)

def call(cmd, payload):
    c.sendall(frame(cmd, 1, payload))
    head, anc, _, _ = c.recvmsg(16, socket.CMSG_SPACE(4 * 4))
    length, _, flags, _, status = struct.unpack("=IHHIi", head)
    body = b""
    while len(body) < length:
        body += c.recv(length - len(body))
    fds = []
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", data[: len(data) // 4 * 4]).tolist()
    return status, flags, body, fds

assert call(1, struct.pack("=IHHII", 0x53435244, 1, 1, 0, 0))[0] == 0, "HELLO 1.1"
assert call(2, struct.pack("=II", 2, 0))[0] == 0, "ESTABLISH"

def connect():
    status, flags, body, fds = call(6, reader.ljust(128, b"\0") + struct.pack("=II", 2, 3))
    assert status == 0 and flags & 2 and len(fds) == 1, (status, flags, fds)
    handle, proto = struct.unpack("=II", body)
    return handle, proto, socket.socket(fileno=fds[0])

def transmit(handle, proto, data, seq=1):
    return frame(12, seq, struct.pack("=IIII", handle, proto, 258, 0) + bytes([0x80, 0xEE, 0, 0, len(data)]) + data)

def echo_ok(d, handle, proto):
    d.send(transmit(handle, proto, b"hi"))
    r = d.recv(70000)
    _, cmd, _, _, status = struct.unpack("=IHHIi", r[:16])
    return cmd == 12 and status == 0 and r[-4:] == b"hi\x90\x00"

def dropped(d):
    d.settimeout(5)
    try:
        gone = d.recv(70000) == b""
    except ConnectionResetError:
        gone = True
    d.close()
    time.sleep(0.05)  # the loop forgets the handle (max_handles_per_context)
    return gone

gh, gp, good = connect()
assert echo_ok(good, gh, gp), "Transmit on the data channel"
bad = {
    "garbage": lambda h, p: b"\xde\xad\xbe\xef" * 7,
    "another handle's id": lambda h, p: transmit(h + 1, p, b"x"),
    "a context request": lambda h, p: frame(3, 1),
    "a reply flag": lambda h, p: frame(11, 1, struct.pack("=II", h, 0), flags=1),
    "a length that lies": lambda h, p: frame(11, 1, struct.pack("=II", h, 0), length=100),
    "a truncated fixed part": lambda h, p: frame(12, 1, struct.pack("=II", h, p)),
    "an oversized packet": lambda h, p: transmit(h, p, b"") + b"A" * 70000,
    "an empty packet": lambda h, p: b"",
}
for what, make in bad.items():
    h, p, d = connect()
    d.send(make(h, p))
    assert dropped(d), "handle kept after " + what
    print("dropped after", what)
# a valid request with a file descriptor attached: fds are not taken from clients
h, p, d = connect()
d.sendmsg([transmit(h, p, b"x")], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0]))])
assert dropped(d), "handle kept after a passed fd"
# each dropped handle was treated as a dead client: the card was reset, so the good handle
# sees W_RESET_CARD until it reconnects (on the context socket)
def reconnect():
    status, _, body, _ = call(7, struct.pack("=IIII", gh, 2, 3, 0))
    assert status == 0, "Reconnect %d" % status
reconnect()
# two requests without waiting for the first reply, while another handle holds the card
h, p, d = connect()
good.send(frame(9, 2, struct.pack("=II", gh, 0)))
assert struct.unpack("=IHHIi", good.recv(100)[:16])[4] == 0, "BEGIN"
d.send(frame(9, 1, struct.pack("=II", h, 0)))
time.sleep(0.1)
d.send(frame(9, 2, struct.pack("=II", h, 0)))
assert dropped(d), "handle kept after pipelined requests"
good.send(frame(10, 3, struct.pack("=II", gh, 0)))
assert struct.unpack("=IHHIi", good.recv(100)[:16])[4] in (0, -116), "END" # -ESTALE: reset
reconnect()
assert echo_ok(good, gh, gp), "the good handle carries on"
print("data channel ok")
EOF
sc_expect_rc "data channel: malformed, oversized, fd-carrying or pipelined packets drop only that handle" \
    0 "$rc" "$scratch/datachan"
kill -0 "$daemon" 2>/dev/null && sc_ok "scardd still running after data-channel garbage" ||
    sc_bail "scardd died"
sc_expect_grep "a bad data-channel packet is logged" "handle dropped: malformed frame on the data channel" "$log"
check_cmd "other clients carry on after data-channel garbage" "$scratch/after2" "$client" echo "$A" after2

# --- logging -------------------------------------------------------------------------------
start_scardd "trace_apdus = yes"
"$client" echo "$A" traced >"$scratch/traced" 2>&1 || sc_not_ok "echo with trace_apdus" "$scratch/traced"
sc_expect_grep "trace_apdus: command APDUs traced" "> 80 EE 00 00 06 74 72 61 63 65 64" "$log"
sc_expect_grep "trace_apdus: responses traced" "< 74 72 61 63 65 64 90 00" "$log"
if grep -q "31 32 33 34 35 36" "$log"; then sc_not_ok "PIN bytes in the log"; else sc_ok "no PIN bytes in the log"; fi
sc_expect_grep "VERIFY traced masked" "> 00 20 00 80 \[PIN data masked\]" "$log"

sc_stop "$daemon"
sc_expect_rc "scardd exits cleanly" 0 "$SC_STOP_STATUS"
sc_summary resmgr-sessions
