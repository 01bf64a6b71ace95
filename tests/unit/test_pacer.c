/*
 * Tests of the leaky-bucket pacer (proto/pacer.h): priority order,
 * spreading of a frame at the pacing rate, the burst budget, audio not
 * held, probe clusters with padding, the queue bound (drop-oldest-video),
 * queue delay, and argument checks. All in simulated time.
 */
#include "proto/err.h"
#include "proto/pacer.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct drops {
    uint64_t refs[64];
    size_t n;
} drops_t;

static void on_drop(void *ctx, const hc_pacer_pkt_t *pkt)
{
    drops_t *d = ctx;
    if (d->n < 64) d->refs[d->n] = pkt->ref;
    d->n++;
}

static void push(hc_pacer_t *p, uint64_t ref, uint32_t bytes, hc_pacer_kind_t kind, uint64_t now)
{
    hc_pacer_pkt_t k = {.ref = ref, .bytes = bytes, .kind = (uint8_t)kind};
    ck_assert_int_eq(hc_pacer_push(p, &k, now), 0);
}

/* Runs the pacer from t0, jumping to each due time, until it is empty or
 * t_end; records release times and refs. Returns the number released. */
static size_t drain(hc_pacer_t *p, uint64_t t0, uint64_t t_end, uint64_t *at, uint64_t *refs,
                    bool *probe, size_t max)
{
    size_t n = 0;
    uint64_t now = t0;
    while (n < max && now <= t_end) {
        hc_pacer_pkt_t out;
        uint64_t wait = 0;
        int rc = hc_pacer_next(p, now, &out, &wait);
        ck_assert_int_ge(rc, 0);
        if (rc == 1) {
            at[n] = now;
            refs[n] = out.ref;
            if (probe) probe[n] = out.probe;
            n++;
            continue;
        }
        if (wait == UINT64_MAX) break;
        ck_assert_uint_gt(wait, 0);
        now += wait;
    }
    return n;
}

START_TEST(priority_order)
{
    hc_pacer_t *p = NULL;
    ck_assert_int_eq(hc_pacer_new(&p, NULL), 0);
    hc_pacer_set_rate(p, 1000000);
    push(p, 1, 1000, HC_PACER_PADDING, 0);
    push(p, 2, 1000, HC_PACER_VIDEO, 0);
    push(p, 3, 1000, HC_PACER_RTX, 0);
    push(p, 4, 100, HC_PACER_AUDIO, 0);
    push(p, 5, 1000, HC_PACER_VIDEO, 0);
    ck_assert_uint_eq(hc_pacer_queue_len(p), 5);
    ck_assert_uint_eq(hc_pacer_queue_bytes(p), 4100);
    uint64_t at[8], refs[8];
    size_t n = drain(p, 0, 1000000, at, refs, NULL, 8);
    ck_assert_uint_eq(n, 5);
    /* audio, retransmission, video in order, padding last */
    uint64_t want[] = {4, 3, 2, 5, 1};
    for (size_t i = 0; i < n; i++) ck_assert_uint_eq(refs[i], want[i]);
    hc_pacer_stats_t st;
    hc_pacer_stats(p, &st);
    ck_assert_uint_eq(st.sent_pkts[HC_PACER_VIDEO], 2);
    ck_assert_uint_eq(st.sent_bytes[HC_PACER_AUDIO], 100);
    ck_assert_uint_eq(hc_pacer_queue_len(p), 0);
    hc_pacer_destroy(&p);
    ck_assert_ptr_null(p);
}
END_TEST

