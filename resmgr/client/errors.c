/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one place where the project's -errno statuses become PC/SC SCARD_* codes,
 * and pcsc_stringify_error(). The errno chosen for each SCARD code is part of the
 * wire protocol: the daemon returns these, see resmgr/daemon/.
 */
#include <errno.h>
#include <stdio.h>

#include "resmgr/client/client.h"

static const struct {
    int err;
    LONG rv;
} map[] = {
    {-ECANCELED, SCARD_E_CANCELLED},
    {-EBADF, SCARD_E_INVALID_HANDLE},
    {-EINVAL, SCARD_E_INVALID_PARAMETER},
    {-ERANGE, SCARD_E_INVALID_VALUE},
    {-ENOMEM, SCARD_E_NO_MEMORY},
    {-EACCES, SCARD_E_NO_ACCESS},
    {-ENOBUFS, SCARD_E_INSUFFICIENT_BUFFER},
    {-ENOENT, SCARD_E_UNKNOWN_READER},
    {-ETIMEDOUT, SCARD_E_TIMEOUT},
    {-EBUSY, SCARD_E_SHARING_VIOLATION},
    {-ENOMEDIUM, SCARD_E_NO_SMARTCARD},
    {-EPROTONOSUPPORT, SCARD_E_PROTO_MISMATCH},
    {-EAGAIN, SCARD_E_NOT_READY},
    {-EIO, SCARD_E_NOT_TRANSACTED},
    {-ENOLCK, SCARD_E_NOT_TRANSACTED},
    {-ENODEV, SCARD_E_READER_UNAVAILABLE},
    {-EOPNOTSUPP, SCARD_E_UNSUPPORTED_FEATURE},
    {-ESRCH, SCARD_E_NO_READERS_AVAILABLE},
    {-EREMOTEIO, SCARD_W_UNRESPONSIVE_CARD},
    {-ENOLINK, SCARD_W_UNPOWERED_CARD},
    {-ESTALE, SCARD_W_RESET_CARD},
    {-ENXIO, SCARD_W_REMOVED_CARD},
    {-EPROTO, SCARD_F_COMM_ERROR},
    {-EBADMSG, SCARD_F_COMM_ERROR},
    {RMC_E_GONE, SCARD_E_NO_SERVICE},
};

LONG
rmc_to_scard(int status)
{
    if (status >= 0)
        return SCARD_S_SUCCESS;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].err == status)
            return map[i].rv;
    return SCARD_F_INTERNAL_ERROR;
}

static const struct {
    LONG rv;
    const char *text;
} texts[] = {
    {SCARD_S_SUCCESS, "Command successful."},
    {SCARD_F_INTERNAL_ERROR, "Internal error."},
    {SCARD_E_CANCELLED, "Command cancelled."},
    {SCARD_E_INVALID_HANDLE, "Invalid handle."},
    {SCARD_E_INVALID_PARAMETER, "Invalid parameter given."},
    {SCARD_E_INVALID_TARGET, "Invalid target given."},
    {SCARD_E_NO_MEMORY, "Not enough memory."},
    {SCARD_F_WAITED_TOO_LONG, "Waited too long."},
    {SCARD_E_INSUFFICIENT_BUFFER, "Insufficient buffer."},
    {SCARD_E_UNKNOWN_READER, "Unknown reader specified."},
    {SCARD_E_TIMEOUT, "Command timeout."},
    {SCARD_E_SHARING_VIOLATION, "Sharing violation."},
    {SCARD_E_NO_SMARTCARD, "No smart card inserted."},
    {SCARD_E_UNKNOWN_CARD, "Unknown card."},
    {SCARD_E_CANT_DISPOSE, "Cannot dispose handle."},
    {SCARD_E_PROTO_MISMATCH, "Card protocol mismatch."},
    {SCARD_E_NOT_READY, "Subsystem not ready."},
    {SCARD_E_INVALID_VALUE, "Invalid value given."},
    {SCARD_E_SYSTEM_CANCELLED, "System cancelled."},
    {SCARD_F_COMM_ERROR, "RPC transport error."},
    {SCARD_F_UNKNOWN_ERROR, "Unknown error."},
    {SCARD_E_INVALID_ATR, "Invalid ATR."},
    {SCARD_E_NOT_TRANSACTED, "Transaction failed."},
    {SCARD_E_READER_UNAVAILABLE, "Reader is unavailable."},
    {SCARD_E_PCI_TOO_SMALL, "PCI struct too small."},
    {SCARD_E_READER_UNSUPPORTED, "Reader is unsupported."},
    {SCARD_E_DUPLICATE_READER, "Reader already exists."},
    {SCARD_E_CARD_UNSUPPORTED, "Card is unsupported."},
    {SCARD_E_NO_SERVICE, "Service not available."},
    {SCARD_E_SERVICE_STOPPED, "Service was stopped."},
    {SCARD_E_UNSUPPORTED_FEATURE, "Feature not supported."},
    {SCARD_E_NO_READERS_AVAILABLE, "Cannot find a smart card reader."},
    {SCARD_W_UNSUPPORTED_CARD, "Card is not supported."},
    {SCARD_W_UNRESPONSIVE_CARD, "Card is unresponsive."},
    {SCARD_W_UNPOWERED_CARD, "Card is unpowered."},
    {SCARD_W_RESET_CARD, "Card was reset."},
    {SCARD_W_REMOVED_CARD, "Card was removed."},
};

EXPORT const char *
pcsc_stringify_error(const LONG rv)
{
    /* Per-thread buffer for unknown codes, as pcsc-lite does; the only state of its kind. */
    static __thread char unknown[48];

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (texts[i].rv == rv)
            return texts[i].text;
    snprintf(unknown, sizeof(unknown), "Unknown error: 0x%08lX", (unsigned long)(uint32_t)rv);
    return unknown;
}
