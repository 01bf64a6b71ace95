/* Unit tests for relay/core/nackgen.h and relay/core/twccfb.h. */
#include "proto/err.h"
#include "proto/rtcp.h"
#include "proto/twcc.h"
#include "relay/core/nackgen.h"
#include "relay/core/twccfb.h"
#include "tests/common/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000u

START_TEST(nack_gap_and_retries)
{
    hc_nackgen_entry_t e[64];
    hc_nackgen_t g;
    hc_nackgen_init(&g, e, 64, 3, 1000 * MS);
    uint64_t t = 5000000;
    ck_assert_int_eq(hc_nackgen_on_packet(&g, 100, t, NULL), 0);
    ck_assert_int_eq(hc_nackgen_on_packet(&g, 101, t, NULL), 0);
    ck_assert_uint_eq(hc_nackgen_next_due(&g, 0), UINT64_MAX);
    ck_assert_int_eq(hc_nackgen_on_packet(&g, 104, t, NULL), 2);
    ck_assert_uint_eq(g.live, 2);
    ck_assert_uint_eq(hc_nackgen_next_due(&g, 0), t);
    uint16_t out[16];
    ck_assert_uint_eq(hc_nackgen_collect(&g, t, 50 * MS, out, 16), 2);
    ck_assert_uint_eq(out[0], 102);
    ck_assert_uint_eq(out[1], 103);
    /* Not again before the retry interval: max(50 ms, 20 ms) * 5/4. */
    uint64_t retry = hc_nackgen_retry_us(50 * MS);
    ck_assert_uint_eq(retry, 62500);
    ck_assert_uint_eq(hc_nackgen_collect(&g, t + retry - 1, 50 * MS, out, 16), 0);
    ck_assert_uint_eq(hc_nackgen_next_due(&g, 50 * MS), t + retry);
    /* 103 arrives (late or RTX): filled, and says when it was asked for. */
    hc_nackgen_fill_t f;
    ck_assert_int_eq(hc_nackgen_on_packet(&g, 103, t + 30 * MS, &f), 0);
    ck_assert(f.recovered);
    ck_assert_uint_eq(f.retries, 1);
    ck_assert_uint_eq(f.sent_us, t);
    ck_assert_uint_eq(g.live, 1);
    /* Duplicate of a filled one: nothing. */
    ck_assert_int_eq(hc_nackgen_on_packet(&g, 103, t + 31 * MS, &f), 0);
    ck_assert(!f.recovered);
    /* 102 is asked for twice more, then given up one interval later. */
    ck_assert_uint_eq(hc_nackgen_collect(&g, t + retry, 50 * MS, out, 16), 1);
    ck_assert_uint_eq(out[0], 102);
    ck_assert_uint_eq(hc_nackgen_collect(&g, t + 2 * retry, 50 * MS, out, 16), 1);
    ck_assert_uint_eq(hc_nackgen_collect(&g, t + 3 * retry - 1, 50 * MS, out, 16), 0);
    ck_assert_uint_eq(g.live, 1);
    ck_assert_uint_eq(hc_nackgen_next_due(&g, 50 * MS), t + 3 * retry);
    ck_assert_uint_eq(hc_nackgen_collect(&g, t + 3 * retry, 50 * MS, out, 16), 0);
    ck_assert_uint_eq(g.live, 0);
    ck_assert_uint_eq(g.given_up, 1);
    ck_assert_uint_eq(g.recovered, 1);
    ck_assert_uint_eq(g.requests, 4);
    ck_assert_uint_eq(hc_nackgen_next_due(&g, 50 * MS), UINT64_MAX);
}
END_TEST

START_TEST(nack_age_limit_and_min_rtt)
{
    hc_nackgen_entry_t e[16];
    hc_nackgen_t g;
    hc_nackgen_init(&g, e, 16, 100, 200 * MS);
    ck_assert_uint_eq(hc_nackgen_retry_us(1 * MS), 25 * MS);
    ck_assert_uint_eq(hc_nackgen_retry_us(0), HC_NACKGEN_DEFAULT_RTT_US * 5 / 4);
    uint64_t t = 1000;
    hc_nackgen_on_packet(&g, 10, t, NULL);
    hc_nackgen_on_packet(&g, 12, t, NULL);
    uint16_t out[4];
    int asked = 0;
    for (uint64_t now = t; now < t + 400 * MS; now += 5 * MS)
        asked += (int)hc_nackgen_collect(&g, now, 1 * MS, out, 4);
    /* Every 25 ms within 200 ms: at 0, 25, ..., 175. */
    ck_assert_int_eq(asked, 8);
    ck_assert_uint_eq(g.live, 0);
    ck_assert_uint_eq(g.given_up, 1);
}
END_TEST