START_TEST(frame_is_spread)
{
    hc_pacer_t *p = NULL;
    ck_assert_int_eq(hc_pacer_new(&p, NULL), 0);
    /* 1 Mbit/s target: pacing 2.5 Mbit/s, 1000 bytes every 3.2 ms, with a
     * 5 ms burst budget (1562 bytes) letting the first packets go at once. */
    hc_pacer_set_rate(p, 1000000);
    ck_assert_uint_eq(hc_pacer_pacing_bps(p), 2500000);
    for (uint64_t i = 0; i < 10; i++) push(p, 100 + i, 1000, HC_PACER_VIDEO, 0);
    ck_assert_uint_eq(hc_pacer_drain_us(p), 32000);
    uint64_t at[16], refs[16];
    size_t n = drain(p, 0, 1000000, at, refs, NULL, 16);
    ck_assert_uint_eq(n, 10);
    ck_assert_uint_eq(at[0], 0);
    ck_assert_uint_eq(at[1], 0);    /* debt 1000 <= burst 1562.5 */
    ck_assert_uint_eq(at[2], 1400); /* debt 2000 paid down to the burst */
    for (size_t i = 3; i < n; i++) {
        uint64_t gap = at[i] - at[i - 1];
        ck_assert_msg(gap >= 3100 && gap <= 3300, "gap %zu: %llu us", i, (unsigned long long)gap);
    }
    /* The frame takes 1.4 + 7 x 3.2 ms. */
    ck_assert_uint_ge(at[9], 23700);
    ck_assert_uint_le(at[9], 23900);
    for (size_t i = 0; i < n; i++) ck_assert_uint_eq(refs[i], 100 + i);
    hc_pacer_destroy(&p);
}
END_TEST

START_TEST(idle_builds_no_credit)
{
    hc_pacer_t *p = NULL;
    ck_assert_int_eq(hc_pacer_new(&p, NULL), 0);
    hc_pacer_set_rate(p, 1000000);
    hc_pacer_pkt_t out;
    uint64_t wait;
    ck_assert_int_eq(hc_pacer_next(p, 0, &out, &wait), 0);
    ck_assert_uint_eq(wait, UINT64_MAX);
    /* A second of silence, then a frame: only the burst budget goes at once. */
    for (uint64_t i = 0; i < 6; i++) push(p, i, 1000, HC_PACER_VIDEO, 1000000);
    uint64_t at[8], refs[8];
    size_t n = drain(p, 1000000, 2000000, at, refs, NULL, 8);
    ck_assert_uint_eq(n, 6);
    ck_assert_uint_eq(at[1] - at[0], 0);
    ck_assert_uint_eq(at[2] - at[1], 1400);
    ck_assert_uint_eq(at[3] - at[2], 3200);
    hc_pacer_destroy(&p);
}
END_TEST

START_TEST(audio_not_held_but_counted)
{
    hc_pacer_t *p = NULL;
    ck_assert_int_eq(hc_pacer_new(&p, NULL), 0);
    hc_pacer_set_rate(p, 100000); /* pacing 250 kbit/s: 1000 bytes = 32 ms */
    push(p, 1, 1000, HC_PACER_VIDEO, 0);
    push(p, 2, 1000, HC_PACER_VIDEO, 0);
    hc_pacer_pkt_t out;
    uint64_t wait = 0;
    ck_assert_int_eq(hc_pacer_next(p, 0, &out, &wait), 1);
    ck_assert_uint_eq(out.ref, 1);
    ck_assert_int_eq(hc_pacer_next(p, 0, &out, &wait), 0);
    ck_assert_uint_eq(wait, 32000 - 5000);
    /* Audio goes at once, debt or not... */
    push(p, 3, 500, HC_PACER_AUDIO, 1000);
    ck_assert_int_eq(hc_pacer_next(p, 1000, &out, &wait), 1);
    ck_assert_uint_eq(out.ref, 3);
    ck_assert_uint_eq(out.kind, HC_PACER_AUDIO);
    /* ...and the video behind it waits for its bytes too. */
    ck_assert_int_eq(hc_pacer_next(p, 1000, &out, &wait), 0);
    ck_assert_uint_eq(wait, 32000 + 16000 - 5000 - 1000);
    hc_pacer_destroy(&p);
}
END_TEST

