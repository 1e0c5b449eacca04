/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PIV PIN state over PC/SC for tests/integration/pam-robust.sh, linked against libscard:
 * "status" asks the card whether its PIN is verified (SELECT, then VERIFY without data:
 * 90 00 verified, 63 Cx not verified with x tries left, 69 83 blocked); "verify" verifies
 * the PIN read from a file and leaves the card as it is (SCARD_LEAVE_CARD), which is how a
 * client that forgets to log out leaves it. NIST SP 800-73-4 Part 2 §3.1.1, §3.2.1.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <winscard.h>

static const BYTE select_piv[] = {0x00, 0xA4, 0x04, 0x00, 0x09, 0xA0, 0x00, 0x00, 0x03,
                                  0x08, 0x00, 0x00, 0x10, 0x00, 0x00};

/* One APDU; its status word, or -1 (reported) when it could not be sent. */
static long
transmit(SCARDHANDLE card, DWORD proto, const BYTE *apdu, DWORD len)
{
    BYTE resp[258];
    DWORD rlen = sizeof(resp);
    LONG rv = SCardTransmit(card, proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1, apdu, len,
                            NULL, resp, &rlen);

    if (rv != SCARD_S_SUCCESS || rlen < 2) {
        fprintf(stderr, "piv-pin: Transmit: %s\n", pcsc_stringify_error(rv));
        return -1;
    }
    return (long)(resp[rlen - 2] << 8 | resp[rlen - 1]);
}

/* The PIN's first line, padded with FF to 8 bytes as PIV wants it; 0 or -1. */
static int
read_pin(const char *path, BYTE pin[8])
{
    char buf[16];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
    size_t len = 0;

    if (fd >= 0)
        close(fd);
    while (n > 0 && len < (size_t)n && buf[len] != '\n')
        len++;
    if (n <= 0 || len < 1 || len > 8) {
        explicit_bzero(buf, sizeof(buf));
        return -1;
    }
    memset(pin, 0xFF, 8);
    memcpy(pin, buf, len);
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

int
main(int argc, char **argv)
{
    SCARDCONTEXT ctx;
    SCARDHANDLE card;
    DWORD proto;
    BYTE apdu[13] = {0x00, 0x20, 0x00, 0x80};
    DWORD len = 4;
    long sw;
    LONG rv;
    int verify = argc == 4 && strcmp(argv[1], "verify") == 0;

    if (!verify && !(argc == 3 && strcmp(argv[1], "status") == 0)) {
        fprintf(stderr, "usage: piv-pin status READER | piv-pin verify READER PINFILE\n"
                        "  prints \"SW XXXX\" of the VERIFY; exit 0 when it was sent\n");
        return 2;
    }
    if (verify) {
        if (read_pin(argv[3], apdu + 5) < 0) {
            fprintf(stderr, "piv-pin: cannot read a PIN of 1-8 bytes from %s\n", argv[3]);
            return 2;
        }
        apdu[4] = 8;
        len = 13;
    }
    rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
    if (rv != SCARD_S_SUCCESS) {
        fprintf(stderr, "piv-pin: EstablishContext: %s\n", pcsc_stringify_error(rv));
        return 1;
    }
    rv = SCardConnect(ctx, argv[2], SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &proto);
    if (rv != SCARD_S_SUCCESS) {
        fprintf(stderr, "piv-pin: Connect: %s\n", pcsc_stringify_error(rv));
        explicit_bzero(apdu, sizeof(apdu));
        SCardReleaseContext(ctx);
        return 1;
    }
    sw = transmit(card, proto, select_piv, sizeof(select_piv));
    if (sw >= 0 && sw != 0x9000 && (sw & 0xFF00) != 0x6100) {
        fprintf(stderr, "piv-pin: SELECT PIV: SW %04lX\n", sw);
        sw = -1;
    }
    if (sw >= 0)
        sw = transmit(card, proto, apdu, len);
    explicit_bzero(apdu, sizeof(apdu));
    if (sw >= 0)
        printf("SW %04lX\n", sw);
    SCardDisconnect(card, SCARD_LEAVE_CARD);
    SCardReleaseContext(ctx);
    return sw >= 0 ? 0 : 1;
}