START_TEST(nack_wrap_overflow_restart)
{
    hc_nackgen_entry_t e[8];
    hc_nackgen_t g;
    hc_nackgen_init(&g, e, 8, 2, 0);
    hc_nackgen_on_packet(&g, 65534, 0, NULL);
    ck_assert_int_eq(hc_nackgen_on_packet(&g, 2, 0, NULL), 3); /* 65535, 0, 1 */
    uint16_t out[8];
    ck_assert_uint_eq(hc_nackgen_collect(&g, 0, 0, out, 8), 3);
    ck_assert_uint_eq(out[0], 65535);
    ck_assert_uint_eq(out[1], 0);
    ck_assert_uint_eq(out[2], 1);
    hc_nackgen_fill_t f;
    hc_nackgen_on_packet(&g, 0, 10, &f);
    ck_assert(f.recovered);
    /* A gap larger than the list: only the newest 8 are kept. */
    ck_assert_int_eq(hc_nackgen_on_packet(&g, 100, 20, NULL), 8);
    ck_assert_uint_eq(g.live, 8);
    ck_assert_uint_eq(hc_nackgen_collect(&g, 20, 0, out, 8), 8);
    ck_assert_uint_eq(out[0], 92);
    ck_assert_uint_eq(out[7], 99);
    /* A jump of 3000 or more is a restart: nothing asked, list cleared. */
    ck_assert_int_eq(hc_nackgen_on_packet(&g, 100 + 5000, 30, NULL), 0);
    ck_assert_uint_eq(g.live, 0);
    ck_assert_int_eq(hc_nackgen_on_packet(&g, 100 + 5002, 30, NULL), 1);
    hc_nackgen_reset(&g);
    ck_assert_int_eq(hc_nackgen_on_packet(&g, 7, 40, NULL), 0);
    ck_assert_int_eq(hc_nackgen_on_packet(&g, 9, 40, NULL), 1);
}
END_TEST

/* Random arrivals against a model: every number that is missing is on the
 * list until filled, and nothing else ever is. */
START_TEST(nack_random_model)
{
    hc_nackgen_entry_t e[512];
    hc_nackgen_t g;
    hc_nackgen_init(&g, e, 512, 255, 0);
    static bool got[70000];
    memset(got, 0, sizeof(got));
    uint64_t rs = 3;
    int highest = 1000;
    got[1000] = true;
    hc_nackgen_on_packet(&g, 1000 & 0xffff, 0, NULL);
    int missing_model = 0;
    for (int i = 0; i < 20000 && highest < 69000 && missing_model < 500; i++) {
        uint64_t x = hc_test_rand(&rs);
        int s;
        if ((x & 3) == 0 && highest > 1300) {
            /* Late: mostly a missing one (a retransmission), else a duplicate. */
            s = highest - 1 - (int)((x >> 8) % 200);
            for (int k = 0; k < 400 && got[s] && (x & 60); k++)
                if (--s < highest - 1000) s = highest - 1;
        } else
            s = highest + 1 + (int)((x >> 8) % 8 == 0 ? (x >> 16) % 4 : 0);
        hc_nackgen_fill_t f;
        int added = hc_nackgen_on_packet(&g, (uint16_t)s, 0, &f);
        if (s > highest) {
            ck_assert_int_eq(added, s - highest - 1);
            missing_model += s - highest - 1;
            highest = s;
            ck_assert(!f.recovered);
        } else {
            ck_assert(f.recovered == !got[s]);
            if (!got[s]) missing_model--;
        }
        got[s] = true;
        ck_assert_int_eq((int)g.live, missing_model);
    }
    fprintf(stderr, "highest %d missing %d\n", highest, missing_model);
    ck_assert_int_gt(highest, 5000);
}
END_TEST

/* ---- twccfb ---- */

static int parse_fb(const uint8_t *buf, size_t len, hc_twcc_fb_t *hdr, hc_twcc_pkt_t *pk,
                    size_t max, size_t *n, uint32_t *media)
{
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t p;
    hc_rtcp_iter_init(&it, buf, len);
    ck_assert_int_eq(hc_rtcp_next(&it, &p), 1);
    ck_assert_int_eq(p.kind, HC_RTCP_KIND_TWCC);
    *media = p.u.fb.media_ssrc;
    return hc_twcc_parse(p.u.fb.fci, p.u.fb.fci_len, hdr, pk, max, n);
}

