#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The virtual card's simulated PIN-pad reader (reader-conf --pinpad FILE, PC/SC Part 10) under
# scardd with real OpenSC (enable_pinpad): the token says "PIN pad present" (protected
# authentication path); pkcs11-tool logs in without any PIN from the host — the pad file's
# digits sign (checked by openssl), wrong digits count down once, no file / "cancel" / too few
# digits cost nothing; a reader without a pad behaves as before; the PIN never shows in
# scardd's APDU trace, OpenSC's debug log or any output. With MIT krb5 installed: kinit with
# X509_user_identity=PKCS11:… gets a TGT through the pad without prompting.
# Skips (77) when OpenSC's tools or openssl are missing; the kinit part when the KDC is.
# No -e: several steps run commands that are meant to fail; every check is explicit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/kdc.sh"
. "$here/lib/chain.sh"

SC_BUILD="${top_builddir:-$(pwd)}"
chain_paths
PCSC_CLIENT="$SC_BUILD/tests/integration/pcsc-client"
for f in "$SCARDD" "$SCARD_VCARD" "$LIBSCARD" "$VCARD_DRIVER" "$PCSC_CLIENT"; do
    [ -e "$f" ] || sc_die "not built: $f"
done
sc_require pkcs11-tool opensc-tool openssl
[ -n "$OPENSC_PKCS11" ] || sc_skip "OpenSC's opensc-pkcs11.so is not installed"
have_kdc() {
    command -v kinit >/dev/null && command -v klist >/dev/null && [ -x "$KDC_BIN" ] && [ -x "$KDB5_UTIL" ] &&
        [ -x "$KADMIN_LOCAL" ] && ls /usr/lib/*/krb5/plugins/preauth/pkinit.so >/dev/null 2>&1
}

sc_scratch vcard-pinpad
W=$SC_SCRATCH
SC_FAIL_LOGS=("$W/scardd.log")
SC_DETAIL_LINES=30
PIN=582914 PUK=12345678 BAD=407263 PAD=$W/pad-keys
PIN_HEX="35 38 32 39 31 34" BAD_HEX="34 30 37 32 36 33"
chain_vcard_conf "enable_pinpad = true"
vc() { "$SCARD_VCARD" "$@"; }
p11() { pkcs11-tool --module "$OPENSC_PKCS11" "$@" </dev/null; }   # no terminal: a prompt fails
pad() { printf '%s\n' "$1" >"$PAD"; }                               # what the user "types"

# --- certificates: the KDC's CA when MIT krb5 is here (the pad card is alice's), else a plain one ---
cd "$W" || sc_bail "cd $W"
printf '%s\n' "$PIN" >pin
printf '%s\n' "$PUK" >puk
chmod 600 pin puk
if have_kdc; then
    KDC=1
    kdc_setup "$W/krb" PINPAD.TEST "$(sc_free_port)"
    kdc_add_principal alice
    issue() { kdc_issue_client_cert "$1" alice "$2"; }
else
    KDC=""
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=vcard-pinpad-ca \
        >ca.log 2>&1 || sc_bail "test CA" ca.log
    issue() { openssl x509 -req -in "$1" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out "$2"; }
fi
for c in pad:alice plain:plain; do
    name=${c%%:*} cn=${c#*:} extra=()
    [ "$name" = pad ] && extra=(--pinpad "$PAD")
    {
        vc create "$name" --alg rsa2048 --pin-file pin --puk-file puk &&
            vc csr "$name" --slot 9a --subject "/CN=$cn" --out "$name.csr" --pin-file pin &&
            issue "$name.csr" "$name.pem" &&
            vc import "$name" --slot 9a --cert "$name.pem" &&
            openssl x509 -in "$name.pem" -pubkey -noout >"$name.pub" &&
            vc reader-conf "$name" --friendly-name "Virtual PIV $name" --libpath "$VCARD_DRIVER" \
                ${extra[@]+"${extra[@]}"} >"readers.d/$name.conf"
    } >"card-$name.log" 2>&1 || sc_bail "create the $name card" "card-$name.log"
done
sc_expect_grep "reader-conf --pinpad names the pad file in DEVICENAME" \
    "^DEVICENAME +$W/vcards/pad:pinpad:$PAD\$" readers.d/pad.conf
sc_expect_grep "reader-conf --pinpad marks the entry as a test device" "^# TEST DEVICE" readers.d/pad.conf

CHAIN_SCARDD_ARGS=--apdu chain_start_scardd   # APDU trace on: the PIN must not be in it either
sc_wait_for 10 sh -c "pkcs11-tool --module '$OPENSC_PKCS11' -L 2>/dev/null | grep -q 'Virtual PIV plain'"
if [ "$(grep -c 'TEST DEVICE: simulated PIN pad' scardd.log)" = 1 ] &&
    grep -q "vcards/pad: TEST DEVICE" scardd.log; then
    sc_ok "scardd's log warns once, for the pad reader only, that it is a test device"
else
    sc_not_ok "scardd's log warns once, for the pad reader only, that it is a test device"
fi

# --- the token: protected authentication path on the pad reader only ---------------------------
p11 -L >p11-L.txt 2>&1
slot_of() { sed -n "s/^Slot [0-9]* (\(0x[0-9a-f]*\)): Virtual PIV $1\b.*/\1/p" p11-L.txt | head -n1; }
flags_of() { awk -v r="Virtual PIV $1 " '/^Slot / { cur = index($0, r) } cur && /token flags/ { print; exit }' p11-L.txt; }
PAD_SLOT=$(slot_of pad) PLAIN_SLOT=$(slot_of plain)
[ -n "$PAD_SLOT" ] && [ -n "$PLAIN_SLOT" ] || sc_bail "both cards visible through scardd" p11-L.txt
PAD_READER=$(opensc-tool -l 2>/dev/null | awk 'index($0, "Virtual PIV pad") { print $1; exit }')
if flags_of pad | grep -q "PIN pad present"; then
    sc_ok "pkcs11-tool -L: the pad reader's token has a PIN pad (CKF_PROTECTED_AUTHENTICATION_PATH)"
else
    sc_not_ok "pkcs11-tool -L: the pad reader's token has a PIN pad" p11-L.txt
fi
if flags_of plain | grep -q "login required" && ! flags_of plain | grep -q "PIN pad"; then
    sc_ok "pkcs11-tool -L: the plain reader's token has no PIN pad"
else
    sc_not_ok "pkcs11-tool -L: the plain reader's token has no PIN pad" p11-L.txt
fi

# --- Part 10 through scardd: features, malformed requests, Cancel key ---------------------------
pad cancel
"$PCSC_CLIENT" pinpad "Virtual PIV pad 00 00" yes >part10.txt 2>&1
sc_expect_rc "SCardControl: features listed, malformed structures and non-VERIFY refused" 0 $? part10.txt
sc_expect_grep "a well-formed VERIFY_PIN_DIRECT with \"cancel\" on the pad answers 64 01" "^verify SW 6401$" part10.txt
"$PCSC_CLIENT" pinpad "Virtual PIV plain 00 00" no >part10-plain.txt 2>&1
sc_expect_rc "SCardControl: the plain reader offers no control code, as before" 0 $? part10-plain.txt

expect_list() { chain_expect_tries pad "$@"; }   # WANT NAME: PIN tries of the pad card
expect_list 5/5 "nothing reached the card: still 5/5 PIN tries"

# --- the right PIN on the pad: login without a host PIN, signature verified ---------------------
echo "signed through a PIN pad" >msg.txt
pad "$PIN"
p11 --slot "$PAD_SLOT" --login --sign -m SHA256-RSA-PKCS --id 01 -i msg.txt -o pad.sig >sign-pad.txt 2>&1
sc_expect_rc "pkcs11-tool --login --sign without --pin on the pad reader" 0 $? sign-pad.txt
if grep -qi "enter.*PIN" sign-pad.txt; then
    sc_not_ok "pkcs11-tool asked for no PIN (C_Login with a NULL PIN)" sign-pad.txt
else
    sc_ok "pkcs11-tool asked for no PIN (C_Login with a NULL PIN)"
fi
if openssl dgst -sha256 -verify pad.pub -signature pad.sig msg.txt >verify-pad.txt 2>&1; then
    sc_ok "the signature made after the pad entry verifies with openssl"
else
    sc_not_ok "the signature made after the pad entry verifies with openssl" sign-pad.txt verify-pad.txt
fi
p11 --slot "$PAD_SLOT" --test --login >test-pad.txt 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "No errors" test-pad.txt; then
    sc_ok "pkcs11-tool --test --login passes through the pad"
else
    sc_not_ok "pkcs11-tool --test --login passes through the pad (status $rc)" test-pad.txt
fi

# --- wrong digits count down once; nothing typed, Cancel, too few digits cost nothing ------------
pad "$BAD"
p11 --slot "$PAD_SLOT" --login -O >wrong.txt 2>&1
sc_expect_grep "wrong digits on the pad: CKR_PIN_INCORRECT" CKR_PIN_INCORRECT wrong.txt
expect_list 4/5 "scard-vcard list: the wrong pad entry cost exactly one try (4/5)"
opensc-tool -r "$PAD_READER" -s "00 A4 04 00 09 A0 00 00 03 08 00 00 10 00 00" -s "00 20 00 80" >status.txt 2>&1
sc_expect_grep "the card's VERIFY status query answers 63 C4" "SW1=0x63, SW2=0xC4" status.txt
rm -f "$PAD"
p11 --slot "$PAD_SLOT" --login -O >nothing.txt 2>&1
sc_expect_grep "no pad file (nothing typed, 64 00): CKR_FUNCTION_CANCELED" CKR_FUNCTION_CANCELED nothing.txt
sc_expect_grep "the driver logs the timed-out entry" "PIN pad: nothing keyed" scardd.log
pad cancel
p11 --slot "$PAD_SLOT" --login -O >cancel.txt 2>&1
sc_expect_grep "\"cancel\" on the pad (64 01): CKR_FUNCTION_CANCELED" CKR_FUNCTION_CANCELED cancel.txt
pad 12
p11 --slot "$PAD_SLOT" --login -O >short.txt 2>&1
sc_expect_grep "two digits on the pad (64 03): CKR_PIN_LEN_RANGE" CKR_PIN_LEN_RANGE short.txt
expect_list 4/5 "timeout, Cancel and a too short entry never reached the card (still 4/5)"

# the right PIN again, with OpenSC's debug log on: OpenSC sends the pad block, never the PIN
pad "$PIN"
OPENSC_DEBUG=9 p11 --slot "$PAD_SLOT" --login -O >again.txt 2>&1
sc_expect_rc "the right pad entry logs in again" 0 $? again.txt
expect_list 5/5 "a right entry resets the counter (5/5)"
sc_expect_grep "OpenSC's debug log shows the PC/SC v2 pinpad block it sent" "PC/SC v2 pinpad block" opensc-debug.log

# --- the reader without a pad behaves as before -------------------------------------------------
p11 --slot "$PLAIN_SLOT" --login --pin "$PIN" --sign -m SHA256-RSA-PKCS --id 01 -i msg.txt -o plain.sig \
    >sign-plain.txt 2>&1
if openssl dgst -sha256 -verify plain.pub -signature plain.sig msg.txt >/dev/null 2>&1; then
    sc_ok "the plain reader signs with --pin, signature verifies"
else
    sc_not_ok "the plain reader signs with --pin" sign-plain.txt
fi
p11 --slot "$PLAIN_SLOT" --login -O >plain-nopin.txt 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "Please enter User PIN" plain-nopin.txt; then
    sc_ok "the plain reader still asks for the PIN (no terminal here: login fails)"
else
    sc_not_ok "the plain reader still asks for the PIN (status $rc)" plain-nopin.txt
fi

# --- the PIN never crosses the host stack ---------------------------------------------------------
sc_expect_grep "scardd's trace shows the plain reader's VERIFY (data masked)" \
    "Virtual PIV plain 00 00': > 00 20 00 80 \[PIN data masked\]" scardd.log
if grep -q "Virtual PIV pad 00 00': > 00 20 00 80 \[PIN data masked\]" scardd.log; then
    sc_not_ok "no VERIFY with data crossed scardd for the pad reader (it stays in the driver)" scardd.log
else
    sc_ok "no VERIFY with data crossed scardd for the pad reader (it stays in the driver)"
fi

# --- MIT PKINIT: kinit with the pad card, no prompt -----------------------------------------------
if [ -n "$KDC" ]; then
    kdc_start
    ident="PKCS11:module_name=$OPENSC_PKCS11:slotid=$((PAD_SLOT)):certid=01"
    pad "$PIN"
    KRB5CCNAME=FILE:$W/cc KRB5_TRACE=$W/kinit-trace.log kinit -X "X509_user_identity=$ident" \
        "alice@$KDC_REALM" </dev/null >kinit.txt 2>&1
    sc_expect_rc "kinit -X X509_user_identity=PKCS11:…slotid=$((PAD_SLOT)):certid=01 with no terminal" 0 $? \
        kinit.txt kinit-trace.log
    klist -c "FILE:$W/cc" >klist.txt 2>&1
    sc_expect_grep "klist shows alice's TGT got through the pad" "Default principal: alice@$KDC_REALM" klist.txt
    if [ -s kinit.txt ]; then
        sc_not_ok "kinit printed no prompt" kinit.txt
    else
        sc_ok "kinit printed no prompt"
    fi
    pad "$BAD"
    KRB5CCNAME=FILE:$W/cc2 KRB5_TRACE=$W/kinit-bad-trace.log kinit -X "X509_user_identity=$ident" \
        "alice@$KDC_REALM" </dev/null >kinit-bad.txt 2>&1
    rc=$?
    if [ $rc -ne 0 ] && grep -q "C_Login failed" kinit-bad-trace.log; then
        sc_ok "kinit with wrong digits on the pad fails in C_Login"
    else
        sc_not_ok "kinit with wrong digits on the pad fails in C_Login (status $rc)" kinit-bad.txt kinit-bad-trace.log
    fi
    expect_list 4/5 "kinit's failed pad entry cost exactly one try (4/5)"
    kdc_stop
else
    sc_skip_check "kinit through the pad" "MIT krb5 KDC/PKINIT not installed"
fi

# last: nothing anywhere shows the PIN (or the wrong one), in ASCII or as APDU hex
leaks=$(grep -l -E "$PIN|$BAD|$PIN_HEX|$BAD_HEX" ./*.txt ./*.log 2>/dev/null)
if [ -z "$leaks" ]; then
    sc_ok "no log or output shows a PIN typed on the pad (ASCII or hex)"
else
    sc_not_ok "no log or output shows a PIN typed on the pad: found in $leaks"
fi

sc_summary vcard-pinpad
