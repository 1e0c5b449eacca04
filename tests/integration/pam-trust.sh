#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# pam_scard's local trust check before the PIN, through real libpam (tools/scard-login) with the
# virtual card under scardd and the throwaway KDC. Each case: the PAM status, whether the PIN
# was asked, what the user is told and the log line (subject, issuer, serial):
#   1. the chain against trust_anchors: the test CA; a foreign CA only (refused) and both in a
#      bundle (accepted); a hashed directory (accepted) and an unhashed one (refused); a
#      missing path (refused with PAM_SERVICE_ERR at check time, never skipped)
#   2. CRL: good / revoked / revocation_check = none with the revoking CRL / CRL directory /
#      CRL missing under soft and hard fail
#   3. OCSP from ocsp_responder: good, revoked, responder refusing (fast) and never answering
#      (ocsp_timeout, measured), http_proxy in the environment ignored
#   4. OCSP with neither AIA nor ocsp_responder: soft (accepted, warning) and hard (refused)
#   5. OCSP from the certificate's AIA (no ocsp_responder): good and revoked
#   6. root → intermediate → card certificate: anchors root + intermediate, root only,
#      intermediate only; CRLs of both CAs, the user revoked by the intermediate, the
#      intermediate revoked by the root, the root's CRL missing
# OCSP answers come from "openssl ocsp" behind a front end bound to 127.0.0.1 only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/kdc.sh"
. "$here/lib/chain.sh"

SC_BUILD="${top_builddir:?run through make check}"
PY=/usr/bin/python3
chain_require
sc_require "$PY" opensc-tool
sc_scratch pam-trust
d="$SC_SCRATCH"
CHAIN_CARD_WAIT=1
chain_setup alice
kdc_start
chain_card alice alice rsa2048 >"$d/card-alice.log"
chain_start_scardd
SC_FAIL_LOGS+=("$d/scardd.log" "$KDC_DIR/kdc.log")

PAM_SUCCESS=0 PAM_SERVICE_ERR=3 PAM_PERM_DENIED=6
out="$d/login.out"
# login SERVICE: alice's PAM status; output (with pam_syslog lines under pam_wrapper) in $out;
# the time it took in $d/login.ms (milliseconds).
login() {
    local svc="$1" rc=0 t0
    t0=$(date +%s%N)
    if [ -n "$PAM_WRAPPER" ]; then
        LD_PRELOAD="$PAM_WRAPPER $NSS_WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$d/pam" \
            PAM_WRAPPER_DEBUGLEVEL=3 NSS_WRAPPER_PASSWD="$d/passwd" NSS_WRAPPER_GROUP="$d/group" \
            "$SCARD_LOGIN" --service "$svc" --pin-file "$d/pin" alice >"$out" 2>&1 || rc=$?
    else
        chain_login alice "$d/pin" --service "$svc" || rc=$?
    fi
    echo $((($(date +%s%N) - t0) / 1000000)) >"$d/login.ms"
    echo "$rc"
}
if [ -n "$PAM_WRAPPER" ]; then
    logged() { sc_expect_grep -i "$1" "$2" "$out"; }
else
    logged() { sc_skip_check "$1" "pam_wrapper missing: pam_syslog lines are not visible"; }
fi
pin_asked() { expect_out "$1: the PIN is asked" "^PIN for "; }
no_pin() { no_out "$1: no PIN is asked" "PIN for"; }
serial_of() { openssl x509 -noout -serial -in "$1" | sed 's/^serial=0*//'; }
# refused_log NAME CERT REASON_REGEX: the refusal is logged with CERT's subject, issuer, serial.
refused_log() {
    logged "$1: logged with subject, issuer and serial" \
        "subject '/CN=alice' issuer '$(openssl x509 -noout -issuer -nameopt compat -in "$2" | sed 's/^issuer=//')' serial 0*$(serial_of "$2") refused for sign-in: $3"
}
# card_cert PEM: put PEM (a certificate for the card's key) in the card's slot 9A. The reader
# driver reads the card's store at power-up: the card is taken out until scardd's reader is
# empty, then put back until it is present again (opensc-tool through libscard).
reader_is() { opensc-tool -l 2>/dev/null | grep -qE "^[0-9]+ +$1 +Virtual PIV alice"; }
card_cert() {
    "$SCARD_VCARD" eject alice >>"$d/card-alice.log" 2>&1 &&
        sc_wait_for 10 reader_is No &&
        "$SCARD_VCARD" import alice --slot 9a --cert "$1" >>"$d/card-alice.log" 2>&1 &&
        "$SCARD_VCARD" insert alice >>"$d/card-alice.log" 2>&1 &&
        sc_wait_for 10 reader_is Yes ||
        sc_bail "certificate $1 put on the card (eject, import, insert)" "$d/card-alice.log"
}

