#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# pam_scard through real libpam (tools/scard-login, pam_start_confdir) without the card
# chain: SoftHSM2 token with two certificates (CKA_ID 01 = alice's PKINIT cert, 02 = another)
# → libp11 → PIN → MIT PKINIT against a throwaway KDC → ccache. Uses the test-only module
# pam_scard_softhsm.so (stand-in reader); the real pam_scard.so is checked for "no
# resource manager". Asserts PAM status codes, prompts, messages, ccache and klist.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/kdc.sh"

B="${top_builddir:?run through make check}"
SOFTHSM_MODULE=$(sc_first_file /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so)
NSS_WRAPPER=$(sc_first_file /usr/lib/*/libnss_wrapper.so)
TEST_MODULE="$B/tests/integration/.libs/pam_scard_softhsm.so"
PAM_SCARD="$B/pam_scard/.libs/pam_scard.so"
LOGIN="$B/tools/scard-login"
kdc_require
sc_require softhsm2-util pkcs11-tool
[ -n "$SOFTHSM_MODULE" ] || sc_skip "SoftHSM2 is not installed"
[ -n "$NSS_WRAPPER" ] || sc_skip "nss_wrapper (libnss-wrapper) is not installed"
for f in "$TEST_MODULE" "$PAM_SCARD" "$LOGIN"; do [ -e "$f" ] || sc_die "not built: $f"; done

sc_scratch pam-softhsm
d="$SC_SCRATCH"
mkdir -p "$d/softhsm/tokens" "$d/pam" "$d/ccache"
kdc_setup "$d/krb" PAMSC.TEST "$(sc_free_port)"
kdc_add_principal alice
kdc_add_principal carol
kdc_start

# passwd entries for the PAM users (bob has none in the KDC)
uid=2101
: >"$d/passwd"; : >"$d/group"
for u in alice bob carol; do
    printf '%s:x:%d:%d:%s:/nonexistent:/bin/false\n' "$u" $uid $uid "$u" >>"$d/passwd"
    printf '%s:x:%d:\n' "$u" $uid >>"$d/group"
    uid=$((uid + 1))
done
export NSS_WRAPPER_PASSWD="$d/passwd" NSS_WRAPPER_GROUP="$d/group"

# SoftHSM token "alice-token" (PIN 123456) with two certificate+key pairs
export SOFTHSM2_CONF="$d/softhsm/softhsm2.conf"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$d/softhsm/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label alice-token --so-pin 12345678 --pin 123456 >/dev/null
p11() { pkcs11-tool --module "$SOFTHSM_MODULE" --token-label alice-token --login --pin 123456 "$@" >/dev/null 2>&1; }
for id in 01 02; do
    openssl req -newkey rsa:2048 -nodes -keyout "$d/key$id.pem" -out "$d/req$id.csr" -subj "/CN=alice $id" 2>/dev/null
    kdc_issue_client_cert "$d/req$id.csr" "$([ $id = 01 ] && echo alice || echo somebody)" "$d/cert$id.pem"
    openssl pkey -in "$d/key$id.pem" -outform DER -out "$d/key$id.der"
    openssl x509 -in "$d/cert$id.pem" -outform DER -out "$d/cert$id.der"
    p11 --write-object "$d/key$id.der" --type privkey --id $id --label "key $id"
    p11 --write-object "$d/cert$id.der" --type cert --id $id --label "cert $id"
done
slot_hex=$(pkcs11-tool --module "$SOFTHSM_MODULE" -L 2>/dev/null | sed -n 's/.*SoftHSM slot ID \(0x[0-9a-f]*\).*/\1/p' | head -n1)
[ -n "$slot_hex" ] || sc_die "cannot find the SoftHSM slot"
READER="SoftHSM slot ID $slot_hex"

cat >"$d/scard.conf" <<CONF
[logon]
pkcs11_module = $SOFTHSM_MODULE
card_wait_timeout = 1
ccache_name = FILE:$d/ccache/krb5cc_%U_XXXXXX
CONF
service() { # NAME MODULE [ARGS]
    local name="$1" mod="$2"; shift 2
    printf 'auth required %s config=%s %s\naccount required pam_permit.so\nsession required %s config=%s %s\n' \
        "$mod" "$d/scard.conf" "$*" "$mod" "$d/scard.conf" "$*" >"$d/pam/$name"
}
service hsm "$TEST_MODULE"
service hsm-destroy "$TEST_MODULE" destroy_ccache_on_close=yes
service hsm-badarg "$TEST_MODULE" no_such_option=1
service real "$PAM_SCARD"
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$d/pam/other"
printf '123456\n' >"$d/pin"; printf '654321\n' >"$d/badpin"

PAM_SUCCESS=0 PAM_SERVICE_ERR=3 PAM_AUTH_ERR=7 PAM_CRED_INSUFFICIENT=8 PAM_AUTHINFO_UNAVAIL=9 PAM_USER_UNKNOWN=10 PAM_CRED_UNAVAIL=15
out="$d/login.out"
login() { # SERVICE USER [PINFILE] → prints the PAM status
    local rc=0
    LD_PRELOAD="$NSS_WRAPPER" PAMSC_TEST_READER="${READER_OVERRIDE-$READER}" \
        "$LOGIN" --confdir "$d/pam" --service "$1" --pin-file "${3:-$d/pin}" "$2" >"$out" 2>&1 || rc=$?
    echo "$rc"
}
expect_rc() { sc_expect_rc "$1" "$2" "$3" "$out"; }   # NAME WANT GOT
expect_out() { sc_expect_grep "$1" "$2" "$out"; }      # NAME REGEX (case matters)

# 1. success: prompt names the token and reader; TGT for alice in a unique 0600 ccache
rc=$(login hsm alice)
expect_rc "alice signs in with certificate 01 of a two-certificate token" $PAM_SUCCESS "$rc"
expect_out "PIN prompt names token and reader" "^PIN for alice-token \\($READER\\): "
expect_out "token name exported" "^PKCS11_LOGIN_TOKEN_NAME=alice-token$"
expect_out "reader exported" "^SCARD_READER=$READER$"
ccache=$(sed -n 's/^KRB5CCNAME=//p' "$out")
case "$ccache" in FILE:"$d"/ccache/krb5cc_alice_??????) sc_ok "ccache name from the template ($ccache)" ;; *) sc_not_ok "ccache name '$ccache'" "$out" ;; esac
if klist -c "$ccache" >"$d/klist.out" 2>&1 && grep -q "Default principal: alice@PAMSC.TEST" "$d/klist.out" &&
    grep -q "krbtgt/PAMSC.TEST@PAMSC.TEST" "$d/klist.out"; then sc_ok "klist shows alice's TGT"; else sc_not_ok "klist" "$out" "$d/klist.out"; fi
