/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IFD handler (pcsc-lite ifdhandler.h, API v3) exposing one virtual PIV card per reader:
 * DEVICENAME is the card's directory in the store. Presence follows the card's "ejected"
 * flag; an inotify-based polling function lets the resource manager see insert/eject at
 * once instead of polling every 400 ms. APDUs go to the pure applet in piv.c. A reader
 * configured with ":pinpad:FILE" is a simulated PIN pad (PC/SC Part 10, pinpad.c): a test device.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ifdhandler.h>
#include <reader.h>

#include <openssl/crypto.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "resmgr/vcard/pinpad.h"
#include "resmgr/vcard/piv.h"
#include "resmgr/vcard/store.h"

#define MAX_CHANNELS 64

/* DEVICENAME "CARD_DIR:pinpad:FILE" makes a PIN-pad reader (as libccid's serial readers take
 * "DEVICE:OPTION"; no '=': pcscd's reader.conf lexer allows only letters, digits and \ / - . _ @ :
 * in a value, src/configfile.l). PAD_READ_MAX: the most a pad file may hold, in bytes. */
#define PINPAD_OPTION ":pinpad:"
#define PAD_READ_MAX 64

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
    char *pinpad; /* keystroke file of the simulated PIN pad; NULL: no pad, no Part 10 features */
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
    free(ch->pinpad);
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

/*
 * DEVICENAME: "CARD_DIR", or "CARD_DIR:pinpad:FILE" for a reader with a simulated PIN pad
 * whose keystrokes are FILE's content (both absolute paths). Returns 0, -EINVAL or -ENOMEM.
 */
static int
parse_device_name(const char *name, char **ret_dir, char **ret_pad)
{
    const char *opt = strstr(name, PINPAD_OPTION);
    const char *pad = opt ? opt + strlen(PINPAD_OPTION) : NULL;
    _cleanup_free_ char *dir = opt ? strndup(name, (size_t)(opt - name)) : strdup(name);
    _cleanup_free_ char *pad_copy = pad ? strdup(pad) : NULL;

    if (!dir || (pad && !pad_copy))
        return -ENOMEM;
    if (dir[0] != '/' || (pad && pad[0] != '/'))
        return -EINVAL;
    *ret_dir = TAKE_PTR(dir);
    *ret_pad = TAKE_PTR(pad_copy);
    return 0;
}