# A small openssl-ca database around the test CA, for CRLs and the OCSP responder's index.
ca="$d/ca"
mkdir -p "$ca/new"
: >"$ca/index.txt"
echo 01 >"$ca/crlnumber"
echo 5000 >"$ca/serial"
cat >"$ca/ca.cnf" <<CNF
[ca]
default_ca = test_ca
[test_ca]
database = $ca/index.txt
new_certs_dir = $ca/new
crlnumber = $ca/crlnumber
serial = $ca/serial
certificate = $KDC_CA_PEM
private_key = $KDC_DIR/ca.key
default_md = sha256
default_crl_days = 7
policy = any
unique_subject = no
[any]
commonName = supplied
[sub_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

# alice-aia.pem: alice's key again, with an Authority Information Access naming the OCSP
# responder of section 5 (port chosen now, responder started there later).
AIA_PORT=$(sc_free_port)
{
    cat "$KDC_DIR/openssl.cnf"
    printf '[client_aia]\n'
    sed -n '/^\[client_ext\]/,/^\[/{/^\[/d;p}' "$KDC_DIR/openssl.cnf"
    printf 'authorityInfoAccess = OCSP;URI:http://127.0.0.1:%s/\n' "$AIA_PORT"
} >"$d/aia.cnf"
KDC_CLIENT=alice openssl x509 -req -in "$d/alice.csr" -CA "$KDC_CA_PEM" -CAkey "$KDC_DIR/ca.key" \
    -CAcreateserial -days 7 -out "$d/alice-aia.pem" -extfile "$d/aia.cnf" -extensions client_aia 2>"$d/aia.log" ||
    sc_bail "alice's certificate with an AIA issued" "$d/aia.log"

# index-good / crl-good: both of alice's certificates valid; index-revoked / crl-revoked: revoked.
# (two entries for /CN=alice: "openssl ocsp -index" needs unique_subject = no in INDEX.attr)
for i in index-good index-revoked; do echo "unique_subject = no" >"$ca/$i.txt.attr"; done
{
    openssl ca -batch -config "$ca/ca.cnf" -valid "$d/alice.pem" &&
        openssl ca -batch -config "$ca/ca.cnf" -valid "$d/alice-aia.pem" &&
        cp "$ca/index.txt" "$ca/index-good.txt" &&
        openssl ca -batch -config "$ca/ca.cnf" -gencrl -out "$d/crl-good.pem" &&
        openssl ca -batch -config "$ca/ca.cnf" -revoke "$d/alice.pem" &&
        openssl ca -batch -config "$ca/ca.cnf" -revoke "$d/alice-aia.pem" &&
        cp "$ca/index.txt" "$ca/index-revoked.txt" &&
        openssl ca -batch -config "$ca/ca.cnf" -gencrl -out "$d/crl-revoked.pem"
} >"$ca/ca.log" 2>&1 || sc_bail "openssl ca made the CRLs" "$ca/ca.log"

# --- 1. the chain against the anchors ---------------------------------------------------------
chain_service t-good "trust_anchors=$KDC_CA_PEM"
rc=$(login t-good)
expect_rc "card certificate chains to the test CA: signs in" $PAM_SUCCESS "$rc"
pin_asked "test CA"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/foreign.key" -out "$d/foreign.pem" -days 7 \
    -subj "/CN=foreign CA" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
chain_service t-foreign "trust_anchors=$d/foreign.pem"
rc=$(login t-foreign)
expect_rc "untrusted issuer (a foreign CA the only anchor): refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told the certificate is not trusted" "certificate is not trusted: unable to get local issuer"
no_pin "untrusted issuer"
refused_log "untrusted issuer" "$d/alice.pem" "not trusted: unable to get local issuer certificate"

cat "$d/foreign.pem" "$KDC_CA_PEM" >"$d/anchors-bundle.pem"
chain_service t-bundle "trust_anchors=$d/anchors-bundle.pem"
rc=$(login t-bundle)
expect_rc "issuer's CA added to the anchors (bundle of two CAs): signs in" $PAM_SUCCESS "$rc"
pin_asked "bundle of two CAs"

mkdir -p "$d/anchors.d" "$d/anchors-unhashed.d"
cp "$d/foreign.pem" "$KDC_CA_PEM" "$d/anchors.d/"
cp "$KDC_CA_PEM" "$d/anchors-unhashed.d/"
openssl rehash "$d/anchors.d" 2>"$d/rehash.log" || sc_bail "openssl rehash" "$d/rehash.log"
chain_service t-dir "trust_anchors=$d/anchors.d"
rc=$(login t-dir)
expect_rc "anchors a hashed directory (openssl rehash): signs in" $PAM_SUCCESS "$rc"
pin_asked "hashed directory"
chain_service t-dir-unhashed "trust_anchors=$d/anchors-unhashed.d"
rc=$(login t-dir-unhashed)
expect_rc "anchors a directory never rehashed: refused" $PAM_PERM_DENIED "$rc"
no_pin "unhashed directory"

# A path that does not exist: options load (the card is read), the check refuses - fail closed.
chain_service t-anchors-missing "trust_anchors=$d/no-such-anchors.pem"
rc=$(login t-anchors-missing)
expect_rc "trust_anchors missing: refused (PAM_SERVICE_ERR)" $PAM_SERVICE_ERR "$rc"
expect_out "user is told the certificate cannot be checked" "certificate cannot be checked"
no_pin "trust_anchors missing"
logged "missing trust_anchors logged with the path and the cause" \
    "trust_anchors '$d/no-such-anchors.pem' cannot be loaded: No such file or directory"
logged "the options loaded and the card was read before the refusal" "token 'alice' in slot"
sed -i "/^\[logon\]/a trust_anchors = $d/no-such-anchors.pem" "$d/scard.conf"
chain_service t-anchors-missing-conf "revocation_check=none"
rc=$(login t-anchors-missing-conf)
expect_rc "trust_anchors missing (scard.conf), revocation_check=none: still refused" $PAM_SERVICE_ERR "$rc"
no_pin "trust_anchors missing in scard.conf"
sed -i "/^trust_anchors = /d" "$d/scard.conf"

# --- 2. CRL -------------------------------------------------------------------------------------
chain_service t-crl-good "trust_anchors=$KDC_CA_PEM revocation_check=crl crl_file=$d/crl-good.pem"
rc=$(login t-crl-good)
expect_rc "CRL without alice's certificate: signs in" $PAM_SUCCESS "$rc"
pin_asked "CRL good"
chain_service t-crl-revoked "trust_anchors=$KDC_CA_PEM revocation_check=crl crl_file=$d/crl-revoked.pem"
rc=$(login t-crl-revoked)
expect_rc "CRL listing alice's certificate: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told the certificate is revoked" "certificate has been revoked"
no_pin "revoked (CRL)"
refused_log "revoked (CRL)" "$d/alice.pem" "revoked$"
chain_service t-crl-none "trust_anchors=$KDC_CA_PEM revocation_check=none crl_file=$d/crl-revoked.pem"
rc=$(login t-crl-none)
expect_rc "same certificate and CRL, revocation_check=none: signs in" $PAM_SUCCESS "$rc"
pin_asked "revocation_check=none"
mkdir -p "$d/crl.d"
cp "$d/crl-revoked.pem" "$d/crl.d/"
openssl rehash "$d/crl.d" 2>>"$d/rehash.log" || sc_bail "openssl rehash (CRLs)" "$d/rehash.log"
chain_service t-crl-dir "trust_anchors=$KDC_CA_PEM revocation_check=crl crl_file=$d/crl.d"
rc=$(login t-crl-dir)
expect_rc "crl_file a hashed directory listing alice's certificate: refused" $PAM_PERM_DENIED "$rc"
no_pin "revoked (CRL directory)"
chain_service t-crl-missing-soft "trust_anchors=$KDC_CA_PEM revocation_check=crl crl_file=$d/no-such-crl.pem revocation_fail=soft"
rc=$(login t-crl-missing-soft)
expect_rc "CRL missing, revocation_fail=soft: signs in" $PAM_SUCCESS "$rc"
logged "missing CRL is logged as a warning" "revocation status unknown \(the CRL file .* cannot be read\): accepted"
pin_asked "CRL missing, soft"
chain_service t-crl-missing-hard "trust_anchors=$KDC_CA_PEM revocation_check=crl crl_file=$d/no-such-crl.pem revocation_fail=hard"
rc=$(login t-crl-missing-hard)
expect_rc "CRL missing, revocation_fail=hard: refused" $PAM_PERM_DENIED "$rc"
no_pin "CRL missing, hard"

# --- 3. OCSP from ocsp_responder ------------------------------------------------------------------
# ocsp_up INDEX [PORT]: an OCSP responder on 127.0.0.1 only (OCSP_PORT, OCSP_PID). OpenSSL 3.0's
# "openssl ocsp -port" takes a bare port and listens on every address, so a small HTTP front end
# bound to 127.0.0.1 hands each request to "openssl ocsp -index INDEX -reqin/-respout", signing
# with the test CA itself; it logs one "POST" line per request.
cat >"$d/ocsp-front.py" <<'PY'
import http.server, subprocess, sys, tempfile, os
port, index, ca, key, scratch = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with tempfile.TemporaryDirectory(dir=scratch) as t:
            open(os.path.join(t, "req.der"), "wb").write(body)
            subprocess.run(["openssl", "ocsp", "-index", index, "-CA", ca, "-rsigner", ca, "-rkey", key,
                            "-reqin", os.path.join(t, "req.der"), "-respout", os.path.join(t, "resp.der")],
                           check=True, capture_output=True)
            resp = open(os.path.join(t, "resp.der"), "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(resp)))
        self.end_headers()
        self.wfile.write(resp)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
ocsp_up() {
    OCSP_PORT="${2:-$(sc_free_port)}"
    sc_spawn "$d/ocsp.log" "$PY" "$d/ocsp-front.py" "$OCSP_PORT" "$1" "$KDC_CA_PEM" "$KDC_DIR/ca.key" "$d"
    OCSP_PID=$SC_LAST_PID
    sc_wait_for 10 "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $OCSP_PORT), 1)" ||
        sc_bail "OCSP responder listens on 127.0.0.1:$OCSP_PORT" "$d/ocsp.log"
}
posts() { grep -c '"POST ' "$d/ocsp.log" 2>/dev/null || true; }
# a listener on 127.0.0.1 that accepts nothing and never answers (HANG_PORT, HANG_PID)
cat >"$d/hang.py" <<'PY'
import signal, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); print("listening", flush=True); signal.pause()
PY
HANG_PORT=$(sc_free_port)
sc_spawn "$d/hang.log" "$PY" "$d/hang.py" "$HANG_PORT"
HANG_PID=$SC_LAST_PID
sc_wait_for 10 grep -q listening "$d/hang.log" || sc_bail "silent listener on 127.0.0.1:$HANG_PORT" "$d/hang.log"

ocsp_up "$ca/index-good.txt"
chain_service t-ocsp "trust_anchors=$KDC_CA_PEM revocation_check=ocsp ocsp_responder=http://127.0.0.1:$OCSP_PORT/ ocsp_timeout=3 revocation_fail=hard"
rc=$(login t-ocsp)
expect_rc "OCSP says good: signs in" $PAM_SUCCESS "$rc"
pin_asked "OCSP good"
before=$(posts)
rc=$(http_proxy="http://127.0.0.1:$HANG_PORT" HTTP_PROXY="http://127.0.0.1:$HANG_PORT" login t-ocsp)
expect_rc "OCSP with http_proxy (a silent listener) in the environment: signs in, no proxy" $PAM_SUCCESS "$rc"
sc_expect_rc "the responder itself got the request (not the proxy)" 1 $(($(posts) - before))
sc_stop "$OCSP_PID"

ocsp_up "$ca/index-revoked.txt"
chain_service t-ocsp "trust_anchors=$KDC_CA_PEM revocation_check=ocsp ocsp_responder=http://127.0.0.1:$OCSP_PORT/ ocsp_timeout=3"
rc=$(login t-ocsp)
expect_rc "OCSP says revoked: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told the certificate is revoked (OCSP)" "certificate has been revoked"
no_pin "revoked (OCSP)"
refused_log "revoked (OCSP)" "$d/alice.pem" "revoked$"
sc_stop "$OCSP_PID"

down=$(sc_free_port) # nothing listens there: the connection is refused
chain_service t-ocsp-soft "trust_anchors=$KDC_CA_PEM revocation_check=ocsp ocsp_responder=http://127.0.0.1:$down/ ocsp_timeout=2 revocation_fail=soft"
rc=$(login t-ocsp-soft)
expect_rc "OCSP responder down, revocation_fail=soft: signs in" $PAM_SUCCESS "$rc"
logged "unreachable responder is logged as a warning" "revocation status unknown.*cannot be reached.*: accepted"
pin_asked "OCSP down, soft"
chain_service t-ocsp-hard "trust_anchors=$KDC_CA_PEM revocation_check=ocsp ocsp_responder=http://127.0.0.1:$down/ ocsp_timeout=2 revocation_fail=hard"
rc=$(login t-ocsp-hard)
refused_ms=$(cat "$d/login.ms")
expect_rc "OCSP responder down, revocation_fail=hard: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told why (responder unreachable)" "not trusted: .*OCSP responder .*cannot be reached"
no_pin "OCSP down, hard"
chain_service t-ocsp-hang "trust_anchors=$KDC_CA_PEM revocation_check=ocsp ocsp_responder=http://127.0.0.1:$HANG_PORT/ ocsp_timeout=2 revocation_fail=hard"
rc=$(login t-ocsp-hang)
hang_ms=$(cat "$d/login.ms")
expect_rc "OCSP responder never answers, ocsp_timeout=2, hard: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told no reply came in time" "cannot be reached \(no reply within ocsp_timeout\)"
no_pin "OCSP never answers"
extra=$((hang_ms - refused_ms))
echo "# sign-in refused: responder refusing ${refused_ms} ms, never answering ${hang_ms} ms (+${extra} ms, ocsp_timeout=2 s)"
if [ "$refused_ms" -lt 1500 ]; then sc_ok "a refused connection fails at once (${refused_ms} ms)"; else
    sc_not_ok "a refused connection fails at once (${refused_ms} ms)"; fi
if [ "$extra" -ge 1900 ] && [ "$extra" -le 3000 ]; then sc_ok "ocsp_timeout=2 bounds the wait (+${extra} ms)"; else
    sc_not_ok "ocsp_timeout=2 bounds the wait (+${extra} ms)"; fi
sc_stop "$HANG_PID"

# --- 4. OCSP with neither an AIA nor ocsp_responder ---------------------------------------------
chain_service t-ocsp-nourl-hard "trust_anchors=$KDC_CA_PEM revocation_check=ocsp revocation_fail=hard"
rc=$(login t-ocsp-nourl-hard)
expect_rc "no AIA, no ocsp_responder, revocation_fail=hard: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told there is no responder" "not trusted: no OCSP responder is configured or named by the certificate"
no_pin "no OCSP URL, hard"
chain_service t-ocsp-nourl-soft "trust_anchors=$KDC_CA_PEM revocation_check=ocsp revocation_fail=soft"
rc=$(login t-ocsp-nourl-soft)
expect_rc "no AIA, no ocsp_responder, revocation_fail=soft: signs in" $PAM_SUCCESS "$rc"
logged "no OCSP URL is logged as a warning" \
    "revocation status unknown \(no OCSP responder is configured or named by the certificate\): accepted, revocation_fail = soft"
pin_asked "no OCSP URL, soft"

# --- 5. OCSP from the certificate's AIA -----------------------------------------------------------
card_cert "$d/alice-aia.pem"
chain_service t-aia "trust_anchors=$KDC_CA_PEM revocation_check=ocsp revocation_fail=hard ocsp_timeout=3 debug"
ocsp_up "$ca/index-good.txt" "$AIA_PORT"
before=$(posts)
rc=$(login t-aia)
expect_rc "AIA names the responder, it says good: signs in" $PAM_SUCCESS "$rc"
pin_asked "AIA, good"
sc_expect_rc "the AIA's responder got one request" 1 $(($(posts) - before))
logged "the AIA's URL is used and logged" \
    "asking the OCSP responder http://127.0.0.1:$AIA_PORT/ \(from the certificate's AIA, timeout 3 s\)"
logged "the card's new certificate (with the AIA) was read" "serial 0*$(serial_of "$d/alice-aia.pem")"
sc_stop "$OCSP_PID"
ocsp_up "$ca/index-revoked.txt" "$AIA_PORT"
rc=$(login t-aia)
expect_rc "AIA names the responder, it says revoked: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told the certificate is revoked (AIA)" "certificate has been revoked"
no_pin "AIA, revoked"
refused_log "revoked (OCSP from the AIA)" "$d/alice-aia.pem" "revoked$"
sc_stop "$OCSP_PID"

# --- 6. root → intermediate → card certificate ----------------------------------------------------
# The card holds only alice's certificate; libkrb5 sends the intermediate from pkinit_pool, the
# local check finds it in trust_anchors (pam_scard has no separate intermediate-CA option).
inter="$d/inter"
mkdir -p "$inter/new"
: >"$inter/index.txt"
echo 01 >"$inter/crlnumber"
sed -e "s|^database = .*|database = $inter/index.txt|" -e "s|^new_certs_dir = .*|new_certs_dir = $inter/new|" \
    -e "s|^crlnumber = .*|crlnumber = $inter/crlnumber|" -e "s|^certificate = .*|certificate = $inter/ca.pem|" \
    -e "s|^private_key = .*|private_key = $inter/ca.key|" -e "/^serial = /d" "$ca/ca.cnf" >"$inter/ca.cnf"
{
    openssl req -newkey rsa:2048 -nodes -keyout "$inter/ca.key" -out "$inter/ca.csr" \
        -subj "/CN=scard test intermediate CA" -config "$KDC_DIR/openssl.cnf" &&
        openssl ca -batch -notext -config "$ca/ca.cnf" -in "$inter/ca.csr" -out "$inter/ca.pem" -days 7 \
            -extensions sub_ca -extfile "$ca/ca.cnf" &&
        openssl ca -batch -config "$ca/ca.cnf" -gencrl -out "$d/root-crl.pem" &&
        openssl ca -batch -config "$ca/ca.cnf" -revoke "$inter/ca.pem" &&
        openssl ca -batch -config "$ca/ca.cnf" -gencrl -out "$d/root-crl-inter-revoked.pem" &&
        KDC_CLIENT=alice openssl x509 -req -in "$d/alice.csr" -CA "$inter/ca.pem" -CAkey "$inter/ca.key" \
            -CAcreateserial -days 7 -out "$d/alice-inter.pem" -extfile "$KDC_DIR/openssl.cnf" -extensions client_ext &&
        openssl ca -batch -config "$inter/ca.cnf" -valid "$d/alice-inter.pem" &&
        openssl ca -batch -config "$inter/ca.cnf" -gencrl -out "$d/inter-crl.pem" &&
        openssl ca -batch -config "$inter/ca.cnf" -revoke "$d/alice-inter.pem" &&
        openssl ca -batch -config "$inter/ca.cnf" -gencrl -out "$d/inter-crl-revoked.pem"
} >"$inter/ca.log" 2>&1 || sc_bail "intermediate CA, its certificate for alice and the CRLs" "$inter/ca.log"
sed -i "/^\[libdefaults\]/a \    pkinit_pool = FILE:$inter/ca.pem" "$KRB5_CONFIG"
card_cert "$d/alice-inter.pem"
cat "$KDC_CA_PEM" "$inter/ca.pem" >"$d/anchors-root-inter.pem"
cat "$d/inter-crl.pem" "$d/root-crl.pem" >"$d/crls.pem"
cat "$d/inter-crl-revoked.pem" "$d/root-crl.pem" >"$d/crls-user-revoked.pem"
cat "$d/inter-crl.pem" "$d/root-crl-inter-revoked.pem" >"$d/crls-inter-revoked.pem"
mkdir -p "$d/crls.d"
cp "$d/inter-crl-revoked.pem" "$d/root-crl.pem" "$d/crls.d/"
openssl rehash "$d/crls.d" 2>>"$d/rehash.log" || sc_bail "openssl rehash (two CRLs)" "$d/rehash.log"
ri="trust_anchors=$d/anchors-root-inter.pem"

chain_service t-inter "$ri"
rc=$(login t-inter)
expect_rc "intermediate: anchors root + intermediate: signs in" $PAM_SUCCESS "$rc"
pin_asked "intermediate, root + intermediate"
logged "the card's certificate from the intermediate was read" "issuer '/CN=scard test intermediate CA' serial"
chain_service t-inter-root "trust_anchors=$KDC_CA_PEM"
rc=$(login t-inter-root)
expect_rc "intermediate: anchors root only: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told the issuer is missing" "not trusted: unable to get local issuer certificate"
no_pin "intermediate, root only"
chain_service t-inter-only "trust_anchors=$inter/ca.pem"
rc=$(login t-inter-only)
expect_rc "intermediate: anchors intermediate only: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told the root is missing" "not trusted: unable to get issuer certificate"
no_pin "intermediate only"
chain_service t-inter-crl "$ri revocation_check=crl revocation_fail=hard crl_file=$d/crls.pem"
rc=$(login t-inter-crl)
expect_rc "intermediate: CRLs of both CAs in one file, none lists: signs in" $PAM_SUCCESS "$rc"
pin_asked "intermediate, CRLs good"
chain_service t-inter-crl-user "$ri revocation_check=crl crl_file=$d/crls-user-revoked.pem"
rc=$(login t-inter-crl-user)
expect_rc "intermediate: its CRL lists alice: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told the certificate is revoked (intermediate's CRL)" "certificate has been revoked"
no_pin "intermediate's CRL lists alice"
refused_log "revoked by the intermediate's CRL" "$d/alice-inter.pem" "revoked$"
chain_service t-inter-crl-dir "$ri revocation_check=crl crl_file=$d/crls.d"
rc=$(login t-inter-crl-dir)
expect_rc "intermediate: CRL directory, the intermediate's lists alice: refused" $PAM_PERM_DENIED "$rc"
no_pin "CRL directory lists alice"
chain_service t-inter-crl-ca "$ri revocation_check=crl crl_file=$d/crls-inter-revoked.pem"
rc=$(login t-inter-crl-ca)
expect_rc "intermediate: the root's CRL lists the intermediate: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told the certificate is revoked (revoked CA)" "certificate has been revoked"
no_pin "intermediate revoked"
refused_log "revoked issuing CA" "$d/alice-inter.pem" "revoked: its issuing CA '/CN=scard test intermediate CA' is revoked"
chain_service t-inter-crl-noroot-soft "$ri revocation_check=crl crl_file=$d/inter-crl.pem revocation_fail=soft"
rc=$(login t-inter-crl-noroot-soft)
expect_rc "intermediate: the root's CRL missing, soft: signs in" $PAM_SUCCESS "$rc"
logged "the missing root CRL is logged as a warning" \
    "revocation status unknown \(CRL for '/CN=scard test intermediate CA': unable to get certificate CRL\)"
pin_asked "root CRL missing, soft"
chain_service t-inter-crl-noroot-hard "$ri revocation_check=crl revocation_fail=hard crl_file=$d/inter-crl.pem"
rc=$(login t-inter-crl-noroot-hard)
expect_rc "intermediate: the root's CRL missing, hard: refused" $PAM_PERM_DENIED "$rc"
no_pin "root CRL missing, hard"

sc_summary pam-trust
