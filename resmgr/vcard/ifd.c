/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IFD handler (pcsc-lite ifdhandler.h, API v3) exposing one virtual PIV card per reader:
 * DEVICENAME is the card's directory in the store. Presence follows the card's "ejected"
 * flag; an inotify-based polling function lets the resource manager see insert/eject at
 * once instead of polling every 400 ms. APDUs go to the pure applet in piv.c.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <ifdhandler.h>
#include <reader.h>

#include <openssl/crypto.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "resmgr/vcard/piv.h"
#include "resmgr/vcard/store.h"

#define MAX_CHANNELS 64

/*
 * ATR: TS 3B, T0 8A (TD1 follows, 10 historical bytes), TD1 81 (TD2 follows, T=1),
 * TD2 31 (TA3, TB3 follow, T=1), TA3 FE (IFSC 254), TB3 45 (BWI 4, CWI 5), historical
 * bytes "scard-vPIV" (proprietary format), TCK. Not 3B 8x 80 01, which OpenSC takes for a
 * contactless card, and no vendor string OpenSC keys quirks on.
 */
static const uint8_t atr_body[] = {0x3b, 0x8a, 0x81, 0x31, 0xfe, 0x45, 's', 'c', 'a', 'r', 'd', '-', 'v', 'P', 'I', 'V'};

struct channel {
    DWORD lun;
    char *dir;
    pthread_mutex_t lock; /* serialises the applet and card state of this reader */
    struct vc_card *card; /* loaded at power-up */
    struct piv_applet *applet;
    struct vc_store_handle store; /* userdata of vc_store_piv_ops: dir, GUID, lock */
    int inotify_fd; /* card directory (or its parent while the card is missing) */
    int stop_fd;    /* eventfd: TAG_IFD_STOP_POLLING_THREAD */
    int last_present;
};

/*
 * The IFD handler ABI addresses readers by Lun only, and pcscd loads one copy of the
 * library for every reader using it, so the channels live in this one table. A channel
 * found by channel_get() stays valid until IFDHCloseChannel(), which the resource manager
 * calls only after stopping the reader's polling thread and its last APDU.
 */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct channel *channels[MAX_CHANNELS];

static void
ifd_log(int priority, const char *fmt, ...)
{
    static const struct sc_logger stderr_logger = {.sink = NULL, .max_priority = LOG_INFO};
    va_list ap;
    va_start(ap, fmt);
    sc_logv(&stderr_logger, priority, fmt, ap);
    va_end(ap);
}

static struct channel *
channel_get(DWORD lun)
{
    struct channel *ch = NULL;
    pthread_mutex_lock(&table_lock);
    for (size_t i = 0; i < MAX_CHANNELS; i++)
        if (channels[i] && channels[i]->lun == lun)
            ch = channels[i];
    pthread_mutex_unlock(&table_lock);
    return ch;
}

static void
channel_power_down(struct channel *ch)
{
    piv_applet_free(ch->applet);
    ch->applet = NULL;
    vc_card_free(ch->card);
    ch->card = NULL;
}

static void
channel_free(struct channel *ch)
{
    if (!ch)
        return;
    channel_power_down(ch);
    if (ch->inotify_fd >= 0)
        close(ch->inotify_fd);
    if (ch->stop_fd >= 0)
        close(ch->stop_fd);
    pthread_mutex_destroy(&ch->lock);
    free(ch->dir);
    free(ch);
}

/* --- presence ------------------------------------------------------------------------------ */

static void
watch_dir(struct channel *ch)
{
    const uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF;
    _cleanup_free_ char *parent = strdup(ch->dir);
    char *slash;

    /* inotify_add_watch() on an already watched inode just updates it: cheap to repeat */
    if (inotify_add_watch(ch->inotify_fd, ch->dir, mask) >= 0 || !parent)
        return;
    slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        (void)inotify_add_watch(ch->inotify_fd, parent, IN_CREATE | IN_MOVED_TO);
    }
}

