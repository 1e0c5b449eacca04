#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The virtual PIV card through the real stack: a private pcscd (own mount + network
# namespace, test-environment.md §3) loads libifd-scard-vcard for two cards (RSA, ECC);
# OpenSC's PIV-II driver and opensc-pkcs11 log in, sign (checked with openssl), count PIN
# tries across pcscd restarts, unblock with the PUK, and see eject/insert at once.
# Skips (77) unless root with pcscd, unshare, OpenSC and openssl available.
# No -e/pipefail: several steps run commands that are meant to fail (wrong PIN, checks piped
# into grep); every check is explicit. Each step depends on the ones before, so the first failed
# check ends the test (sc_bail), showing the tail of the pcscd log.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/pcscd.sh"

pcscd_require opensc-tool pkcs11-tool pkcs15-tool openssl

B=${top_builddir:-$(pwd)}
TOOL=$B/resmgr/vcard/scard-vcard
DRIVER=$B/resmgr/vcard/.libs/libifd-scard-vcard.so
[ -x "$TOOL" ] && [ -f "$DRIVER" ] || sc_die "build scard-vcard and the driver first ($B)"

sc_scratch vcard-pcscd
W=$SC_SCRATCH
SC_FAIL_LOGS=("$W/pcscd.log")
SC_DETAIL_LINES=30

export HOME=$W SCARD_CONF=/dev/null SCARD_VCARD_STORE=$W/store
pcscd_env "$W"
p11() { pkcs11-tool --module "$MODULE" "$@"; }

pcscd_ready() { [ -S "$PCSCLITE_CSOCK_NAME" ] && opensc-tool -l 2>/dev/null | grep -q "vcard-bob"; }
start_pcscd() { pcscd_start "$W" pcscd_ready; }
stop_pcscd() { pcscd_stop; }

# --- cards, certificates, reader.conf ---------------------------------------------------------
printf '123456\n12345678\n' | "$TOOL" create alice --pin-file - --puk-file - >/dev/null || sc_bail "create alice"
printf '123456\n12345678\n' | "$TOOL" create bob --alg eccp256 --pin-file - --puk-file - >/dev/null || sc_bail "create bob"
cd "$W" || sc_bail "cd"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=vcard-test-ca 2>/dev/null
for c in alice bob; do
    echo 123456 | "$TOOL" csr $c --subject "/CN=$c/O=scard test" --out $c.csr --pin-file - || sc_bail "csr $c"
    openssl x509 -req -in $c.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out $c.pem 2>/dev/null
    "$TOOL" import $c --cert $c.pem >/dev/null || sc_bail "import $c"
    openssl x509 -in $c.pem -pubkey -noout > $c.pub
done
"$TOOL" import alice --cert bob.pem 2>/dev/null && sc_bail "import of a certificate for another key succeeded"
{
    "$TOOL" reader-conf alice --friendly-name vcard-alice --libpath "$DRIVER"
    "$TOOL" reader-conf bob --friendly-name vcard-bob --libpath "$DRIVER"
} > pcsc/reader.conf || sc_bail "reader-conf"
sc_ok "two cards created, certificates imported"

start_pcscd
opensc-tool -r 0 -n | grep -q "Personal Identity Verification Card" || sc_bail "opensc-tool -n does not say PIV"
opensc-tool -r 0 -a | grep -q "^3b:8a:81:31" || sc_bail "unexpected ATR"
sc_ok "OpenSC PIV-II recognises the card"

p11 --slot-index 0 -O > objects.txt 2>&1 || sc_bail "pkcs11-tool -O" "$W/objects.txt"
grep -q "subject:.*CN=alice" objects.txt && grep -q "ID: *01" objects.txt || sc_bail "certificate not listed" "$W/objects.txt"
sc_ok "pkcs11-tool -O lists the 9A certificate"

echo "scard virtual card test" > msg.txt
s=$(date +%s%N)
p11 --slot-index 0 -l --pin 123456 --sign -m SHA256-RSA-PKCS --id 01 -i msg.txt -o rsa.sig >/dev/null 2>&1 ||
    sc_bail "RSA sign"
