/*
 * test_red.c - RED payload (RFC 2198 section 3).
 */
#include "proto/err.h"
#include "proto/red.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

static int parse(const uint8_t *b, size_t len, hc_red_block_t *out, size_t max, size_t *n)
{
    uint8_t *c = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(c);
    memcpy(c, b, len);
    int rc = hc_red_parse(c, len, out, max, n);
    /* block data must lie inside the payload and tile its tail exactly */
    if (rc >= 0) {
        const uint8_t *at = out[0].data;
        for (size_t i = 0; i < *n; i++) {
            if (out[i].data != at || out[i].data + out[i].len > c + len)
                ck_abort_msg("block %zu misplaced", i);
            at += out[i].len;
        }
        if (at != c + len) ck_abort_msg("blocks do not end the payload");
        /* rebase onto the caller's copy so the data stays readable */
        for (size_t i = 0; i < *n; i++) out[i].data = b + (out[i].data - c);
    }
    free(c);
    return rc;
}

START_TEST(vector)
{
    /* One redundant Opus frame 960 samples back, then the primary (RFC 2198 section 3:
     * F=1|PT, 14-bit offset, 10-bit length; then F=0|PT; then the data in order). */
    static const uint8_t red_data[] = {0xaa, 0xbb, 0xcc};
    static const uint8_t pri_data[] = {0xdd, 0xee};
    hc_red_block_t r = {111, 960, red_data, 3, false};
    hc_red_block_t p = {111, 0, pri_data, 2, true};
    uint8_t buf[32], want[32];
    int rc = hc_red_write(&r, 1, &p, buf, sizeof buf);
    int n = hc_test_hex("ef 0f 00 03 | 6f | aa bb cc | dd ee", want, sizeof want);
    ck_assert_int_eq(rc, n);
    ck_assert_mem_eq(buf, want, (size_t)n);

    hc_red_block_t out[4];
    size_t cnt;
    ck_assert_int_eq(parse(buf, (size_t)rc, out, 4, &cnt), rc);
    ck_assert_uint_eq(cnt, 2);
    ck_assert_uint_eq(out[0].pt, 111);
    ck_assert_uint_eq(out[0].ts_offset, 960);
    ck_assert_uint_eq(out[0].len, 3);
    ck_assert(!out[0].primary);
    ck_assert_mem_eq(out[0].data, red_data, 3);
    ck_assert_uint_eq(out[1].pt, 111);
    ck_assert_uint_eq(out[1].ts_offset, 0);
    ck_assert_uint_eq(out[1].len, 2);
    ck_assert(out[1].primary);
    ck_assert_mem_eq(out[1].data, pri_data, 2);

    /* the largest timestamp offset packs into the top 14 of the 24 bits */
    hc_red_block_t r2 = {5, 0x3fff, red_data, 3, false};
    ck_assert_int_eq(hc_red_write(&r2, 1, &p, buf, sizeof buf), 10);
    ck_assert_uint_eq(buf[0], 0x85);
    ck_assert_uint_eq(buf[1], 0xff); /* 0x3fff << 10 | 3 = 0xfffc03 */
    ck_assert_uint_eq(buf[2], 0xfc);
    ck_assert_uint_eq(buf[3], 0x03);
}
END_TEST

START_TEST(primary_only)
{
    static const uint8_t d[] = {1, 2, 3};
    hc_red_block_t p = {96, 123, d, 3, false};
    uint8_t buf[8];
    ck_assert_int_eq(hc_red_write(NULL, 0, &p, buf, sizeof buf), 4);
    ck_assert_uint_eq(buf[0], 96);
    hc_red_block_t out[1];
    size_t n;
    ck_assert_int_eq(parse(buf, 4, out, 1, &n), 4);
    ck_assert_uint_eq(n, 1);
    ck_assert(out[0].primary);
    ck_assert_uint_eq(out[0].ts_offset, 0);
    ck_assert_uint_eq(out[0].len, 3);
    /* an empty primary is a one-byte payload */
    p.len = 0;
    p.data = NULL;
    ck_assert_int_eq(hc_red_write(NULL, 0, &p, buf, sizeof buf), 1);
    ck_assert_int_eq(parse(buf, 1, out, 1, &n), 1);
    ck_assert_uint_eq(out[0].len, 0);
}
END_TEST

START_TEST(round_trips)
{
    uint64_t rs = 3;
    static uint8_t data[5][1100];
    for (int k = 0; k < 5; k++)
        for (size_t i = 0; i < sizeof data[k]; i++) data[k][i] = (uint8_t)hc_test_rand(&rs);
    for (int iter = 0; iter < 500; iter++) {
        size_t n = hc_test_rand(&rs) % 4;
        hc_red_block_t r[4], p, out[5];
        for (size_t i = 0; i < n; i++) {
            r[i].pt = (uint8_t)(hc_test_rand(&rs) % 128);
            r[i].ts_offset = (uint16_t)(hc_test_rand(&rs) % 0x4000);
            r[i].len = hc_test_rand(&rs) % 1024;
            r[i].data = data[i];
            r[i].primary = false;
        }
        p.pt = (uint8_t)(hc_test_rand(&rs) % 128);
        p.len = hc_test_rand(&rs) % 1100;
        p.data = data[4];
        static uint8_t buf[6000];
        int rc = hc_red_write(r, n, &p, buf, sizeof buf);
        size_t total = 1 + p.len;
        for (size_t i = 0; i < n; i++) total += 4 + r[i].len;
        ck_assert_int_eq(rc, (int)total);
        size_t cnt;
        ck_assert_int_eq(parse(buf, total, out, 5, &cnt), rc);
        ck_assert_uint_eq(cnt, n + 1);
        for (size_t i = 0; i < n; i++) {
            ck_assert_uint_eq(out[i].pt, r[i].pt);
            ck_assert_uint_eq(out[i].ts_offset, r[i].ts_offset);
            ck_assert_uint_eq(out[i].len, r[i].len);
            ck_assert_mem_eq(out[i].data, r[i].data, r[i].len);
            ck_assert(!out[i].primary);
        }
        ck_assert_uint_eq(out[n].pt, p.pt);
        ck_assert_uint_eq(out[n].len, p.len);
        ck_assert_mem_eq(out[n].data, p.data, p.len);
        ck_assert(out[n].primary);
        /* rewriting what was parsed gives the same bytes */
        static uint8_t again[6000];
        ck_assert_int_eq(hc_red_write(out, n, &out[n], again, sizeof again), rc);
        ck_assert_mem_eq(again, buf, total);
    }
}
END_TEST

