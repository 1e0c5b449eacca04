#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# pam_scard with a PIN-pad reader (the virtual card's simulated pad, reader-conf --pinpad):
# OpenSC reports a protected authentication path, so pam_scard asks no PIN, tells the user to
# use the pad, and MIT PKINIT's C_Login lets the reader collect it. Through real libpam and the
# throwaway KDC: right PIN, wrong PIN (tries left, one try used), nothing typed (no try used).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/kdc.sh"
. "$here/lib/chain.sh"

SC_BUILD="${top_builddir:?run through make check}"
chain_require
sc_scratch pam-pinpad
d="$SC_SCRATCH"
CHAIN_CARD_WAIT=1
chain_setup alice
kdc_start
chain_card alice alice rsa2048 >"$d/card-alice.log" 2>&1
PAD="$d/pad-keys"
"$SCARD_VCARD" reader-conf alice --friendly-name "Virtual PIV alice" --libpath "$VCARD_DRIVER" \
    --pinpad "$PAD" >"$d/readers.d/alice.conf"
# OpenSC uses a reader's PIN pad when enable_pinpad is true (its default; said here anyway)
sed -i 's|^    reader_driver pcsc {$|&\n        enable_pinpad = true;|' "$d/opensc.conf"
chain_start_scardd
SC_FAIL_LOGS+=("$d/scardd.log" "$KDC_DIR/kdc.log")

PAM_SUCCESS=0 PAM_AUTH_ERR=7
out="$d/login.out"
login() { local rc=0; chain_login alice "$d/no-pin-file" || rc=$?; echo "$rc"; } # no PIN from the host
pad() { printf '%s\n' "$1" >"$PAD"; }                                           # what is "typed"

pad "$CHAIN_PIN"
rc=$(login)
expect_rc "PIN on the pad: alice signs in" $PAM_SUCCESS "$rc"
no_out "no PIN prompt" "^PIN for"
expect_out "the user is told to use the PIN pad" "^Enter the PIN on the PIN pad of Virtual PIV alice 00 00\\.$"
ccache=$(sed -n 's/^KRB5CCNAME=//p' "$out" | tail -n1)
if [ -n "$ccache" ] && klist -c "$ccache" 2>/dev/null | grep -q "krbtgt/$KDC_REALM@$KDC_REALM"; then
    sc_ok "klist shows alice's TGT"
else
    sc_not_ok "klist shows alice's TGT" "$out"
fi
chain_expect_tries alice 5/5 "the right PIN leaves all five tries"

pad 999999
rc=$(login)
expect_rc "wrong PIN on the pad: PAM_AUTH_ERR" $PAM_AUTH_ERR "$rc"
expect_out "the user is told the tries left" "^Wrong PIN\\. 4 tries left\\.$"
chain_expect_tries alice 4/5 "a wrong PIN on the pad uses one try"

rm -f "$PAD"
rc=$(login)
expect_rc "nothing typed on the pad: refused" $PAM_AUTH_ERR "$rc"
expect_out "the user is told no PIN came from the pad" "no PIN entered on the PIN pad"
chain_expect_tries alice 4/5 "nothing typed uses no try"

pad "$CHAIN_PIN"
rc=$(login)
expect_rc "the right PIN again" $PAM_SUCCESS "$rc"
chain_expect_tries alice 5/5 "the right PIN resets the counter"
if grep -rqs -- "$CHAIN_PIN" "$d/scardd.log" "$out"; then
    sc_not_ok "the PIN appears in no log or output" "$out"
else
    sc_ok "the PIN appears in no log or output"
fi

sc_summary