RESPONSECODE
IFDHCreateChannelByName(DWORD Lun, LPSTR DeviceName)
{
    struct channel *ch;
    _cleanup_free_ char *dir = NULL, *pad = NULL;
    size_t slot = MAX_CHANNELS;
    int r = DeviceName ? parse_device_name(DeviceName, &dir, &pad) : -EINVAL;

    if (r == -ENOMEM)
        return IFD_COMMUNICATION_ERROR;
    if (r < 0) {
        ifd_log(LOG_ERR, "DEVICENAME must be the absolute path of a card directory, optionally followed "
                         "by '" PINPAD_OPTION "/absolute/file', got '%s'", DeviceName ? DeviceName : "(null)");
        return IFD_NO_SUCH_DEVICE;
    }
    if (vc_store_present(dir) < 0) {
        ifd_log(LOG_ERR, "%s: not a virtual card directory (no card.conf)", dir);
        return IFD_NO_SUCH_DEVICE;
    }
    ch = calloc(1, sizeof(*ch));
    if (!ch)
        return IFD_COMMUNICATION_ERROR;
    ch->dir = TAKE_PTR(dir);
    ch->pinpad = TAKE_PTR(pad);
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
    ifd_log(LOG_INFO, "virtual card reader for %s ready (Lun 0x%lx)", ch->dir, (unsigned long)Lun);
    if (ch->pinpad)
        ifd_log(LOG_WARNING, "%s: TEST DEVICE: simulated PIN pad, the keys \"typed\" on it are read from %s "
                             "at each PIN verification; not a secure PIN entry path", ch->dir, ch->pinpad);
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

/* One APDU to the card of @p ch (applet under the channel lock); data + SW into @p rx. */
static RESPONSECODE
card_transmit(struct channel *ch, const uint8_t *tx, size_t tx_len, uint8_t *rx, DWORD rx_size, DWORD *ret_len)
{
    uint8_t resp[PIV_RESPONSE_MAX];
    size_t len = 0;
    RESPONSECODE rc = IFD_SUCCESS;

    pthread_mutex_lock(&ch->lock);
    if (ch->applet && vc_store_present(ch->dir) != 1)
        channel_power_down(ch); /* ejected under our feet */
    if (!ch->applet)
        rc = IFD_ICC_NOT_PRESENT;
    else if (piv_applet_transmit(ch->applet, tx, tx_len, resp, sizeof(resp), &len) < 0)
        rc = IFD_COMMUNICATION_ERROR;
    else if (rx_size < len)
        rc = IFD_ERROR_INSUFFICIENT_BUFFER;
    pthread_mutex_unlock(&ch->lock);
    if (rc == IFD_SUCCESS)
        memcpy(rx, resp, len);
    *ret_len = rc == IFD_SUCCESS ? (DWORD)len : 0;
    OPENSSL_cleanse(resp, sizeof(resp));
    return rc;
}

RESPONSECODE
IFDHTransmitToICC(DWORD Lun, SCARD_IO_HEADER SendPci, PUCHAR TxBuffer, DWORD TxLength, PUCHAR RxBuffer,
                  PDWORD RxLength, PSCARD_IO_HEADER RecvPci)
{
    struct channel *ch = channel_get(Lun);
    RESPONSECODE rc;

    if (!ch || !TxBuffer || !RxBuffer || !RxLength)
        return IFD_COMMUNICATION_ERROR;
    rc = card_transmit(ch, TxBuffer, TxLength, RxBuffer, *RxLength, RxLength);
    if (rc == IFD_SUCCESS && RecvPci)
        RecvPci->Protocol = SendPci.Protocol;
    return rc;
}

/* --- simulated PIN pad (PC/SC Part 10) ------------------------------------------------------- */

/* What the "user" did on the pad. */
enum pad_entry {
    PAD_KEYED,   /* digits, then the validation key */
    PAD_NOTHING, /* no key pressed before the timeout */
    PAD_CANCEL,  /* the Cancel key (or anything a pad with only digit keys cannot produce) */
};

/*
 * Read what was "typed on the pad": the content of the pad file, read anew at every
 * verification and never logged. Digits with an optional final newline are an entry; a
 * missing, empty or unreadable file is a user who typed nothing; anything else (e.g. the word
 * "cancel") is the Cancel key. @p digits receives the entry (a secret: the caller wipes it).
 */
static enum pad_entry
pad_read(const struct channel *ch, char digits[PAD_READ_MAX], size_t *ret_n)
{
    _cleanup_close_ int fd = open(ch->pinpad, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    char buf[PAD_READ_MAX + 1];
    enum pad_entry e = PAD_KEYED;
    struct stat st;
    size_t n = 0;
    ssize_t got;

    if (fd < 0) {
        if (errno != ENOENT)
            ifd_log(LOG_WARNING, "%s: cannot open the PIN-pad file %s: %s", ch->dir, ch->pinpad, strerror(errno));
        return PAD_NOTHING;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        ifd_log(LOG_WARNING, "%s: the PIN-pad file %s is not a regular file", ch->dir, ch->pinpad);
        return PAD_NOTHING;
    }
    while (n < sizeof(buf) && (got = read(fd, buf + n, sizeof(buf) - n)) > 0)
        n += (size_t)got;
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n == 0)
        e = PAD_NOTHING;
    else if (n > PAD_READ_MAX)
        e = PAD_CANCEL;
    for (size_t i = 0; e == PAD_KEYED && i < n; i++)
        if (buf[i] < '0' || buf[i] > '9')
            e = PAD_CANCEL;
    if (e == PAD_KEYED) {
        memcpy(digits, buf, n);
        *ret_n = n;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return e;
}

/* A status word the reader answers itself, without the card. */
static RESPONSECODE
reader_sw(uint16_t sw, PUCHAR rx, DWORD rx_size, LPDWORD ret_len)
{
    if (rx_size < 2) {
        *ret_len = 0;
        return IFD_ERROR_INSUFFICIENT_BUFFER;
    }
    rx[0] = (uint8_t)(sw >> 8);
    rx[1] = (uint8_t)sw;
    *ret_len = 2;
    return IFD_SUCCESS;
}

/*
 * FEATURE_VERIFY_PIN_DIRECT: parse the PIN_VERIFY_STRUCTURE, take the keyed digits from the pad
 * file, put them into the VERIFY template and send it to the card like IFDHTransmitToICC does;
 * the card's answer (SW) goes back. The PIN never leaves this function: not in the input, not
 * in the output, not in any log; its buffers are wiped.
 */
static RESPONSECODE
pinpad_verify(struct channel *ch, const uint8_t *in, DWORD in_len, PUCHAR rx, DWORD rx_size, LPDWORD ret_len)
{
    struct vc_pinpad_verify v;
    char digits[PAD_READ_MAX];
    uint8_t apdu[VC_PINPAD_APDU_MAX];
    size_t n = 0, apdu_len = 0;
    uint16_t sw = 0;
    RESPONSECODE rc;
    int r = vc_pinpad_verify_parse(in, in_len, &v);

    if (rx_size < 2) { /* before the pad and the card: a PIN try must not vanish unanswered */
        *ret_len = 0;
        return IFD_ERROR_INSUFFICIENT_BUFFER;
    }
    if (r == -EBADMSG) {
        ifd_log(LOG_WARNING, "%s: malformed PIN_VERIFY_STRUCTURE (%lu bytes) refused", ch->dir,
                (unsigned long)in_len);
        *ret_len = 0;
        return IFD_NOT_SUPPORTED; /* as libccid's SecurePINVerify() */
    }
    if (r < 0) {
        ifd_log(LOG_WARNING, "%s: PIN pad refuses this VERIFY request (%s)", ch->dir,
                r == -EPERM ? "not a VERIFY APDU" : "unsupported format");
        return reader_sw(VC_PINPAD_SW_BAD_DATA, rx, rx_size, ret_len);
    }
    switch (pad_read(ch, digits, &n)) {
    case PAD_NOTHING:
        ifd_log(LOG_NOTICE, "%s: PIN pad: nothing keyed (%s missing or empty), answering 64 00 (timeout)",
                ch->dir, ch->pinpad);
        sw = VC_PINPAD_SW_TIMEOUT;
        break;
    case PAD_CANCEL:
        ifd_log(LOG_NOTICE, "%s: PIN pad: Cancel key (%s holds no PIN), answering 64 01", ch->dir, ch->pinpad);
        sw = VC_PINPAD_SW_CANCELLED;
        break;
    case PAD_KEYED:
        r = vc_pinpad_verify_apdu(&v, digits, n, apdu, &apdu_len);
        if (r < 0)
            ifd_log(LOG_NOTICE, "%s: PIN pad: the keyed PIN does not fit the request (%s)", ch->dir,
                    r == -ERANGE ? "length outside the limits, 64 03" : "6B 80");
        sw = r == 0 ? 0 : r == -ERANGE ? VC_PINPAD_SW_LENGTH : VC_PINPAD_SW_BAD_DATA;
        break;
    }
    OPENSSL_cleanse(digits, sizeof(digits));
    if (sw) {
        OPENSSL_cleanse(apdu, sizeof(apdu));
        return reader_sw(sw, rx, rx_size, ret_len);
    }
    rc = card_transmit(ch, apdu, apdu_len, rx, rx_size, ret_len);
    OPENSSL_cleanse(apdu, sizeof(apdu));
    return rc;
}

/**
 * IFDHControl: a reader without a PIN pad supports no control code at all (as before). A
 * PIN-pad reader answers CM_IOCTL_GET_FEATURE_REQUEST and the three features it lists.
 * @param[in]  Lun               the reader
 * @param[in]  dwControlCode     CM_IOCTL_GET_FEATURE_REQUEST or a code it listed (VC_PINPAD_IOCTL)
 * @param[in]  TxBuffer          input: for VERIFY_PIN_DIRECT a PIN_VERIFY_STRUCTURE + APDU
 *                               template (no PIN in it); ignored otherwise
 * @param[in]  TxLength          bytes in @p TxBuffer
 * @param[out] RxBuffer          the answer: feature TLVs, properties, or the VERIFY status word
 * @param[in]  RxLength          size of @p RxBuffer
 * @param[out] pdwBytesReturned  bytes written to @p RxBuffer, 0 on every error
 * @return IFD_SUCCESS (VERIFY: the card's SW, or the pad's own 64 00 nothing typed, 64 01 Cancel,
 *         64 03 PIN length, 6B 80 request refused); IFD_ERROR_NOT_SUPPORTED no PIN pad or an
 *         unknown code; IFD_NOT_SUPPORTED malformed PIN_VERIFY_STRUCTURE (as libccid);
 *         IFD_ERROR_INSUFFICIENT_BUFFER @p RxLength too small (VERIFY: checked before the pad is
 *         read); IFD_ICC_NOT_PRESENT no card; IFD_COMMUNICATION_ERROR NULL buffers.
 * Source: PC/SC Part 10 v2.02.09 §2.2 and §2.5; pcsc-lite ifdhandler.h (IFDHControl).
 */
RESPONSECODE
IFDHControl(DWORD Lun, DWORD dwControlCode, PUCHAR TxBuffer, DWORD TxLength, PUCHAR RxBuffer, DWORD RxLength,
            LPDWORD pdwBytesReturned)
{
    struct channel *ch = channel_get(Lun);
    size_t len = 0;
    int r;

    if (pdwBytesReturned)
        *pdwBytesReturned = 0;
    if (!ch || !ch->pinpad)
        return IFD_ERROR_NOT_SUPPORTED;
    if (!pdwBytesReturned || (!RxBuffer && RxLength) || (!TxBuffer && TxLength))
        return IFD_COMMUNICATION_ERROR;
    if (dwControlCode == VC_PINPAD_IOCTL(FEATURE_VERIFY_PIN_DIRECT))
        return pinpad_verify(ch, TxBuffer, TxLength, RxBuffer, RxLength, pdwBytesReturned);
    if (dwControlCode == CM_IOCTL_GET_FEATURE_REQUEST)
        r = vc_pinpad_features(RxBuffer, RxLength, &len);
    else if (dwControlCode == VC_PINPAD_IOCTL(FEATURE_IFD_PIN_PROPERTIES))
        r = vc_pinpad_pin_properties(RxBuffer, RxLength, &len);
    else if (dwControlCode == VC_PINPAD_IOCTL(FEATURE_GET_TLV_PROPERTIES))
        r = vc_pinpad_tlv_properties(RxBuffer, RxLength, &len);
    else
        return IFD_ERROR_NOT_SUPPORTED;
    if (r < 0)
        return IFD_ERROR_INSUFFICIENT_BUFFER;
    *pdwBytesReturned = (DWORD)len;
    return IFD_SUCCESS;
}
