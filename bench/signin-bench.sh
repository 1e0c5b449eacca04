#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sign-in latency benchmark (issue 5, Proof): wall-clock time from "PIN known" to "TGT in a
# ccache" for the same virtual PIV card and the same throwaway KDC, three ways:
#   kinit     plain MIT kinit -X X509_user_identity=PKCS11:module_name=opensc-pkcs11.so:certid=01
#   pam_scard tools/scard-login through real libpam and pam_scard (PIN from --pin-file)
#   pam_krb5  tools/scard-login through Debian's pam_krb5 with use_pkinit (if installed)
# N runs of each, interleaved (kinit, pam_scard, pam_krb5, kinit, ...) so that drift hits all
# three alike. Prints a Markdown table (median and p90 in ms, ratios against the targets
# pam_scard <= 1.1x kinit and pam_scard < pam_krb5). Not a test: nothing is asserted.
#
# usage: bench/signin-bench.sh [BUILDDIR] [N]      (BUILDDIR: a built tree, default: .)
# Environment: SC_KEEP=1 keeps the scratch directory; BENCH_TRACE=1 also runs one traced
# sign-in of each (KRB5_TRACE) and prints where the time goes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib="$here/../tests/integration/lib"
. "$lib/common.sh"
. "$lib/kdc.sh"
. "$lib/chain.sh"

SC_BUILD=$(cd "${1:-${top_builddir:-.}}" && pwd)
N="${2:-20}"
builddir="${TMPDIR:-/tmp}"   # scratch outside the tree
chain_require
sc_scratch signin-bench
chain_setup alice
kdc_start
chain_card alice alice rsa2048 >"$SC_SCRATCH/card-alice.log"
chain_start_scardd
d="$SC_SCRATCH"
ident="PKCS11:module_name=$OPENSC_PKCS11:certid=01"

PAM_KRB5="$(sc_first_file /usr/lib/*/security/pam_krb5.so /lib/*/security/pam_krb5.so)"
if [ -n "$PAM_KRB5" ]; then
    # Debian's pam_krb5 (Russ Allbery): use_pkinit = PKINIT only, pkinit_user = the X.509
    # identity handed to MIT's preauth plugin; the PIN prompt reaches the PAM conversation
    # through pam_krb5's prompter. The session group is pam_permit so that both modules are
    # timed for authenticate + setcred (ccache written) + session.
    cat >"$d/pam/krb5-login" <<CONF
auth     required  $PAM_KRB5 use_pkinit pkinit_user=$ident pkinit_anchors=FILE:$KDC_CA_PEM
account  required  pam_permit.so
session  required  $PAM_KRB5
CONF
fi

now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }

