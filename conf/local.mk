dist_scardconf_DATA += conf/scard.conf
examplesdir = $(docdir)/examples
dist_examples_DATA = \
	conf/opensc.conf \
	conf/pam.d/scard \
	$(NULL)

# systemd units (configured with the install paths), the "scard" system user,
# and the udev rule that gives CCID readers to group "scard". All under $(prefix).
systemdsystemunit_DATA = conf/systemd/scardd.socket conf/systemd/scardd.service
sysusersdir = $(prefix)/lib/sysusers.d
dist_sysusers_DATA = conf/sysusers.d/scard.conf
udevrulesdir = $(prefix)/lib/udev/rules.d
dist_udevrules_DATA = conf/udev/60-scard.rules
EXTRA_DIST += conf/systemd/scardd.socket.in conf/systemd/scardd.service.in
CLEANFILES += $(systemdsystemunit_DATA)
subst_units = sed -e 's|@sbindir[@]|$(sbindir)|g'
conf/systemd/scardd.socket: $(srcdir)/conf/systemd/scardd.socket.in Makefile
	$(AM_V_GEN)$(MKDIR_P) conf/systemd && $(subst_units) $(srcdir)/conf/systemd/scardd.socket.in >$@.tmp && mv $@.tmp $@
conf/systemd/scardd.service: $(srcdir)/conf/systemd/scardd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) conf/systemd && $(subst_units) $(srcdir)/conf/systemd/scardd.service.in >$@.tmp && mv $@.tmp $@
