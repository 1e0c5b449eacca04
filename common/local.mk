noinst_LTLIBRARIES += common/libsccommon.la
common_libsccommon_la_SOURCES = \
	common/cleanup.h \
	common/clock.h \
	common/config.c \
	common/config.h \
	common/log.c \
	common/log.h \
	common/secret.c \
	common/secret.h \
	$(NULL)
common_libsccommon_la_CFLAGS = $(AM_CFLAGS) $(INIH_CFLAGS)
common_libsccommon_la_LIBADD = $(INIH_LIBS)
