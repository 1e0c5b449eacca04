#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Which certificate signs in, through real libpam with virtual cards and the throwaway KDC:
# several cards present (each user gets their own), no user name given (the card decides,
# a list when several cards could), several certificates on one card
# (force_reading_all_certificates), duplicates (filter_duplicate_certificates keeps the
# later-expiring), a card holding another user's certificate, the list's subject order
# (reverse_subject), the user-name hint (allow_user_name_hint) and blocked_card_message.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/kdc.sh"
. "$here/lib/chain.sh"

SC_BUILD="${top_builddir:?run through make check}"
chain_require
sc_scratch pam-choose
d="$SC_SCRATCH"
CHAIN_CARD_WAIT=1
chain_setup alice bob carol
kdc_start
export SCARD_VCARD_KDF_LOG2N=10 # blocking a card below takes five wrong PINs

# extra_cert CARD SLOT SUBJECT DAYS [PRINCIPAL]: a key in SLOT of CARD with a certificate for
# PRINCIPAL (the PKINIT SAN, as kdc_issue_client_cert), or with no subjectAltName at all.
extra_cert() {
    local card="$1" slot="$2" subj="$3" days="$4" princ="${5:-}"
    "$SCARD_VCARD" generate "$card" --slot "$slot" >>"$d/cards.log" 2>&1
    "$SCARD_VCARD" csr "$card" --slot "$slot" --subject "$subj" --out "$d/$card-$slot.csr" \
        --pin-file "$d/pin" >>"$d/cards.log" 2>&1
    if [ -n "$princ" ]; then
        kdc_issue_client_cert "$d/$card-$slot.csr" "$princ" "$d/$card-$slot.pem" "$days"
    else
        sed -n '/^\[client_ext\]/,/^subjectAltName/p' "$KDC_DIR/openssl.cnf" | grep -v '^subjectAltName' >"$d/nosan.cnf"
        openssl x509 -req -in "$d/$card-$slot.csr" -CA "$KDC_CA_PEM" -CAkey "$KDC_DIR/ca.key" -CAcreateserial \
            -days "$days" -out "$d/$card-$slot.pem" -extfile "$d/nosan.cnf" -extensions client_ext 2>>"$d/cards.log"
    fi
    "$SCARD_VCARD" import "$card" --slot "$slot" --cert "$d/$card-$slot.pem" >>"$d/cards.log" 2>&1 ||
        sc_bail "certificate for $card slot $slot" "$d/cards.log"
}

chain_card alice alice rsa2048 >>"$d/cards.log" 2>&1
chain_card bob bob rsa2048 >>"$d/cards.log" 2>&1
chain_card carol carol rsa2048 >>"$d/cards.log" 2>&1
extra_cert alice 9e /CN=alice 30 alice                        # a duplicate of 9A, expiring later
extra_cert alice 9c /CN=bob-on-alices-card 7 bob              # another user's certificate
extra_cert carol 9e /C=US/O=Example/CN=carol-nosan 7          # no principal at all
"$SCARD_VCARD" eject carol
chain_start_scardd
SC_FAIL_LOGS+=("$d/scardd.log" "$KDC_DIR/kdc.log")

PAM_SUCCESS=0 PAM_AUTH_ERR=7 PAM_MAXTRIES=11 PAM_CRED_UNAVAIL=15 PAM_CONV_ERR=19
out="$d/login.out"
PAM_WRAPPER_ON=
[ -n "$PAM_WRAPPER" ] && PAM_WRAPPER_ON=1

# login SERVICE USER [STDIN]: one sign-in (PIN from $d/pin; STDIN answers the echo-on prompts:
# certificate number, user name); the PAM status. Output, with pam_scard's log lines when
# pam_wrapper is there to show pam_syslog, in $out.
login() {
    local svc="$1" user="$2" input="${3:-}" rc=0
    if [ -n "$PAM_WRAPPER_ON" ]; then
        printf '%b' "$input" | LD_PRELOAD="$PAM_WRAPPER $NSS_WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$d/pam" \
            PAM_WRAPPER_DEBUGLEVEL=3 NSS_WRAPPER_PASSWD="$d/passwd" NSS_WRAPPER_GROUP="$d/group" \
            "$SCARD_LOGIN" --service "$svc" --pin-file "$d/pin" "$user" >"$out" 2>&1 || rc=$?
    else
        printf '%b' "$input" | chain_login "$user" "$d/pin" --service "$svc" || rc=$?
    fi
    echo "$rc"
}
if [ -n "$PAM_WRAPPER_ON" ]; then
    logged() { sc_expect_grep -i "$1" "$2" "$out"; }
