#include "proto/seq.h"
#include "tests/common/testutil.h"

START_TEST(seq_diff_vectors)
{
    ck_assert_int_eq(hc_seq_diff(0, 0), 0);
    ck_assert_int_eq(hc_seq_diff(10, 13), 3);
    ck_assert_int_eq(hc_seq_diff(13, 10), -3);
    /* wrap-around: 65535 -> 0 is one step forward */
    ck_assert_int_eq(hc_seq_diff(65535, 0), 1);
    ck_assert_int_eq(hc_seq_diff(0, 65535), -1);
    ck_assert_int_eq(hc_seq_diff(65530, 5), 11);
    /* edges of the half space */
    ck_assert_int_eq(hc_seq_diff(0, 32767), 32767);
    ck_assert_int_eq(hc_seq_diff(0, 32768), -32768);
    ck_assert_int_eq(hc_seq_diff(32768, 0), -32768);
    ck_assert_int_eq(hc_seq_diff(1, 32769), -32768);
    ck_assert_int_eq(hc_seq_diff(1, 32768), 32767);
}
END_TEST

START_TEST(seq_lt_vectors)
{
    ck_assert(hc_seq_lt(1, 2));
    ck_assert(!hc_seq_lt(2, 1));
    ck_assert(!hc_seq_lt(7, 7));
    ck_assert(hc_seq_lt(65535, 0));
    ck_assert(!hc_seq_lt(0, 65535));
    ck_assert(hc_seq_lt(65000, 100));
    ck_assert(hc_seq_lt(0, 32767));
    /* exactly half apart: neither is older */
    ck_assert(!hc_seq_lt(0, 32768));
    ck_assert(!hc_seq_lt(32768, 0));
}
END_TEST

