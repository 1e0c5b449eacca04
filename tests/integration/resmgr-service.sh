#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scardd's service life and libscard's process rules: only the PC/SC API exported; libscard.pc;
# the systemd units and sysusers entry; auto-exit (a held context then sees NO_SERVICE, a new
# scardd serves new contexts); systemd socket activation; fork refusal; threads; AUTOALLOCATE
# and SCardFreeMemory (under valgrind when installed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"

top_builddir=${top_builddir:-$(pwd)}
top_srcdir=${top_srcdir:-$here/../..}
builddir=${builddir:-$top_builddir}
sc_require nm python3

scardd=$top_builddir/resmgr/scardd
client=$top_builddir/tests/integration/service-client
driver=$top_builddir/tests/drivers/.libs/ifd-test.so
libscard=$top_builddir/resmgr/client/.libs/libscard.so.1
for f in "$scardd" "$client" "$driver" "$libscard"; do
    [[ -e $f ]] || sc_die "$f not built"
done

sc_scratch resmgr-service
scratch=$SC_SCRATCH
SC_FAIL_LOGS=("$scratch/scardd.log")
unset SCARD_SOCKET

# --- the library's face ---------------------------------------------------------------------
api="SCardBeginTransaction SCardCancel SCardConnect SCardControl SCardDisconnect
SCardEndTransaction SCardEstablishContext SCardFreeMemory SCardGetAttrib SCardGetStatusChange
SCardIsValidContext SCardListReaderGroups SCardListReaders SCardReconnect SCardReleaseContext
SCardSetAttrib SCardStatus SCardTransmit g_rgSCardRawPci g_rgSCardT0Pci g_rgSCardT1Pci
pcsc_stringify_error"
tr -s ' \n' '\n\n' <<<"$api" | sort >"$scratch/api.want"
nm -D --defined-only "$libscard" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort \
    >"$scratch/api.got"
if diff -u "$scratch/api.want" "$scratch/api.got" >"$scratch/api.diff"; then
    sc_ok "exported symbols are exactly the PC/SC API (22)"
else
    sc_not_ok "exported symbols" "$scratch/api.diff"
fi

if command -v pkg-config >/dev/null && command -v cc >/dev/null; then
    export PKG_CONFIG_PATH=$top_builddir/resmgr/client
    libs=$(pkg-config --libs libscard) cflags=$(pkg-config --cflags libscard)
    printf '#include <winscard.h>\nint main(void) { return (int)SCardIsValidContext(0); }\n' \
        >"$scratch/pc.c"
    # shellcheck disable=SC2086 # word splitting of pkg-config output is intended
    if [[ $libs == *-lscard* ]] && cc $cflags -fsyntax-only "$scratch/pc.c" 2>"$scratch/pc.err"; then
        sc_ok "libscard.pc: -lscard, and its Cflags find pcsc-lite's <winscard.h>"
    else
        sc_not_ok "libscard.pc ($libs | $cflags)" "$scratch/pc.err"
    fi
else
    sc_skip_check "libscard.pc" "pkg-config or cc not installed"
fi

# --- systemd units and the system user -------------------------------------------------------
mkdir -p "$scratch/units"
for u in scardd.socket scardd.service; do
    sed "s|@sbindir@|$(dirname "$scardd")|g" "$top_srcdir/conf/systemd/$u.in" >"$scratch/units/$u"
done
if command -v systemd-analyze >/dev/null; then
    # User=scard need not exist here; anything else it says (even a warning) fails the check.
    rc=0
    systemd-analyze verify --man=no "$scratch/units/scardd.socket" "$scratch/units/scardd.service" \
        >"$scratch/verify.log" 2>&1 || rc=$?
    if [[ $rc -eq 0 ]] && ! grep -v -i "user.*scard\|scard.*user" "$scratch/verify.log" | grep -q .; then
        sc_ok "systemd-analyze verify: scardd.socket, scardd.service"
    else
        sc_not_ok "systemd-analyze verify" "$scratch/verify.log"
    fi
