# resmgr: the PC/SC resource manager daemon scardd, its client library libscard.so.1
# and the wire protocol compiled into both.

RM_PROTO_SOURCES = \
	resmgr/proto/conf.c \
	resmgr/proto/conf.h \
	resmgr/proto/wire.c \
	resmgr/proto/wire.h \
	$(NULL)

# --- client library ---------------------------------------------------------
lib_LTLIBRARIES += resmgr/client/libscard.la
resmgr_client_libscard_la_SOURCES = \
	resmgr/client/client.h \
	resmgr/client/conn.c \
	resmgr/client/errors.c \
	resmgr/client/handles.c \
	resmgr/client/winscard.c \
	$(RM_PROTO_SOURCES) \
	$(NULL)
resmgr_client_libscard_la_CFLAGS = $(AM_CFLAGS) $(PCSC_CFLAGS) $(PTHREAD_CFLAGS) \
	-fvisibility=hidden
resmgr_client_libscard_la_LIBADD = common/libsccommon.la $(PTHREAD_LIBS)
resmgr_client_libscard_la_LDFLAGS = -version-info 1:0:0 -no-undefined \
	-Wl,--version-script=$(srcdir)/resmgr/client/libscard.sym
EXTRA_resmgr_client_libscard_la_DEPENDENCIES = resmgr/client/libscard.sym
EXTRA_DIST += resmgr/client/libscard.sym resmgr/client/libscard.pc.in
pkgconfig_DATA += resmgr/client/libscard.pc

# --- daemon -----------------------------------------------------------------
sbin_PROGRAMS += resmgr/scardd
resmgr_scardd_SOURCES = \
	resmgr/daemon/dispatch.c \
	resmgr/daemon/main.c \
	resmgr/daemon/manager.c \
	resmgr/daemon/reader.c \
	resmgr/daemon/readerconf.c \
	resmgr/daemon/scardd.h \
	resmgr/daemon/tracking.c \
	$(RM_PROTO_SOURCES) \
	$(NULL)
resmgr_scardd_CFLAGS = $(AM_CFLAGS) $(PCSC_CFLAGS) $(PTHREAD_CFLAGS)
resmgr_scardd_LDADD = common/libsccommon.la $(PTHREAD_LIBS) -ldl