START_TEST(seq_diff_antisymmetric)
{
    /* count failures and assert once: Check reports every passing
     * assertion to its parent, which is slow in a million-step loop */
    long bad = 0;
    for (uint32_t a = 0; a < 65536; a += 251) {
        for (uint32_t b = 0; b < 65536; b += 13) {
            int d = hc_seq_diff((uint16_t)a, (uint16_t)b);
            if ((uint16_t)(a + (uint32_t)d) != b) bad++;
            if (d != -32768 && hc_seq_diff((uint16_t)b, (uint16_t)a) != -d) bad++;
            if (hc_seq_lt((uint16_t)a, (uint16_t)b) != (d > 0)) bad++;
        }
    }
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(ts_diff_vectors)
{
    ck_assert_int_eq(hc_ts_diff(0, 0), 0);
    ck_assert_int_eq(hc_ts_diff(1000, 4000), 3000);
    ck_assert_int_eq(hc_ts_diff(4000, 1000), -3000);
    ck_assert_int_eq(hc_ts_diff(0xffffffffu, 0), 1);
    ck_assert_int_eq(hc_ts_diff(0, 0xffffffffu), -1);
    ck_assert_int_eq(hc_ts_diff(0xffffff00u, 0x100), 0x200);
    ck_assert_int_eq(hc_ts_diff(0, 0x7fffffffu), INT32_MAX);
    ck_assert_int_eq(hc_ts_diff(0, 0x80000000u), INT32_MIN);
    ck_assert(hc_ts_lt(0xfffffff0u, 0x10));
    ck_assert(!hc_ts_lt(0x10, 0xfffffff0u));
    ck_assert(!hc_ts_lt(5, 5));
    ck_assert(!hc_ts_lt(0, 0x80000000u));
    ck_assert(!hc_ts_lt(0x80000000u, 0));
}
END_TEST

START_TEST(seq_unwrap_forward_wrap)
{
    hc_seq_unwrap_t u;
    hc_seq_unwrap_init(&u);
    ck_assert_int_eq(hc_seq_unwrap(&u, 65534), 65534);
    ck_assert_int_eq(hc_seq_unwrap(&u, 65535), 65535);
    ck_assert_int_eq(hc_seq_unwrap(&u, 0), 65536);
    ck_assert_int_eq(hc_seq_unwrap(&u, 1), 65537);
    /* gaps below half the space go forward, also across the next wrap */
    ck_assert_int_eq(hc_seq_unwrap(&u, 30000), 30000 + 65536);
    ck_assert_int_eq(hc_seq_unwrap(&u, 60000), 60000 + 65536);
    ck_assert_int_eq(hc_seq_unwrap(&u, 2000), 2000 + 2 * 65536);
    /* a jump of more than half the space is read as a late packet */
    ck_assert_int_eq(hc_seq_unwrap(&u, 40000), 40000 + 65536);
}
END_TEST

START_TEST(seq_unwrap_reorder_across_wrap)
{
    hc_seq_unwrap_t u;
    hc_seq_unwrap_init(&u);
    ck_assert_int_eq(hc_seq_unwrap(&u, 65533), 65533);
    ck_assert_int_eq(hc_seq_unwrap(&u, 65535), 65535);
    ck_assert_int_eq(hc_seq_unwrap(&u, 1), 65537);
    /* late packets from before the wrap map below */
    ck_assert_int_eq(hc_seq_unwrap(&u, 65534), 65534);
    ck_assert_int_eq(hc_seq_unwrap(&u, 0), 65536);
    /* and the reference did not move back */
    ck_assert_int_eq(hc_seq_unwrap(&u, 2), 65538);
}
END_TEST

START_TEST(seq_unwrap_late_before_start)
{
    /* zero-initialised state is valid */
    hc_seq_unwrap_t u = {0};
    ck_assert_int_eq(hc_seq_unwrap(&u, 0), 0);
    ck_assert_int_eq(hc_seq_unwrap(&u, 65535), -1);
    ck_assert_int_eq(hc_seq_unwrap(&u, 65500), -36);
    ck_assert_int_eq(hc_seq_unwrap(&u, 1), 1);
}
END_TEST

/* A long stream with local reordering (shuffled windows of up to 50) must
 * unwrap to the true index, relative to the first value seen, across many
 * wraps. */
START_TEST(seq_unwrap_long_random)
{
    uint64_t rs = 0x1234567;
    hc_seq_unwrap_t u;
    hc_seq_unwrap_init(&u);
    const int64_t start = 40000;
    int64_t i = start;
    int64_t base = -1;
    long bad = 0;
    while (i < start + 5 * 65536) {
        int64_t win = 1 + (int64_t)(hc_test_rand(&rs) % 50);
        int64_t order[50];
        for (int64_t k = 0; k < win; k++) order[k] = i + k;
        for (int64_t k = win - 1; k > 0; k--) {
            int64_t j = (int64_t)(hc_test_rand(&rs) % (uint64_t)(k + 1));
            int64_t t = order[k];
            order[k] = order[j];
            order[j] = t;
        }
        for (int64_t k = 0; k < win; k++) {
            int64_t got = hc_seq_unwrap(&u, (uint16_t)order[k]);
            if (base < 0) base = order[k] - got;
            if (got + base != order[k]) bad++;
        }
        i += win;
    }
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(ts_unwrap_vectors)
{
    hc_ts_unwrap_t u;
    hc_ts_unwrap_init(&u);
    ck_assert_int_eq(hc_ts_unwrap(&u, 0xfffff000u), 0xfffff000LL);
    ck_assert_int_eq(hc_ts_unwrap(&u, 0x00000800u), 0x100000800LL);
    /* late timestamp from before the wrap */
    ck_assert_int_eq(hc_ts_unwrap(&u, 0xfffffc00u), 0xfffffc00LL);
    ck_assert_int_eq(hc_ts_unwrap(&u, 0x00001000u), 0x100001000LL);
    /* steps of 2^30 keep going forward across several wraps */
    int64_t want = 0x100001000LL;
    for (int k = 0; k < 12; k++) {
        want += 0x40000000LL;
        ck_assert_int_eq(hc_ts_unwrap(&u, (uint32_t)want), want);
    }
    hc_ts_unwrap_t z = {0};
    ck_assert_int_eq(hc_ts_unwrap(&z, 5), 5);
    ck_assert_int_eq(hc_ts_unwrap(&z, 0xfffffffbu), -5);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("seq");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, seq_diff_vectors);
    tcase_add_test(tc, seq_lt_vectors);
    tcase_add_test(tc, seq_diff_antisymmetric);
    tcase_add_test(tc, ts_diff_vectors);
    tcase_add_test(tc, seq_unwrap_forward_wrap);
    tcase_add_test(tc, seq_unwrap_reorder_across_wrap);
    tcase_add_test(tc, seq_unwrap_late_before_start);
    tcase_add_test(tc, seq_unwrap_long_random);
    tcase_add_test(tc, ts_unwrap_vectors);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
