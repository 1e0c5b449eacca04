# Unit tests (cmocka), one binary per module, and integration tests (bash).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-config
TESTS += tests/unit/test-config
endif
tests_unit_test_config_SOURCES = tests/unit/test-config.c
tests_unit_test_config_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_config_LDADD = common/libsccommon.la $(CMOCKA_LIBS)