else
    logged() { sc_skip_check "$1" "pam_wrapper missing: pam_syslog lines are not visible"; }
fi
no_list() { no_out "$1" "Several certificates"; }

chain_service plain ""
chain_service all "force_reading_all_certificates=yes"
chain_service all-dups "force_reading_all_certificates=yes filter_duplicate_certificates=no"
chain_service all-fwd "force_reading_all_certificates=yes reverse_subject=no"
chain_service hint "allow_user_name_hint=yes"

# --- 1. two cards in two readers: each user gets their own ---------------------------------
rc=$(login plain alice)
expect_rc "alice signs in with bob's card also present" $PAM_SUCCESS "$rc"
expect_out "alice is asked the PIN of her card" "^PIN for alice \\(Virtual PIV alice"
no_list "one certificate (9A only by default): no list"
expect_out "alice's reader is remembered" "^SCARD_READER=Virtual PIV alice"
logged "the 9A certificate (id 01) was chosen, one offered" "certificate id 01 of card 'alice'.*\\(1 offered\\)"
rc=$(login plain bob)
expect_rc "bob signs in with alice's card also present" $PAM_SUCCESS "$rc"
expect_out "bob is asked the PIN of his card" "^PIN for bob \\(Virtual PIV bob"
expect_out "bob's token is exported" "^PKCS11_LOGIN_TOKEN_NAME=bob$"

# --- 2. every certificate of the card, duplicates ------------------------------------------
rc=$(login all alice)
expect_rc "force_reading_all_certificates: alice signs in" $PAM_SUCCESS "$rc"
no_list "9A and its later-expiring duplicate in 9E: one offered, no list"
logged "the duplicate expiring earlier is dropped" "not offered: a duplicate expiring earlier"
logged "the later-expiring duplicate (9E, id 04) was chosen" "certificate id 04 of card 'alice'.*\\(1 offered\\)"
logged "bob's certificate on alice's card is not offered to alice" "is for bob@$KDC_REALM, not for user alice"

rc=$(login all-dups alice "1\n")
expect_rc "filter_duplicate_certificates=no: alice chooses 1 and signs in" $PAM_SUCCESS "$rc"
expect_out "a list of the certificates is shown" "^Several certificates can sign you in:"
[ "$(grep -E '^  [0-9]+: alice@' "$out" | sort -u | wc -l)" = 2 ] && sc_ok "both of alice's certificates are listed" ||
    sc_not_ok "both of alice's certificates are listed" "$out"
expect_out "the list shows principal, common name, card, reader and expiry" \
    "^  1: alice@$KDC_REALM \\(alice\\), card alice in Virtual PIV alice 00 00, valid until [0-9]{4}-"
no_out "bob's certificate is not in alice's list" "^  [0-9]+: bob@"

rc=$(login all bob "x\n0\n9\n")
expect_rc "three answers that are no choice: PAM_CONV_ERR" $PAM_CONV_ERR "$rc"
expect_out "bob is told how to answer" "Please answer with a number from 1 to 2"
[ "$(grep -E '^  [0-9]+: bob@' "$out" | sort -u | wc -l)" = 2 ] && sc_ok "bob's two certificates (own card, alice's 9C) are listed" ||
    sc_not_ok "bob's two certificates are listed" "$out"
no_out "no PIN is asked without a choice" "^PIN for"
n=$(sed -nE "s/^  ([0-9]+): bob@.*card alice in.*/\\1/p" "$out" | head -n1)
rc=$(login all bob "$n\n")
expect_rc "bob chooses his certificate on alice's card and signs in" $PAM_SUCCESS "$rc"
expect_out "bob is asked the PIN of alice's card (the card holding it)" "^PIN for alice \\(Virtual PIV alice"
logged "the 9C certificate (id 02) was chosen" "certificate id 02 of card 'alice'"

