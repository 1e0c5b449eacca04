# SPDX-License-Identifier: LGPL-2.1-or-later
# cert_ext_sections REALM USER: the openssl extension sections of the sign-in certificate matrix,
# shared by make-cert-matrix.sh (unit tests) and tests/integration/pam-certmatrix.sh (end to
# end): the id-pkinit-san of USER@REALM (pkinit_san) and the Microsoft UPN USER@realm (upn_san),
# and one section per case: good, no_eku, wrong_eku, client_auth, sig_only, no_san, upn_only.
cert_ext_sections() {
    local realm="$1" user="$2"
    cat <<CNF
[pkinit_san]
otherName = 1.3.6.1.5.2.2;SEQUENCE:princ
[princ]
realm = EXP:0,GeneralString:$realm
principal_name = EXP:1,SEQUENCE:princ_seq
[princ_seq]
name_type = EXP:0,INTEGER:1
name_string = EXP:1,SEQUENCE:princ_names
[princ_names]
n0 = GeneralString:$user
[upn_san]
otherName = 1.3.6.1.4.1.311.20.2.3;UTF8:$user@$(printf '%s' "$realm" | tr 'A-Z' 'a-z')
[good]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
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
[sig_only]
keyUsage = critical,digitalSignature
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
subjectAltName = @pkinit_san
[no_san]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.5.2.3.4,1.3.6.1.4.1.311.20.2.2
[upn_only]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = 1.3.6.1.4.1.311.20.2.2
subjectAltName = @upn_san
CNF
}
