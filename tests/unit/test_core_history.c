/* Unit tests for relay/core/history.h and relay/core/ssrcmap.h. */
#include "proto/err.h"
#include "relay/core/history.h"
#include "relay/core/ssrcmap.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

static void fill(uint8_t *p, size_t n, uint16_t seq)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seq * 7 + i);
}

static void check_pkt(const hc_history_t *h, uint16_t seq, size_t n)
{
    const uint8_t *p;
    size_t len;
    ck_assert_int_eq(hc_history_get(h, seq, 0, &p, &len, NULL), 0);
    ck_assert_uint_eq(len, n);
    uint8_t want[2048];
    fill(want, n, seq);
    ck_assert_mem_eq(p, want, n);
}

START_TEST(history_put_get)
{
    hc_history_t h;
    ck_assert_int_eq(hc_history_init(&h, 16, 16 * 104), 0);
    uint8_t buf[100];
    for (uint16_t s = 0; s < 10; s++) {
        fill(buf, 100, s);
        ck_assert_int_eq(hc_history_put(&h, s, buf, 100, 1000000 + s * 1000), 0);
    }
    for (uint16_t s = 0; s < 10; s++) check_pkt(&h, s, 100);
    ck_assert_int_eq(hc_history_get(&h, 10, 0, NULL, NULL, NULL), -HC_ENOTFOUND);
    /* Same index, other seq: not confused. */
    ck_assert(!hc_history_has(&h, 16));
    ck_assert(!hc_history_has(&h, 65535 & (0 + 65536 - 16)));
    uint32_t age;
    ck_assert_int_eq(hc_history_get(&h, 3, 1000000 + 53000, NULL, NULL, &age), 0);
    ck_assert_uint_eq(age, 50);
    hc_history_clear(&h);
    ck_assert(!hc_history_has(&h, 3));
    hc_history_fini(&h);
    hc_history_fini(&h);
}
END_TEST

START_TEST(history_index_and_ring_eviction)
{
    hc_history_t h;
    /* 8 slots, ring of 1000 bytes: holds 9 packets of 100 (+4) bytes, so
     * the index (8) limits. */
    ck_assert_int_eq(hc_history_init(&h, 8, 1000), 0);
    uint8_t buf[600];
    for (uint16_t s = 100; s < 120; s++) {
        fill(buf, 100, s);
        ck_assert_int_eq(hc_history_put(&h, s, buf, 100, 0), 0);
    }
    for (uint16_t s = 100; s < 112; s++) ck_assert(!hc_history_has(&h, s));
    for (uint16_t s = 112; s < 120; s++) check_pkt(&h, s, 100);
    /* Big packets: the ring limits (one 600-byte packet leaves room for
     * three 100-byte ones). */
    fill(buf, 600, 120);
    ck_assert_int_eq(hc_history_put(&h, 120, buf, 600, 0), 0);
    check_pkt(&h, 120, 600);
    int held = 0;
    for (uint16_t s = 112; s < 120; s++) held += hc_history_has(&h, s);
    ck_assert_int_le(held, 3);
    ck_assert_uint_gt(h.evicted, 0);
    /* Too big for the ring. */
    uint8_t big[1100] = {0};
    ck_assert_int_eq(hc_history_put(&h, 121, big, sizeof(big), 0), -HC_ENOSPC);
    ck_assert_int_eq(hc_history_put(&h, 121, big, 0, 0), -HC_EINVAL);
    hc_history_fini(&h);
    ck_assert_int_eq(hc_history_init(&h, 6, 100), -HC_EINVAL);
    ck_assert_int_eq(hc_history_init(&h, 8, 0), -HC_EINVAL);
}
END_TEST

/* Random sizes and sequence numbers against a model: whatever the history
 * returns must be exactly the last packet put under that seq. */
