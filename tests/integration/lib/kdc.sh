# SPDX-License-Identifier: LGPL-2.1-or-later
# A throwaway MIT Kerberos realm with PKINIT for tests and the demo: its own test CA,
# a KDC certificate, krb5.conf/kdc.conf and database in one directory, krb5kdc on
# 127.0.0.1 only. Needs common.sh. Certificates follow RFC 4556 (id-pkinit-san,
# id-pkinit-KPKdc / id-pkinit-KPClientAuth) plus Microsoft's smart-card logon EKU.

KDC_BIN="${KDC_BIN:-/usr/sbin/krb5kdc}"
KDB5_UTIL="${KDB5_UTIL:-/usr/sbin/kdb5_util}"
KADMIN_LOCAL="${KADMIN_LOCAL:-/usr/sbin/kadmin.local}"

kdc_require() {
    sc_require openssl "$KDC_BIN" "$KDB5_UTIL" "$KADMIN_LOCAL" kinit klist
    [ -e /usr/lib/x86_64-linux-gnu/krb5/plugins/preauth/pkinit.so ] ||
        ls /usr/lib/*/krb5/plugins/preauth/pkinit.so >/dev/null 2>&1 ||
        sc_skip "MIT PKINIT plugin (krb5-pkinit) is not installed"
}

_kdc_openssl_cnf() {
    cat <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[kdc_ext]
basicConstraints = CA:FALSE
keyUsage = digitalSignature,keyEncipherment,keyAgreement
extendedKeyUsage = 1.3.6.1.5.2.3.5
subjectAltName = otherName:1.3.6.1.5.2.2;SEQUENCE:kdc_princ
authorityKeyIdentifier = keyid
[kdc_princ]
realm = EXP:0,GeneralString:\${ENV::KDC_REALM}
principal_name = EXP:1,SEQUENCE:kdc_seq
[kdc_seq]
name_type = EXP:0,INTEGER:2
name_string = EXP:1,SEQUENCE:kdc_names
[kdc_names]
n1 = GeneralString:krbtgt
n2 = GeneralString:\${ENV::KDC_REALM}
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment,keyAgreement
extendedKeyUsage = 1.3.6.1.5.2.3.4,clientAuth,1.3.6.1.4.1.311.20.2.2
subjectAltName = otherName:1.3.6.1.5.2.2;SEQUENCE:cl_princ
authorityKeyIdentifier = keyid
[cl_princ]
realm = EXP:0,GeneralString:\${ENV::KDC_REALM}
principal_name = EXP:1,SEQUENCE:cl_seq
[cl_seq]
name_type = EXP:0,INTEGER:1
name_string = EXP:1,SEQUENCE:cl_names
[cl_names]
n1 = GeneralString:\${ENV::KDC_CLIENT}
CNF
}

# kdc_setup DIR REALM PORT: CA, KDC certificate, configuration and database in DIR.
# Exports KRB5_CONFIG, KRB5_KDC_PROFILE, KDC_DIR, KDC_REALM, KDC_PORT, KDC_CA_PEM.
kdc_setup() {
    local dir="$1" realm="$2" port="$3"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    export KDC_DIR="$dir" KDC_REALM="$realm" KDC_PORT="$port" KDC_CA_PEM="$dir/ca.pem"
    export KDC_CLIENT=unused
    _kdc_openssl_cnf >"$dir/openssl.cnf"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" \
        -days 30 -subj "/CN=scard test CA $realm" -extensions ca_ext \
        -config "$dir/openssl.cnf" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$dir/kdc.key" -out "$dir/kdc.csr" \
        -subj "/CN=KDC $realm" -config "$dir/openssl.cnf" 2>/dev/null
    openssl x509 -req -in "$dir/kdc.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 30 -out "$dir/kdc.pem" -extfile "$dir/openssl.cnf" \
        -extensions kdc_ext 2>/dev/null
    cat >"$dir/krb5.conf" <<CONF
[libdefaults]
    default_realm = $realm
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    udp_preference_limit = 1
    pkinit_anchors = FILE:$dir/ca.pem
[realms]
    $realm = {
        kdc = 127.0.0.1:$port
        pkinit_anchors = FILE:$dir/ca.pem
    }
CONF
    cat >"$dir/kdc.conf" <<CONF
[kdcdefaults]
    kdc_listen = 127.0.0.1:$port
    kdc_tcp_listen = 127.0.0.1:$port
[realms]
    $realm = {
        database_name = $dir/principal
        key_stash_file = $dir/stash
        acl_file = $dir/kadm5.acl
        pkinit_identity = FILE:$dir/kdc.pem,$dir/kdc.key
        pkinit_anchors = FILE:$dir/ca.pem
        max_life = 10h
        max_renewable_life = 1d
    }
[logging]
    kdc = FILE:$dir/kdc.log
CONF
    : >"$dir/kadm5.acl"
    export KRB5_CONFIG="$dir/krb5.conf" KRB5_KDC_PROFILE="$dir/kdc.conf"
    "$KDB5_UTIL" create -s -r "$realm" -P "scard-test-master-$$" >"$dir/kdb5_util.log" 2>&1
}

# kdc_add_principal NAME: a PKINIT-only principal (no password key, pre-auth required).
kdc_add_principal() {
    "$KADMIN_LOCAL" -r "$KDC_REALM" -q "addprinc -nokey +requires_preauth $1@$KDC_REALM" \
        >>"$KDC_DIR/kadmin.log" 2>&1
}

# kdc_issue_client_cert CSR PRINCIPAL OUT_PEM [DAYS]: sign a client CSR with the test CA, adding
# the id-pkinit-san for PRINCIPAL (name part; realm = KDC_REALM) and the PKINIT client EKUs;
# valid for DAYS (default 7).
kdc_issue_client_cert() {
    KDC_CLIENT="$2" openssl x509 -req -in "$1" -CA "$KDC_CA_PEM" -CAkey "$KDC_DIR/ca.key" \
        -CAcreateserial -days "${4:-7}" -out "$3" -extfile "$KDC_DIR/openssl.cnf" \
        -extensions client_ext 2>/dev/null
}

# kdc_start: start krb5kdc in the foreground mode under our PID tracking; wait until it answers.
_kdc_starts() {
    local n
    n=$(grep -c 'commencing operation' "$KDC_DIR/kdc.log" 2>/dev/null || true)
    echo "${n:-0}"
}

kdc_start() {
    # kdc.log is appended to across restarts: wait for one more start line than before.
    local i before
    before=$(_kdc_starts)
    sc_spawn "$KDC_DIR/krb5kdc.out" "$KDC_BIN" -n -r "$KDC_REALM"
    KDC_PID=$SC_LAST_PID
    for i in $(seq 100); do
        [ "$(_kdc_starts)" -gt "$before" ] && return 0
        kill -0 "$KDC_PID" 2>/dev/null || break
        sleep 0.05
    done
    sed 's/^/    /' "$KDC_DIR/krb5kdc.out" "$KDC_DIR/kdc.log" >&2 2>/dev/null || true
    sc_die "krb5kdc did not start"
}

kdc_stop() {
    [ -n "${KDC_PID:-}" ] && sc_stop "$KDC_PID"
    KDC_PID=""
}
