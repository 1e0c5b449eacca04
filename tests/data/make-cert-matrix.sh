#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make-cert-matrix.sh OUTDIR: the certificate matrix of the sign-in policy tests (issue 5),
# made at test time with the openssl CLI (no committed keys): one test CA and one PEM
# certificate per case, OUTDIR/<case>.pem. Realm PAMSC.TEST, user alice unless noted.
set -eu
out="${1:?usage: make-cert-matrix.sh OUTDIR}"
mkdir -p "$out/newcerts"
: >"$out/index.txt"
echo 1000 >"$out/serial"

cat >"$out/ca.cnf" <<CNF
[ca]
default_ca = ca_default
[ca_default]
database = $out/index.txt
new_certs_dir = $out/newcerts
certificate = $out/ca.pem
private_key = $out/ca.key
serial = $out/serial
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

cat >"$out/ext.cnf" <<'CNF'
[pkinit_san]
otherName = 1.3.6.1.5.2.2;SEQUENCE:princ
[princ]
realm = EXP:0,GeneralString:PAMSC.TEST
principal_name = EXP:1,SEQUENCE:princ_seq
[princ_seq]
name_type = EXP:0,INTEGER:1
name_string = EXP:1,SEQUENCE:princ_names
[princ_names]
n0 = GeneralString:alice
[upn_san]
otherName = 1.3.6.1.4.1.311.20.2.3;UTF8:alice@pamsc.test
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

[good]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
subjectAltName = @pkinit_san
[sclogon_only]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.4.1.311.20.2.2
subjectAltName = @pkinit_san
[no_eku]
keyUsage = critical,digitalSignature,keyEncipherment
subjectAltName = @pkinit_san
[wrong_eku]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = @pkinit_san
[client_auth]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectAltName = @pkinit_san
[any_eku]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 2.5.29.37.0
subjectAltName = @pkinit_san
[sig_only]
keyUsage = critical,digitalSignature
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
subjectAltName = @pkinit_san
[no_digsig]
keyUsage = critical,keyEncipherment
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
subjectAltName = @pkinit_san
[ecc]
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
subjectAltName = @pkinit_san
[no_san]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
[upn_only]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.4.1.311.20.2.2
subjectAltName = @upn_san
[two_part]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.5.2.3.4
subjectAltName = @svc_san
CNF

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$out/ca.key" -out "$out/ca.pem" \
    -subj "/CN=Matrix Test CA" -days 30 2>/dev/null

# issue NAME EXTENSIONS KEYTYPE SUBJECT DATES...: key, CSR, certificate signed by the CA.
issue() {
    local name="$1" ext="$2" key="$3" subj="$4"; shift 4
    if [ "$key" = ec ]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/$name.key" 2>/dev/null
    else
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/$name.key" 2>/dev/null
    fi
    openssl req -new -key "$out/$name.key" -subj "$subj" -out "$out/$name.csr" 2>/dev/null
    openssl ca -batch -notext -config "$out/ca.cnf" -in "$out/$name.csr" -out "$out/$name.pem" \
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
rm -f "$out"/*.csr