/* TAG_IFD_POLLING_THREAD_WITH_TIMEOUT: block until the card directory changes, or timeout (ms). */
static RESPONSECODE
poll_presence(DWORD lun, int timeout_ms)
{
    struct channel *ch = channel_get(lun);
    char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct pollfd pfd[2];
    uint64_t v;

    if (!ch)
        return IFD_COMMUNICATION_ERROR;
    watch_dir(ch);
    if ((vc_store_present(ch->dir) == 1) != (ch->last_present == 1))
        return IFD_SUCCESS; /* changed since pcscd last asked */
    pfd[0] = (struct pollfd){.fd = ch->inotify_fd, .events = POLLIN};
    pfd[1] = (struct pollfd){.fd = ch->stop_fd, .events = POLLIN};
    if (poll(pfd, 2, timeout_ms) < 0 && errno != EINTR)
        return IFD_COMMUNICATION_ERROR;
    if (pfd[0].revents & POLLIN)
        while (read(ch->inotify_fd, events, sizeof(events)) > 0)
            ;
    if (pfd[1].revents & POLLIN)
        (void)!read(ch->stop_fd, &v, sizeof(v));
    return IFD_SUCCESS;
}

/* TAG_IFD_STOP_POLLING_THREAD: make a waiting poll_presence() return now. */
static RESPONSECODE
stop_polling(DWORD lun)
{
    struct channel *ch = channel_get(lun);
    uint64_t one = 1;

    if (ch)
        (void)!write(ch->stop_fd, &one, sizeof(one));
    return IFD_SUCCESS;
}

RESPONSECODE
IFDHICCPresence(DWORD Lun)
{
    struct channel *ch = channel_get(Lun);
    int present;

    if (!ch)
        return IFD_COMMUNICATION_ERROR;
    present = vc_store_present(ch->dir);
    pthread_mutex_lock(&ch->lock);
    ch->last_present = present == 1;
    if (present != 1)
        channel_power_down(ch); /* ejected: the card loses power and its PIN state */
    pthread_mutex_unlock(&ch->lock);
    return present == 1 ? IFD_ICC_PRESENT : IFD_ICC_NOT_PRESENT;
}

/* --- channel life cycle ------------------------------------------------------------------- */

RESPONSECODE
IFDHCreateChannelByName(DWORD Lun, LPSTR DeviceName)
{
    struct channel *ch;
    size_t slot = MAX_CHANNELS;

    if (!DeviceName || DeviceName[0] != '/') {
        ifd_log(LOG_ERR, "DEVICENAME must be the absolute path of a card directory, got '%s'",
                DeviceName ? DeviceName : "(null)");
        return IFD_NO_SUCH_DEVICE;
    }
    if (vc_store_present(DeviceName) < 0) {
        ifd_log(LOG_ERR, "%s: not a virtual card directory (no card.conf)", DeviceName);
        return IFD_NO_SUCH_DEVICE;
    }
    ch = calloc(1, sizeof(*ch));
    if (!ch || !(ch->dir = strdup(DeviceName))) {
        free(ch);
        return IFD_COMMUNICATION_ERROR;
    }
    ch->lun = Lun;
    ch->store.lock_fd = -1;
    ch->last_present = -1;
    pthread_mutex_init(&ch->lock, NULL);
    ch->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ch->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ch->inotify_fd < 0 || ch->stop_fd < 0) {
        channel_free(ch);
        return IFD_COMMUNICATION_ERROR;
    }
    watch_dir(ch);
    pthread_mutex_lock(&table_lock);
    for (size_t i = 0; i < MAX_CHANNELS; i++) {
        if (channels[i] && channels[i]->lun == Lun)
            slot = MAX_CHANNELS + 1; /* duplicate Lun */
        else if (!channels[i] && slot == MAX_CHANNELS)
            slot = i;
    }
    if (slot < MAX_CHANNELS)
        channels[slot] = ch;
    pthread_mutex_unlock(&table_lock);
    if (slot >= MAX_CHANNELS) {
        ifd_log(LOG_ERR, "%s: no free channel (Lun 0x%lx)", DeviceName, (unsigned long)Lun);
        channel_free(ch);
        return IFD_COMMUNICATION_ERROR;
    }
    ifd_log(LOG_INFO, "virtual card reader for %s ready (Lun 0x%lx)", DeviceName, (unsigned long)Lun);
    return IFD_SUCCESS;
}

RESPONSECODE
IFDHCreateChannel(DWORD Lun, DWORD Channel)
{
    ifd_log(LOG_ERR, "Lun 0x%lx: CHANNELID %lu alone is not enough, set DEVICENAME to a card directory",
            (unsigned long)Lun, (unsigned long)Channel);
    return IFD_NO_SUCH_DEVICE;
}

