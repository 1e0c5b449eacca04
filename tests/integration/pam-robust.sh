#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# pam_scard when things go wrong, through real libpam with the virtual card chain and the
# throwaway KDC: the card pulled while the PIN prompt is up, the resource manager not running
# or killed at the prompt, a KDC that never answers and one that answers slowly. Each case is
# timed and must end within a bound, with the documented PAM status, a message for the user,
# a log line and no crash; and after every sign-in: no copy of the PIN left in the process's
# memory (scard-login --selfcheck-secret), no OpenSSL error left in the caller's queue
# (--openssl-errors), the PIV retry counter untouched unless the PIN was wrong, and the card
# logged out (a separate PC/SC client reads 63 Cx, never 90 00).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/kdc.sh"
. "$here/lib/chain.sh"

SC_BUILD="${top_builddir:?run through make check}"
chain_require
PIV_PIN="$SC_BUILD/tests/integration/piv-pin"
KDC_PROXY="$here/kdc-proxy.py"
[ -e "$PIV_PIN" ] || sc_die "not built: $PIV_PIN"
[ -x /usr/bin/python3 ] || sc_skip "/usr/bin/python3 is not installed (KDC stand-in)"
sc_scratch pam-robust
d="$SC_SCRATCH"
CHAIN_CARD_WAIT=2      # card_wait_timeout (s)
CHAIN_PIN=73918462     # 8 digits, unlikely to be in memory by chance
chain_setup alice
kdc_start
chain_card alice alice rsa2048 >"$d/card-alice.log"
chain_start_scardd
SC_FAIL_LOGS+=("$d/scardd.log" "$KDC_DIR/kdc.log")
printf '%s\n' 40617253 >"$d/badpin"
chmod 600 "$d/badpin"

PAM_SUCCESS=0 PAM_PERM_DENIED=6 PAM_AUTH_ERR=7 PAM_AUTHINFO_UNAVAIL=9 PAM_CRED_UNAVAIL=15
READER="Virtual PIV alice 00 00"
PIN_TRIES=5            # the virtual card's PIN retry counter when full
out="$d/login.out"
rc=0 ms=0

# login [scard-login args...]: alice signs in; the PAM status in $rc, the wall time in $ms
# (milliseconds), the output (with pam_scard's log lines when pam_wrapper is there to show
# pam_syslog, and the OpenSSL error queue after each PAM call) in $out.
login() {
    local t0=${EPOCHREALTIME/./}
    rc=0
    if [ -n "$PAM_WRAPPER" ]; then
        LD_PRELOAD="$PAM_WRAPPER $NSS_WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$d/pam" \
            PAM_WRAPPER_DEBUGLEVEL=3 NSS_WRAPPER_PASSWD="$d/passwd" NSS_WRAPPER_GROUP="$d/group" \
            "$SCARD_LOGIN" --service scard-login --openssl-errors "$@" alice >"$out" 2>&1 || rc=$?
    else
        chain_login alice "$d/pin" --openssl-errors "$@" || rc=$?
    fi
    ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
}
if [ -n "$PAM_WRAPPER" ]; then
    logged() { sc_expect_grep -i "$1" "$2" "$out"; }
else
    logged() { sc_skip_check "$1" "pam_wrapper missing: pam_syslog lines are not visible"; }
fi

# within NAME MAX_MS: the last sign-in took at most MAX_MS.
within() {
    if [ "$ms" -le "$2" ]; then
        sc_ok "$1: $ms ms (bound $2 ms)"
    else
        _sc_failed "$1" "took $ms ms, bound $2 ms" "$out"
    fi
}

# no_crash NAME: scard-login ended with a PAM status, not a signal (128+n) or a usage error.
no_crash() {
    if [ "$rc" -lt 64 ]; then sc_ok "$1: no crash (status $rc)"; else _sc_failed "$1: no crash" "status $rc" "$out"; fi
}