# --- 3. no user name given: the card decides ------------------------------------------------
rc=$(login plain "" "x\nx\nx\n")
expect_rc "two cards for two users, no answer: PAM_CONV_ERR" $PAM_CONV_ERR "$rc"
expect_out "alice's card is offered" "^  [0-9]: alice@$KDC_REALM"
expect_out "bob's card is offered" "^  [0-9]: bob@$KDC_REALM"
n=$(sed -nE "s/^  ([0-9]+): bob@.*/\\1/p" "$out" | head -n1)
rc=$(login plain "" "$n\n")
expect_rc "no user name: bob picks his card and signs in" $PAM_SUCCESS "$rc"
expect_out "the PAM user is now bob" "^user=bob$"
expect_out "bob's ccache" "^KRB5CCNAME=FILE:$d/ccache/krb5cc_2002"
"$SCARD_VCARD" eject alice
rc=$(login plain "")
expect_rc "no user name, one card: its owner signs in" $PAM_SUCCESS "$rc"
expect_out "the PAM user is bob" "^user=bob$"
no_list "one card, one certificate: no list"
"$SCARD_VCARD" eject bob
rc=$(login plain "" "alice\n")
expect_rc "no user name and no card: the user name is asked, then the card waited for" $PAM_CRED_UNAVAIL "$rc"
expect_out "asked to insert the card after the user name" "Insert your smart card"

# --- 4. user-name hint ----------------------------------------------------------------------
"$SCARD_VCARD" insert bob
rc=$(login hint "" "\n")
expect_rc "hint left empty: the certificate's user signs in" $PAM_SUCCESS "$rc"
expect_out "the hint is asked" "User name \\(Enter for the certificate's\\)"
expect_out "PAM user from the certificate" "^user=bob$"
rc=$(login hint "" "alice\n")
expect_rc "hint naming another account: the KDC refuses bob's certificate for alice" $PAM_AUTH_ERR "$rc"
expect_out "the refusal is the KDC's" "Kerberos server refused"
logged "the hint is logged" "user name hint 'alice'"
rc=$(login plain "")
no_out "without allow_user_name_hint no user name is asked" "^User name"

# --- 5. subjects in the list (reverse_subject) ---------------------------------------------
"$SCARD_VCARD" eject bob
"$SCARD_VCARD" insert carol
rc=$(login all carol "x\nx\nx\n")
expect_out "a certificate without principal is listed by subject, most specific first" \
    "^  [0-9]: CN=carol-nosan,O=Example,C=US, card carol"
rc=$(login all-fwd carol "x\nx\nx\n")
expect_out "reverse_subject=no lists the subject in certificate order" "^  [0-9]: C=US,O=Example,CN=carol-nosan, card carol"
rc=$(login plain "")
expect_rc "no user name: carol's card has one sign-in certificate (9A)" $PAM_SUCCESS "$rc"
expect_out "PAM user is carol" "^user=carol$"
rc=$(login all "" "x\nx\nx\n")
expect_rc "no user name, every certificate read: carol signs in" $PAM_SUCCESS "$rc"
no_out "no user name: a certificate naming no user is not offered" "^  [0-9]+: .*carol-nosan"
logged "... and that is logged" "names no local account"
"$SCARD_VCARD" eject carol

# --- 6. blocked_card_message ----------------------------------------------------------------
"$SCARD_VCARD" insert bob
printf '%s\n' 999999 >"$d/badpin"
for i in 1 2 3 4 5; do chain_login bob "$d/badpin" || true; done
sed 's/^\[logon\]$/[logon]\nblocked_card_message = Your card is locked. Call the help desk on 1234./' \
    "$d/scard.conf" >"$d/blocked.conf"
chain_service blocked "config=$d/blocked.conf"
rc=$(login blocked bob)
expect_rc "blocked card: PAM_MAXTRIES" $PAM_MAXTRIES "$rc"
expect_out "blocked_card_message is shown" "^Your card is locked\\. Call the help desk on 1234\\.$"
no_out "the built-in text is not" "Ask your administrator"
rc=$(login plain bob)
expect_out "without it the built-in text is shown" "blocked.*Ask your administrator"

sc_summary
