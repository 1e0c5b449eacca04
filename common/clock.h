/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Monotonic time for deadlines and timeouts. */
#pragma once

#include <stdint.h>
#include <time.h>

/** Microseconds on CLOCK_MONOTONIC (never goes back; not wall-clock time). */
static inline uint64_t
sc_now_usec(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
