/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of libscard's output-buffer rules (resmgr/client/buffers.c): length query,
 * short buffer, SCARD_AUTOALLOCATE and the set of blocks SCardFreeMemory may free, undo
 * of a half-delivered output, and the reader groups that select every reader.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "resmgr/client/client.h"

static const char data[] = "Reader A 00 00\0Reader B 00 00\0"; /* 31 bytes with final NUL */

static void
test_length_query(void **state)
{
    DWORD len = 0;

    (void)state;
    assert_int_equal(rmc_put_out(data, sizeof(data), NULL, &len, true), SCARD_S_SUCCESS);
    assert_int_equal(len, sizeof(data));
    len = 12345; /* the value of *pcb does not matter with a NULL buffer */
    assert_int_equal(rmc_put_out(data, sizeof(data), NULL, &len, false), SCARD_S_SUCCESS);
    assert_int_equal(len, sizeof(data));
    assert_int_equal(rmc_put_out(data, sizeof(data), NULL, NULL, true),
                     SCARD_E_INVALID_PARAMETER);
}

static void
test_caller_buffer(void **state)
{
    char buf[64];
    DWORD len = 4;

    (void)state;
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(rmc_put_out(data, sizeof(data), buf, &len, true),
                     SCARD_E_INSUFFICIENT_BUFFER);
    assert_int_equal(len, sizeof(data));
    assert_int_equal(buf[0], 'x'); /* nothing written */
    len = sizeof(data);
    assert_int_equal(rmc_put_out(data, sizeof(data), buf, &len, true), SCARD_S_SUCCESS);
    assert_memory_equal(buf, data, sizeof(data));
    assert_int_equal(len, sizeof(data));
}

static void
test_autoallocate(void **state)
{
    char *p = NULL, *q = NULL;
    DWORD len = SCARD_AUTOALLOCATE, len2 = SCARD_AUTOALLOCATE;
    size_t before = rmc_mem_count();

    (void)state;
    assert_int_equal(rmc_put_out(data, sizeof(data), &p, &len, true), SCARD_S_SUCCESS);
    assert_non_null(p);
    assert_int_equal(len, sizeof(data));
    assert_memory_equal(p, data, sizeof(data));
    assert_int_equal(rmc_put_out("", 0, &q, &len2, true), SCARD_S_SUCCESS); /* empty: a block */
    assert_non_null(q);
    assert_int_equal(len2, 0);
    assert_int_equal(rmc_mem_count(), before + 2);
    assert_int_equal(rmc_mem_free(p), 0);
    assert_int_equal(rmc_mem_free(p), -EINVAL); /* twice: refused, not freed again */
    assert_int_equal(rmc_mem_free(q), 0);
    assert_int_equal(rmc_mem_count(), before);
    len = SCARD_AUTOALLOCATE;
    assert_int_equal(rmc_put_out(data, sizeof(data), NULL, &len, true),
                     SCARD_E_INVALID_PARAMETER); /* nowhere to put the pointer */
}

static void
test_free_only_ours(void **state)
{
    char stack[8];
    void *heap = malloc(8);

    (void)state;
    assert_int_equal(rmc_mem_free(NULL), 0);
    assert_int_equal(rmc_mem_free(stack), -EINVAL);
    assert_int_equal(rmc_mem_free(heap), -EINVAL);
    free(heap);
}

/* Where AUTOALLOCATE is not allowed (Transmit, Control) the value is only a length. */
static void
test_no_alloc(void **state)
{
    char buf[64];
    DWORD len = SCARD_AUTOALLOCATE;
    size_t before = rmc_mem_count();

    (void)state;
    assert_int_equal(rmc_put_out(data, sizeof(data), buf, &len, false), SCARD_S_SUCCESS);
    assert_int_equal(len, sizeof(data));
    assert_memory_equal(buf, data, sizeof(data));
    assert_int_equal(rmc_mem_count(), before);
}

static void
test_undo(void **state)
{
    char *p = NULL, buf[64];
    DWORD len = SCARD_AUTOALLOCATE, blen = sizeof(buf);
    size_t before = rmc_mem_count();

    (void)state;
    assert_int_equal(rmc_put_out(data, sizeof(data), &p, &len, true), SCARD_S_SUCCESS);
    rmc_put_out_undo(&p, &len, SCARD_AUTOALLOCATE);
    assert_null(p);
    assert_int_equal(len, SCARD_AUTOALLOCATE);
    assert_int_equal(rmc_mem_count(), before);
    assert_int_equal(rmc_put_out(data, sizeof(data), buf, &blen, true), SCARD_S_SUCCESS);
    rmc_put_out_undo(buf, &blen, sizeof(buf)); /* caller's buffer: only the length */
    assert_int_equal(blen, sizeof(buf));
}

static void
test_groups(void **state)
{
    (void)state;
    assert_true(rmc_groups_select_all(NULL));
    assert_true(rmc_groups_select_all(""));
    assert_true(rmc_groups_select_all("SCard$DefaultReaders\0"));
    assert_true(rmc_groups_select_all("SCard$AllReaders\0"));
    assert_true(rmc_groups_select_all("SCard$LocalReaders\0"));
    assert_true(rmc_groups_select_all("SCard$SystemReaders\0"));
    assert_true(rmc_groups_select_all("Mine\0SCard$DefaultReaders\0"));
    assert_false(rmc_groups_select_all("Mine\0"));
    assert_false(rmc_groups_select_all("Mine\0Yours\0"));
    assert_true(rmc_groups_select_all("scard$defaultreaders\0")); /* any case */
    assert_false(rmc_groups_select_all("SCard$DefaultReader\0"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_length_query), cmocka_unit_test(test_caller_buffer),
        cmocka_unit_test(test_autoallocate), cmocka_unit_test(test_free_only_ours),
        cmocka_unit_test(test_no_alloc),     cmocka_unit_test(test_undo),
        cmocka_unit_test(test_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
