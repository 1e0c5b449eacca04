#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install the Debian packages scard needs to build, test and run its demo, when missing.
# Usage: tools/deps.sh [--tests]   (--tests adds what only the test suite uses)
set -euo pipefail

build_pkgs=(autoconf automake libtool pkg-config make gcc libc6-dev
    libpcsclite-dev libinih-dev libssl-dev libp11-dev libkrb5-dev libpam0g-dev libsystemd-dev openssl
    libudev-dev libxml2-dev)  # libudev, libxml2: scardd USB hot-plug and Info.plist
run_pkgs=(opensc opensc-pkcs11 krb5-kdc krb5-pkinit krb5-user krb5-admin-server
    libnss-wrapper libpam-wrapper libpam-modules python3)
# systemd: systemd-socket-activate/systemd-analyze for resmgr-service.sh (its install starts
# nothing without systemd as PID 1); valgrind: libscard allocation checks.
test_pkgs=(libcmocka-dev pamtester pcscd softhsm2 iproute2 xz-utils systemd valgrind)
# vsmartcard-vpcd, pcsc-tools, python3-pyscard: resmgr-vpcd.sh and resmgr-pcsclite-clients.sh
test_pkgs+=(vsmartcard-vpcd pcsc-tools python3-pyscard)
test_pkgs+=(yubico-piv-tool) # tests/integration/vcard-yubico.sh
# pam-session.sh: a KCM daemon on a scratch socket (Heimdal's kcm, which MIT libkrb5 reaches
# through kcm_socket) and keyctl for the KEYRING ccache checks
test_pkgs+=(heimdal-kcm keyutils)
# clang + its runtime (libFuzzer, sanitizers): tests/fuzz/run.sh
test_pkgs+=(clang libclang-rt-14-dev)

want=("${build_pkgs[@]}" "${run_pkgs[@]}")
[ "${1:-}" = "--tests" ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
else
    SUDO=
fi
# A service started by a package install would escape us: only install, never start.
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
