#include "proto/err.h"
#include "relay/core/pool.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

START_TEST(init_rejects_bad_args)
{
    hc_pool_t p;
    ck_assert_int_eq(hc_pool_init(&p, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_pool_init(NULL, 4), -HC_EINVAL);
    hc_pool_fini(&p); /* safe after a failed init */
    hc_pool_fini(&p); /* and twice */
}
END_TEST

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)(*(hc_pkt_t *const *)a)->data;
    uintptr_t y = (uintptr_t)(*(hc_pkt_t *const *)b)->data;
    return x < y ? -1 : x > y;
}

START_TEST(get_put_all)
{
    enum { N = 257 };
    hc_pool_t p;
    hc_pkt_t *got[N];
    ck_assert_int_eq(hc_pool_init(&p, N), 0);
    ck_assert_uint_eq(p.n, N);
    ck_assert_uint_eq(hc_pool_avail(&p), N);

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            got[i] = hc_pool_get(&p);
            ck_assert_ptr_nonnull(got[i]);
            ck_assert_uint_eq(got[i]->len, 0);
            ck_assert_uint_eq(got[i]->cap, HC_PKT_CAP);
            ck_assert_uint_eq(got[i]->flags, 0);
            ck_assert_uint_eq(got[i]->rx_us, 0);
            ck_assert_uint_eq(got[i]->peer.len, 0);
            ck_assert_ptr_null(got[i]->next);
            /* Each buffer starts on a cache line. */
            ck_assert_uint_eq((uintptr_t)got[i]->data % 64, 0);
            /* Dirty the whole buffer and header fields: ASan flags any
             * overlap with the pool's own bookkeeping. */
            memset(got[i]->data, (int)(i & 0xff), HC_PKT_CAP);
            got[i]->len = (uint32_t)i;
            got[i]->flags = 0xdead;
            got[i]->rx_us = 77;
        }
        ck_assert_uint_eq(p.in_use, N);
        ck_assert_uint_eq(hc_pool_avail(&p), 0);
        ck_assert_uint_eq(p.high_water, N);

        /* No two buffers overlap: sorted starts are >= HC_PKT_CAP apart and
         * every buffer still holds its own fill byte. */
        hc_pkt_t *sorted[N];
        memcpy(sorted, got, sizeof(got));
        qsort(sorted, N, sizeof(sorted[0]), cmp_ptr);
        for (int i = 1; i < N; i++)
            ck_assert_uint_ge((uintptr_t)sorted[i]->data - (uintptr_t)sorted[i - 1]->data,
                              HC_PKT_CAP);
        for (int i = 0; i < N; i++) {
            ck_assert_uint_eq(got[i]->data[0], (uint8_t)(i & 0xff));
            ck_assert_uint_eq(got[i]->data[HC_PKT_CAP - 1], (uint8_t)(i & 0xff));
        }

        /* Put back in a scrambled order. */
        for (int i = 0; i < N; i++) hc_pool_put(&p, got[(i * 7) % N]);
        ck_assert_uint_eq(p.in_use, 0);
        ck_assert_uint_eq(hc_pool_avail(&p), N);
    }
    ck_assert_uint_eq(p.exhausted, 0);
    hc_pool_put(&p, NULL); /* ignored */
    hc_pool_fini(&p);
    ck_assert_ptr_null(p.block);
}
END_TEST

START_TEST(exhaustion_counted)
{
    hc_pool_t p;
    ck_assert_int_eq(hc_pool_init(&p, 3), 0);
    hc_pkt_t *a = hc_pool_get(&p), *b = hc_pool_get(&p), *c = hc_pool_get(&p);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(hc_pool_get(&p));
    ck_assert_ptr_null(hc_pool_get(&p));
    ck_assert_uint_eq(p.exhausted, 2);
    ck_assert_uint_eq(p.in_use, 3);

    hc_pool_put(&p, b);
    hc_pkt_t *d = hc_pool_get(&p);
    ck_assert_ptr_eq(d, b); /* LIFO: the warmest buffer comes back first */
    ck_assert_uint_eq(p.exhausted, 2);
    hc_pool_put(&p, a);
    hc_pool_put(&p, c);
    hc_pool_put(&p, d);
    ck_assert_uint_eq(p.in_use, 0);
    ck_assert_uint_eq(p.high_water, 3);
    hc_pool_fini(&p);
}
END_TEST

START_TEST(high_water_tracks_peak)
{
    hc_pool_t p;
    ck_assert_int_eq(hc_pool_init(&p, 10), 0);
    hc_pkt_t *x[5];
    for (int i = 0; i < 5; i++) x[i] = hc_pool_get(&p);
    for (int i = 0; i < 5; i++) hc_pool_put(&p, x[i]);
    for (int i = 0; i < 2; i++) x[i] = hc_pool_get(&p);
    ck_assert_uint_eq(p.high_water, 5);
    ck_assert_uint_eq(p.in_use, 2);
    hc_pool_put(&p, x[0]);
    hc_pool_put(&p, x[1]);
    hc_pool_fini(&p);
}
END_TEST

START_TEST(put_chain)
{
    hc_pool_t p;
    ck_assert_int_eq(hc_pool_init(&p, 8), 0);
    hc_pkt_t *head = NULL;
    for (int i = 0; i < 6; i++) {
        hc_pkt_t *k = hc_pool_get(&p);
        k->next = head; /* the holder may use next freely */
        head = k;
    }
    ck_assert_uint_eq(p.in_use, 6);
    ck_assert_uint_eq(hc_pool_put_chain(&p, head), 6);
    ck_assert_uint_eq(p.in_use, 0);
    ck_assert_uint_eq(hc_pool_put_chain(&p, NULL), 0);
    /* All 8 still come out distinct. */
    hc_pkt_t *all[8];
    for (int i = 0; i < 8; i++) {
        all[i] = hc_pool_get(&p);
        ck_assert_ptr_nonnull(all[i]);
        for (int j = 0; j < i; j++) ck_assert_ptr_ne(all[i], all[j]);
    }
    ck_assert_ptr_null(hc_pool_get(&p));
    for (int i = 0; i < 8; i++) hc_pool_put(&p, all[i]);
    hc_pool_fini(&p);
}
END_TEST

START_TEST(get_resets_holder_fields)
{
    hc_pool_t p;
    ck_assert_int_eq(hc_pool_init(&p, 1), 0);
    hc_pkt_t *k = hc_pool_get(&p);
    k->len = 100;
    k->flags = 5;
    k->rx_us = 9;
    k->peer.len = 16;
    hc_pool_put(&p, k);
    k = hc_pool_get(&p);
    ck_assert_uint_eq(k->len, 0);
    ck_assert_uint_eq(k->flags, 0);
    ck_assert_uint_eq(k->rx_us, 0);
    ck_assert_uint_eq(k->peer.len, 0);
    hc_pool_put(&p, k);
    hc_pool_fini(&p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("core_pool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, init_rejects_bad_args);
    tcase_add_test(tc, get_put_all);
    tcase_add_test(tc, exhaustion_counted);
    tcase_add_test(tc, high_water_tracks_peak);
    tcase_add_test(tc, put_chain);
    tcase_add_test(tc, get_resets_holder_fields);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
