# Unit tests (cmocka), one binary per module, and integration tests (bash).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-config
TESTS += tests/unit/test-config
endif
tests_unit_test_config_SOURCES = tests/unit/test-config.c
tests_unit_test_config_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_config_LDADD = common/libsccommon.la $(CMOCKA_LIBS)

# End-to-end sign-in (all parts, real KDC); shared shell libraries for tests and the demo.
TESTS += tests/integration/signin.sh
EXTRA_DIST += \
	tests/integration/signin.sh \
	tests/integration/lib/common.sh \
	tests/integration/lib/kdc.sh \
	tests/integration/lib/chain.sh \
	tests/integration/lib/pcscd.sh \
	$(NULL)

# The sign-in certificate filter end to end: the matrix on a virtual card, each case under the
# default policy and under the key that changes it (real libpam and KDC).
TESTS += tests/integration/pam-certmatrix.sh
EXTRA_DIST += tests/integration/pam-certmatrix.sh

# Which certificate signs in: several cards, several certificates, no user name, hint (real KDC).
TESTS += tests/integration/pam-choose.sh
EXTRA_DIST += tests/integration/pam-choose.sh

# pam_scard with a PIN-pad reader (the virtual card's simulated pad, real OpenSC and KDC).
TESTS += tests/integration/pam-pinpad.sh
EXTRA_DIST += tests/integration/pam-pinpad.sh

# PIN change through pam_chauthtok (all parts, real KDC).
TESTS += tests/integration/pam-chauthtok.sh
EXTRA_DIST += tests/integration/pam-chauthtok.sh

# pam_scard unit tests: error-space tables and option parsing.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-errmap tests/unit/test-pam-options
TESTS += tests/unit/test-errmap tests/unit/test-pam-options
endif
tests_unit_test_errmap_SOURCES = tests/unit/test-errmap.c
tests_unit_test_errmap_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(PCSC_CFLAGS) $(KRB5_CFLAGS)
tests_unit_test_errmap_LDADD = pam_scard/libpamsc.la $(CMOCKA_LIBS)
tests_unit_test_pam_options_SOURCES = tests/unit/test-pam-options.c
tests_unit_test_pam_options_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	-DOPTIONS_C='"$(abs_top_srcdir)/pam_scard/options.c"'
tests_unit_test_pam_options_LDADD = pam_scard/libpamsc.la $(CMOCKA_LIBS)

# pam_scard's sign-in certificate filter and certificate → principal mapping, over a
# certificate matrix made at test time (tests/data/make-cert-matrix.sh, openssl CLI).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-certpolicy
TESTS += tests/unit/test-certpolicy
endif
tests_unit_test_certpolicy_SOURCES = tests/unit/test-certpolicy.c
tests_unit_test_certpolicy_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CRYPTO_CFLAGS) \
	-DMATRIX_SCRIPT='"$(abs_top_srcdir)/tests/data/make-cert-matrix.sh"'
tests_unit_test_certpolicy_LDADD = pam_scard/libpamsc.la $(CMOCKA_LIBS) $(CRYPTO_LIBS)
EXTRA_DIST += tests/data/make-cert-matrix.sh tests/data/cert-ext.sh

# pam_scard's local trust check (chain, CRL, OCSP URL choice and timeout, OpenSSL error queue)
# over the same certificate matrix.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-trust
TESTS += tests/unit/test-trust
endif
tests_unit_test_trust_SOURCES = tests/unit/test-trust.c
tests_unit_test_trust_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CRYPTO_CFLAGS) \
	-DMATRIX_SCRIPT='"$(abs_top_srcdir)/tests/data/make-cert-matrix.sh"'
tests_unit_test_trust_LDADD = pam_scard/libpamsc.la $(CMOCKA_LIBS) $(CRYPTO_LIBS)

# pam_scard against SoftHSM2 + a throwaway KDC (test-only module with a stand-in reader),
# and the real module's "resource manager not running" path.
check_LTLIBRARIES += tests/integration/pam_scard_softhsm.la
tests_integration_pam_scard_softhsm_la_SOURCES = tests/integration/pam_scard_softhsm.c
tests_integration_pam_scard_softhsm_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_integration_pam_scard_softhsm_la_LIBADD = pam_scard/libpamsc.la
tests_integration_pam_scard_softhsm_la_LDFLAGS = -module -avoid-version -shared -no-undefined \
	-rpath $(abs_builddir)