START_TEST(twccfb_roundtrip)
{
    static uint64_t arr[64];
    hc_twccfb_t t;
    hc_twccfb_init(&t, arr, 64);
    uint8_t buf[1500];
    ck_assert_int_eq(hc_twccfb_build(&t, buf, sizeof(buf), 1, 2, NULL), 0);
    uint64_t base = 10000000;
    /* 65530..65539 across the wrap, 65533 lost, 65536 reordered after 65537. */
    uint16_t order[] = {65530, 65531, 65532, 65534, 65535, 1, 0, 2, 3};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        hc_twccfb_record(&t, order[i], base + i * 1000);
    ck_assert_uint_eq(hc_twccfb_pending(&t), 10);
    size_t cov;
    int n = hc_twccfb_build(&t, buf, sizeof(buf), 0x1111, 0x2222, &cov);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq(cov, 10);
    ck_assert_uint_eq(hc_twccfb_pending(&t), 0);
    hc_twcc_fb_t hdr;
    hc_twcc_pkt_t pk[16];
    size_t np;
    uint32_t media;
    ck_assert_int_ge(parse_fb(buf, (size_t)n, &hdr, pk, 16, &np, &media), 0);
    ck_assert_uint_eq(media, 0x2222);
    ck_assert_uint_eq(hdr.base_seq, 65530);
    ck_assert_uint_eq(hdr.status_count, 10);
    ck_assert_uint_eq(hdr.fb_count, 0);
    int received = 0;
    int64_t ref_us = (int64_t)hdr.ref_time * HC_TWCC_REF_US;
    for (size_t i = 0; i < np; i++) {
        if (!pk[i].received) {
            ck_assert_uint_eq(pk[i].seq, 65533);
            continue;
        }
        received++;
        size_t k = 0;
        while (order[k] != pk[i].seq) k++;
        /* Arrival back within the 250 us grid, modulo 2^24 * 64 ms. */
        int64_t want = (int64_t)((base + k * 1000) % (0x1000000ull * HC_TWCC_REF_US));
        int64_t got = (ref_us + pk[i].arrival_us) % (int64_t)(0x1000000ll * HC_TWCC_REF_US);
        if (got < 0) got += 0x1000000ll * HC_TWCC_REF_US;
        ck_assert_int_le(llabs(got - want), 125);
    }
    ck_assert_int_eq(received, 9);
    /* Late arrival of a reported number: ignored. Next feedback counts on. */
    hc_twccfb_record(&t, 65533, base + 20000);
    ck_assert_uint_eq(t.late, 1);
    hc_twccfb_record(&t, 4, base + 21000);
    n = hc_twccfb_build(&t, buf, sizeof(buf), 0x1111, 0x2222, &cov);
    ck_assert_int_ge(parse_fb(buf, (size_t)n, &hdr, pk, 16, &np, &media), 0);
    ck_assert_uint_eq(hdr.base_seq, 4);
    ck_assert_uint_eq(hdr.status_count, 1);
    ck_assert_uint_eq(hdr.fb_count, 1);
}
END_TEST

START_TEST(twccfb_window_overflow)
{
    static uint64_t arr[16];
    hc_twccfb_t t;
    hc_twccfb_init(&t, arr, 16);
    for (uint16_t s = 0; s < 40; s++) hc_twccfb_record(&t, s, 1000 + s * 100);
    ck_assert_uint_eq(hc_twccfb_pending(&t), 16);
    ck_assert_uint_eq(t.dropped, 24);
    uint8_t buf[200];
    size_t cov;
    int n = hc_twccfb_build(&t, buf, sizeof(buf), 1, 2, &cov);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq(cov, 16);
    hc_twcc_fb_t hdr;
    hc_twcc_pkt_t pk[16];
    size_t np;
    uint32_t media;
    ck_assert_int_ge(parse_fb(buf, (size_t)n, &hdr, pk, 16, &np, &media), 0);
    ck_assert_uint_eq(hdr.base_seq, 24);
    for (size_t i = 0; i < np; i++) ck_assert(pk[i].received);
    /* A jump past the window clears stale arrivals. */
    hc_twccfb_record(&t, 100, 50000);
    ck_assert_uint_eq(hc_twccfb_pending(&t), 16);
    n = hc_twccfb_build(&t, buf, sizeof(buf), 1, 2, &cov);
    ck_assert_int_ge(parse_fb(buf, (size_t)n, &hdr, pk, 16, &np, &media), 0);
    ck_assert_uint_eq(hdr.base_seq, 85);
    for (size_t i = 0; i + 1 < np; i++) ck_assert(!pk[i].received);
    ck_assert(pk[np - 1].received);
    /* Too small a buffer. */
    hc_twccfb_record(&t, 101, 50100);
    ck_assert_int_eq(hc_twccfb_build(&t, buf, 8, 1, 2, &cov), -HC_ENOSPC);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("core_nackgen");
    TCase *tc = tcase_create("nackgen");
    tcase_add_test(tc, nack_gap_and_retries);
    tcase_add_test(tc, nack_age_limit_and_min_rtt);
    tcase_add_test(tc, nack_wrap_overflow_restart);
    tcase_add_test(tc, nack_random_model);
    suite_add_tcase(s, tc);
    tc = tcase_create("twccfb");
    tcase_add_test(tc, twccfb_roundtrip);
    tcase_add_test(tc, twccfb_window_overflow);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