START_TEST(no_rate_no_pacing)
{
    hc_pacer_t *p = NULL;
    ck_assert_int_eq(hc_pacer_new(&p, NULL), 0);
    for (uint64_t i = 0; i < 5; i++) push(p, i, 1200, HC_PACER_VIDEO, 0);
    hc_pacer_pkt_t out;
    for (int i = 0; i < 5; i++) ck_assert_int_eq(hc_pacer_next(p, 0, &out, NULL), 1);
    ck_assert_int_eq(hc_pacer_next(p, 0, &out, NULL), 0);
    ck_assert_uint_eq(hc_pacer_drain_us(p), 0);
    hc_pacer_destroy(&p);
}
END_TEST

START_TEST(probe_cluster_with_padding)
{
    hc_pacer_t *p = NULL;
    ck_assert_int_eq(hc_pacer_new(&p, NULL), 0);
    hc_pacer_set_rate(p, 300000);
    /* 900 kbit/s for 30 ms: 3375 bytes, at least 5 packets. */
    ck_assert_int_eq(hc_pacer_probe(p, 900000, 3375, 5, 0), 0);
    ck_assert(hc_pacer_probing(p));
    ck_assert_uint_eq(hc_pacer_pacing_bps(p), 900000);
    push(p, 7, 1000, HC_PACER_VIDEO, 0); /* queued media goes first */
    uint64_t at[16], refs[16];
    bool probe[16];
    size_t n = drain(p, 0, 1000000, at, refs, probe, 16);
    ck_assert_uint_ge(n, 5);
    ck_assert_uint_eq(refs[0], 7);
    uint64_t bytes = 1000;
    for (size_t i = 0; i < n; i++) ck_assert(probe[i]);
    for (size_t i = 1; i < n; i++) ck_assert_uint_eq(refs[i], 0); /* padding */
    hc_pacer_stats_t st;
    hc_pacer_stats(p, &st);
    bytes += st.sent_bytes[HC_PACER_PADDING];
    ck_assert_uint_ge(bytes, 3375);
    ck_assert_uint_eq(st.probe_clusters, 1);
    ck_assert(!hc_pacer_probing(p));
    /* Paced exactly at the probe rate from the first packet (no burst):
     * 1000 bytes at 900 kbit/s is 8.9 ms. */
    ck_assert_uint_ge(at[1] - at[0], 8800);
    ck_assert_uint_le(at[1] - at[0], 9000);
    /* After the cluster, no more padding. */
    hc_pacer_pkt_t out;
    uint64_t wait;
    ck_assert_int_eq(hc_pacer_next(p, 1000000, &out, &wait), 0);
    ck_assert_uint_eq(wait, UINT64_MAX);
    hc_pacer_destroy(&p);
}
END_TEST

START_TEST(stale_video_dropped)
{
    drops_t d = {0};
    hc_pacer_cfg_t c = {.max_queue_us = 500000, .on_drop = on_drop, .ctx = &d};
    hc_pacer_t *p = NULL;
    ck_assert_int_eq(hc_pacer_new(&p, &c), 0);
    hc_pacer_set_rate(p, 1000); /* almost nothing gets out */
    push(p, 1, 1000, HC_PACER_VIDEO, 0);
    push(p, 2, 1000, HC_PACER_VIDEO, 0);
    push(p, 3, 1000, HC_PACER_RTX, 0);
    push(p, 4, 1000, HC_PACER_VIDEO, 400000);
    hc_pacer_pkt_t out;
    uint64_t wait;
    ck_assert_int_eq(hc_pacer_next(p, 0, &out, &wait), 1); /* the retransmission */
    ck_assert_uint_eq(out.ref, 3);
    ck_assert_uint_eq(hc_pacer_queue_delay_us(p, 300000), 300000);
    /* At 600 ms the first two are over 500 ms old: dropped, oldest first;
     * the third (400 ms) stays. */
    ck_assert_int_eq(hc_pacer_next(p, 600000, &out, &wait), 0);
    ck_assert_uint_eq(d.n, 2);
    ck_assert_uint_eq(d.refs[0], 1);
    ck_assert_uint_eq(d.refs[1], 2);
    hc_pacer_stats_t st;
    hc_pacer_stats(p, &st);
    ck_assert_uint_eq(st.dropped_video_pkts, 2);
    ck_assert_uint_eq(st.dropped_video_bytes, 2000);
    ck_assert_uint_eq(hc_pacer_queue_len(p), 1);
    ck_assert_uint_eq(hc_pacer_queue_delay_us(p, 600000), 200000);
    /* Destroy hands back what is left, not counted as a drop. */
    hc_pacer_destroy(&p);
    ck_assert_uint_eq(d.n, 3);
    ck_assert_uint_eq(d.refs[2], 4);
}
END_TEST

