#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# PIN change through real libpam (pam_chauthtok): virtual PIV card → scardd → OpenSC →
# pam_scard's password stack. Asserts PAM status codes, what the user is told, the card's
# try counter (scard-vcard list), and that the new PIN — not the old — then signs in (TGT).
# Refusals: new PINs that differ, a new PIN too short, a wrong current PIN (uses a try);
# someone else's card or no card is left to the password modules (PAM_IGNORE).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/kdc.sh"
. "$here/lib/chain.sh"

SC_BUILD="${top_builddir:?run through make check}"
chain_require
sc_scratch pam-chauthtok
CHAIN_CARD_WAIT=3
chain_setup alice bob
kdc_start
chain_card alice alice rsa2048 >"$SC_SCRATCH/card-alice.log"
chain_card bob bob rsa2048 >"$SC_SCRATCH/card-bob.log"
"$SCARD_VCARD" eject bob
chain_start_scardd
# pam_scard changes the PIN of the user's card; pam_permit stands in for pam_unix & co., which
# change the password when pam_scard steps aside (PAM_IGNORE)
cat >>"$SC_SCRATCH/pam/scard-login" <<CONF
password required  $PAM_SCARD config=$SC_SCRATCH/scard.conf
password required  pam_permit.so
CONF

PAM_SUCCESS=0 PAM_AUTH_ERR=7 PAM_AUTHTOK_ERR=20 PAM_AUTHTOK_RECOVERY_ERR=21
out="$SC_SCRATCH/login.out"
login() { local rc=0; chain_login "$@" || rc=$?; echo "$rc"; }   # → the PAM status; output in $out
chauthtok() { local user="$1" pins="$2"; login "$user" - --chauthtok <"$pins"; }
expect_no_out() { if grep -qiE "$2" "$out"; then sc_not_ok "$1" "$out"; else sc_ok "$1"; fi; }
tries() {                                                          # NAME CARD WANT (e.g. 4/5)
    "$SCARD_VCARD" list >"$SC_SCRATCH/list.out" 2>&1
    if grep -qE "^$2 .* $3 " "$SC_SCRATCH/list.out"; then sc_ok "$1"; else sc_not_ok "$1" "$SC_SCRATCH/list.out"; fi
}
pins() { printf '%s\n' "$@" >"$SC_SCRATCH/pins"; chmod 600 "$SC_SCRATCH/pins"; echo "$SC_SCRATCH/pins"; }

# 1. the new PINs differ: refused, nothing changed on the card
rc=$(chauthtok alice "$(pins 123456 654321 111111)")
expect_rc "mismatched repeat is refused" $PAM_AUTHTOK_ERR "$rc"
expect_out "all three prompts are asked" "Current PIN"
expect_out "repeat prompt" "Repeat new PIN"
expect_out "user is told the PINs differ" "do not match"
tries "mismatch uses no try" alice 5/5

# 2. the new PIN is too short (PIV: 6 to 8 digits)
rc=$(chauthtok alice "$(pins 123456 12345 12345)")
expect_rc "too-short new PIN is refused" $PAM_AUTHTOK_ERR "$rc"
expect_out "user is told the PIN rule" "6 to 8 digits"

# 3. wrong current PIN: refused, one try used, the user is told how many are left
rc=$(chauthtok alice "$(pins 999999 654321 654321)")
expect_rc "wrong current PIN is refused" $PAM_AUTHTOK_RECOVERY_ERR "$rc"
expect_out "user is told 4 tries are left" "4 (tries|attempts)"
tries "wrong current PIN counts a try" alice 4/5

# 4. the change itself: 123456 → 654321
rc=$(chauthtok alice "$(pins 123456 654321 654321)")
expect_rc "PIN change 123456 → 654321" $PAM_SUCCESS "$rc"
expect_out "user is told the PIN was changed" "has been changed"

# 5. the old PIN no longer signs in; the new one does (TGT)
rc=$(login alice)
expect_rc "old PIN is refused at sign-in" $PAM_AUTH_ERR "$rc"
rc=$(login alice "$(pins 654321)")
expect_rc "new PIN signs in" $PAM_SUCCESS "$rc"
ccache=$(sed -n 's/^KRB5CCNAME=//p' "$out" | tail -n1)
if [ -n "$ccache" ] && klist -c "$ccache" >"$SC_SCRATCH/klist.out" 2>&1 &&
    grep -q "krbtgt/$KDC_REALM@$KDC_REALM" "$SC_SCRATCH/klist.out"; then
    sc_ok "klist shows alice's TGT after the PIN change"
else
    sc_not_ok "klist shows alice's TGT after the PIN change" "$out" "$SC_SCRATCH/klist.out"
fi

# 6. someone else's card, or no card: pam_scard steps aside, no PIN is asked, the password
# modules decide (here pam_permit)
"$SCARD_VCARD" eject alice
"$SCARD_VCARD" insert bob
rc=$(chauthtok alice "$(pins 123456 654321 654321)")
expect_rc "bob's card: left to the password modules" $PAM_SUCCESS "$rc"
expect_no_out "no PIN asked for bob's card" "Current PIN"
tries "bob's card untouched" bob 5/5
"$SCARD_VCARD" eject bob
rc=$(chauthtok alice "$(pins 123456 654321 654321)")
expect_rc "no card: left to the password modules" $PAM_SUCCESS "$rc"
expect_no_out "no card: no PIN asked, no insert prompt" "Current PIN|insert"

sc_summary pam-chauthtok