TESTS += tests/integration/pam-softhsm.sh
EXTRA_DIST += tests/integration/pam-softhsm.sh

# resmgr/vcard: PIV applet and card store unit tests; the card through a private pcscd + OpenSC.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-piv tests/unit/test-vcard-store
TESTS += tests/unit/test-piv tests/unit/test-vcard-store
endif
tests_unit_test_piv_SOURCES = tests/unit/test-piv.c
tests_unit_test_piv_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_piv_LDADD = resmgr/vcard/libvcard.la $(CMOCKA_LIBS) $(CRYPTO_LIBS)
tests_unit_test_vcard_store_SOURCES = tests/unit/test-vcard-store.c
tests_unit_test_vcard_store_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_vcard_store_LDADD = resmgr/vcard/libvcard.la $(CMOCKA_LIBS) $(CRYPTO_LIBS)
TESTS += tests/integration/vcard-pcscd.sh
EXTRA_DIST += tests/integration/vcard-pcscd.sh
# The simulated PIN pad (PC/SC Part 10): structures and formats (cmocka); OpenSC with
# enable_pinpad logging in through it under scardd, and MIT kinit with PKINIT (integration).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-pinpad
TESTS += tests/unit/test-pinpad
endif
tests_unit_test_pinpad_SOURCES = tests/unit/test-pinpad.c resmgr/vcard/pinpad.c resmgr/vcard/pinpad.h
tests_unit_test_pinpad_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(PCSC_CFLAGS)
tests_unit_test_pinpad_LDADD = $(CMOCKA_LIBS)
TESTS += tests/integration/vcard-pinpad.sh
EXTRA_DIST += tests/integration/vcard-pinpad.sh
# yubico-piv-tool provisions a virtual card (management key, GENERATE, PUT DATA) under pcscd.
TESTS += tests/integration/vcard-yubico.sh
EXTRA_DIST += tests/integration/vcard-yubico.sh

# resmgr: wire protocol unit test; scardd + libscard end to end with a test IFD handler,
# a C client and OpenSC's opensc-tool.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-wire
TESTS += tests/unit/test-wire
endif
tests_unit_test_wire_SOURCES = tests/unit/test-wire.c resmgr/proto/wire.c resmgr/proto/wire.h
tests_unit_test_wire_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_wire_LDADD = $(CMOCKA_LIBS)

check_LTLIBRARIES += tests/drivers/ifd-test.la
tests_drivers_ifd_test_la_SOURCES = tests/drivers/ifd-test.c
tests_drivers_ifd_test_la_CFLAGS = $(AM_CFLAGS) $(PCSC_CFLAGS) $(PTHREAD_CFLAGS)
tests_drivers_ifd_test_la_LIBADD = $(PTHREAD_LIBS)
tests_drivers_ifd_test_la_LDFLAGS = -module -avoid-version -shared -no-undefined -rpath /nowhere

check_PROGRAMS += tests/integration/pcsc-client
tests_integration_pcsc_client_SOURCES = tests/integration/pcsc-client.c
tests_integration_pcsc_client_CFLAGS = $(AM_CFLAGS) $(PCSC_CFLAGS) $(PTHREAD_CFLAGS)
tests_integration_pcsc_client_LDADD = resmgr/client/libscard.la $(PTHREAD_LIBS)

TESTS += tests/integration/resmgr.sh
EXTRA_DIST += tests/integration/resmgr.sh

# Info.plist parsing and reader naming (cmocka); readers added and removed at run
# time, multi-slot naming, a hanging driver (integration, scardd + test IFD handler).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-readers
TESTS += tests/unit/test-readers
endif
tests_unit_test_readers_SOURCES = tests/unit/test-readers.c resmgr/daemon/plist.c \
	resmgr/daemon/plist.h resmgr/daemon/naming.c
tests_unit_test_readers_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(PCSC_CFLAGS) $(XML_CFLAGS) \
	-DTEST_DATA_DIR='"$(abs_top_srcdir)/tests/data"'
tests_unit_test_readers_LDADD = $(CMOCKA_LIBS) $(XML_LIBS)
TESTS += tests/integration/resmgr-readers.sh
EXTRA_DIST += tests/integration/resmgr-readers.sh tests/data/ifd-ccid-Info.plist

# access decisions and APDU masking (cmocka); sharing, transactions (FIFO, idle
# timeout, dead holder), access refused/allowed and limits against scardd (integration).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-access
TESTS += tests/unit/test-access
endif
tests_unit_test_access_SOURCES = tests/unit/test-access.c resmgr/daemon/access.c \
	resmgr/daemon/access.h resmgr/daemon/apdu.c resmgr/daemon/apdu.h