else
    sc_skip_check "systemd-analyze verify" "systemd-analyze not installed"
fi
if command -v systemd-sysusers >/dev/null && [[ $(id -u) -eq 0 ]]; then
    mkdir -p "$scratch/root/etc"
    if systemd-sysusers --root="$scratch/root" "$top_srcdir/conf/sysusers.d/scard.conf" \
        >"$scratch/sysusers.log" 2>&1 && grep -q '^scard:' "$scratch/root/etc/passwd" &&
        grep -q '^scard:' "$scratch/root/etc/group"; then
        sc_ok "sysusers.d/scard.conf creates user and group scard"
    else
        sc_not_ok "sysusers.d/scard.conf" "$scratch/sysusers.log"
    fi
else
    sc_skip_check "sysusers.d/scard.conf" "needs systemd-sysusers and root"
fi

# --- auto-exit --------------------------------------------------------------------------------
mkdir -p "$scratch/empty.d" "$scratch/readers.d"
cat >"$scratch/idle.conf" <<EOF
[resmgr]
socket = $scratch/run/scardd.sock
readers_dir = $scratch/empty.d
auto_exit = 2
allow_all = yes
EOF
start_scardd() { # CONF [ARG...]: start scardd, wait for its socket
    local conf=$1
    shift
    sc_spawn "$scratch/scardd.log" "$scardd" -f -d -c "$conf" "$@"
    daemon=$SC_LAST_PID
    sc_wait_for 5 test -S "$scratch/run/scardd.sock" || sc_bail "scardd did not create its socket"
}
running() { # PID: alive and not a zombie waiting to be reaped
    [[ -e /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
}
export SCARD_CONF=$scratch/idle.conf

start_scardd "$SCARD_CONF"
"$client" idle-gone 8000 gone >"$scratch/gone.out" 2>&1 || sc_bail "held context across auto-exit" "$scratch/gone.out"
sc_ok "held context: NO_READERS_AVAILABLE, then IsValidContext fails and calls give NO_SERVICE"
rc=0
sc_wait "$daemon" || rc=$?
sc_expect_rc "scardd exits by itself with no reader and no client" 0 "$rc"
read -r _ _ _ ms _ <"$scratch/gone.out"
((ms >= 1500 && ms <= 6000)) && sc_ok "auto-exit after ${ms} ms (auto_exit = 2 s)" ||
    sc_not_ok "auto-exit after ${ms} ms, wanted about 2000" "$scratch/gone.out"
sc_expect_grep "auto-exit logged" "no reader and no client for 2 s, exiting" "$scratch/scardd.log"
[[ ! -e $scratch/run/scardd.sock ]] && sc_ok "own socket removed on auto-exit" ||
    sc_not_ok "socket left behind after auto-exit"

start_scardd "$SCARD_CONF" --auto-exit=1
"$client" alive >/dev/null 2>"$scratch/alive.err" || sc_bail "new context after restart" "$scratch/alive.err"
sc_ok "restarted scardd serves a new context"
"$client" pnp-wait 2500 2>"$scratch/pnp.err" || sc_not_ok "PnP wait across auto_exit" "$scratch/pnp.err"
running "$daemon" && sc_ok "a pending GetStatusChange keeps scardd (--auto-exit=1) alive" ||
    sc_not_ok "scardd exited under a waiting client"
if sc_wait_for 5 test ! -e "$scratch/run/scardd.sock"; then
    sc_wait "$daemon" || true
    sc_ok "then it exits, 1 s after the last call"
else
    sc_not_ok "scardd --auto-exit=1 did not exit"
    sc_stop "$daemon"
fi

# --- with a reader: no auto-exit; fork, threads, AUTOALLOCATE --------------------------------
A="Test Reader A 00 00"
touch "$scratch/cardA"
cat >"$scratch/readers.d/test.conf" <<EOF
FRIENDLYNAME "Test Reader A"
DEVICENAME $scratch/cardA
LIBPATH $driver
EOF
sed -e "s|$scratch/empty.d|$scratch/readers.d|" -e 's/auto_exit = 2/auto_exit = 1/' \
    "$scratch/idle.conf" >"$scratch/reader.conf"
export SCARD_CONF=$scratch/reader.conf
start_scardd "$SCARD_CONF"
sleep 2
running "$daemon" && sc_ok "no auto-exit while a reader is present" ||
    sc_bail "scardd exited with a reader present"

"$client" gsc-rules "$A" >"$scratch/gsc.out" 2>&1 && sc_ok "GetStatusChange: UNAWARE returns at once, UNKNOWN with CHANGED|IGNORE" ||
    sc_not_ok "GetStatusChange rules" "$scratch/gsc.out"

"$client" fork "$A" >"$scratch/fork.out" 2>&1 && sc_ok "fork: the child is refused the parent's handles (INVALID_HANDLE), its own context works, the parent's is untouched" ||
    sc_not_ok "fork" "$scratch/fork.out"

"$client" threads "$A" 8 100 >"$scratch/threads.out" 2>&1 &&
    sc_ok "threads: $(head -1 "$scratch/threads.out"); Cancel and Release under a blocked wait" ||
    sc_not_ok "threads" "$scratch/threads.out"

"$client" alloc "$A" >"$scratch/alloc.out" 2>&1 && sc_ok "AUTOALLOCATE, FreeMemory only of its blocks, reader groups" ||
    sc_not_ok "alloc" "$scratch/alloc.out"
if command -v valgrind >/dev/null; then
    if "$top_builddir/libtool" --mode=execute valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
        --error-exitcode=9 "$client" alloc "$A" >"$scratch/valgrind.out" 2>&1; then
        sc_ok "valgrind: alloc without memory errors or leaks"
    else
        sc_not_ok "valgrind alloc" "$scratch/valgrind.out"
    fi
else
    sc_skip_check "valgrind alloc" "valgrind not installed"
fi
running "$daemon" || sc_bail "scardd died"
sc_stop "$daemon"
sc_expect_rc "scardd exits cleanly on SIGTERM" 0 "$SC_STOP_STATUS"

# --- systemd socket activation ----------------------------------------------------------------
if command -v systemd-socket-activate >/dev/null; then
    export SCARD_CONF=$scratch/idle.conf SCARD_SOCKET=$scratch/act/scardd.sock
    mkdir -p "$scratch/act"
    sc_spawn "$scratch/scardd.log" systemd-socket-activate -l "$SCARD_SOCKET" \
        "$scardd" -f -d -c "$SCARD_CONF"
    daemon=$SC_LAST_PID
    sc_wait_for 5 test -S "$SCARD_SOCKET" || sc_bail "systemd-socket-activate did not listen"
    "$client" alive >/dev/null 2>"$scratch/act.err" || sc_bail "context through the activated socket" "$scratch/act.err"
    sc_ok "socket activation: scardd started on the first connection and served it"
    sc_expect_grep "scardd took the passed socket" "socket activation: listening on $SCARD_SOCKET" "$scratch/scardd.log"
    [[ ! -e $scratch/run/scardd.sock ]] && sc_ok "no socket of its own when activated" ||
        sc_not_ok "scardd bound its own socket too"
    "$client" idle-gone 8000 gone >"$scratch/act-gone.out" 2>&1 ||
        sc_not_ok "activated scardd: auto-exit seen by a held context" "$scratch/act-gone.out"
    rc=0
    sc_wait "$daemon" || rc=$?
    sc_expect_rc "activated scardd auto-exits" 0 "$rc"
    [[ -S $SCARD_SOCKET ]] && sc_ok "the activated socket is left to its owner" ||
        sc_not_ok "scardd removed the socket systemd passed"
    unset SCARD_SOCKET
else
    sc_skip_check "socket activation" "systemd-socket-activate not installed (package systemd)"
fi

sc_summary resmgr-service
