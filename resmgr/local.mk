# resmgr: filled in by its owner
