/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A test IFD handler (pcsc-lite ifdhandler.h v3) for scardd's integration tests. The
 * card is present while the file named by DEVICENAME exists. Options after the path:
 * ":events" offers TAG_IFD_POLLING_THREAD_WITH_TIMEOUT, ":slots=N" gives N slots (1-8,
 * the same card file), ":fail" refuses to open the channel, ":badpresence" makes
 * IFDHICCPresence fail. While "<path>.hang" exists, IFDHPowerICC, IFDHTransmitToICC and
 * IFDHICCPresence hang without blocking the other devices. The card answers ECHO (80 EE,
 * data returned with 9000), VERIFY (00 20, PIN "123456") and 6A82 / 6D00 to anything else.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ifdhandler.h>
#include <reader.h>

#define MAX_READERS 64 /* devices, Lun >> 16 */
#define MAX_SLOTS 8      /* slots of one device, Lun & 0xffff */

static const UCHAR atr[] = {0x3B, 0x85, 0x01, 0x73, 0x63, 0x61, 0x72, 0x64, 0xE3};
static const char vendor[] = "scard test driver";

struct device {
    bool open, events, bad_presence;
    unsigned n_slots;
    char *path; /* NULL: card always present */
    struct slot {
        bool powered, stop;
        DWORD protocol;
        struct device *dev;
    } slot[MAX_SLOTS];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct device devices[MAX_READERS];

static struct slot *
slot_of(DWORD lun)
{
    DWORD i = lun >> 16, s = lun & 0xffff;
    return i < MAX_READERS && devices[i].open && s < devices[i].n_slots ? &devices[i].slot[s]
                                                                          : NULL;
}

/* Block while "<path>.hang" exists (checked every 20 ms, without the driver lock). */
static void
hang_point(DWORD Lun)
{
    struct timespec step = {0, 20 * 1000 * 1000};
    char hang[4096] = "";
    struct slot *s;

    pthread_mutex_lock(&lock);
    s = slot_of(Lun);
    if (s && s->dev->path)
        snprintf(hang, sizeof(hang), "%s.hang", s->dev->path);
    pthread_mutex_unlock(&lock);
    while (hang[0] && access(hang, F_OK) == 0)
        nanosleep(&step, NULL);
}

/* "<path>[:events][:slots=N][:fail][:badpresence]" into @p d; false on :fail. */
static bool
parse_device(struct device *d, const char *name)
{
    const char *colon = strchr(name, ':');
    bool ok = true;

    d->path = colon ? strndup(name, (size_t)(colon - name)) : strdup(name);
    d->n_slots = 1;
    while (colon) {
        const char *opt = colon + 1;
        colon = strchr(opt, ':');
        size_t n = colon ? (size_t)(colon - opt) : strlen(opt);
        if (n == 6 && strncmp(opt, "events", 6) == 0)
            d->events = true;
        else if (n == 4 && strncmp(opt, "fail", 4) == 0)
            ok = false;
        else if (n == 11 && strncmp(opt, "badpresence", 11) == 0)
            d->bad_presence = true;
        else if (n > 6 && strncmp(opt, "slots=", 6) == 0)
            d->n_slots = (unsigned)atoi(opt + 6);
    }
    if (d->n_slots < 1 || d->n_slots > MAX_SLOTS)
        d->n_slots = 1;
    for (unsigned i = 0; i < MAX_SLOTS; i++)
        d->slot[i].dev = d;
    return ok && d->path;
}

static bool
present(const struct slot *s)
{
    return !s->dev->path || access(s->dev->path, F_OK) == 0;
}

RESPONSECODE
IFDHCreateChannelByName(DWORD Lun, LPSTR DeviceName)
{
    DWORD i = Lun >> 16;
    RESPONSECODE rc = IFD_SUCCESS;

    pthread_mutex_lock(&lock);
    if ((Lun & 0xffff) != 0) { /* another slot of an open device, as pcscd opens them */
        rc = slot_of(Lun) ? IFD_SUCCESS : IFD_COMMUNICATION_ERROR;
        goto out;
    }
    if (i >= MAX_READERS || devices[i].open) {
        rc = IFD_COMMUNICATION_ERROR;
        goto out;
    }
    devices[i] = (struct device){.open = true};
    if (!parse_device(&devices[i], DeviceName)) {
        free(devices[i].path);
        devices[i] = (struct device){.open = false};
        rc = IFD_COMMUNICATION_ERROR;
    }
out:
    pthread_mutex_unlock(&lock);
    return rc;
}

RESPONSECODE
IFDHCreateChannel(DWORD Lun, DWORD Channel)
{
    DWORD i = Lun >> 16;

    (void)Channel;
    if (i >= MAX_READERS || (Lun & 0xffff) != 0)
        return IFD_COMMUNICATION_ERROR;
    pthread_mutex_lock(&lock);
    devices[i] = (struct device){.open = true, .n_slots = 1};
    for (unsigned k = 0; k < MAX_SLOTS; k++)
        devices[i].slot[k].dev = &devices[i];
    pthread_mutex_unlock(&lock);
    return IFD_SUCCESS;
}

RESPONSECODE
IFDHCloseChannel(DWORD Lun)
{
    struct slot *s;

    pthread_mutex_lock(&lock);
    s = slot_of(Lun);
    if (s && (Lun & 0xffff) == 0) { /* slot 0 closes the device, after the others */
        free(s->dev->path);
        *s->dev = (struct device){.open = false};
    }
    pthread_mutex_unlock(&lock);
    return IFD_SUCCESS;
}

/* TAG_IFD_POLLING_THREAD_WITH_TIMEOUT: return when presence changes or after timeout ms. */
static RESPONSECODE
wait_event(DWORD Lun, int timeout)
{
    struct timespec step = {0, 20 * 1000 * 1000};
    bool before;
    struct slot *s;

    pthread_mutex_lock(&lock);
    s = slot_of(Lun);
    before = s && present(s);
    pthread_mutex_unlock(&lock);
    for (int waited = 0; s && waited < timeout; waited += 20) {
        bool now, stop;
        nanosleep(&step, NULL);
        pthread_mutex_lock(&lock);
        now = present(s);
        stop = s->stop;
        s->stop = false;
        pthread_mutex_unlock(&lock);
        if (now != before || stop)
            break;
    }
    return IFD_SUCCESS;
}

static RESPONSECODE
stop_events(DWORD Lun)
{
    pthread_mutex_lock(&lock);
    struct slot *s = slot_of(Lun);
    if (s)
        s->stop = true;
    pthread_mutex_unlock(&lock);
    return IFD_SUCCESS;
}

static RESPONSECODE
put(PDWORD Length, PUCHAR Value, const void *data, DWORD len)
{
    if (*Length < len)
        return IFD_ERROR_INSUFFICIENT_BUFFER;
    memcpy(Value, data, len);
    *Length = len;
    return IFD_SUCCESS;
}

RESPONSECODE
IFDHGetCapabilities(DWORD Lun, DWORD Tag, PDWORD Length, PUCHAR Value)
{
    RESPONSECODE rc = IFD_ERROR_TAG;
    UCHAR one = 1, many = MAX_READERS, n_slots;
    void *fn;
    struct slot *s;

    pthread_mutex_lock(&lock);
    s = slot_of(Lun);
    if (!s) {
        rc = IFD_NO_SUCH_DEVICE;
    } else if (Tag == TAG_IFD_ATR || Tag == SCARD_ATTR_ATR_STRING) {
        rc = s->powered ? put(Length, Value, atr, sizeof(atr)) : IFD_ERROR_TAG;
    } else if (Tag == TAG_IFD_SLOTS_NUMBER) {
        n_slots = (UCHAR)s->dev->n_slots;
        rc = put(Length, Value, &n_slots, 1);
    } else if (Tag == TAG_IFD_THREAD_SAFE) {
        rc = put(Length, Value, &one, 1);
    } else if (Tag == TAG_IFD_SIMULTANEOUS_ACCESS) {
        rc = put(Length, Value, &many, 1);
    } else if (Tag == SCARD_ATTR_VENDOR_NAME) {
        rc = put(Length, Value, vendor, sizeof(vendor));
    } else if (Tag == TAG_IFD_POLLING_THREAD_WITH_TIMEOUT && s->dev->events) {
        fn = (void *)wait_event;
        rc = put(Length, Value, &fn, sizeof(fn));
    } else if (Tag == TAG_IFD_STOP_POLLING_THREAD && s->dev->events) {
        fn = (void *)stop_events;
        rc = put(Length, Value, &fn, sizeof(fn));
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

RESPONSECODE
IFDHSetCapabilities(DWORD Lun, DWORD Tag, DWORD Length, PUCHAR Value)
{
    (void)Lun;
    (void)Tag;
    (void)Length;
    (void)Value;
    return IFD_ERROR_TAG;
}

RESPONSECODE
IFDHSetProtocolParameters(DWORD Lun, DWORD Protocol, UCHAR Flags, UCHAR PTS1, UCHAR PTS2,
                          UCHAR PTS3)
{
    RESPONSECODE rc = IFD_SUCCESS;
    struct slot *s;

    (void)Flags;
    (void)PTS1;
    (void)PTS2;
    (void)PTS3;
    pthread_mutex_lock(&lock);
    s = slot_of(Lun);
    if (!s || !s->powered)
        rc = IFD_COMMUNICATION_ERROR;
    else if (Protocol != SCARD_PROTOCOL_T0 && Protocol != SCARD_PROTOCOL_T1)
        rc = IFD_PROTOCOL_NOT_SUPPORTED;
    else
        s->protocol = Protocol;
    pthread_mutex_unlock(&lock);
    return rc;
}

RESPONSECODE
IFDHPowerICC(DWORD Lun, DWORD Action, PUCHAR Atr, PDWORD AtrLength)
{
    RESPONSECODE rc = IFD_SUCCESS;
    struct slot *s;

    hang_point(Lun);
    pthread_mutex_lock(&lock);
    s = slot_of(Lun);
    if (!s) {
        rc = IFD_NO_SUCH_DEVICE;
    } else if (Action == IFD_POWER_DOWN) {
        s->powered = false;
        *AtrLength = 0;
    } else if (!present(s)) {
        s->powered = false;
        *AtrLength = 0;
        rc = IFD_ERROR_POWER_ACTION;
    } else {
        s->powered = true;
        s->protocol = 0;
        memcpy(Atr, atr, sizeof(atr));
        *AtrLength = sizeof(atr);
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* The card: builds the response into rx (at least 2 bytes available), returns its length. */
static DWORD
card_answer(const UCHAR *tx, DWORD n, UCHAR *rx, DWORD max)
{
    static const UCHAR pin[] = "123456";

    if (n >= 5 && tx[0] == 0x80 && tx[1] == 0xEE && tx[4] == n - 5 && tx[4] + 2u <= max) {
        memcpy(rx, tx + 5, tx[4]);
        rx[tx[4]] = 0x90;
        rx[tx[4] + 1] = 0x00;
        return tx[4] + 2u;
    }
    if (n >= 4 && tx[1] == 0x20) {
        bool ok = n == 5 + 6 && tx[4] == 6 && memcmp(tx + 5, pin, 6) == 0;
        rx[0] = ok ? 0x90 : 0x63;
        rx[1] = ok ? 0x00 : 0xC2;
        return 2;
    }
    rx[0] = n >= 2 && tx[1] == 0xA4 ? 0x6A : 0x6D;
    rx[1] = n >= 2 && tx[1] == 0xA4 ? 0x82 : 0x00;
    return 2;
}

RESPONSECODE
IFDHTransmitToICC(DWORD Lun, SCARD_IO_HEADER SendPci, PUCHAR TxBuffer, DWORD TxLength,
                  PUCHAR RxBuffer, PDWORD RxLength, PSCARD_IO_HEADER RecvPci)
{
    RESPONSECODE rc = IFD_SUCCESS;
    struct slot *s;

    hang_point(Lun);
    pthread_mutex_lock(&lock);
    s = slot_of(Lun);
    if (!s)
        rc = IFD_NO_SUCH_DEVICE;
    else if (!present(s))
        rc = IFD_ICC_NOT_PRESENT;
    /* ifdhandler.h: SendPci.Protocol is the T number (0 or 1), as pcscd passes it, while
     * IFDHSetProtocolParameters got the SCARD_PROTOCOL_T0/T1 bit (1 or 2). */
    else if (!s->powered || SendPci.Protocol != (s->protocol == SCARD_PROTOCOL_T1 ? 1u : 0u))
        rc = IFD_COMMUNICATION_ERROR;
    if (rc == IFD_SUCCESS && *RxLength < 2)
        rc = IFD_ERROR_INSUFFICIENT_BUFFER;
    if (rc == IFD_SUCCESS) {
        *RxLength = card_answer(TxBuffer, TxLength, RxBuffer, *RxLength);
        if (RecvPci)
            RecvPci->Protocol = SendPci.Protocol;
    } else {
        *RxLength = 0;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

RESPONSECODE
IFDHControl(DWORD Lun, DWORD dwControlCode, PUCHAR TxBuffer, DWORD TxLength, PUCHAR RxBuffer,
            DWORD RxLength, LPDWORD pdwBytesReturned)
{
    (void)Lun;
    (void)TxBuffer;
    (void)TxLength;
    (void)RxBuffer;
    (void)RxLength;
    *pdwBytesReturned = 0;
    /* no PIN pad, no features: an empty TLV list */
    return dwControlCode == CM_IOCTL_GET_FEATURE_REQUEST ? IFD_SUCCESS : IFD_ERROR_NOT_SUPPORTED;
}

RESPONSECODE
IFDHICCPresence(DWORD Lun)
{
    RESPONSECODE rc;
    struct slot *s;

    hang_point(Lun);
    pthread_mutex_lock(&lock);
    s = slot_of(Lun);
    if (!s || s->dev->bad_presence) {
        rc = IFD_COMMUNICATION_ERROR;
    } else if (present(s)) {
        rc = IFD_ICC_PRESENT;
    } else {
        s->powered = false;
        rc = IFD_ICC_NOT_PRESENT;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}
