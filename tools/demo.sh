#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# End-to-end demo: throwaway Kerberos realm with PKINIT → virtual PIV card for alice →
# scardd → OpenSC → pam_scard → alice's TGT. Everything runs in a scratch directory, on
# 127.0.0.1 only, and is stopped before the script ends.
#
# Usage: tools/demo.sh [--pin-file FILE] [--keep]
#   With a terminal on standard input you type the card's PIN at pam_scard's prompt;
#   without one (CI, scripts) nothing is asked and the PIN set on the card is used.
#   --pin-file FILE  read the PIN from FILE's first line instead of asking
#   --keep           keep the scratch directory (its path is printed)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
pinfile=""
while [ $# -gt 0 ]; do
    case "$1" in
    --pin-file) pinfile="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    --keep) export SC_KEEP=1; shift ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed -n 's/^# \{0,1\}//p' | grep -v '^SPDX'; exit 0 ;;
    *) echo "demo.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

echo "==> Checking packages and building (first run takes a few minutes)"
"$top/tools/deps.sh"
SC_BUILD=$("$top/tools/build.sh" | tail -n1)
export SC_BUILD

. "$top/tests/integration/lib/common.sh"
. "$top/tests/integration/lib/kdc.sh"
. "$top/tests/integration/lib/chain.sh"
chain_require
mkdir -p "$top/demo-run"
builddir="$top/demo-run" sc_scratch demo
[ -n "${SC_KEEP:-}" ] && echo "    scratch directory: $SC_SCRATCH"

echo "==> Starting a throwaway Kerberos realm (MIT krb5kdc with PKINIT on 127.0.0.1)"
chain_setup alice
kdc_start
echo "    realm $KDC_REALM, KDC on 127.0.0.1:$KDC_PORT, test CA $KDC_CA_PEM"

echo "==> Creating a virtual PIV card for alice (RSA-2048 key generated on the card)"
chain_card alice alice rsa2048 >/dev/null
"$SCARD_VCARD" list | sed 's/^/    /'

echo "==> Starting scardd with the card's reader"
chain_start_scardd
echo "    socket $SCARD_SOCKET"

echo "==> Signing in alice through PAM (pam_scard)"
if [ -z "$pinfile" ] && [ -t 0 ]; then
    echo "    The card's PIN is $CHAIN_PIN."
    rc=0
    LD_PRELOAD="$NSS_WRAPPER" NSS_WRAPPER_PASSWD="$SC_SCRATCH/passwd" NSS_WRAPPER_GROUP="$SC_SCRATCH/group" \
        "$SCARD_LOGIN" --confdir "$SC_SCRATCH/pam" --service scard-login alice \
        >"$SC_SCRATCH/login.out" || rc=$?
else
    rc=0
    chain_login alice "${pinfile:-$SC_SCRATCH/pin}" || rc=$?
fi
grep -v '=' "$SC_SCRATCH/login.out" | sed 's/^/    /' || true
if [ "$rc" -ne 0 ]; then
    echo "==> Sign-in FAILED (PAM status $rc); scardd log:" >&2
    tail -n 20 "$SC_SCRATCH/scardd.log" >&2
    exit 1
fi

field() { sed -n "s/^$1=//p" "$SC_SCRATCH/login.out" | tail -n1; }
ccache=$(field KRB5CCNAME)
echo "==> Signed in"
echo "    user     $(field user)"
echo "    reader   $(field SCARD_READER)"
echo "    card     $(field PKCS11_LOGIN_TOKEN_NAME) (token label; PIV slot 9A certificate)"
echo "    ccache   $ccache"
echo "==> alice's ticket (klist -c $ccache)"
klist -c "$ccache" | sed 's/^/    /'
echo "==> Done; stopping scardd and the KDC"
