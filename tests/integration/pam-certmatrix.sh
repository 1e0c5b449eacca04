#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The sign-in certificate filter end to end: one virtual card whose 9A certificate is reissued
# (same key, made at test time by `openssl ca` with the throwaway KDC's CA) as each case of the
# matrix — expired, not yet valid, no EKU, wrong EKU, clientAuth only, signature-only key, no
# SAN, UPN only — plus an ECC card; each signed in through real libpam under the default policy
# and under the [logon] key that changes it. A certificate the filter refuses is never offered
# (no PIN prompt, PAM_CRED_INSUFFICIENT, the reason told and logged); one it lets through goes to
# the KDC, which has its own say (windows.md §2.3: the switches are "display only").
# Revoked and untrusted certificates: pam-trust.sh; two certificates or two users: pam-choose.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/kdc.sh"
. "$here/lib/chain.sh"
. "$here/../data/cert-ext.sh"

SC_BUILD="${top_builddir:?run through make check}"
chain_require
sc_scratch pam-certmatrix
d="$SC_SCRATCH"
CHAIN_CARD_WAIT=1
chain_setup alice carol
# UPN-only certificates are matched on the KDC side only with pkinit_allow_upn
sed -i 's|^        pkinit_anchors = FILE:\(.*\)$|&\n        pkinit_allow_upn = true|' "$KDC_DIR/kdc.conf"
kdc_start
chain_card alice alice rsa2048 >"$d/card-alice.log" 2>&1
chain_card carol carol eccp256 >"$d/card-carol.log" 2>&1
"$SCARD_VCARD" eject carol
chain_start_scardd
SC_FAIL_LOGS+=("$d/scardd.log" "$KDC_DIR/kdc.log")

PAM_SUCCESS=0 PAM_AUTH_ERR=7 PAM_CRED_INSUFFICIENT=8
out="$d/login.out"
PAM_WRAPPER_ON=
[ -n "$PAM_WRAPPER" ] && PAM_WRAPPER_ON=1
login() {   # SERVICE → PAM status; output (pam_syslog lines too under pam_wrapper) in $out
    local rc=0
    if [ -n "$PAM_WRAPPER_ON" ]; then
        LD_PRELOAD="$PAM_WRAPPER $NSS_WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$d/pam" \
            PAM_WRAPPER_DEBUGLEVEL=3 NSS_WRAPPER_PASSWD="$d/passwd" NSS_WRAPPER_GROUP="$d/group" \
            "$SCARD_LOGIN" --service "$1" --pin-file "$d/pin" "${2-alice}" >"$out" 2>&1 || rc=$?
    else
        chain_login "${2-alice}" "$d/pin" --service "$1" || rc=$?
    fi
    echo "$rc"
}
logged() {
    if [ -n "$PAM_WRAPPER_ON" ]; then sc_expect_grep -i "$1" "$2" "$out"; else sc_skip_check "$1" "no pam_wrapper"; fi
}

# --- the matrix, issued by the KDC's CA for alice's card key ---------------------------------
ca="$d/ca"
mkdir -p "$ca/new"
: >"$ca/index.txt"
echo 2000 >"$ca/serial"
cat >"$ca/ca.cnf" <<CNF
[ca]
default_ca = dflt
[dflt]
database = $ca/index.txt
new_certs_dir = $ca/new
certificate = $KDC_CA_PEM
private_key = $KDC_DIR/ca.key
serial = $ca/serial
default_md = sha256
policy = pol
unique_subject = no
email_in_dn = no
[pol]
commonName = supplied
CNF
cert_ext_sections "$KDC_REALM" alice >"$ca/ext.cnf"
"$SCARD_VCARD" csr alice --slot 9a --subject /CN=alice --out "$d/alice-9a.csr" --pin-file "$d/pin" >>"$d/ca.log" 2>&1
# issue CASE SECTION [openssl ca date options]: alice's key, certificate CASE
issue() {
    local case="$1" sect="$2"
    shift 2
    openssl ca -batch -config "$ca/ca.cnf" -extfile "$ca/ext.cnf" -extensions "$sect" -preserveDN \
        -in "$d/alice-9a.csr" -out "$ca/$case.pem" "$@" >>"$d/ca.log" 2>&1 || sc_bail "issue $case" "$d/ca.log"
}
issue good good -days 7
issue expired good -startdate 20200101000000Z -enddate 20210101000000Z
issue not_yet good -startdate 20400101000000Z -enddate 20410101000000Z
for c in no_eku wrong_eku client_auth sig_only no_san upn_only; do issue "$c" "$c" -days 7; done

# use CASE: put certificate CASE into alice's 9A (the card is re-inserted: a new power-up)
use() {
    "$SCARD_VCARD" eject alice
    "$SCARD_VCARD" import alice --slot 9a --cert "$ca/$1.pem" >>"$d/ca.log" 2>&1 || sc_bail "import $1" "$d/ca.log"
    "$SCARD_VCARD" insert alice
}
refused() {   # NAME REASON-REGEX: the last sign-in was refused by the filter, before the PIN
    expect_rc "$1: PAM_CRED_INSUFFICIENT" $PAM_CRED_INSUFFICIENT "$rc"
    expect_out "$1: the user is told why" "cannot be used to sign in: $2"
    no_out "$1: no PIN asked" "^PIN for"
    logged "$1: refusal logged with subject, issuer, serial and reason" "subject '/CN=alice' issuer .* serial [0-9A-F]+ refused for sign-in: $2"
}
to_kdc() {    # NAME WANT: the filter let it through (PIN asked), the KDC decided WANT
    expect_rc "$1" "$2" "$rc"
    expect_out "$1: the PIN is asked (offered for sign-in)" "^PIN for alice"
}