/* Bulk mode (stills): paced under the target, video kept for 5 s, and
 * back to normal when it ends. */
START_TEST(bulk_mode)
{
    drops_t d = {0};
    hc_pacer_cfg_t c = {.on_drop = on_drop, .ctx = &d};
    hc_pacer_t *p = NULL;
    ck_assert_int_eq(hc_pacer_new(&p, &c), 0);
    hc_pacer_set_rate(p, 100000);
    ck_assert_uint_eq(hc_pacer_pacing_bps(p), 250000);
    hc_pacer_set_bulk(p, true);
    ck_assert_uint_eq(hc_pacer_pacing_bps(p), 80000);
    hc_pacer_set_rate(p, 200000); /* the rate follows the estimate in bulk too */
    ck_assert_uint_eq(hc_pacer_pacing_bps(p), 160000);
    /* a 12 KB still at 160 kbit/s takes 0.6 s: nothing of it is dropped
     * after 500 ms */
    for (uint64_t i = 0; i < 10; i++) push(p, 1 + i, 1200, HC_PACER_VIDEO, 0);
    uint64_t at[16], refs[16];
    size_t n = drain(p, 0, 2000000, at, refs, NULL, 16);
    ck_assert_uint_eq(n, 10);
    ck_assert_uint_eq(d.n, 0);
    ck_assert_uint_ge(at[9], 530000); /* 9 packets after the first at 60 ms each */
    /* kept up to 5 s, not longer */
    hc_pacer_set_rate(p, 1000);
    push(p, 20, 1200, HC_PACER_VIDEO, 3000000);
    push(p, 21, 1200, HC_PACER_VIDEO, 3000000);
    push(p, 22, 1200, HC_PACER_VIDEO, 3000000);
    hc_pacer_pkt_t out;
    uint64_t wait;
    ck_assert_int_ge(hc_pacer_next(p, 7000000, &out, &wait), 0);
    ck_assert_uint_eq(d.n, 0);
    ck_assert_int_ge(hc_pacer_next(p, 8100000, &out, &wait), 0);
    ck_assert_uint_ge(d.n, 1);
    hc_pacer_set_bulk(p, false);
    hc_pacer_set_rate(p, 100000);
    ck_assert_uint_eq(hc_pacer_pacing_bps(p), 250000);
    hc_pacer_destroy(&p);
}
END_TEST

START_TEST(full_queue)
{
    drops_t d = {0};
    hc_pacer_cfg_t c = {.capacity = 4, .on_drop = on_drop, .ctx = &d};
    hc_pacer_t *p = NULL;
    ck_assert_int_eq(hc_pacer_new(&p, &c), 0);
    hc_pacer_set_rate(p, 1000);
    push(p, 1, 100, HC_PACER_AUDIO, 0);
    push(p, 2, 100, HC_PACER_VIDEO, 0);
    push(p, 3, 100, HC_PACER_VIDEO, 0);
    push(p, 4, 100, HC_PACER_RTX, 0);
    /* Full: a new video packet pushes out the oldest video one. */
    push(p, 5, 100, HC_PACER_VIDEO, 0);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_uint_eq(d.refs[0], 2);
    /* So does audio. */
    push(p, 6, 100, HC_PACER_AUDIO, 0);
    ck_assert_uint_eq(d.refs[1], 3);
    push(p, 7, 100, HC_PACER_AUDIO, 0);
    ck_assert_uint_eq(d.refs[2], 5);
    /* No video left to drop: refused, the caller keeps the packet. */
    hc_pacer_pkt_t k = {.ref = 8, .bytes = 100, .kind = HC_PACER_AUDIO};
    ck_assert_int_eq(hc_pacer_push(p, &k, 0), -HC_EFULL);
    k.kind = HC_PACER_PADDING;
    ck_assert_int_eq(hc_pacer_push(p, &k, 0), -HC_EFULL);
    hc_pacer_stats_t st;
    hc_pacer_stats(p, &st);
    ck_assert_uint_eq(st.refused, 2);
    ck_assert_uint_eq(st.dropped_video_pkts, 3);
    ck_assert_uint_eq(hc_pacer_queue_len(p), 4);
    hc_pacer_destroy(&p);
}
END_TEST