START_TEST(history_random_model)
{
    hc_history_t h;
    ck_assert_int_eq(hc_history_init(&h, 64, 64 * 300), 0);
    static uint8_t model[65536][2];
    static uint16_t model_len[65536];
    memset(model_len, 0, sizeof(model_len));
    uint64_t rs = 42;
    uint16_t seq = 65000;
    uint8_t buf[1500];
    for (int i = 0; i < 20000; i++) {
        uint64_t x = hc_test_rand(&rs);
        uint16_t s = (x & 7) == 0 ? (uint16_t)(seq - (x >> 8) % 40) : seq++;
        size_t n = 1 + (x >> 16) % ((x & 16) ? 1400 : 200);
        for (size_t k = 0; k < n; k++) buf[k] = (uint8_t)(x >> (k % 56));
        ck_assert_int_eq(hc_history_put(&h, s, buf, n, 0), 0);
        model[s][0] = buf[0];
        model[s][1] = buf[n - 1];
        model_len[s] = (uint16_t)n;
        /* The packet just put is always there. */
        const uint8_t *p;
        size_t len;
        ck_assert_int_eq(hc_history_get(&h, s, 0, &p, &len, NULL), 0);
        ck_assert_uint_eq(len, n);
        if ((x & 31) == 0) {
            for (uint16_t q = (uint16_t)(seq - 100); q != seq; q++) {
                if (hc_history_get(&h, q, 0, &p, &len, NULL) == 0) {
                    ck_assert_uint_eq(len, model_len[q]);
                    ck_assert_uint_eq(p[0], model[q][0]);
                    ck_assert_uint_eq(p[len - 1], model[q][1]);
                }
            }
        }
        ck_assert_uint_le(h.used, h.cap);
    }
    hc_history_fini(&h);
}
END_TEST

START_TEST(ssrcmap_basic)
{
    hc_ssrcmap_t m;
    ck_assert_int_eq(hc_ssrcmap_init(&m, 100, 1234), 0);
    for (uint32_t i = 0; i < 100; i++) ck_assert_int_eq(hc_ssrcmap_put(&m, i * 4, i), 0);
    ck_assert_int_eq(hc_ssrcmap_put(&m, 4, 9), -HC_EEXIST);
    ck_assert_int_eq(hc_ssrcmap_put(&m, 1, 9), -HC_EFULL);
    uint32_t v;
    for (uint32_t i = 0; i < 100; i++) {
        ck_assert(hc_ssrcmap_get(&m, i * 4, &v));
        ck_assert_uint_eq(v, i);
        ck_assert(!hc_ssrcmap_get(&m, i * 4 + 1, &v));
    }
    ck_assert(!hc_ssrcmap_get(&m, (1ull << 63) | 4, &v));
    ck_assert_int_eq(hc_ssrcmap_del(&m, 8), 0);
    ck_assert_int_eq(hc_ssrcmap_del(&m, 8), -HC_ENOTFOUND);
    ck_assert(!hc_ssrcmap_get(&m, 8, &v));
    ck_assert_int_eq(hc_ssrcmap_put(&m, 1, 9), 0);
    hc_ssrcmap_fini(&m);
    ck_assert_int_eq(hc_ssrcmap_init(&m, 0, 1), -HC_EINVAL);
}
END_TEST

/* Many adds and removes against a model (backward-shift deletion must keep
 * every remaining key reachable). */
START_TEST(ssrcmap_churn)
{
    hc_ssrcmap_t m;
    ck_assert_int_eq(hc_ssrcmap_init(&m, 500, 99), 0);
    static uint32_t keys[500];
    static bool in[500];
    uint64_t rs = 7;
    for (int i = 0; i < 500; i++) keys[i] = (uint32_t)hc_test_rand(&rs) | 1u;
    for (int round = 0; round < 50000; round++) {
        int i = (int)(hc_test_rand(&rs) % 500);
        if (in[i]) {
            ck_assert_int_eq(hc_ssrcmap_del(&m, keys[i]), 0);
            in[i] = false;
        } else {
            ck_assert_int_eq(hc_ssrcmap_put(&m, keys[i], (uint32_t)i), 0);
            in[i] = true;
        }
        if (round % 997 == 0) {
            for (int k = 0; k < 500; k++) {
                uint32_t v;
                ck_assert(hc_ssrcmap_get(&m, keys[k], &v) == in[k]);
                if (in[k]) ck_assert_uint_eq(v, (uint32_t)k);
            }
        }
    }
    hc_ssrcmap_fini(&m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("core_history");
    TCase *tc = tcase_create("history");
    tcase_add_test(tc, history_put_get);
    tcase_add_test(tc, history_index_and_ring_eviction);
    tcase_add_test(tc, history_random_model);
    suite_add_tcase(s, tc);
    tc = tcase_create("ssrcmap");
    tcase_add_test(tc, ssrcmap_basic);
    tcase_add_test(tc, ssrcmap_churn);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
