# resmgr/vcard: filled in by its owner
