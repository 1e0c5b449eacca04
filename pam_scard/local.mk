# pam_scard: the smart-card sign-in PAM module (card → PIN → Kerberos PKINIT → ccache).
# Everything except the entry points is a convenience library, so that the unit tests and
# the test-only SoftHSM module link the same code the real module runs.

noinst_LTLIBRARIES += pam_scard/libpamsc.la
pam_scard_libpamsc_la_SOURCES = \
	pam_scard/args.c \
	pam_scard/args.h \
	pam_scard/auth.c \
	pam_scard/auth.h \
	pam_scard/card.c \
	pam_scard/card.h \
	pam_scard/certmap.c \
	pam_scard/certmap.h \
	pam_scard/certpolicy.c \
	pam_scard/choose.c \
	pam_scard/choose.h \
	pam_scard/certpolicy.h \
	pam_scard/chauthtok.c \
	pam_scard/chauthtok.h \
	pam_scard/ccache.c \
	pam_scard/ccache.h \
	pam_scard/errmap.c \
	pam_scard/errmap.h \
	pam_scard/options.c \
	pam_scard/options.h \
	pam_scard/pkinit.c \
	pam_scard/pkinit.h \
	pam_scard/session.c \
	pam_scard/session.h \
	pam_scard/token.c \
	pam_scard/token.h \
	pam_scard/trust.c \
	pam_scard/trust.h \
	$(NULL)
pam_scard_libpamsc_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(PAM_CFLAGS) \
	$(PCSC_CFLAGS) $(LIBP11_CFLAGS) $(KRB5_CFLAGS) $(CRYPTO_CFLAGS)
pam_scard_libpamsc_la_LIBADD = common/libsccommon.la resmgr/client/libscard.la \
	$(LIBP11_LIBS) $(KRB5_LIBS) $(CRYPTO_LIBS) $(PAM_LIBS)

pam_LTLIBRARIES += pam_scard/pam_scard.la
pam_scard_pam_scard_la_SOURCES = pam_scard/public.c
pam_scard_pam_scard_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
pam_scard_pam_scard_la_LIBADD = pam_scard/libpamsc.la
pam_scard_pam_scard_la_LDFLAGS = -module -avoid-version -shared -no-undefined \
	-Wl,--version-script=$(srcdir)/pam_scard/pam_scard.map
EXTRA_pam_scard_pam_scard_la_DEPENDENCIES = pam_scard/pam_scard.map
EXTRA_DIST += pam_scard/pam_scard.map

# PAM loads pam_scard.so by name; the libtool archive is of no use there. Without the .la,
# libtool's uninstall no longer knows the .so, so remove it by hand (make distcheck).
INSTALL_DATA_HOOKS += pam-scard-install-hook
pam-scard-install-hook:
	rm -f $(DESTDIR)$(pamdir)/pam_scard.la
UNINSTALL_HOOKS += pam-scard-uninstall-hook
pam-scard-uninstall-hook:
	rm -f $(DESTDIR)$(pamdir)/pam_scard.so
.PHONY: pam-scard-install-hook pam-scard-uninstall-hook