RESPONSECODE
IFDHCloseChannel(DWORD Lun)
{
    struct channel *ch = NULL;

    pthread_mutex_lock(&table_lock);
    for (size_t i = 0; i < MAX_CHANNELS; i++)
        if (channels[i] && channels[i]->lun == Lun) {
            ch = channels[i];
            channels[i] = NULL;
        }
    pthread_mutex_unlock(&table_lock);
    if (!ch)
        return IFD_COMMUNICATION_ERROR;
    channel_free(ch);
    return IFD_SUCCESS;
}

/* --- capabilities --------------------------------------------------------------------------- */

static size_t
atr_get(uint8_t atr[MAX_ATR_SIZE])
{
    uint8_t tck = 0;
    memcpy(atr, atr_body, sizeof(atr_body));
    for (size_t i = 1; i < sizeof(atr_body); i++)
        tck ^= atr_body[i];
    atr[sizeof(atr_body)] = tck;
    return sizeof(atr_body) + 1;
}

static RESPONSECODE
put_value(PDWORD Length, PUCHAR Value, const void *data, size_t len)
{
    if (*Length < len)
        return IFD_ERROR_INSUFFICIENT_BUFFER;
    memcpy(Value, data, len);
    *Length = (DWORD)len;
    return IFD_SUCCESS;
}

RESPONSECODE
IFDHGetCapabilities(DWORD Lun, DWORD Tag, PDWORD Length, PUCHAR Value)
{
    struct channel *ch = channel_get(Lun);
    RESPONSECODE (*poll_fn)(DWORD, int) = poll_presence;
    RESPONSECODE (*stop_fn)(DWORD) = stop_polling;
    uint8_t atr[MAX_ATR_SIZE], u8;

    if (!ch || !Length || !Value)
        return IFD_COMMUNICATION_ERROR;
    switch (Tag) {
    case TAG_IFD_ATR:
    case SCARD_ATTR_ATR_STRING:
        if (!ch->applet) {
            *Length = 0;
            return IFD_SUCCESS;
        }
        return put_value(Length, Value, atr, atr_get(atr));
    case TAG_IFD_SLOTS_NUMBER:
        u8 = 1;
        return put_value(Length, Value, &u8, 1);
    case TAG_IFD_SIMULTANEOUS_ACCESS:
        u8 = MAX_CHANNELS;
        return put_value(Length, Value, &u8, 1);
    case TAG_IFD_THREAD_SAFE: /* readers are independent: per-channel locks */
    case TAG_IFD_SLOT_THREAD_SAFE:
        u8 = 1;
        return put_value(Length, Value, &u8, 1);
    case TAG_IFD_POLLING_THREAD_KILLABLE: /* stop it with TAG_IFD_STOP_POLLING_THREAD instead */
        u8 = 0;
        return put_value(Length, Value, &u8, 1);
    case TAG_IFD_POLLING_THREAD_WITH_TIMEOUT:
        return put_value(Length, Value, &poll_fn, sizeof(poll_fn));
    case TAG_IFD_STOP_POLLING_THREAD:
        return put_value(Length, Value, &stop_fn, sizeof(stop_fn));
    default:
        return IFD_ERROR_TAG;
    }
}

RESPONSECODE
IFDHSetCapabilities(DWORD Lun, DWORD Tag, DWORD Length, PUCHAR Value)
{
    (void)Lun, (void)Tag, (void)Length, (void)Value;
    return IFD_NOT_SUPPORTED;
}

RESPONSECODE
IFDHSetProtocolParameters(DWORD Lun, DWORD Protocol, UCHAR Flags, UCHAR PTS1, UCHAR PTS2, UCHAR PTS3)
{
    (void)Flags, (void)PTS1, (void)PTS2, (void)PTS3;
    if (!channel_get(Lun))
        return IFD_COMMUNICATION_ERROR;
    /* A virtual card has no transmission protocol: APDUs pass as they are under either. */
    return Protocol == SCARD_PROTOCOL_T0 || Protocol == SCARD_PROTOCOL_T1 ? IFD_SUCCESS
                                                                           : IFD_PROTOCOL_NOT_SUPPORTED;
}

/* --- card ----------------------------------------------------------------------------------- */