# ssl_clean NAME: every "openssl-error-queue after X" line of the last sign-in says empty (the
# application's own entry, put in the queue by scard-login before each call, is still there
# and nothing else), and there is at least one (after authenticate and after pam_end).
ssl_clean() {
    local n bad
    n=$(grep -c '^openssl-error-queue after ' "$out" || true)
    bad=$(grep '^openssl-error-queue after ' "$out" | grep -vc ': empty$' || true)
    if [ "$n" -ge 2 ] && [ "$bad" -eq 0 ]; then
        sc_ok "$1: OpenSSL error queue as the application left it after all $n PAM calls"
    else
        _sc_failed "$1: OpenSSL error queue empty after each PAM call" "$n reports, $bad not empty" "$out"
    fi
}

# no_pin_left NAME: the --selfcheck-secret scan of the last sign-in found no copy of the PIN,
# except in the text of a hex dump of the VERIFY APDU: OpenSC 0.23's _sc_debug_hex() formats
# every APDU even with logging off and frees the text unwiped (inside the PKCS#11 module that
# libkrb5 loads; nothing pam_scard can wipe). Those are noted, not counted.
no_pin_left() {
    local line copies dumps
    line=$(grep '^secret-copies: ' "$out" || true)
    copies=$(sed -n 's/^secret-copies: \([0-9]*\) .*/\1/p' <<<"$line")
    dumps=$(sed -n 's/.*(in hex dumps: \([0-9]*\))$/\1/p' <<<"$line")
    if [ -z "$copies" ] || [ -z "$dumps" ]; then
        _sc_failed "$1: PIN memory scan ran" "no secret-copies line" "$out"
    elif [ "$((copies - dumps))" -eq 0 ]; then
        sc_ok "$1: no copy of the PIN left in memory ($dumps in OpenSC's APDU hex dumps)"
    else
        _sc_failed "$1: no copy of the PIN left in memory" "$copies copies, $dumps in hex dumps" "$out"
    fi
}

# pin_not_shown NAME PINFILE: the PIN is nowhere in the output (prompts, messages, log lines).
pin_not_shown() {
    if grep -qF -f "$2" "$out"; then
        _sc_failed "$1: the PIN is not in the output" "found (output not shown, it holds the PIN)"
    else
        sc_ok "$1: the PIN is not in the output"
    fi
}

# card_state NAME WANT_SW: a separate PC/SC client (SELECT PIV, VERIFY without data) reads WANT_SW.
card_state() {
    local sw
    sw=$("$PIV_PIN" status "$READER" 2>"$d/piv-pin.err" || true)
    if [ "$sw" = "SW $2" ]; then
        sc_ok "$1 ($sw)"
    else
        _sc_failed "$1" "wanted SW $2, got '${sw:-nothing}'" "$d/piv-pin.err"
    fi
}

# card_up: wait until scardd serves the card again.
card_up() {
    sc_wait_for 10 "$PIV_PIN" status "$READER" || sc_bail "the card is served again" "$d/piv-pin.err"
}

# --- 1. normal sign-in, then the checks every later case repeats ------------------------------
# Control for the memory scan: a string that is in memory (scard-login's own argv) is found.
printf '%s\n' "$d/pin" >"$d/in-argv"
login --selfcheck-secret "$d/in-argv" --pin-file "$d/pin"
sc_expect_grep "control: the memory scan finds a string in scard-login's argv" '^secret-copies: [1-9]' "$out"
login --selfcheck-secret "$d/pin" --pin-file "$d/pin"
expect_rc "alice signs in" $PAM_SUCCESS "$rc"
ssl_clean "success"
no_pin_left "success"
pin_not_shown "success" "$d/pin"
card_state "card logged out after the sign-in, tries full" "63C$PIN_TRIES"
# The same check can read "verified": MIT's kinit through OpenSC leaves the card logged in
# (OpenSC's PIV driver sends no logout), so 63 Cx above is pam_scard's own VERIFY P1=FF.
if KRB5CCNAME="FILE:$d/kinit.cc" kinit -X "X509_user_identity=PKCS11:module_name=$OPENSC_PKCS11:token=alice:certid=01" \
    "alice@$KDC_REALM" <"$d/pin" >"$d/kinit.out" 2>&1; then
    card_state "control: kinit through OpenSC leaves the card verified" 9000
else
    sc_not_ok "control: kinit -X X509_user_identity=PKCS11 signs in" "$d/kinit.out"
fi
login --pin-file "$d/pin"
expect_rc "a card left verified by another client: signs in" $PAM_SUCCESS "$rc"
card_state "and is logged out afterwards" "63C$PIN_TRIES"

