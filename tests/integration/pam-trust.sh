#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# pam_scard's local trust check before the PIN, through real libpam with the virtual card chain
# and the throwaway KDC: the chain against trust_anchors (the test CA, a foreign CA), then
# revocation by CRL (crl_file) and by OCSP (openssl ocsp behind 127.0.0.1), soft and hard fail
# when the revocation source is missing or the responder is down.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/kdc.sh"
. "$here/lib/chain.sh"

SC_BUILD="${top_builddir:?run through make check}"
chain_require
sc_scratch pam-trust
d="$SC_SCRATCH"
CHAIN_CARD_WAIT=1
chain_setup alice
kdc_start
chain_card alice alice rsa2048 >"$d/card-alice.log"
chain_start_scardd
SC_FAIL_LOGS+=("$d/scardd.log" "$KDC_DIR/kdc.log")

PAM_SUCCESS=0 PAM_PERM_DENIED=6 PAM_AUTH_ERR=7
out="$d/login.out"
# login SERVICE: alice's PAM status; output (with pam_syslog lines under pam_wrapper) in $out.
login() {
    local svc="$1" rc=0
    if [ -n "$PAM_WRAPPER" ]; then
        LD_PRELOAD="$PAM_WRAPPER $NSS_WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$d/pam" \
            PAM_WRAPPER_DEBUGLEVEL=3 NSS_WRAPPER_PASSWD="$d/passwd" NSS_WRAPPER_GROUP="$d/group" \
            "$SCARD_LOGIN" --service "$svc" --pin-file "$d/pin" alice >"$out" 2>&1 || rc=$?
    else
        chain_login alice "$d/pin" --service "$svc" || rc=$?
    fi
    echo "$rc"
}
if [ -n "$PAM_WRAPPER" ]; then
    logged() { sc_expect_grep -i "$1" "$2" "$out"; }
else
    logged() { sc_skip_check "$1" "pam_wrapper missing: pam_syslog lines are not visible"; }
fi

# --- 1. chain against the anchors ------------------------------------------------------------
chain_service t-good "trust_anchors=$KDC_CA_PEM"
rc=$(login t-good)
expect_rc "card certificate chains to the test CA: signs in" $PAM_SUCCESS "$rc"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/foreign.key" -out "$d/foreign.pem" -days 7 \
    -subj "/CN=foreign CA" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
chain_service t-foreign "trust_anchors=$d/foreign.pem"
rc=$(login t-foreign)
expect_rc "foreign CA as the only anchor: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told the certificate is not trusted" "certificate is not trusted: .*issuer"
no_out "no PIN is asked for an untrusted certificate" "PIN for"
logged "refusal logged with subject, issuer and serial" "subject .*alice.* issuer .*scard test CA.* serial [0-9A-F]+ refused"

# --- 2. CRL ----------------------------------------------------------------------------------
# A small openssl-ca database around the test CA: alice's certificate valid, then revoked.
ca="$d/ca"
mkdir -p "$ca/new"
: >"$ca/index.txt"
echo 01 >"$ca/crlnumber"
cat >"$ca/ca.cnf" <<CNF
[ca]
default_ca = test_ca
[test_ca]
database = $ca/index.txt
new_certs_dir = $ca/new
crlnumber = $ca/crlnumber
certificate = $KDC_CA_PEM
private_key = $KDC_DIR/ca.key
default_md = sha256
default_crl_days = 7
policy = any
[any]
commonName = supplied
CNF
openssl ca -batch -config "$ca/ca.cnf" -valid "$d/alice.pem" >"$ca/ca.log" 2>&1 &&
    cp "$ca/index.txt" "$ca/index-good.txt" &&
    openssl ca -batch -config "$ca/ca.cnf" -gencrl -out "$d/crl-good.pem" >>"$ca/ca.log" 2>&1 &&
    openssl ca -batch -config "$ca/ca.cnf" -revoke "$d/alice.pem" >>"$ca/ca.log" 2>&1 &&
    cp "$ca/index.txt" "$ca/index-revoked.txt" &&
    openssl ca -batch -config "$ca/ca.cnf" -gencrl -out "$d/crl-revoked.pem" >>"$ca/ca.log" 2>&1 ||
    sc_bail "openssl ca made the CRLs" "$ca/ca.log"