run_kinit() {
    rm -f "$d/kinit.cc"
    ${WRAP:-} kinit -c "FILE:$d/kinit.cc" -X "X509_user_identity=$ident" "alice@$KDC_REALM" <"$d/pin" \
        >"$d/kinit.out" 2>&1 && klist -s -c "FILE:$d/kinit.cc"
}
run_pam() {   # SERVICE
    LD_PRELOAD="$NSS_WRAPPER" NSS_WRAPPER_PASSWD="$d/passwd" NSS_WRAPPER_GROUP="$d/group" \
        ${WRAP:-} "$SCARD_LOGIN" --confdir "$d/pam" --service "$1" --pin-file "$d/pin" alice >"$d/$1.out" 2>&1
}
run_scard() { rm -f "$d"/ccache/*; run_pam scard-login; }
run_krb5() { run_pam krb5-login; }

# The same three on a pseudo-terminal (bench/pin-to-tgt.py): the PIN is typed when the prompt
# appears, and the time from then to the process's exit is what a user waits after the PIN.
PTY="$here/pin-to-tgt.py"
pty_kinit() {
    rm -f "$d/kinit.cc"
    /usr/bin/python3 "$PTY" "$d/pin" kinit -c "FILE:$d/kinit.cc" -X "X509_user_identity=$ident" "alice@$KDC_REALM"
}
pty_pam() {   # SERVICE
    /usr/bin/python3 "$PTY" "$d/pin" env LD_PRELOAD="$NSS_WRAPPER" NSS_WRAPPER_PASSWD="$d/passwd" \
        NSS_WRAPPER_GROUP="$d/group" "$SCARD_LOGIN" --confdir "$d/pam" --service "$1" alice
}
pty_scard() { rm -f "$d"/ccache/*; pty_pam scard-login; }
pty_krb5() { pty_pam krb5-login; }

# timed NAME CMD...: run CMD once, append its wall time (ms) to $d/NAME.ms; die if it failed.
timed() {
    local name="$1" t0 t1 rc=0
    shift
    t0=$(now)
    "$@" || rc=$?
    t1=$(now)
    if [ "$rc" != 0 ]; then
        sed 's/^/    /' "$d"/*.out >&2 || true
        sc_die "$name failed (status $rc)"
    fi
    ms "$t0" "$t1" >>"$d/$name.ms"
}

# timed_pty NAME CMD...: run CMD (a pty_* function), append its PIN-to-exit time (ms) to
# $d/NAME.pin.ms; die if it failed.
timed_pty() {
    local name="$1" out rc=0
    shift
    out=$("$@" 2>"$d/pty.err") || rc=$?
    [ "$rc" = 0 ] || sc_die "$name on a pseudo-terminal failed (status $rc): $(cat "$d/pty.err")"
    echo "${out%% *}" >>"$d/$name.pin.ms"
}
pty_of() {
    case "$1" in kinit) echo pty_kinit ;; pam_scard) echo pty_scard ;; pam_krb5) echo pty_krb5 ;; esac
}

# Attribution: the same OpenSC module through pkcs11-tool, once without and once with the PIN
# (the throwaway test PIN on the command line): C_Initialize + token/object listing +
# C_Finalize, and the same plus one C_Login = one PIV VERIFY on the card. The difference is
# what one VERIFY costs; pam_scard does it once more than kinit (its own check of the PIN
# through libp11, before PKINIT's C_Login).
run_p11_open() { pkcs11-tool --module "$OPENSC_PKCS11" -O >"$d/p11.out" 2>&1; }
run_p11_login() { pkcs11-tool --module "$OPENSC_PKCS11" -l -p "$(cat "$d/pin")" -O >"$d/p11.out" 2>&1; }

methods="kinit pam_scard"
[ -n "$PAM_KRB5" ] && methods="$methods pam_krb5"
command -v pkcs11-tool >/dev/null && methods="$methods p11_open p11_login"
cmd_of() {
    case "$1" in kinit) echo run_kinit ;; pam_scard) echo run_scard ;; pam_krb5) echo run_krb5 ;;
    p11_open) echo run_p11_open ;; p11_login) echo run_p11_login ;; esac
}

# One warm-up of each (page cache, first KDC database access), not counted.
for m in $methods; do timed warmup "$(cmd_of "$m")"; done
for ((i = 1; i <= N; i++)); do
    for m in $methods; do timed "$m" "$(cmd_of "$m")"; done
    for m in $methods; do
        [ -n "$(pty_of "$m")" ] && timed_pty "$m" "$(pty_of "$m")"
    done
done

# stats NAME → "median p90" (nearest rank)
stats() {
    sort -n "$d/$1.ms" | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        r = int(0.9 * NR + 0.999999); if (r < 1) r = 1
        printf "%d %d\n", m, v[r] }'
}
read -r k_med k_p90 < <(stats kinit)
read -r s_med s_p90 < <(stats pam_scard)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

printf '\nSign-in latency, PIN to TGT: %d runs each, interleaved; %s; MIT krb5 %s; OpenSC %s.\n\n' \
    "$N" "$(uname -m)" "$(krb5-config --version 2>/dev/null | sed 's/.*release //')" \
    "$(dpkg-query -W -f '${Version}' opensc-pkcs11 2>/dev/null || echo '?')"
echo "| method | median ms | p90 ms | pam_scard / method (median) | target |"
echo "|---|---:|---:|---:|---|"
echo "| kinit -X X509_user_identity=PKCS11:… | $k_med | $k_p90 | $(ratio "$s_med" "$k_med") | pam_scard ≤ 1.10 × kinit |"
echo "| pam_scard (scard-login) | $s_med | $s_p90 | 1.00 | — |"
if [ -n "$PAM_KRB5" ]; then
    read -r p_med p_p90 < <(stats pam_krb5)
    echo "| Debian pam_krb5 use_pkinit (scard-login) | $p_med | $p_p90 | $(ratio "$s_med" "$p_med") | pam_scard < 1.00 × pam_krb5 |"
else
    echo "| Debian pam_krb5 | — | — | — | not installed (apt-get install libpam-krb5) |"
fi
if [ -f "$d/p11_login.ms" ]; then
    read -r o_med o_p90 < <(stats p11_open)
    read -r l_med l_p90 < <(stats p11_login)
    echo
    echo "| attribution (pkcs11-tool, same card) | median ms | p90 ms |"
    echo "|---|---:|---:|"
    echo "| C_Initialize + list objects + C_Finalize (-O) | $o_med | $o_p90 |"
    echo "| same + C_Login (one PIV VERIFY) | $l_med | $l_p90 |"
    echo "| one VERIFY (difference of medians) | $((l_med - o_med)) | — |"
    echo "| pam_scard − kinit (difference of medians) | $((s_med - k_med)) | — |"
fi
# PIN typed at the prompt → process gone (TGT stored): what the user waits for after the PIN.
read -r kp_med kp_p90 < <(stats kinit.pin)
read -r sp_med sp_p90 < <(stats pam_scard.pin)
echo
echo "| PIN typed → done (pseudo-terminal) | median ms | p90 ms | pam_scard / method (median) | target |"
echo "|---|---:|---:|---:|---|"
echo "| kinit -X X509_user_identity=PKCS11:… | $kp_med | $kp_p90 | $(ratio "$sp_med" "$kp_med") | pam_scard ≤ 1.10 × kinit |"
echo "| pam_scard (scard-login) | $sp_med | $sp_p90 | 1.00 | — |"
if [ -n "$PAM_KRB5" ]; then
    read -r pp_med pp_p90 < <(stats pam_krb5.pin)
    echo "| Debian pam_krb5 use_pkinit (scard-login) | $pp_med | $pp_p90 | $(ratio "$sp_med" "$pp_med") | pam_scard < 1.00 × pam_krb5 |"
fi
echo
echo "raw ms: kinit: $(tr '\n' ' ' <"$d/kinit.ms")"
echo "raw ms: pam_scard: $(tr '\n' ' ' <"$d/pam_scard.ms")"
echo "raw ms, PIN typed → done: kinit: $(tr '\n' ' ' <"$d/kinit.pin.ms")"
echo "raw ms, PIN typed → done: pam_scard: $(tr '\n' ' ' <"$d/pam_scard.pin.ms")"
[ -n "$PAM_KRB5" ] && echo "raw ms, PIN typed → done: pam_krb5: $(tr '\n' ' ' <"$d/pam_krb5.pin.ms")"
[ -n "$PAM_KRB5" ] && echo "raw ms: pam_krb5: $(tr '\n' ' ' <"$d/pam_krb5.ms")"
[ -f "$d/p11_login.ms" ] && echo "raw ms: one VERIFY: $(paste "$d/p11_login.ms" "$d/p11_open.ms" | awk '{ printf "%d ", $1 - $2 }')"

if [ -n "${BENCH_STRACE:-}" ] && command -v strace >/dev/null; then
    # Where the time goes, from system calls: the PIV VERIFY APDU (00 20 00 80) is the one
    # request to scardd that waits ~150 ms for its answer. Note: the trace holds the test PIN.
    for m in kinit pam_scard; do
        WRAP="strace -f -ttt -e trace=openat,connect,write,sendto,sendmsg,exit_group -o $d/$m.strace" "$(cmd_of "$m")"
        echo "strace $m: requests that waited > 20 ms for the answer (relative ms: request, wait):"
        awk 'NR == 1 { t0 = $2 } { t = ($2 - t0) * 1000
             if (t - p > 20) printf "  %7.1f %6.1f  %s\n", p, t - p, (prev ~ /\\0 \\0\\200/ ? "PIV VERIFY (00 20 00 80)" : substr(prev, 1, 60))
             p = t; prev = $0 }' "$d/$m.strace"
    done
fi
if [ -n "${BENCH_TRACE:-}" ]; then
    # One traced run of each: KRB5_TRACE timestamps show when PKINIT starts (card opened by
    # the PKINIT plugin), when the AS-REQ is sent and when the TGT is stored.
    for m in kinit pam_scard pam_krb5; do
        [ -f "$d/$m.ms" ] || continue
        t0=$(now)
        KRB5_TRACE="$d/$m.trace" "$(cmd_of "$m")"
        echo "trace $m: start $t0 ns, total $(ms "$t0" "$(now)") ms"
        awk -v t0="${t0:0:10}.${t0:10:6}" '/^\[[0-9]+\] [0-9]+\.[0-9]+:/ {
            split($2, a, ":"); t = (a[1] - t0) * 1000
            $1 = ""; $2 = ""; printf "  %7.1f ms %s\n", t, substr($0, 3, 110) }' "$d/$m.trace"
    done
fi