# --- 2. wrong PIN, untrusted certificate, revocation source missing, no card ------------------
login --selfcheck-secret "$d/badpin" --pin-file "$d/badpin"
expect_rc "wrong PIN" $PAM_AUTH_ERR "$rc"
expect_out "wrong PIN: the user is told the tries left" "Wrong PIN\. $((PIN_TRIES - 1)) tries left"
ssl_clean "wrong PIN"
no_pin_left "wrong PIN"
pin_not_shown "wrong PIN" "$d/badpin"
card_state "wrong PIN: one try spent, card not verified" "63C$((PIN_TRIES - 1))"
login --pin-file "$d/pin"
expect_rc "right PIN after the wrong one" $PAM_SUCCESS "$rc"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/foreign.key" -out "$d/foreign.pem" -days 7 \
    -subj "/CN=foreign CA" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
chain_service scard-login "trust_anchors=$d/foreign.pem"
login --pin-file "$d/pin"
expect_rc "untrusted certificate" $PAM_PERM_DENIED "$rc"
expect_out "untrusted certificate: the user is told" "certificate is not trusted"
ssl_clean "untrusted certificate"
# A CRL that cannot be read (revocation_fail=soft: accepted) is the case where libcrypto does
# queue errors (fopen: No such file or directory); pam_scard must not leave them to the caller.
chain_service scard-login "trust_anchors=$KDC_CA_PEM revocation_check=crl crl_file=$d/no-such.crl revocation_fail=soft"
login --pin-file "$d/pin"
expect_rc "CRL missing, revocation_fail=soft" $PAM_SUCCESS "$rc"
logged "CRL missing: logged as a warning" "revocation status unknown"
ssl_clean "CRL missing"
chain_service scard-login

"$SCARD_VCARD" eject alice
login --pin-file "$d/pin"
expect_rc "no card" $PAM_CRED_UNAVAIL "$rc"
expect_out "no card: the user is told" "No smart card was inserted"
within "no card: card_wait_timeout ${CHAIN_CARD_WAIT} s + 10 s" $(((CHAIN_CARD_WAIT + 10) * 1000))
ssl_clean "no card"
"$SCARD_VCARD" insert alice
card_up

# --- 3. the card pulled while the PIN prompt is up --------------------------------------------
login --selfcheck-secret "$d/pin" --pin-file "$d/pin" --on-prompt "\"$SCARD_VCARD\" eject alice"
expect_rc "card pulled at the PIN prompt" $PAM_CRED_UNAVAIL "$rc"
no_crash "card pulled"
expect_out "card pulled: the user is told" "smart card was removed"
logged "card pulled: logged" "card in 'Virtual PIV alice 00 00' went away during the sign-in"
within "card pulled: bounded" 10000
ssl_clean "card pulled"
no_pin_left "card pulled"
"$SCARD_VCARD" insert alice
card_up
card_state "card pulled: no PIN try spent" "63C$PIN_TRIES"

# --- 3b. the card swapped while the PIN prompt is up: the PIN must not reach the new card ------
login --pin-file "$d/pin" --on-prompt "\"$SCARD_VCARD\" eject alice; sleep 0.3; \"$SCARD_VCARD\" insert alice; sleep 0.3"
expect_rc "card swapped at the PIN prompt" $PAM_CRED_UNAVAIL "$rc"
no_crash "card swapped"
expect_out "card swapped: the user is told" "smart card was changed during the sign-in"
logged "card swapped: logged, the PIN not used" "while the PIN was asked: the PIN is not used"
ssl_clean "card swapped"
card_up
card_state "card swapped: no PIN try spent" "63C$PIN_TRIES"
login --pin-file "$d/pin"
expect_rc "after the swap, the next sign-in works" $PAM_SUCCESS "$rc"

# --- 4. resource manager not running, and killed while the PIN prompt is up --------------------
sc_stop "$SCARDD_PID"
login --pin-file "$d/pin"
expect_rc "scardd not running" $PAM_CRED_UNAVAIL "$rc"
expect_out "scardd not running: the user is told" "The smart-card service is not running\."
logged "scardd not running: logged" "cannot reach the smart-card resource manager"
within "scardd not running: quick" 5000
ssl_clean "scardd not running"

