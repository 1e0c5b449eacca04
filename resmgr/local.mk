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
	resmgr/client/buffers.c \
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
	resmgr/daemon/access.c \
	resmgr/daemon/access.h \
	resmgr/daemon/actor.c \
	resmgr/daemon/apdu.c \
	resmgr/daemon/apdu.h \
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
# socket activation and readiness (sd_listen_fds, sd_notify)
resmgr_scardd_CFLAGS += $(SYSTEMD_CFLAGS)
resmgr_scardd_LDADD += $(SYSTEMD_LIBS)
# USB hot-plug (libudev), driver bundles' Info.plist (libxml2), reader naming
resmgr_scardd_SOURCES += \
	resmgr/daemon/hotplug.c \
	resmgr/daemon/ifdlog.c \
	resmgr/daemon/naming.c \
	resmgr/daemon/plist.c \
	resmgr/daemon/plist.h \
	$(NULL)
resmgr_scardd_CFLAGS += $(UDEV_CFLAGS) $(XML_CFLAGS)
resmgr_scardd_LDADD += $(UDEV_LIBS) $(XML_LIBS)
# IFD handlers (libccid, vpcd) call log_msg/log_xxd, which pcscd defines: export those two
resmgr_scardd_LDFLAGS = -Wl,--dynamic-list=$(srcdir)/resmgr/daemon/ifdlog.sym
EXTRA_resmgr_scardd_DEPENDENCIES = resmgr/daemon/ifdlog.sym
EXTRA_DIST += resmgr/daemon/ifdlog.sym
