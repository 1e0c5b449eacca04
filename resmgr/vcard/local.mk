# resmgr/vcard: virtual PIV card — applet, card store, IFD handler driver, scard-vcard tool.
noinst_LTLIBRARIES += resmgr/vcard/libvcard.la
resmgr_vcard_libvcard_la_SOURCES = \
	resmgr/vcard/card.c \
	resmgr/vcard/card.h \
	resmgr/vcard/keywrap.c \
	resmgr/vcard/keywrap.h \
	resmgr/vcard/piv-admin.c \
	resmgr/vcard/piv-internal.h \
	resmgr/vcard/piv.c \
	resmgr/vcard/piv.h \
	resmgr/vcard/store-card.c \
	resmgr/vcard/store-internal.h \
	resmgr/vcard/store.c \
	resmgr/vcard/store.h \
	$(NULL)
resmgr_vcard_libvcard_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(INIH_CFLAGS)
resmgr_vcard_libvcard_la_LIBADD = common/libsccommon.la $(CRYPTO_LIBS) $(INIH_LIBS)

# The reader driver: one reader.conf entry per card, DEVICENAME = the card's directory.
pkglib_LTLIBRARIES += resmgr/vcard/libifd-scard-vcard.la
resmgr_vcard_libifd_scard_vcard_la_SOURCES = resmgr/vcard/ifd.c resmgr/vcard/pinpad.c resmgr/vcard/pinpad.h
resmgr_vcard_libifd_scard_vcard_la_CFLAGS = $(AM_CFLAGS) $(PCSC_CFLAGS) $(CRYPTO_CFLAGS) $(PTHREAD_CFLAGS)
resmgr_vcard_libifd_scard_vcard_la_LIBADD = resmgr/vcard/libvcard.la $(CRYPTO_LIBS) $(PTHREAD_LIBS)
resmgr_vcard_libifd_scard_vcard_la_LDFLAGS = -module -avoid-version -shared -no-undefined \
	-Wl,--version-script=$(srcdir)/resmgr/vcard/ifd.sym
EXTRA_resmgr_vcard_libifd_scard_vcard_la_DEPENDENCIES = resmgr/vcard/ifd.sym
EXTRA_DIST += resmgr/vcard/ifd.sym

bin_PROGRAMS += resmgr/vcard/scard-vcard
resmgr_vcard_scard_vcard_SOURCES = \
	resmgr/vcard/scard-vcard.c \
	resmgr/vcard/scard-vcard-card.c \
	resmgr/vcard/scard-vcard.h \
	$(NULL)
resmgr_vcard_scard_vcard_CPPFLAGS = $(AM_CPPFLAGS) \
	-DVC_DRIVER_PATH='"$(pkglibdir)/libifd-scard-vcard.so"'
resmgr_vcard_scard_vcard_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
resmgr_vcard_scard_vcard_LDADD = resmgr/vcard/libvcard.la $(CRYPTO_LIBS)
