#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make-cert-matrix.sh OUTDIR: the certificate matrix of the sign-in policy tests (issue 5),
# made at test time with the openssl CLI (no committed keys): one test CA and one PEM
# certificate per case, OUTDIR/<case>.pem. Realm PAMSC.TEST, user alice unless noted.
# The trust cases (pam_scard/trust.c) add an intermediate CA, a foreign CA, CRLs, bundles and
# hashed directories (openssl rehash); see the list at the end.
set -eu
out="${1:?usage: make-cert-matrix.sh OUTDIR}"
. "$(dirname "$0")/cert-ext.sh"
mkdir -p "$out/newcerts"
: >"$out/index.txt"
echo 1000 >"$out/serial"
echo 01 >"$out/crlnumber"

cat >"$out/ca.cnf" <<CNF
[ca]
default_ca = ca_default
[ca_default]
database = $out/index.txt
new_certs_dir = $out/newcerts
certificate = $out/ca.pem
private_key = $out/ca.key
serial = $out/serial
crlnumber = $out/crlnumber
default_crl_days = 30
default_md = sha256
policy = pol
unique_subject = no
email_in_dn = no
[pol]
commonName = supplied
[req]
distinguished_name = dn
[dn]
CNF

# the shared case sections (tests/data/cert-ext.sh), then the ones only the unit tests use
{
    cert_ext_sections PAMSC.TEST alice
    cat <<'CNF'
[svc_san]
otherName = 1.3.6.1.5.2.2;SEQUENCE:svc_princ
[svc_princ]
realm = EXP:0,GeneralString:PAMSC.TEST
principal_name = EXP:1,SEQUENCE:svc_seq
[svc_seq]
name_type = EXP:0,INTEGER:1
name_string = EXP:1,SEQUENCE:svc_names
[svc_names]
n0 = GeneralString:bob
n1 = GeneralString:admin

[sclogon_only]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.4.1.311.20.2.2
subjectAltName = @pkinit_san
[any_eku]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 2.5.29.37.0
subjectAltName = @pkinit_san
[no_digsig]
keyUsage = critical,keyEncipherment
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
subjectAltName = @pkinit_san
[ecc]
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
subjectAltName = @pkinit_san
[two_part]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.5.2.3.4
subjectAltName = @svc_san
[sub_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[aia_http]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
subjectAltName = @pkinit_san
authorityInfoAccess = OCSP;URI:http://127.0.0.1:9/ocsp
[aia_https]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
subjectAltName = @pkinit_san
authorityInfoAccess = OCSP;URI:https://127.0.0.1:9/ocsp
[aia_two]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
subjectAltName = @pkinit_san
authorityInfoAccess = OCSP;URI:https://127.0.0.1:9/first,caIssuers;URI:http://127.0.0.1:9/ca.crt,OCSP;URI:http://127.0.0.1:9/second
CNF
} >"$out/ext.cnf"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$out/ca.key" -out "$out/ca.pem" \
    -subj "/CN=Matrix Test CA" -days 30 2>/dev/null

# issue NAME EXTENSIONS KEYTYPE SUBJECT DATES...: key, CSR, certificate signed by the CA
# ($issuer_cnf: the matrix CA unless set).
issuer_cnf="$out/ca.cnf"
issue() {
    local name="$1" ext="$2" key="$3" subj="$4"; shift 4
    if [ "$key" = ec ]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/$name.key" 2>/dev/null
    else
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/$name.key" 2>/dev/null
    fi
    openssl req -new -key "$out/$name.key" -subj "$subj" -out "$out/$name.csr" 2>/dev/null
    openssl ca -batch -notext -config "$issuer_cnf" -in "$out/$name.csr" -out "$out/$name.pem" \
        -extfile "$out/ext.cnf" -extensions "$ext" "$@" 2>/dev/null
}

issue good          good         rsa "/CN=alice"     -days 10
issue sclogon-only  sclogon_only rsa "/CN=alice"     -days 10
issue expired       good         rsa "/CN=alice"     -startdate 20200101000000Z -enddate 20210101000000Z
issue not-yet-valid good         rsa "/CN=alice"     -startdate 20990101000000Z -enddate 20991231000000Z
issue no-eku        no_eku       rsa "/CN=alice"     -days 10
issue wrong-eku     wrong_eku    rsa "/CN=alice"     -days 10
issue client-auth   client_auth  rsa "/CN=alice"     -days 10
issue any-eku       any_eku      rsa "/CN=alice"     -days 10
issue sig-only      sig_only     rsa "/CN=alice"     -days 10
issue no-digsig     no_digsig    rsa "/CN=alice"     -days 10
issue ecc           ecc          ec  "/CN=alice"     -days 10
issue no-san        no_san       rsa "/CN=alice"     -days 10
issue upn-only      upn_only     rsa "/CN=alice"     -days 10
issue two-part      two_part     rsa "/CN=bob admin" -days 10
# two certificates for one user: same issuer and subject, the second expires later
issue dup-early     good         rsa "/CN=alice"     -days 5
issue dup-late      good         rsa "/CN=alice"     -days 20

# --- trust cases (tests/unit/test-trust.c) ------------------------------------------------
# ca.crl-empty.pem: the matrix CA's CRL before anything is revoked
openssl ca -batch -config "$out/ca.cnf" -gencrl -out "$out/crl-empty.pem" 2>/dev/null
# revoked: listed in crl.pem (the matrix CA's CRL)
issue revoked       good         rsa "/CN=alice"     -days 10
# an intermediate CA under the matrix CA, with its own openssl-ca database
mkdir -p "$out/inter/newcerts"
: >"$out/inter/index.txt"
echo 2000 >"$out/inter/serial"
echo 01 >"$out/inter/crlnumber"
sed -e "s|^database = .*|database = $out/inter/index.txt|" \
    -e "s|^new_certs_dir = .*|new_certs_dir = $out/inter/newcerts|" \
    -e "s|^certificate = .*|certificate = $out/inter-ca.pem|" \
    -e "s|^private_key = .*|private_key = $out/inter-ca.key|" \
    -e "s|^serial = .*|serial = $out/inter/serial|" \
    -e "s|^crlnumber = .*|crlnumber = $out/inter/crlnumber|" "$out/ca.cnf" >"$out/inter.cnf"
issue inter-ca      sub_ca       rsa "/CN=Matrix Intermediate CA" -days 30
issuer_cnf="$out/inter.cnf"
issue via-inter         good     rsa "/CN=alice"     -days 10
issue via-inter-revoked good     rsa "/CN=alice"     -days 10
openssl ca -batch -config "$out/inter.cnf" -revoke "$out/via-inter-revoked.pem" 2>/dev/null
openssl ca -batch -config "$out/inter.cnf" -gencrl -out "$out/inter-crl.pem" 2>/dev/null
issuer_cnf="$out/ca.cnf"
# AIA: an http:// OCSP URL; only https://; https:// first, then a caIssuers and an http:// one
issue aia-http      aia_http     rsa "/CN=alice"     -days 10
issue aia-https     aia_https    rsa "/CN=alice"     -days 10
issue aia-two       aia_two      rsa "/CN=alice"     -days 10
# the matrix CA's CRLs: revoked.pem listed; then revoked.pem and the intermediate CA listed
openssl ca -batch -config "$out/ca.cnf" -revoke "$out/revoked.pem" 2>/dev/null
openssl ca -batch -config "$out/ca.cnf" -gencrl -out "$out/crl.pem" 2>/dev/null
openssl ca -batch -config "$out/ca.cnf" -revoke "$out/inter-ca.pem" 2>/dev/null
openssl ca -batch -config "$out/ca.cnf" -gencrl -out "$out/crl-inter-revoked.pem" 2>/dev/null
# untrusted-issuer: a good certificate from a CA that no anchor names
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$out/foreign-ca.key" -out "$out/foreign-ca.pem" \
    -subj "/CN=Foreign Test CA" -days 30 2>/dev/null
openssl req -new -key "$out/good.key" -subj "/CN=alice" -out "$out/untrusted-issuer.csr" 2>/dev/null
openssl x509 -req -in "$out/untrusted-issuer.csr" -CA "$out/foreign-ca.pem" -CAkey "$out/foreign-ca.key" \
    -CAcreateserial -days 10 -extfile "$out/ext.cnf" -extensions good -out "$out/untrusted-issuer.pem" 2>/dev/null
# anchors and CRLs as bundles (several PEM objects in one file) and as hashed directories
cat "$out/ca.pem" "$out/inter-ca.pem" >"$out/anchors-root-inter.pem"
cat "$out/foreign-ca.pem" "$out/ca.pem" >"$out/anchors-foreign-root.pem"
cat "$out/inter-crl.pem" "$out/crl.pem" >"$out/crls-inter-root.pem"
cat "$out/inter-crl.pem" "$out/crl-inter-revoked.pem" >"$out/crls-inter-root-revoked.pem"
mkdir -p "$out/anchors-dir" "$out/anchors-unhashed" "$out/crl-dir"
cp "$out/foreign-ca.pem" "$out/ca.pem" "$out/inter-ca.pem" "$out/anchors-dir/"
cp "$out/ca.pem" "$out/anchors-unhashed/"
cp "$out/inter-crl.pem" "$out/crl.pem" "$out/crl-dir/"
openssl rehash "$out/anchors-dir" "$out/crl-dir" 2>/dev/null
rm -f "$out"/*.csr
