#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# End-to-end sign-in through real libpam: virtual PIV card → scardd → OpenSC (through
# libscard) → pam_scard → MIT KDC with PKINIT. Asserts PAM status codes, what the user is
# told, and the TGT with klist: success, wrong PIN (tries left), blocked card, no card
# (and a card inserted while waiting), KDC down; plus pamtester under pam_wrapper.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/kdc.sh"
. "$here/lib/chain.sh"

SC_BUILD="${top_builddir:?run through make check}"
chain_require
sc_scratch signin
CHAIN_CARD_WAIT=3
chain_setup alice bob carol
kdc_start
chain_card alice alice rsa2048 >"$SC_SCRATCH/card-alice.log"
chain_card bob bob rsa2048 >"$SC_SCRATCH/card-bob.log"
chain_card carol carol eccp256 >"$SC_SCRATCH/card-carol.log"
"$SCARD_VCARD" eject carol
# dave: a local account and a card for dave@REALM, but no principal in the KDC
printf 'dave:x:2099:2099:dave:/nonexistent:/bin/false\n' >>"$SC_SCRATCH/passwd"
chain_card dave dave rsa2048 >"$SC_SCRATCH/card-dave.log"
"$SCARD_VCARD" eject dave
chain_start_scardd

PAM_SUCCESS=0 PAM_AUTH_ERR=7 PAM_AUTHINFO_UNAVAIL=9 PAM_MAXTRIES=11 PAM_CRED_UNAVAIL=15
out="$SC_SCRATCH/login.out"
login() { local rc=0; chain_login "$@" || rc=$?; echo "$rc"; }   # → the PAM status; output in $out

printf '%s\n' 999999 >"$SC_SCRATCH/badpin"

# 1. success: TGT for alice@REALM in the ccache named by KRB5CCNAME
rc=$(login alice)
expect_rc "alice signs in with her card" $PAM_SUCCESS "$rc"
expect_out "reader of the card is reported" "^SCARD_READER=Virtual PIV alice"
expect_out "token name is exported" "^PKCS11_LOGIN_TOKEN_NAME=."
ccache=$(sed -n 's/^KRB5CCNAME=//p' "$out" | tail -n1)
if [ -n "$ccache" ] && klist -c "$ccache" >"$SC_SCRATCH/klist.out" 2>&1 &&
    grep -q "Default principal: alice@$KDC_REALM" "$SC_SCRATCH/klist.out" &&
    grep -q "krbtgt/$KDC_REALM@$KDC_REALM" "$SC_SCRATCH/klist.out"; then
    sc_ok "klist shows alice's TGT in $ccache"
else
    sc_not_ok "klist shows alice's TGT" "$out" "$SC_SCRATCH/klist.out"
