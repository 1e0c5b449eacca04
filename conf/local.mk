dist_scardconf_DATA += conf/scard.conf
examplesdir = $(docdir)/examples
dist_examples_DATA = \
	conf/opensc.conf \
	conf/pam.d/scard \
	$(NULL)