e=$(date +%s%N)
openssl dgst -sha256 -verify alice.pub -signature rsa.sig msg.txt >/dev/null || sc_bail "RSA signature does not verify"
sc_ok "RSA-2048 signature verifies (pkcs11-tool run $(((e - s) / 1000000)) ms)"
p11 --slot-index 1 -l --pin 123456 --sign -m ECDSA-SHA256 --signature-format openssl --id 01 -i msg.txt \
    -o ec.sig >/dev/null 2>&1 || sc_bail "ECDSA sign"
openssl dgst -sha256 -verify bob.pub -signature ec.sig msg.txt >/dev/null || sc_bail "ECDSA signature does not verify"
sc_ok "ECC P-256 signature verifies"
for i in 0 1; do
    p11 --slot-index $i --test --login --pin 123456 > test$i.txt 2>&1 || sc_bail "pkcs11-tool --test --login" "$W/test$i.txt"
    grep -q "No errors" test$i.txt || sc_bail "pkcs11-tool --test reported errors" "$W/test$i.txt"
done
sc_ok "pkcs11-tool --test --login passes on both cards"

# --- PIN counter: persisted, survives a pcscd restart, PUK unblocks ------------------------------
p11 --slot-index 0 -l --pin 111111 -O 2>&1 | grep -q CKR_PIN_INCORRECT || sc_bail "wrong PIN accepted"
"$TOOL" list > list.txt; grep -q "^alice .* 4/5 " list.txt || sc_bail "PIN counter not persisted" "$W/list.txt"
p11 --slot-index 0 -l --pin 123456 -O >/dev/null 2>&1 || sc_bail "right PIN refused"
"$TOOL" list | grep -q "^alice .* 5/5 " || sc_bail "PIN counter not reset by a right PIN"
for _ in 1 2 3 4 5; do p11 --slot-index 0 -l --pin 111111 -O >/dev/null 2>&1; done
"$TOOL" list | grep -q "^alice .* 0/5 " || sc_bail "PIN not counted down to 0"
stop_pcscd
start_pcscd
p11 --slot-index 0 -l --pin 123456 -O 2>&1 | grep -q CKR_PIN_LOCKED || sc_bail "blocked PIN usable after a pcscd restart"
sc_ok "PIN blocked after 5 wrong tries, still blocked after pcscd restart"
pkcs15-tool --reader 0 --unblock-pin --puk 12345678 --new-pin 654321 >/dev/null 2>&1 || sc_bail "PUK unblock"
p11 --slot-index 0 -l --pin 654321 --sign -m SHA256-RSA-PKCS --id 01 -i msg.txt -o rsa2.sig >/dev/null 2>&1 ||
    sc_bail "sign with the new PIN"
openssl dgst -sha256 -verify alice.pub -signature rsa2.sig msg.txt >/dev/null || sc_bail "signature after unblock"
pkcs15-tool --reader 0 --change-pin --pin 654321 --new-pin 123456 >/dev/null 2>&1 || sc_bail "change PIN"
p11 --slot-index 0 -l --pin 123456 -O >/dev/null 2>&1 || sc_bail "login with the changed PIN"
sc_ok "PUK unblock and PIN change work through OpenSC"

# --- eject / insert, seen without polling; a re-imported certificate after re-insertion ---------
"$TOOL" eject alice
for _ in $(seq 100); do opensc-tool -r 0 -a >/dev/null 2>&1 || break; sleep 0.01; done
opensc-tool -r 0 -a >/dev/null 2>&1 && sc_bail "eject not seen within 1 s"
p11 -L 2>/dev/null | grep -A1 "vcard-alice" | grep -q "token state: *uninitialized\|(empty)" || sc_bail "slot not empty"
sc_ok "eject seen"
echo 123456 | "$TOOL" csr alice --subject "/CN=alice-renewed" --out renewed.csr --pin-file - || sc_bail "csr after eject"
openssl x509 -req -in renewed.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out renewed.pem 2>/dev/null
"$TOOL" import alice --cert renewed.pem >/dev/null || sc_bail "re-import"
"$TOOL" insert alice
for _ in $(seq 100); do opensc-tool -r 0 -a >/dev/null 2>&1 && break; sleep 0.01; done
p11 --slot-index 0 -O 2>/dev/null | grep -q "subject:.*CN=alice-renewed" || sc_bail "new certificate not seen after insert"
sc_ok "insert seen, new certificate served"

grep -q "Using the reader polling thread" "$W/pcscd.log" || sc_bail "pcscd did not use the driver's polling thread"
sc_ok "pcscd used the driver's polling thread"
sc_summary vcard-pcscd