START_TEST(ring_wraps)
{
    /* Many more packets than the capacity pass through, in order. */
    hc_pacer_cfg_t c = {.capacity = 8};
    hc_pacer_t *p = NULL;
    ck_assert_int_eq(hc_pacer_new(&p, &c), 0);
    hc_pacer_set_rate(p, 10000000);
    uint64_t next = 0, now = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        push(p, i, 500, HC_PACER_VIDEO, now);
        hc_pacer_pkt_t out;
        uint64_t wait = 0;
        while (hc_pacer_next(p, now, &out, &wait) == 1) ck_assert_uint_eq(out.ref, next++);
        now += 1000;
    }
    ck_assert_uint_ge(next, 990);
    hc_pacer_destroy(&p);
}
END_TEST

START_TEST(pacer_args)
{
    hc_pacer_t *p = NULL;
    hc_pacer_cfg_t c = {.factor = 0.5};
    ck_assert_int_eq(hc_pacer_new(&p, &c), -HC_EINVAL);
    c = (hc_pacer_cfg_t){.padding_min = 2000, .padding_max = 1000};
    ck_assert_int_eq(hc_pacer_new(&p, &c), -HC_EINVAL);
    ck_assert_int_eq(hc_pacer_new(NULL, NULL), -HC_EINVAL);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(hc_pacer_new(&p, NULL), 0);
    hc_pacer_pkt_t k = {.ref = 1, .bytes = 0, .kind = HC_PACER_VIDEO};
    ck_assert_int_eq(hc_pacer_push(p, &k, 0), -HC_EINVAL);
    k.bytes = 10;
    k.kind = HC_PACER_KINDS;
    ck_assert_int_eq(hc_pacer_push(p, &k, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_pacer_push(p, NULL, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_pacer_push(NULL, &k, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_pacer_probe(p, 0, 100, 1, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_pacer_probe(p, 100, 0, 1, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_pacer_next(p, 0, NULL, NULL), -HC_EINVAL);
    ck_assert_int_eq(hc_pacer_next(NULL, 0, &k, NULL), -HC_EINVAL);
    ck_assert_uint_eq(hc_pacer_queue_delay_us(NULL, 0), 0);
    ck_assert_uint_eq(hc_pacer_queue_len(NULL), 0);
    ck_assert(!hc_pacer_probing(NULL));
    hc_pacer_set_rate(NULL, 1);
    hc_pacer_destroy(&p);
    hc_pacer_destroy(&p);
    hc_pacer_destroy(NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pacer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, priority_order);
    tcase_add_test(tc, frame_is_spread);
    tcase_add_test(tc, idle_builds_no_credit);
    tcase_add_test(tc, audio_not_held_but_counted);
    tcase_add_test(tc, no_rate_no_pacing);
    tcase_add_test(tc, probe_cluster_with_padding);
    tcase_add_test(tc, stale_video_dropped);
    tcase_add_test(tc, bulk_mode);
    tcase_add_test(tc, full_queue);
    tcase_add_test(tc, ring_wraps);
    tcase_add_test(tc, pacer_args);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