chain_service dflt ""
chain_service time "allow_time_invalid_certificates=yes"
chain_service noeku "allow_certificates_with_no_eku=yes"
chain_service sigonly "allow_signature_only_keys=yes"

use good
rc=$(login dflt)
to_kdc "good: signs in" $PAM_SUCCESS

use expired
rc=$(login dflt); refused "expired" "the certificate has expired"
rc=$(login time)
to_kdc "expired, allow_time_invalid_certificates: offered, the KDC refuses it" $PAM_AUTH_ERR

use not_yet
rc=$(login dflt); refused "not yet valid" "the certificate is not valid yet"
rc=$(login time)
to_kdc "not yet valid, allow_time_invalid_certificates: offered, the KDC refuses it" $PAM_AUTH_ERR

use no_eku
rc=$(login dflt); refused "no EKU" "the certificate has no extended key usage"
rc=$(login noeku)
to_kdc "no EKU, allow_certificates_with_no_eku: offered, the KDC (kpClientAuth) refuses it" $PAM_AUTH_ERR

use client_auth
rc=$(login dflt); refused "clientAuth only" "the certificate is not for smart-card logon"
rc=$(login noeku)
to_kdc "clientAuth only, allow_certificates_with_no_eku: offered, the KDC refuses it" $PAM_AUTH_ERR

use wrong_eku
rc=$(login dflt); refused "emailProtection EKU" "the certificate is not for smart-card logon"
rc=$(login noeku); refused "emailProtection EKU, allow_certificates_with_no_eku (no key allows it)" \
    "the certificate is not for smart-card logon"

use sig_only
rc=$(login dflt); refused "signature-only key" "the certificate's key is for signatures only"
rc=$(login sigonly)
to_kdc "signature-only key, allow_signature_only_keys: signs in" $PAM_SUCCESS

use no_san
rc=$(login dflt)
to_kdc "no SAN, user given: offered, the KDC cannot map it" $PAM_AUTH_ERR
rc=$(login dflt "")
expect_rc "no SAN, no user given: names nobody, PAM_CRED_INSUFFICIENT" $PAM_CRED_INSUFFICIENT "$rc"
expect_out "no SAN, no user: told" "names no user of this computer"
# The KDC can map a certificate without SAN through the principal's pkinit_cert_match string
# (MIT's dbmatch; Windows: altSecurityIdentities). Then the user name decides: given, or with
# allow_user_name_hint typed after the card (windows.md §2.7: "a hint is used directly").
"$KADMIN_LOCAL" -r "$KDC_REALM" -q "setstr alice@$KDC_REALM pkinit_cert_match <SUBJECT>^CN=alice\$" \
    >>"$KDC_DIR/kadmin.log" 2>&1
rc=$(login dflt)
to_kdc "no SAN, user given, KDC maps it (pkinit_cert_match): signs in" $PAM_SUCCESS
chain_service hint "allow_user_name_hint=yes"
rc=$(printf 'alice\n' | login hint "")
expect_rc "no SAN, no user, allow_user_name_hint: alice types her name and signs in" $PAM_SUCCESS "$rc"
expect_out "the user name is asked (the certificate names none)" "User name: "
expect_out "PAM user alice from the hint" "^user=alice$"

# UPN only: the filter and the owner check take the UPN (alice@<realm in lower case> → alice);
# MIT's KDC then matches a UPN only against a principal alias (pkinit_allow_upn), which its DB2
# back end cannot hold before krb5 1.22, so here the KDC has the last word and refuses.
use upn_only
rc=$(login dflt)
to_kdc "UPN only: offered to alice (UPN maps to her), the KDC decides" $PAM_AUTH_ERR
logged "UPN only: the KDC's answer is logged" "Client name mismatch"
rc=$(login dflt "")
expect_out "UPN only, no user given: the UPN decides (alice's PIN asked)" "^PIN for alice"
logged "UPN only, no user given: PAM user set to alice" "no user name given: the card in .* signs in alice"

"$SCARD_VCARD" eject alice
"$SCARD_VCARD" insert carol
rc=$(login dflt carol)
expect_rc "ECC card: PAM_CRED_INSUFFICIENT" $PAM_CRED_INSUFFICIENT "$rc"
expect_out "ECC card: the user is told why" "cannot be used to sign in: the certificate has an elliptic-curve key"
no_out "ECC card: no PIN asked" "^PIN for"
chain_service ecc "allow_ecc_certificates=yes"
rc=$(login ecc carol)
expect_out "ECC card, allow_ecc_certificates: offered (PIN asked)" "^PIN for carol"
krb5_version=$(krb5-config --version 2>/dev/null | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p')
if [ "${krb5_version:-0}" != 1.22 ] && printf '%s\n1.22\n' "${krb5_version:-0}" | sort -V -C; then
    sc_skip_check "ECC card, allow_ecc_certificates: signs in" "MIT krb5 ${krb5_version:-?} < 1.22 has no PKCS#11 EC PKINIT"
else
    expect_rc "ECC card, allow_ecc_certificates: signs in" $PAM_SUCCESS "$rc"
fi

sc_summary
