# SPDX-License-Identifier: LGPL-2.1-or-later
# pcsc-lite's pcscd as a private test instance: its own mount + network namespace (its socket
# path is compiled in, test-environment.md §3), the scratch directory's pcsc/run bound as
# /run/pcscd, clients pointed at it with PCSCLITE_CSOCK_NAME, OpenSC limited to its PIV driver.
# Needs common.sh. Sets MODULE (opensc-pkcs11.so) and PCSCD (the PID, "" when stopped).

# pcscd_require TOOL...: skip (77) unless root with pcscd, unshare, OpenSC's module and TOOLs.
pcscd_require() {
    [ "$(id -u)" = 0 ] || sc_skip "needs root for unshare -m"
    sc_require pcscd unshare "$@"
    MODULE=$(sc_first_file /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so /usr/lib/*/opensc-pkcs11.so /usr/lib64/opensc-pkcs11.so)
    [ -n "$MODULE" ] || sc_skip "opensc-pkcs11.so not found"
    unshare -m --propagation private true 2>/dev/null || sc_skip "unshare -m not permitted here"
}

# pcscd_env DIR: OPENSC_CONF (PIV-II only, no file cache) and PCSCLITE_CSOCK_NAME under DIR;
# the reader definitions go into DIR/pcsc/reader.conf.
pcscd_env() {
    export OPENSC_CONF=$1/opensc.conf PCSCLITE_CSOCK_NAME=$1/pcsc/run/pcscd.comm
    cat >"$OPENSC_CONF" <<'CONF'
app default {
    card_drivers = PIV-II;
    framework pkcs15 { use_file_caching = no; }
}
CONF
    mkdir -p "$1/pcsc/run"
    PCSCD=
}

# pcscd_start DIR READY_CMD...: start pcscd (unshare -> bash -> exec pcscd keeps one PID, so
# sc_stop stops pcscd itself), log in DIR/pcscd.log; wait up to 5 s for READY_CMD.
pcscd_start() {
    local dir=$1
    shift
    rm -f "$PCSCLITE_CSOCK_NAME"
    sc_spawn "$dir/pcscd.log" unshare -m -n --propagation private bash -c '
        mount -t tmpfs tmpfs /run && mkdir /run/pcscd && mount --bind "$1/run" /run/pcscd &&
        exec pcscd --foreground --debug --config "$1/reader.conf"' _ "$dir/pcsc"
    PCSCD=$SC_LAST_PID
    sc_wait_for 5 "$@" || sc_bail "pcscd did not come up"
}

pcscd_stop() {
    [ -n "${PCSCD:-}" ] && sc_stop "$PCSCD"
    PCSCD=
}
