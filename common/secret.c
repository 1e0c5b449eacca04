/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Secret handling: wipe-before-free and reading a PIN/PUK from a file, stdin or
 * the terminal (echo off) without ever putting it in argv or the environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/secret.h"

void
sc_secret_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void
sc_secret_free_n(void *p, size_t len)
{
    if (!p)
        return;
    explicit_bzero(p, len);
    free(p);
}

static int
read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0 || c == '\n')
            break;
        if (n + 1 >= size)
            return -E2BIG;
        buf[n++] = c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return n == 0 ? -ENODATA : 0;
}

int
sc_secret_read(const char *path, const char *prompt, char **ret_secret)
{
    char buf[257];
    _cleanup_close_ int fd = -1;
    int r;

    if (path && strcmp(path, "-") == 0) {
        r = read_line(STDIN_FILENO, buf, sizeof(buf));
    } else if (path) {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            return -errno;
        r = read_line(fd, buf, sizeof(buf));
    } else {
        struct termios old, quiet;
        fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            return -ENXIO;
        if (tcgetattr(fd, &old) < 0)
            return -ENXIO;
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        if (prompt)
            (void)!write(fd, prompt, strlen(prompt));
        (void)tcsetattr(fd, TCSAFLUSH, &quiet);
        r = read_line(fd, buf, sizeof(buf));
        (void)tcsetattr(fd, TCSAFLUSH, &old);
        (void)!write(fd, "\n", 1);
    }
    if (r < 0) {
        explicit_bzero(buf, sizeof(buf));
        return r;
    }
    char *s = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    if (!s)
        return -ENOMEM;
    *ret_secret = s;
    return 0;
}