tests_unit_test_access_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_access_LDADD = $(CMOCKA_LIBS) $(SYSTEMD_LIBS)
TESTS += tests/integration/resmgr-sessions.sh
EXTRA_DIST += tests/integration/resmgr-sessions.sh

# scardd with real third-party parts — vsmartcard's vpcd driver plus a small test card
# (vpcd-card.py), and pcsc-lite's own clients (pcsc_scan, pyscard) pointed at libscard.
TESTS += tests/integration/resmgr-vpcd.sh tests/integration/resmgr-pcsclite-clients.sh
EXTRA_DIST += tests/integration/resmgr-vpcd.sh tests/integration/vpcd-card.py \
	tests/integration/resmgr-pcsclite-clients.sh

# libscard's output buffers and AUTOALLOCATE (cmocka); service life, socket
# activation, fork, threads, exported symbols and the systemd units (integration).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-client-alloc
TESTS += tests/unit/test-client-alloc
endif
tests_unit_test_client_alloc_SOURCES = tests/unit/test-client-alloc.c resmgr/client/buffers.c
tests_unit_test_client_alloc_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(PCSC_CFLAGS) $(PTHREAD_CFLAGS)
tests_unit_test_client_alloc_LDADD = $(CMOCKA_LIBS) $(PTHREAD_LIBS)
check_PROGRAMS += tests/integration/service-client
tests_integration_service_client_SOURCES = tests/integration/service-client.c
tests_integration_service_client_CFLAGS = $(AM_CFLAGS) $(PCSC_CFLAGS) $(PTHREAD_CFLAGS)
tests_integration_service_client_LDADD = resmgr/client/libscard.la $(PTHREAD_LIBS)
TESTS += tests/integration/resmgr-service.sh
EXTRA_DIST += tests/integration/resmgr-service.sh
# libFuzzer target for the frame decoder (./configure CC=clang --enable-fuzz).
EXTRA_DIST += tests/fuzz/fuzz-wire.c
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz-wire
tests_fuzz_fuzz_wire_SOURCES = tests/fuzz/fuzz-wire.c resmgr/proto/wire.c resmgr/proto/wire.h
tests_fuzz_fuzz_wire_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_wire_LDFLAGS = -fsanitize=fuzzer,address,undefined
endif
# libFuzzer target for the PIV applet: libvcard's sources compiled in, so they are instrumented.
EXTRA_DIST += tests/fuzz/fuzz-piv.c tests/fuzz/run.sh tests/fuzz/piv-seeds.py tests/fuzz/corpus
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz-piv
tests_fuzz_fuzz_piv_SOURCES = tests/fuzz/fuzz-piv.c $(resmgr_vcard_libvcard_la_SOURCES)
tests_fuzz_fuzz_piv_CFLAGS = $(resmgr_vcard_libvcard_la_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_piv_LDFLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_piv_LDADD = common/libsccommon.la $(CRYPTO_LIBS) $(INIH_LIBS)
endif
# The virtual card through scardd + libscard + OpenSC: --test --login, signatures, PIN/PUK.
TESTS += tests/integration/vcard-scardd.sh
EXTRA_DIST += tests/integration/vcard-scardd.sh

# pam_scard around the sign-in: verify_ticket, ccache types, require_smartcard, other users.
TESTS += tests/integration/pam-session.sh
EXTRA_DIST += tests/integration/pam-session.sh

# pam_scard's local trust check: chain against trust_anchors, CRL and OCSP revocation.
TESTS += tests/integration/pam-trust.sh
EXTRA_DIST += tests/integration/pam-trust.sh

# pam_scard's robustness: card pulled at the PIN prompt, resource manager down or killed,
# KDC silent or slow, no PIN left in memory, no OpenSSL errors left, card logged out after use.
check_PROGRAMS += tests/integration/piv-pin
tests_integration_piv_pin_SOURCES = tests/integration/piv-pin.c
tests_integration_piv_pin_CFLAGS = $(AM_CFLAGS) $(PCSC_CFLAGS)
tests_integration_piv_pin_LDADD = resmgr/client/libscard.la
TESTS += tests/integration/pam-robust.sh
EXTRA_DIST += tests/integration/pam-robust.sh tests/integration/kdc-proxy.py