chain_service t-crl-good "trust_anchors=$KDC_CA_PEM revocation_check=crl crl_file=$d/crl-good.pem"
rc=$(login t-crl-good)
expect_rc "CRL without alice's certificate: signs in" $PAM_SUCCESS "$rc"
chain_service t-crl-revoked "trust_anchors=$KDC_CA_PEM revocation_check=crl crl_file=$d/crl-revoked.pem"
rc=$(login t-crl-revoked)
expect_rc "CRL listing alice's certificate: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told the certificate is revoked" "certificate has been revoked"
no_out "no PIN is asked for a revoked certificate" "PIN for"
chain_service t-crl-missing-soft "trust_anchors=$KDC_CA_PEM revocation_check=crl crl_file=$d/no-such-crl.pem"
rc=$(login t-crl-missing-soft)
expect_rc "CRL missing, revocation_fail=soft: signs in" $PAM_SUCCESS "$rc"
logged "missing CRL is logged as a warning" "revocation status unknown"
chain_service t-crl-missing-hard "trust_anchors=$KDC_CA_PEM revocation_check=crl crl_file=$d/no-such-crl.pem revocation_fail=hard"
rc=$(login t-crl-missing-hard)
expect_rc "CRL missing, revocation_fail=hard: refused" $PAM_PERM_DENIED "$rc"

# --- 3. OCSP ---------------------------------------------------------------------------------
# ocsp_up INDEX: an OCSP responder on 127.0.0.1 only. OpenSSL 3.0's "openssl ocsp -port" takes
# a bare port and listens on every address, so a small HTTP front end bound to 127.0.0.1 hands
# each request to "openssl ocsp -index INDEX -reqin/-respout", signing with the test CA itself.
ocsp_up() {
    OCSP_PORT=$(sc_free_port)
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
    sc_spawn "$d/ocsp.log" python3 "$d/ocsp-front.py" "$OCSP_PORT" "$1" "$KDC_CA_PEM" "$KDC_DIR/ca.key" "$d"
    OCSP_PID=$SC_LAST_PID
    sc_wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $OCSP_PORT), 1)" ||
        sc_bail "OCSP responder listens on 127.0.0.1:$OCSP_PORT" "$d/ocsp.log"
}

ocsp_up "$ca/index-good.txt"
chain_service t-ocsp "trust_anchors=$KDC_CA_PEM revocation_check=ocsp ocsp_responder=http://127.0.0.1:$OCSP_PORT/ ocsp_timeout=3 revocation_fail=hard"
rc=$(login t-ocsp)
expect_rc "OCSP says good: signs in" $PAM_SUCCESS "$rc"
sc_stop "$OCSP_PID"

ocsp_up "$ca/index-revoked.txt"
chain_service t-ocsp "trust_anchors=$KDC_CA_PEM revocation_check=ocsp ocsp_responder=http://127.0.0.1:$OCSP_PORT/ ocsp_timeout=3"
rc=$(login t-ocsp)
expect_rc "OCSP says revoked: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told the certificate is revoked (OCSP)" "certificate has been revoked"
no_out "no PIN is asked when OCSP says revoked" "PIN for"
sc_stop "$OCSP_PID"

down=$(sc_free_port)   # nothing listens there
chain_service t-ocsp-soft "trust_anchors=$KDC_CA_PEM revocation_check=ocsp ocsp_responder=http://127.0.0.1:$down/ ocsp_timeout=2"
rc=$(login t-ocsp-soft)
expect_rc "OCSP responder down, revocation_fail=soft: signs in" $PAM_SUCCESS "$rc"
logged "unreachable responder is logged as a warning" "revocation status unknown.*cannot be reached"
chain_service t-ocsp-hard "trust_anchors=$KDC_CA_PEM revocation_check=ocsp ocsp_responder=http://127.0.0.1:$down/ ocsp_timeout=2 revocation_fail=hard"
rc=$(login t-ocsp-hard)
expect_rc "OCSP responder down, revocation_fail=hard: refused" $PAM_PERM_DENIED "$rc"
expect_out "user is told why (responder unreachable)" "not trusted: .*OCSP responder .*cannot be reached"

sc_summary pam-trust