START_TEST(ranges)
{
    static uint8_t d[1024];
    uint8_t buf[2048];
    hc_red_block_t p = {0, 0, d, 10, true};
    hc_red_block_t r = {127, 0x3fff, d, 1023, false};
    ck_assert_int_eq(hc_red_write(&r, 1, &p, buf, sizeof buf), 4 + 1023 + 1 + 10);
    r.pt = 128;
    ck_assert_int_eq(hc_red_write(&r, 1, &p, buf, sizeof buf), -HC_ERANGE);
    r.pt = 127;
    r.ts_offset = 0x4000;
    ck_assert_int_eq(hc_red_write(&r, 1, &p, buf, sizeof buf), -HC_ERANGE);
    r.ts_offset = 0;
    r.len = 1024;
    ck_assert_int_eq(hc_red_write(&r, 1, &p, buf, sizeof buf), -HC_ERANGE);
    r.len = 1;
    p.pt = 200;
    ck_assert_int_eq(hc_red_write(&r, 1, &p, buf, sizeof buf), -HC_ERANGE);
    p.pt = 0;
    p.len = 1500; /* the primary has no length field to overflow */
    static uint8_t big[1600];
    p.data = big;
    ck_assert_int_eq(hc_red_write(&r, 1, &p, big + 0, 0), -HC_ENOSPC);
    ck_assert_int_eq(hc_red_write(NULL, 0, &p, buf, sizeof buf), 1501);
    ck_assert_int_eq(hc_red_write(&r, 1, NULL, buf, sizeof buf), -HC_EINVAL);
    ck_assert_int_eq(hc_red_write(NULL, 1, &p, buf, sizeof buf), -HC_EINVAL);
    r.data = NULL;
    ck_assert_int_eq(hc_red_write(&r, 1, &p, buf, sizeof buf), -HC_EINVAL);
}
END_TEST

START_TEST(enospc_every_cap)
{
    static const uint8_t d[] = {1, 2, 3, 4, 5};
    hc_red_block_t r[2] = {{96, 960, d, 5, false}, {96, 480, d, 2, false}};
    hc_red_block_t p = {96, 0, d, 4, true};
    uint8_t buf[64];
    int total = hc_red_write(r, 2, &p, buf, sizeof buf);
    ck_assert_int_eq(total, 4 + 4 + 1 + 5 + 2 + 4);
    for (int cap = 0; cap < total; cap++) {
        uint8_t *c = malloc((size_t)cap + 1);
        ck_assert_int_eq(hc_red_write(r, 2, &p, c, (size_t)cap), -HC_ENOSPC);
        free(c);
    }
    hc_red_block_t out[3];
    size_t n = 99;
    ck_assert_int_eq(hc_red_parse(buf, (size_t)total, out, 2, &n), -HC_ENOSPC);
    ck_assert_int_eq(hc_red_parse(buf, (size_t)total, out, 3, &n), total);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(hc_red_parse(buf, (size_t)total, NULL, 3, &n), -HC_EINVAL);
    ck_assert_int_eq(hc_red_parse(buf, (size_t)total, out, 3, NULL), -HC_EINVAL);
}
END_TEST

START_TEST(truncations)
{
    /* A cut inside the headers or the redundant data is an error; a cut inside the primary
     * data leaves a valid payload with a shorter primary. */
    static const uint8_t d[] = {1, 2, 3, 4, 5};
    hc_red_block_t r[2] = {{96, 960, d, 5, false}, {97, 480, d, 2, false}};
    hc_red_block_t p = {98, 0, d, 4, true};
    uint8_t buf[64];
    int total = hc_red_write(r, 2, &p, buf, sizeof buf);
    size_t before_primary = 4 + 4 + 1 + 5 + 2;
    for (int cut = 0; cut < total; cut++) {
        hc_red_block_t out[3];
        size_t n;
        int rc = parse(buf, (size_t)cut, out, 3, &n);
        if ((size_t)cut < before_primary) {
            ck_assert_int_eq(rc, -HC_ETRUNC);
        } else {
            ck_assert_int_eq(rc, cut);
            ck_assert_uint_eq(n, 3);
            ck_assert_uint_eq(out[2].len, (size_t)cut - before_primary);
        }
    }
    /* headers that never end */
    uint8_t h[] = {0x80, 0, 0, 0, 0x80, 0, 0, 0};
    hc_red_block_t out[4];
    size_t n;
    ck_assert_int_eq(parse(h, sizeof h, out, 4, &n), -HC_ETRUNC);
    ck_assert_int_eq(parse(h, 0, out, 4, &n), -HC_ETRUNC);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("red");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, vector);
    tcase_add_test(tc, primary_only);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, ranges);
    tcase_add_test(tc, enospc_every_cap);
    tcase_add_test(tc, truncations);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