fi
[ "$(stat -c %a "${ccache#FILE:}" 2>/dev/null)" = 600 ] && sc_ok "ccache is mode 0600" || sc_not_ok "ccache is mode 0600" "$out"
grep -q "alice@$KDC_REALM" "$KDC_DIR/kdc.log" && sc_ok "KDC logged the AS-REQ for alice" || sc_not_ok "KDC log" "$KDC_DIR/kdc.log"

# 2. wrong PIN: PAM_AUTH_ERR, the user is told how many tries are left; right PIN works again
rc=$(login alice "$SC_SCRATCH/badpin")
expect_rc "wrong PIN is refused" $PAM_AUTH_ERR "$rc"
expect_out "user is told 4 tries are left" "4 (tries|attempts)"
rc=$(login alice)
expect_rc "right PIN after a wrong one" $PAM_SUCCESS "$rc"

# 3. blocked card: five wrong PINs block bob's card; then even the right PIN gets PAM_MAXTRIES.
# Tries left are told before the PIN prompt once they are low (two or fewer).
"$SCARD_VCARD" eject alice
rc=$(login bob)
expect_rc "bob signs in with his card" $PAM_SUCCESS "$rc"
no_out "five tries left: nothing said before the prompt" "tries? left before the card is blocked\.$"
for i in 1 2 3; do rc=$(login bob "$SC_SCRATCH/badpin"); done
no_out "three tries left before the 3rd wrong PIN: not low yet" "^3 PIN tries left"
rc=$(login bob "$SC_SCRATCH/badpin")
expect_rc "4th wrong PIN still PAM_AUTH_ERR" $PAM_AUTH_ERR "$rc"
expect_out "low tries are told before the prompt" "^2 PIN tries left before the card is blocked\.$"
expect_out "last try is announced" "1 (try|tries|attempt)"
rc=$(login bob "$SC_SCRATCH/badpin")
expect_out "the last try is told before the prompt" "^1 PIN try left before the card is blocked\.$"
expect_rc "5th wrong PIN blocks the card" $PAM_MAXTRIES "$rc"
rc=$(login bob)
expect_rc "blocked card refuses the right PIN" $PAM_MAXTRIES "$rc"
expect_out "user is told the card is blocked" "blocked"

# 4. no card (bob's ejected, alice's still out): the wait times out; a card inserted during
# the wait goes through
"$SCARD_VCARD" eject bob
start=$(date +%s)
rc=$(login alice)
expect_rc "no card within card_wait_timeout" $PAM_CRED_UNAVAIL "$rc"
expect_out "user is asked to insert the card" "insert"
insert_later() { sleep 1; "$SCARD_VCARD" insert alice; }
sc_spawn "$SC_SCRATCH/insert.log" insert_later
inserter=$SC_LAST_PID
rc=$(login alice)
sc_wait "$inserter" || sc_die "scard-vcard insert alice failed: $(cat "$SC_SCRATCH/insert.log")"
expect_rc "card inserted while waiting" $PAM_SUCCESS "$rc"

# 5. the KDC's own refusals: dave's principal does not exist; and a card of another user is
# not offered at all (no PIN asked)
"$SCARD_VCARD" eject alice
"$SCARD_VCARD" insert dave
rc=$(login dave)
expect_rc "principal unknown to the KDC" 10 "$rc"
expect_out "dave is told the account is unknown" "not known to the Kerberos realm"
rc=$(login alice)
expect_rc "dave's card is not offered to alice" $PAM_CRED_UNAVAIL "$rc"
expect_out "alice is told the card is not hers" "is not for alice"
"$SCARD_VCARD" eject dave
"$SCARD_VCARD" insert alice

# 6. KDC down: PAM_AUTHINFO_UNAVAIL with a clear message
kdc_stop
rc=$(login alice)
expect_rc "KDC unreachable" $PAM_AUTHINFO_UNAVAIL "$rc"
expect_out "user is told the KDC cannot be reached" "(KDC|Kerberos|realm).*(reach|contact|unavailable)|(reach|contact).*(KDC|Kerberos)"
kdc_start

# 6b. no PIN (the conversation gives none, as a cancelled dialog): refused without using a try
: >"$SC_SCRATCH/nopin"   # an empty PIN file: scard-login answers nothing
pin_tries() { "$SCARD_VCARD" list | awk -v c="$1" '$1 == c { split($4, t, "/"); print t[1] }'; }
before=$(pin_tries alice)
rc=$(login alice "$SC_SCRATCH/nopin")
expect_rc "no PIN: PAM_CONV_ERR" 19 "$rc"
after=$(pin_tries alice)
[ -n "$before" ] && [ "$before" = "$after" ] && sc_ok "no PIN uses no try ($before left)" ||
    sc_not_ok "no PIN uses no try (before '$before', after '$after')" "$out"

# 7. an ECC P-256 card: MIT krb5 signs PKINIT requests with PKCS#11 EC keys only from 1.22
"$SCARD_VCARD" eject alice
"$SCARD_VCARD" insert carol
krb5_version=$(krb5-config --version 2>/dev/null | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p')
if [ "${krb5_version:-0}" != 1.22 ] && printf '%s\n1.22\n' "${krb5_version:-0}" | sort -V -C; then
    sc_skip_check "carol signs in with an ECC P-256 card" "MIT krb5 ${krb5_version:-?} < 1.22 has no PKCS#11 EC PKINIT"
else
    rc=$(login carol)
    expect_rc "carol signs in with an ECC P-256 card" $PAM_SUCCESS "$rc"
fi
"$SCARD_VCARD" eject carol
"$SCARD_VCARD" insert alice

# 8. the same module through pamtester under pam_wrapper (the cwrap route)
if command -v pamtester >/dev/null && [ -n "$PAM_WRAPPER" ]; then
    rc=0
    LD_PRELOAD="$PAM_WRAPPER $NSS_WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$SC_SCRATCH/pam" \
        NSS_WRAPPER_PASSWD="$SC_SCRATCH/passwd" NSS_WRAPPER_GROUP="$SC_SCRATCH/group" \
        pamtester scard-login alice authenticate <"$SC_SCRATCH/pin" >"$out" 2>&1 || rc=$?
    expect_rc "pamtester authenticate under pam_wrapper" 0 "$rc"
    # an empty answer at the PIN prompt (Enter pressed; pamtester's misc_conv gives ""):
    # refused as a wrong PIN would be, but no try is used
    before=$(pin_tries alice)
    rc=0
    printf '\n' | LD_PRELOAD="$PAM_WRAPPER $NSS_WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$SC_SCRATCH/pam" \
        NSS_WRAPPER_PASSWD="$SC_SCRATCH/passwd" NSS_WRAPPER_GROUP="$SC_SCRATCH/group" \
        pamtester scard-login alice authenticate >"$out" 2>&1 || rc=$?
    [ "$rc" != 0 ] && sc_ok "empty PIN: pamtester authenticate fails" || sc_not_ok "empty PIN: pamtester authenticate fails" "$out"
    expect_out "empty PIN: the user is told" "No PIN entered\."
    after=$(pin_tries alice)
    [ -n "$before" ] && [ "$before" = "$after" ] && sc_ok "empty PIN uses no try ($before left)" ||
        sc_not_ok "empty PIN uses no try (before '$before', after '$after')" "$out"
else
    sc_skip_check "pamtester under pam_wrapper" "pamtester or pam_wrapper missing"
fi

sc_summary signin