rm -f "$d/run/scardd.sock"
chain_start_scardd
card_up
login --selfcheck-secret "$d/pin" --pin-file "$d/pin" --on-prompt "kill -KILL $SCARDD_PID"
sc_wait "$SCARDD_PID" || true # reap it (137)
expect_rc "scardd killed at the PIN prompt" $PAM_CRED_UNAVAIL "$rc"
no_crash "scardd killed"
expect_out "scardd killed: the user is told" "The smart-card service is not running\."
logged "scardd killed: logged" "went away during the sign-in"
within "scardd killed: bounded" 10000
ssl_clean "scardd killed"
no_pin_left "scardd killed"
rm -f "$d/run/scardd.sock"
chain_start_scardd
card_up
card_state "scardd killed: no PIN try spent" "63C$PIN_TRIES"

# --- 5. a KDC that never answers, and a slow one ----------------------------------------------
# kdc_via PORT: a krb5.conf naming only 127.0.0.1:PORT as the realm's KDC.
kdc_via() {
    sed "s/kdc = 127.0.0.1:$KDC_PORT\$/kdc = 127.0.0.1:$1/" "$KRB5_CONFIG" >"$d/krb5-$1.conf"
    grep -q "kdc = 127.0.0.1:$1\$" "$d/krb5-$1.conf" || sc_bail "krb5.conf for port $1" "$d/krb5-$1.conf"
    printf '%s\n' "$d/krb5-$1.conf"
}
# proxy_up LOG ARGS...: kdc-proxy.py on a free port (PROXY_PORT, PROXY_PID), once it is ready.
proxy_up() {
    local log="$1"
    shift
    PROXY_PORT=$(sc_free_port)
    sc_spawn "$log" /usr/bin/python3 "$KDC_PROXY" "$PROXY_PORT" "$@"
    PROXY_PID=$SC_LAST_PID
    sc_wait_for 10 grep -q '^ready' "$log" || sc_bail "kdc-proxy.py listens on 127.0.0.1:$PROXY_PORT" "$log"
}

# MIT krb5 1.20 has no overall KDC timeout: PKINIT's AS-REQ goes over TCP (10 s), then UDP
# with 1 s + 2 s, 1 s + 4 s and 1 s + 8 s: about 27 s per silent KDC address. Bound: 27 + 15 s.
proxy_up "$d/kdc-silent.log"
silent_conf=$(kdc_via "$PROXY_PORT")
KRB5_CONFIG="$silent_conf" login --selfcheck-secret "$d/pin" --pin-file "$d/pin"
expect_rc "KDC never answers" $PAM_AUTHINFO_UNAVAIL "$rc"
no_crash "KDC never answers"
expect_out "KDC never answers: the user is told" "Cannot reach the Kerberos server"
logged "KDC never answers: logged" "Cannot contact any KDC for realm"
within "KDC never answers: MIT's retry schedule + 15 s" 42000
sc_expect_grep "KDC never answers: the stand-in saw the request" "^tcp request" "$d/kdc-silent.log"
ssl_clean "KDC never answers"
no_pin_left "KDC never answers"
card_state "KDC never answers: no PIN try spent, card logged out" "63C$PIN_TRIES"
sc_stop "$PROXY_PID"

proxy_up "$d/kdc-slow.log" --upstream "$KDC_PORT" --delay 2
slow_conf=$(kdc_via "$PROXY_PORT")
KRB5_CONFIG="$slow_conf" login --pin-file "$d/pin"
expect_rc "KDC answers after 2 s" $PAM_SUCCESS "$rc"
sc_expect_grep "slow KDC: the answer was held 2 s" "^tcp answer .* after 2.0 s" "$d/kdc-slow.log"
if [ "$ms" -ge 2000 ]; then sc_ok "slow KDC: the sign-in waited for it ($ms ms)"; else sc_not_ok "slow KDC: waited ($ms ms)" "$out"; fi
within "slow KDC: 2 s + 10 s" 12000
ssl_clean "slow KDC"
card_state "slow KDC: card logged out" "63C$PIN_TRIES"
sc_stop "$PROXY_PID"

sc_summary pam-robust