[ "$(stat -c '%a %u' "${ccache#FILE:}" 2>/dev/null)" = "600 2101" ] && sc_ok "ccache is 0600 and alice's" ||
    sc_not_ok "ccache mode/owner: $(stat -c '%a %u' "${ccache#FILE:}" 2>&1)" "$out"
grep -q 'PKINIT' "$d/krb/kdc.log" && grep -q 'alice@PAMSC.TEST' "$d/krb/kdc.log" && sc_ok "KDC logged PKINIT for alice" || sc_not_ok "KDC log" "$d/krb/kdc.log"

# 2. wrong PIN: PAM_AUTH_ERR and the user is told; with a known counter, the count
rc=$(login hsm alice "$d/badpin")
expect_rc "wrong PIN is refused" $PAM_AUTH_ERR "$rc"
expect_out "user is told the PIN is wrong" "^Wrong PIN\\.$"
rc=$(PAMSC_TEST_TRIES=2 login hsm alice "$d/badpin")
expect_out "tries left are shown" "Wrong PIN\\. 2 tries left\\."
rc=$(login hsm alice)
expect_rc "right PIN works after wrong ones" $PAM_SUCCESS "$rc"

# 3. a certificate for another user is not offered: no PIN asked, the stack may go on
# (the KDC's own answers, principal unknown and name mismatch, are covered in signin.sh)
for u in bob carol; do
    rc=$(login hsm $u)
    expect_rc "alice's certificate is not offered to $u" $PAM_CRED_UNAVAIL "$rc"
    expect_out "$u is told the card is not theirs" "is not for $u\\.$"
    if grep -q '^PIN for' "$out"; then sc_not_ok "$u is not asked for alice's PIN" "$out"; else sc_ok "$u is not asked for alice's PIN"; fi
done

# 4. no card, no token in that reader
rc=$(READER_OVERRIDE= login hsm alice)
expect_rc "no card" $PAM_CRED_UNAVAIL "$rc"
expect_out "user is asked to insert the card" "^Insert your smart card"
rc=$(READER_OVERRIDE="Some Other Reader 00 00" login hsm alice)
expect_rc "no token for the reader" $PAM_CRED_INSUFFICIENT "$rc"

# 5. configuration errors fail closed
rc=$(login hsm-badarg alice)
expect_rc "unknown module argument" $PAM_SERVICE_ERR "$rc"

# 6. destroy_ccache_on_close=yes removes the ccache at close_session
rc=$(login hsm-destroy alice)
ccache=$(sed -n 's/^KRB5CCNAME=//p' "$out")
expect_rc "sign-in with destroy_ccache_on_close" $PAM_SUCCESS "$rc"
[ -n "$ccache" ] && [ ! -e "${ccache#FILE:}" ] && sc_ok "ccache destroyed at close_session" || sc_not_ok "ccache '$ccache' still there" "$out"

# 7. KDC down
kdc_stop
rc=$(login hsm alice)
expect_rc "KDC unreachable" $PAM_AUTHINFO_UNAVAIL "$rc"
expect_out "user is told the KDC cannot be reached" "Cannot reach the Kerberos server"

# 8. the real module, resource manager not running
rc=$(SCARD_SOCKET="$d/no-such.sock" PCSCLITE_CSOCK_NAME="$d/no-such.sock" login real alice)
expect_rc "real pam_scard without a resource manager" $PAM_CRED_UNAVAIL "$rc"
expect_out "user is told the service is not running" "smart-card service is not running"

# 9. the cwrap route: pamtester under pam_wrapper (KDC is up again)
PAM_WRAPPER_LIB=$(sc_first_file /usr/lib/*/libpam_wrapper.so)
if command -v pamtester >/dev/null && [ -n "$PAM_WRAPPER_LIB" ]; then
    kdc_start
    rc=0
    LD_PRELOAD="$PAM_WRAPPER_LIB $NSS_WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$d/pam" \
        PAMSC_TEST_READER="$READER" pamtester -v hsm alice authenticate open_session <"$d/pin" >"$out" 2>&1 || rc=$?
    expect_rc "pamtester authenticate+open_session under pam_wrapper" 0 "$rc"
    expect_out "pamtester saw the PIN prompt" "PIN for alice-token"
else
    sc_skip_check "pamtester under pam_wrapper" "pamtester or pam_wrapper missing"
fi

sc_summary pam-softhsm
