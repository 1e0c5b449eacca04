# pam_scard: filled in by its owner
