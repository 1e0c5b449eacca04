# tools: scard-login, a small PAM sign-in driver for the demo and the integration tests.
noinst_PROGRAMS += tools/scard-login
tools_scard_login_SOURCES = tools/scard-login.c tools/secret-scan.c tools/secret-scan.h
tools_scard_login_CFLAGS = $(AM_CFLAGS) $(PAM_CFLAGS) $(CRYPTO_CFLAGS)
tools_scard_login_LDADD = common/libsccommon.la $(PAM_LIBS) $(CRYPTO_LIBS)