static RESPONSECODE
power_up(struct channel *ch, PUCHAR Atr, PDWORD AtrLength)
{
    uint8_t atr[MAX_ATR_SIZE];
    size_t len;
    int r;

    channel_power_down(ch);
    if (vc_store_present(ch->dir) != 1)
        return IFD_ERROR_POWER_ACTION;
    r = vc_store_load(ch->dir, &ch->card); /* re-read: a certificate may have been imported */
    if (r == 0) {
        ch->store = (struct vc_store_handle){.dir = ch->dir, .lock_fd = -1};
        memcpy(ch->store.guid, ch->card->guid, VC_GUID_LEN);
        r = piv_applet_new(ch->card, &vc_store_piv_ops, &ch->store, &ch->applet);
    }
    if (r < 0) {
        ifd_log(LOG_ERR, "%s: cannot load card: %s", ch->dir, strerror(-r));
        channel_power_down(ch);
        return IFD_ERROR_POWER_ACTION;
    }
    len = atr_get(atr);
    if (*AtrLength < len) {
        channel_power_down(ch);
        return IFD_ERROR_INSUFFICIENT_BUFFER;
    }
    memcpy(Atr, atr, len);
    *AtrLength = (DWORD)len;
    return IFD_SUCCESS;
}

RESPONSECODE
IFDHPowerICC(DWORD Lun, DWORD Action, PUCHAR Atr, PDWORD AtrLength)
{
    struct channel *ch = channel_get(Lun);
    RESPONSECODE rc;

    if (!ch || !Atr || !AtrLength)
        return IFD_COMMUNICATION_ERROR;
    pthread_mutex_lock(&ch->lock);
    switch (Action) {
    case IFD_POWER_DOWN:
        channel_power_down(ch);
        *AtrLength = 0;
        rc = IFD_SUCCESS;
        break;
    case IFD_POWER_UP:
    case IFD_RESET:
        rc = power_up(ch, Atr, AtrLength);
        if (rc != IFD_SUCCESS)
            *AtrLength = 0;
        break;
    default:
        rc = IFD_NOT_SUPPORTED;
    }
    pthread_mutex_unlock(&ch->lock);
    return rc;
}

RESPONSECODE
IFDHTransmitToICC(DWORD Lun, SCARD_IO_HEADER SendPci, PUCHAR TxBuffer, DWORD TxLength, PUCHAR RxBuffer,
                  PDWORD RxLength, PSCARD_IO_HEADER RecvPci)
{
    struct channel *ch = channel_get(Lun);
    uint8_t resp[PIV_RESPONSE_MAX];
    size_t len = 0;
    RESPONSECODE rc = IFD_SUCCESS;

    if (!ch || !TxBuffer || !RxBuffer || !RxLength)
        return IFD_COMMUNICATION_ERROR;
    pthread_mutex_lock(&ch->lock);
    if (ch->applet && vc_store_present(ch->dir) != 1)
        channel_power_down(ch); /* ejected under our feet */
    if (!ch->applet)
        rc = IFD_ICC_NOT_PRESENT;
    else if (piv_applet_transmit(ch->applet, TxBuffer, TxLength, resp, sizeof(resp), &len) < 0)
        rc = IFD_COMMUNICATION_ERROR;
    else if (*RxLength < len)
        rc = IFD_ERROR_INSUFFICIENT_BUFFER;
    pthread_mutex_unlock(&ch->lock);
    if (rc == IFD_SUCCESS) {
        memcpy(RxBuffer, resp, len);
        *RxLength = (DWORD)len;
        if (RecvPci)
            RecvPci->Protocol = SendPci.Protocol;
    } else {
        *RxLength = 0;
    }
    OPENSSL_cleanse(resp, sizeof(resp));
    return rc;
}

RESPONSECODE
IFDHControl(DWORD Lun, DWORD dwControlCode, PUCHAR TxBuffer, DWORD TxLength, PUCHAR RxBuffer, DWORD RxLength,
            LPDWORD pdwBytesReturned)
{
    (void)Lun, (void)dwControlCode, (void)TxBuffer, (void)TxLength, (void)RxBuffer, (void)RxLength;
    if (pdwBytesReturned)
        *pdwBytesReturned = 0;
    return IFD_ERROR_NOT_SUPPORTED;
}
