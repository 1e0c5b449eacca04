# bench: the PC/SC benchmark. One client source, linked twice: with our libscard (scardd) and
# with pcsc-lite's libpcsclite (pcscd). `make bench` builds what it needs and runs bench/run.sh
# (several minutes, needs root for pcscd's private namespace); `make check` only runs a short
# smoke pass against scardd (bench/smoke.sh).
noinst_PROGRAMS += bench/pcsc-bench-scard bench/pcsc-bench-pcsclite
bench_pcsc_bench_scard_SOURCES = bench/pcsc-bench.c
bench_pcsc_bench_scard_CFLAGS = $(AM_CFLAGS) $(PCSC_CFLAGS) $(PTHREAD_CFLAGS) \
	-DBENCH_STACK='"libscard"'
bench_pcsc_bench_scard_LDADD = resmgr/client/libscard.la $(PTHREAD_LIBS)
bench_pcsc_bench_pcsclite_SOURCES = bench/pcsc-bench.c
bench_pcsc_bench_pcsclite_CFLAGS = $(AM_CFLAGS) $(PCSC_CFLAGS) $(PTHREAD_CFLAGS) \
	-DBENCH_STACK='"libpcsclite"'
bench_pcsc_bench_pcsclite_LDADD = $(PCSC_LIBS) $(PTHREAD_LIBS)

TESTS += bench/smoke.sh
EXTRA_DIST += bench/run.sh bench/smoke.sh bench/RESULTS.md
EXTRA_DIST += bench/signin-bench.sh bench/SIGNIN.md

.PHONY: bench
bench: all
	$(MAKE) $(AM_MAKEFLAGS) tests/drivers/ifd-test.la
	$(SHELL) $(srcdir)/bench/run.sh $(abs_top_builddir)
