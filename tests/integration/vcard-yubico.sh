#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# yubico-piv-tool provisions a fresh virtual card with its own commands, under a private
# pcscd (own mount + network namespace, as vcard-pcscd.sh): management-key authentication
# with the default 3DES key, GENERATE (RSA-2048) in 9A, certificate import (PUT DATA),
# SET MANAGEMENT KEY, then the new key authenticates, the old one no longer, and the card
# signs (yubico-piv-tool -a test-signature, and pkcs11-tool + openssl).
# Skips (77) unless root with pcscd, unshare, yubico-piv-tool, OpenSC and openssl available.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/pcscd.sh"

pcscd_require yubico-piv-tool pkcs11-tool openssl

B=${top_builddir:-$(pwd)}
TOOL=$B/resmgr/vcard/scard-vcard
DRIVER=$B/resmgr/vcard/.libs/libifd-scard-vcard.so
[ -x "$TOOL" ] && [ -f "$DRIVER" ] || sc_die "build scard-vcard and the driver first ($B)"

sc_scratch vcard-yubico
W=$SC_SCRATCH
SC_FAIL_LOGS=("$W/pcscd.log")
SC_DETAIL_LINES=30

export HOME=$W SCARD_CONF=/dev/null SCARD_VCARD_STORE=$W/store SCARD_VCARD_KDF_LOG2N=12
pcscd_env "$W"
cd "$W" || sc_bail "cd"
yk() { yubico-piv-tool -r vcard-yk "$@"; }

pcscd_ready() { [ -S "$PCSCLITE_CSOCK_NAME" ] && yubico-piv-tool -r vcard-yk -a status >/dev/null 2>&1; }

# A fresh card: PIN 123456, PUK 12345678, default management key (as a new YubiKey).
printf '123456\n12345678\n' | "$TOOL" create yk --alg eccp256 --pin-file - --puk-file - >/dev/null ||
    sc_bail "create"
"$TOOL" reader-conf yk --friendly-name vcard-yk --libpath "$DRIVER" > pcsc/reader.conf || sc_bail "reader-conf"
pcscd_start "$W" pcscd_ready
sc_ok "yubico-piv-tool talks to the card"

yk -a generate -s 9a -A RSA2048 -o pub.pem > gen.log 2>&1 || sc_bail "generate" "$W/gen.log"
grep -q "BEGIN PUBLIC KEY" pub.pem || sc_bail "no public key from generate" "$W/gen.log"
sc_ok "yubico-piv-tool -a generate -s 9a (default management key)"

# yubico-piv-tool 2.2.0's own selfsign-certificate / request-certificate fail before sending
# anything under OpenSSL 3 ("Failed signing request": its key method glue), so a throwaway CA
# issues the certificate for the public key the card generated.
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=yk-test-ca 2>/dev/null
openssl x509 -new -force_pubkey pub.pem -subj /CN=yubico-test -CA ca.pem -CAkey ca.key -days 2 -out cert.pem \
    2>ca.log || sc_bail "openssl x509 -new" "$W/ca.log"
sc_ok "certificate issued for the generated key"

yk -a import-certificate -s 9a -i cert.pem > import.log 2>&1 || sc_bail "import-certificate" "$W/import.log"
yk -a read-certificate -s 9a -o back.pem > read.log 2>&1 || sc_bail "read-certificate" "$W/read.log"
cmp -s <(openssl x509 -in back.pem -outform DER) <(openssl x509 -in cert.pem -outform DER) ||
    sc_bail "read-certificate differs"
sc_ok "import-certificate (PUT DATA) and read back"

NEWKEY=0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a09080
yk -a set-mgm-key -n "$NEWKEY" > setmgm.log 2>&1 || sc_bail "set-mgm-key" "$W/setmgm.log"
yk -a generate -s 9c -A ECCP256 -o old.pem > old.log 2>&1 && sc_bail "the old management key still works"
yk -k"$NEWKEY" -a generate -s 9c -A ECCP256 -o pub9c.pem > new.log 2>&1 || sc_bail "new management key refused" "$W/new.log"
sc_ok "set-mgm-key: the new key authenticates, the default no longer"

yk -v1 -a verify-pin -P 123456 -a test-signature -s 9a -i cert.pem > testsig.log 2>&1 ||
    sc_bail "test-signature" "$W/testsig.log"
sc_ok "yubico-piv-tool -a test-signature"

echo "signed by a card yubico-piv-tool provisioned" > msg.txt
pkcs11-tool --module "$MODULE" -l --pin 123456 --sign -m SHA256-RSA-PKCS --id 01 -i msg.txt -o msg.sig > p11.log 2>&1 || sc_bail "pkcs11-tool --sign" "$W/p11.log"
openssl dgst -sha256 -verify pub.pem -signature msg.sig msg.txt >/dev/null 2>&1 || sc_bail "signature does not verify"
sc_ok "pkcs11-tool signs with the 9A key, openssl verifies"

"$TOOL" list | grep -q "yk .*9a rsa2048: CN=yubico-test" || sc_bail "scard-vcard list does not show the new certificate"
for f in "$SCARD_VCARD_STORE"/yk/*; do
    grep -q "PRIVATE KEY" "$f" && sc_bail "a private key in the clear in $f"
done
sc_ok "scard-vcard list shows it; no cleartext key in the store"

sc_stop "$PCSCD"
sc_summary vcard-yubico
