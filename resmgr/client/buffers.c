/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PC/SC output-buffer conventions of libscard: length queries (NULL buffer),
 * SCARD_AUTOALLOCATE with the set of blocks SCardFreeMemory may free, and reader
 * groups. No I/O here; the block set's mutex is held only for list updates.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "resmgr/client/client.h"

/* Blocks handed out under SCARD_AUTOALLOCATE and not yet freed: SCardFreeMemory frees only
 * these. Process-wide because the memory outlives the call (and, as with pcsc-lite, the
 * context); protected by its own mutex, never held across I/O. */
static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static void **mem_blocks;
static size_t n_mem, n_mem_alloc;

static void
mem_atfork_prepare(void)
{
    pthread_mutex_lock(&mem_lock);
}

static void
mem_atfork_release(void)
{
    pthread_mutex_unlock(&mem_lock);
}

/* Keep the set consistent in a child forked while another thread was updating it. */
__attribute__((constructor)) static void
mem_init(void)
{
    (void)pthread_atfork(mem_atfork_prepare, mem_atfork_release, mem_atfork_release);
}

static int
mem_track(void *p)
{
    int r = 0;

    pthread_mutex_lock(&mem_lock);
    if (n_mem == n_mem_alloc) {
        size_t n = n_mem_alloc ? n_mem_alloc * 2 : 8;
        void **b = realloc(mem_blocks, n * sizeof(*b));
        if (!b) {
            r = -ENOMEM;
            goto out;
        }
        mem_blocks = b;
        n_mem_alloc = n;
    }
    mem_blocks[n_mem++] = p;
out:
    pthread_mutex_unlock(&mem_lock);
    return r;
}

int
rmc_mem_free(const void *p)
{
    bool found = false;

    if (!p)
        return 0;
    pthread_mutex_lock(&mem_lock);
    for (size_t i = n_mem; i-- > 0;) /* most recent first: the usual free order */
        if (mem_blocks[i] == p) {
            mem_blocks[i] = mem_blocks[--n_mem];
            found = true;
            break;
        }
    pthread_mutex_unlock(&mem_lock);
    if (!found)
        return -EINVAL;
    free((void *)p);
    return 0;
}

size_t
rmc_mem_count(void)
{
    size_t n;

    pthread_mutex_lock(&mem_lock);
    n = n_mem;
    pthread_mutex_unlock(&mem_lock);
    return n;
}

LONG
rmc_put_out(const void *data, size_t len, void *buf, LPDWORD pcb, bool may_alloc)
{
    if (!pcb)
        return SCARD_E_INVALID_PARAMETER;
    if (may_alloc && *pcb == SCARD_AUTOALLOCATE) {
        void *p;
        if (!buf)
            return SCARD_E_INVALID_PARAMETER;
        p = malloc(len ? len : 1);
        if (!p)
            return SCARD_E_NO_MEMORY;
        memcpy(p, data, len);
        if (mem_track(p) < 0) {
            free(p);
            return SCARD_E_NO_MEMORY;
        }
        *(void **)buf = p;
    } else if (buf) {
        if (*pcb < len) {
            *pcb = len;
            return SCARD_E_INSUFFICIENT_BUFFER;
        }
        memcpy(buf, data, len);
    }
    *pcb = len;
    return SCARD_S_SUCCESS;
}

void
rmc_put_out_undo(void *buf, LPDWORD pcb, DWORD saved_pcb)
{
    if (saved_pcb == SCARD_AUTOALLOCATE && buf && rmc_mem_free(*(void **)buf) == 0)
        *(void **)buf = NULL;
    *pcb = saved_pcb;
}

bool
rmc_groups_select_all(const char *groups)
{
    static const char *const known[] = {"SCard$AllReaders", "SCard$DefaultReaders",
                                        "SCard$LocalReaders", "SCard$SystemReaders"};

    if (!groups || !*groups)
        return true;
    /* names compare without case: lenient, it can only select more */
    for (const char *g = groups; *g; g += strlen(g) + 1)
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strcasecmp(g, known[i]) == 0)
                return true;
    return false;
}
