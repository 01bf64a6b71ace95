#include "proto/err.h"
#include "proto/jbuf.h"
#include "tests/common/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS  1024
#define FI  33333u /* 30 fps frame interval, us */
#define TPF 3000u  /* 90 kHz ticks per frame */

static hc_jbuf_slot_t g_slots[NS];
static hc_jbuf_pkt_t g_out[NS];

static hc_jbuf_pkt_t pk(uint16_t seq, uint32_t ts, bool marker, bool key)
{
    hc_jbuf_pkt_t p = {seq, ts, marker, key, (uintptr_t)seq + 1};
    return p;
}

static void vinit(hc_jbuf_t *j, bool nack)
{
    hc_jbuf_cfg_t c;
    hc_jbuf_cfg_default(&c, true);
    c.nack = nack;
    ck_assert_int_eq(hc_jbuf_init(j, &c, g_slots, NS), 0);
}

static int ins(hc_jbuf_t *j, uint16_t seq, uint32_t ts, bool marker, bool key, uint64_t t)
{
    hc_jbuf_pkt_t p = pk(seq, ts, marker, key);
    return hc_jbuf_insert(j, &p, t);
}

/* npk packets of one frame, 1 ms apart from t. */
static void put_frame(hc_jbuf_t *j, uint16_t seq0, uint32_t ts, int npk, bool key, uint64_t t)
{
    for (int i = 0; i < npk; i++)
        ck_assert_int_eq(
            ins(j, (uint16_t)(seq0 + i), ts, i == npk - 1, key && i == 0, t + (uint64_t)i * 1000),
            HC_JBUF_STORED);
}

static int pop(hc_jbuf_t *j, uint64_t t, hc_jbuf_frame_t *f)
{
    return hc_jbuf_pop_frame(j, t, f, g_out, NS);
}

static hc_jbuf_stats_t stats(const hc_jbuf_t *j)
{
    hc_jbuf_stats_t s;
    hc_jbuf_stats(j, &s);
    return s;
}

START_TEST(args)
{
    hc_jbuf_t j;
    hc_jbuf_cfg_t c;
    hc_jbuf_frame_t f;
    hc_jbuf_pkt_t p = pk(1, 1, true, true);
    uint16_t n[4];
    hc_jbuf_cfg_default(&c, true);
    ck_assert_uint_eq(c.clock_rate, 90000);
    ck_assert(c.nack);
    ck_assert_int_eq(hc_jbuf_init(NULL, &c, g_slots, NS), -HC_EINVAL);
    ck_assert_int_eq(hc_jbuf_init(&j, NULL, g_slots, NS), -HC_EINVAL);
    ck_assert_int_eq(hc_jbuf_init(&j, &c, NULL, NS), -HC_EINVAL);
    ck_assert_int_eq(hc_jbuf_init(&j, &c, g_slots, 1000), -HC_EINVAL); /* not a power of 2 */
    ck_assert_int_eq(hc_jbuf_init(&j, &c, g_slots, 8), -HC_EINVAL);
    c.clock_rate = 0;
    ck_assert_int_eq(hc_jbuf_init(&j, &c, g_slots, NS), -HC_EINVAL);
    hc_jbuf_cfg_default(&c, true);
    c.min_delay_us = 500000;
    ck_assert_int_eq(hc_jbuf_init(&j, &c, g_slots, NS), -HC_EINVAL);
    hc_jbuf_cfg_default(&c, false);
    ck_assert_uint_eq(c.clock_rate, 48000);
    ck_assert(!c.nack);
    ck_assert_int_eq(hc_jbuf_init(&j, &c, g_slots, 64), 0);
    ck_assert_int_eq(hc_jbuf_insert(NULL, &p, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_jbuf_insert(&j, NULL, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_jbuf_pop_frame(NULL, 0, &f, g_out, 1), -HC_EINVAL);
    ck_assert_int_eq(hc_jbuf_pop_frame(&j, 0, NULL, g_out, 1), -HC_EINVAL);
    ck_assert_int_eq(hc_jbuf_pop_frame(&j, 0, &f, NULL, 1), -HC_EINVAL);
    ck_assert_int_eq(hc_jbuf_nacks(NULL, 0, n, 4), -HC_EINVAL);
    ck_assert_int_eq(hc_jbuf_nacks(&j, 0, NULL, 4), -HC_EINVAL);
    ck_assert_int_eq(hc_jbuf_check(NULL), -HC_EINVAL);
    /* empty buffer: nothing to do, ever */
    ck_assert_int_eq(hc_jbuf_pop_frame(&j, 1000000, &f, g_out, 1), 0);
    ck_assert_int_eq(hc_jbuf_nacks(&j, 1000000, n, 4), 0);
    ck_assert(hc_jbuf_next_event_us(&j) == UINT64_MAX);
    ck_assert(!hc_jbuf_need_keyframe(&j));
    ck_assert_int_eq(hc_jbuf_check(&j), 0);
    hc_jbuf_on_rtt(NULL, 1);
    hc_jbuf_flush(NULL);
    hc_jbuf_stats(NULL, NULL);
}
END_TEST

START_TEST(in_order)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    vinit(&j, false);
    /* Nothing measured yet: the delay is the configured minimum. */
    ck_assert_uint_eq(stats(&j).delay_us, 40000);
    put_frame(&j, 100, 9000, 3, true, 0);
    /* render time = arrival of the first packet (fastest transit) */
    ck_assert_uint_eq(hc_jbuf_next_event_us(&j), 40000);
    ck_assert_int_eq(pop(&j, 39999, &f), 0);
    ck_assert_int_eq(pop(&j, 40000, &f), 1);
    ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
    ck_assert(f.keyframe);
    ck_assert(!f.late);
    ck_assert_uint_eq(f.ts, 9000);
    ck_assert_uint_eq(f.first_seq, 100);
    ck_assert_uint_eq(f.playout_us, 40000);
    ck_assert_uint_eq(f.complete_us, 2000);
    ck_assert_uint_eq(f.npkts, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(g_out[i].seq, 100 + i);
        ck_assert_uint_eq(g_out[i].ref, 101 + i);
        ck_assert(g_out[i].marker == (i == 2));
    }
    ck_assert_int_eq(pop(&j, 40000, &f), 0);
    for (unsigned k = 1; k < 10; k++)
        put_frame(&j, (uint16_t)(100 + 3 * k), 9000 + k * TPF, 3, false, k * FI);
    unsigned got = 0;
    for (uint64_t t = 40000; t < 500000; t += 100) {
        while (pop(&j, t, &f) == 1) {
            ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
            got++;
            ck_assert_uint_eq(f.ts, 9000 + got * TPF);
            ck_assert_uint_eq(g_out[0].seq, 100 + 3 * got);
            ck_assert(!f.late);
        }
        ck_assert_int_eq(hc_jbuf_check(&j), 0);
    }
    ck_assert_uint_eq(got, 9);
    hc_jbuf_stats_t s = stats(&j);
    ck_assert_uint_eq(s.frames_on_time, 10);
    ck_assert_uint_eq(s.frames_lost + s.frames_late + s.frames_dependent, 0);
    ck_assert_uint_eq(s.packets, 30);
    ck_assert_uint_eq(s.packets_held, 0);
    ck_assert_uint_eq(s.freezes, 0);
    ck_assert(hc_jbuf_next_event_us(&j) == UINT64_MAX);
}
END_TEST

START_TEST(cap_too_small)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    vinit(&j, false);
    put_frame(&j, 0, 0, 4, true, 0);
    ck_assert_int_eq(hc_jbuf_pop_frame(&j, 100000, &f, g_out, 3), -HC_ENOSPC);
    ck_assert_uint_eq(stats(&j).packets_held, 4);
    ck_assert_int_eq(hc_jbuf_pop_frame(&j, 100000, &f, g_out, 4), 1);
    ck_assert_uint_eq(f.npkts, 4);
}
END_TEST

START_TEST(reorder)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    uint16_t n[8];
    vinit(&j, true);
    /* The first packets of the stream arrive out of order. */
    ck_assert_int_eq(ins(&j, 12, 0, true, false, 0), HC_JBUF_STORED);
    ck_assert_int_eq(ins(&j, 10, 0, false, true, 500), HC_JBUF_STORED);
    ck_assert_int_eq(ins(&j, 11, 0, false, false, 900), HC_JBUF_STORED);
    /* mid-stream reordering within the reorder wait: no NACK */
    ck_assert_int_eq(ins(&j, 13, TPF, false, false, FI), HC_JBUF_STORED);
    ck_assert_int_eq(ins(&j, 15, TPF, true, false, FI + 1000), HC_JBUF_STORED);
    ck_assert_int_eq(hc_jbuf_nacks(&j, FI + 5000, n, 8), 0);
    ck_assert_int_eq(ins(&j, 14, TPF, false, false, FI + 6000), HC_JBUF_STORED);
    ck_assert_int_eq(hc_jbuf_nacks(&j, FI + 50000, n, 8), 0);
    unsigned got = 0;
    for (uint64_t t = 0; t < 600000; t += 1000) {
        while (pop(&j, t, &f) == 1) {
            ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
            ck_assert_uint_eq(f.npkts, 3);
            for (unsigned i = 0; i < 3; i++) ck_assert_uint_eq(g_out[i].seq, 10 + 3 * got + i);
            got++;
        }
    }
    ck_assert_uint_eq(got, 2);
    ck_assert_uint_eq(stats(&j).nacks_sent, 0);
}
END_TEST

/* Frame 1's middle packet is lost: NACK after the reorder wait, again
 * every RTT * 9/8, never once the retransmission could not arrive before
 * the frame's playout time. */
START_TEST(nack_timing_and_give_up)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    uint16_t n[8];
    vinit(&j, true);
    hc_jbuf_on_rtt(&j, 20000);
    put_frame(&j, 0, 0, 3, true, 0);
    ck_assert_int_eq(ins(&j, 3, TPF, false, false, FI), HC_JBUF_STORED);
    ck_assert_int_eq(ins(&j, 5, TPF, true, false, FI + 2000), HC_JBUF_STORED);
    uint64_t detect = FI + 2000;
    ck_assert_uint_eq(hc_jbuf_next_event_us(&j), detect + 10000);
    uint64_t times[8];
    int nn = 0;
    uint64_t deadline = 0;
    bool next = false;
    for (uint64_t t = detect; t < 400000; t += 100) {
        /* the next frame comes: frame 1 is not the newest (no hold) */
        if (!next && t >= 2 * FI + 2000)
            next = ins(&j, 6, 2 * TPF, true, false, t) == HC_JBUF_STORED;
        int r = hc_jbuf_nacks(&j, t, n, 8);
        ck_assert_int_ge(r, 0);
        if (r) {
            ck_assert_int_eq(r, 1);
            ck_assert_uint_eq(n[0], 4);
            ck_assert_int_lt(nn, 8);
            times[nn++] = t;
        }
        while (pop(&j, t, &f) == 1) {
            if (f.ts == TPF) deadline = f.playout_us;
        }
    }
    hc_jbuf_stats_t s = stats(&j);
    ck_assert_uint_eq(s.rtt_us, 20000);
    ck_assert_int_ge(nn, 2);
    ck_assert_uint_eq(times[0], detect + 10000);
    for (int i = 1; i < nn; i++) ck_assert_uint_eq(times[i] - times[i - 1], 22500);
    /* the last request could still be answered in time, the next not */
    ck_assert_uint_le(times[nn - 1] + 20000, deadline);
    ck_assert_uint_gt(times[nn - 1] + 22500 + 20000, deadline);
    ck_assert_uint_eq(s.nacks_sent, (uint64_t)nn);
    ck_assert_uint_eq(s.nacks_given_up, 1);
    ck_assert_uint_eq(s.frames_lost, 1);
    ck_assert(hc_jbuf_need_keyframe(&j));
}
END_TEST

START_TEST(nack_recovery)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    uint16_t n[8];
    vinit(&j, true);
    hc_jbuf_on_rtt(&j, 100000);
    put_frame(&j, 0, 0, 3, true, 0);
    ck_assert_int_eq(ins(&j, 3, TPF, false, false, FI), HC_JBUF_STORED);
    ck_assert_int_eq(ins(&j, 5, TPF, true, false, FI + 2000), HC_JBUF_STORED);
    /* The delay left room for one retransmission round. */
    ck_assert_uint_ge(stats(&j).delay_us, 10000 + 100000 + 12500);
    ck_assert_int_eq(hc_jbuf_nacks(&j, FI + 12000, n, 8), 1);
    ck_assert_uint_eq(n[0], 4);
    ck_assert_int_eq(ins(&j, 4, TPF, false, false, FI + 112000), HC_JBUF_STORED);
    ck_assert_int_eq(pop(&j, FI + 112000, &f), 0); /* nothing due yet */
    uint64_t ev = hc_jbuf_next_event_us(&j);
    ck_assert_int_eq(pop(&j, ev - 1, &f), 0);
    ck_assert_int_eq(pop(&j, ev, &f), 1);
    ck_assert_uint_eq(f.ts, 0);
    ev = hc_jbuf_next_event_us(&j);
    ck_assert_int_eq(pop(&j, ev - 1, &f), 0);
    ck_assert_int_eq(pop(&j, ev, &f), 1);
    ck_assert_uint_eq(f.ts, TPF);
    ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
    ck_assert(!f.late);
    ck_assert_uint_eq(f.npkts, 3);
    ck_assert_uint_eq(g_out[1].seq, 4);
    hc_jbuf_stats_t s = stats(&j);
    ck_assert_uint_eq(s.packets_recovered, 1);
    ck_assert_uint_eq(s.frames_on_time, 2);
    ck_assert_uint_eq(s.frames_lost, 0);
    ck_assert(!hc_jbuf_need_keyframe(&j));
    /* a second copy of the retransmission is a duplicate */
    ck_assert_int_eq(ins(&j, 4, TPF, false, false, FI + 200000), HC_JBUF_DUPLICATE);
}
END_TEST

START_TEST(wrap)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    vinit(&j, false);
    uint16_t seq = 65530;
    uint32_t ts = 0xffffffffu - 2 * TPF;
    for (unsigned k = 0; k < 8; k++)
        put_frame(&j, (uint16_t)(seq + 3 * k), ts + k * TPF, 3, k == 0, k * FI);
    unsigned got = 0;
    uint16_t expect = seq;
    for (uint64_t t = 0; t < 1000000; t += 1000) {
        while (pop(&j, t, &f) == 1) {
            ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
            ck_assert_uint_eq(f.ts, (uint32_t)(ts + got * TPF));
            for (unsigned i = 0; i < f.npkts; i++) ck_assert_uint_eq(g_out[i].seq, expect++);
            got++;
        }
    }
    ck_assert_uint_eq(got, 8);
    ck_assert_uint_eq(expect, (uint16_t)(seq + 24));
}
END_TEST

START_TEST(duplicates_and_old)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    vinit(&j, false);
    put_frame(&j, 500, 0, 2, true, 0);
    ck_assert_int_eq(ins(&j, 500, 0, false, true, 1000), HC_JBUF_DUPLICATE);
    ck_assert_int_eq(pop(&j, 100000, &f), 1);
    ck_assert_uint_eq(f.npkts, 2);
    /* after release: still recognised as a duplicate */
    ck_assert_int_eq(ins(&j, 501, 0, true, false, 100000), HC_JBUF_DUPLICATE);
    /* a packet from before the stream started here is just late */
    ck_assert_int_eq(ins(&j, 400, 0, false, false, 100000), HC_JBUF_LATE);
    /* very old (beyond the far limit) is discarded */
    ck_assert_int_eq(ins(&j, (uint16_t)(500 - 4000), 0, false, false, 100000), HC_JBUF_DISCARDED);
    hc_jbuf_stats_t s = stats(&j);
    ck_assert_uint_eq(s.duplicates, 2);
    ck_assert_uint_eq(s.packets_late, 1);
    ck_assert_uint_eq(s.packets_discarded, 1);
    ck_assert_uint_eq(s.packets_held, 0);
    ck_assert_int_eq(hc_jbuf_check(&j), 0);
}
END_TEST

/* The sender restarts with a new random sequence number and timestamp. */
START_TEST(restart_forward)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    uint16_t n[8];
    vinit(&j, true);
    for (unsigned k = 0; k < 4; k++)
        put_frame(&j, (uint16_t)(1000 + 2 * k), k * TPF, 2, k == 0, k * FI);
    ck_assert_int_eq(pop(&j, 300000, &f), 1); /* frame 0 played */
    uint64_t t = 4 * FI;
    /* new numbering: 40000.., timestamps elsewhere */
    ck_assert_int_eq(ins(&j, 40000, 777777, false, true, t), HC_JBUF_DISCARDED);
    ck_assert_int_eq(ins(&j, 40001, 777777, false, false, t + 1000), HC_JBUF_STORED);
    ck_assert_int_eq(ins(&j, 40002, 777777, true, false, t + 2000), HC_JBUF_STORED);
    ck_assert_uint_eq(stats(&j).resyncs, 1);
    ck_assert_uint_eq(hc_jbuf_next_event_us(&j), 0);
    /* the old frames come back at once */
    unsigned flushed = 0;
    while (pop(&j, t + 2000, &f) == 1) {
        ck_assert_int_eq(f.status, HC_JBUF_FRAME_FLUSHED);
        flushed++;
    }
    ck_assert_uint_eq(flushed, 3);
    /* the packet dropped while deciding is a gap of the new numbering */
    ck_assert_int_eq(hc_jbuf_nacks(&j, t + 20000, n, 8), 1);
    ck_assert_uint_eq(n[0], 40000);
    ck_assert_int_eq(ins(&j, 40000, 777777, false, true, t + 20000), HC_JBUF_STORED);
    int r = 0;
    for (uint64_t u = t + 20000; u < t + 1000000 && r == 0; u += 1000) r = pop(&j, u, &f);
    ck_assert_int_eq(r, 1);
    ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
    ck_assert(f.keyframe);
    ck_assert_uint_eq(f.npkts, 3);
    ck_assert_uint_eq(g_out[0].seq, 40000);
    ck_assert_uint_eq(f.ts, 777777);
    /* timing follows the new timestamps: due one delay after arrival */
    ck_assert_uint_le(f.playout_us, t + 400000);
    ck_assert_uint_eq(stats(&j).packets_held, 0);
    ck_assert_int_eq(hc_jbuf_check(&j), 0);
}
END_TEST

/* A restart to a slightly lower sequence number: every packet looks old
 * until eight in a row make it a restart. */
START_TEST(restart_backward)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    vinit(&j, false);
    for (unsigned k = 0; k < 3; k++)
        put_frame(&j, (uint16_t)(5000 + 2 * k), k * TPF, 2, k == 0, k * FI);
    while (pop(&j, 1000000, &f) == 1) ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
    uint64_t t = 1000000;
    for (unsigned i = 0; i < 7; i++)
        ck_assert_int_eq(ins(&j, (uint16_t)(4000 + i), 5000, i == 6, i == 0, t + i * 100),
                         HC_JBUF_LATE);
    ck_assert_int_eq(ins(&j, 4007, 8000, false, true, t + 800), HC_JBUF_STORED);
    ck_assert_uint_eq(stats(&j).resyncs, 1);
    ck_assert_int_eq(ins(&j, 4008, 8000, true, false, t + 900), HC_JBUF_STORED);
    int r = 0;
    for (uint64_t u = t; u < t + 1000000 && r == 0; u += 1000) r = pop(&j, u, &f);
    ck_assert_int_eq(r, 1);
    ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
    ck_assert_uint_eq(g_out[0].seq, 4007);
    ck_assert_uint_eq(f.ts, 8000);
}
END_TEST

/* Frames whose packets arrive with extra delay d: returns the target. */
static uint32_t run_jitter(hc_jbuf_t *j, uint64_t *rng, unsigned *k, uint64_t t_end,
                           uint64_t max_extra)
{
    hc_jbuf_frame_t f;
    while ((uint64_t)*k * FI < t_end) {
        uint64_t t = (uint64_t)*k * FI;
        uint64_t extra = max_extra ? hc_test_rand(rng) % max_extra : 0;
        ck_assert_int_eq(ins(j, (uint16_t)*k, *k * TPF, true, *k == 0, t + extra), HC_JBUF_STORED);
        while (pop(j, t + extra, &f) == 1) {
        }
        hc_jbuf_stats_t s = stats(j);
        ck_assert_uint_ge(s.delay_us, 40000);
        ck_assert_uint_le(s.delay_us, 400000);
        (*k)++;
    }
    return stats(j).target_delay_us;
}

START_TEST(delay_follows_jitter)
{
    hc_jbuf_t j;
    uint64_t rng = 7;
    unsigned k = 0;
    vinit(&j, false);
    /* no jitter: the minimum */
    ck_assert_uint_eq(run_jitter(&j, &rng, &k, 3000000, 0), 40000);
    /* up to 150 ms extra: the 97th percentile, reached within a second */
    uint32_t up = run_jitter(&j, &rng, &k, 4000000, 150000);
    ck_assert_uint_ge(up, 120000);
    ck_assert_uint_le(up, 155000);
    up = run_jitter(&j, &rng, &k, 10000000, 150000);
    ck_assert_uint_ge(up, 135000);
    ck_assert_uint_le(up, 155000);
    /* jitter gone: still high a second later (no sawtooth), down after ~10 s */
    uint32_t d1 = run_jitter(&j, &rng, &k, 11000000, 0);
    ck_assert_uint_ge(d1, 100000);
    uint32_t d2 = run_jitter(&j, &rng, &k, 30000000, 0);
    ck_assert_uint_eq(d2, 40000);
    /* the current delay drains at most 1/16 of real time */
    ck_assert_uint_eq(stats(&j).delay_us, 40000);
    /* huge jitter: clamped to max */
    uint32_t big = run_jitter(&j, &rng, &k, 40000000, 900000);
    ck_assert_uint_eq(big, 400000);
}
END_TEST

START_TEST(delay_includes_rtt)
{
    hc_jbuf_t j;
    vinit(&j, true);
    hc_jbuf_on_rtt(&j, 50000);
    /* reorder wait 10 ms + frame interval 33 ms + one round (RTT * 9/8) */
    ck_assert_uint_eq(stats(&j).target_delay_us, 10000 + 33333 + 56250);
    hc_jbuf_on_rtt(&j, 400000);
    ck_assert_uint_eq(stats(&j).target_delay_us, 400000);
    ck_assert_uint_eq(stats(&j).delay_us, 400000);
    /* without NACK the RTT does not matter */
    vinit(&j, false);
    hc_jbuf_on_rtt(&j, 400000);
    ck_assert_uint_eq(stats(&j).target_delay_us, 40000);
}
END_TEST

/* Loss, dependency until the next keyframe, late completion. */
START_TEST(lost_dependent_keyframe)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    vinit(&j, false);
    put_frame(&j, 0, 0, 2, true, 0);
    /* frame 1 is seq 2, 3, 4; 3 is lost */
    ck_assert_int_eq(ins(&j, 2, TPF, false, false, FI), HC_JBUF_STORED);
    ck_assert_int_eq(ins(&j, 4, TPF, true, false, FI + 2000), HC_JBUF_STORED);
    put_frame(&j, 5, 2 * TPF, 2, false, 2 * FI);
    put_frame(&j, 7, 3 * TPF, 2, true, 3 * FI);
    put_frame(&j, 9, 4 * TPF, 2, false, 4 * FI);
    hc_jbuf_status_t want[] = {HC_JBUF_FRAME_OK, HC_JBUF_FRAME_LOST, HC_JBUF_FRAME_DEPENDENT,
                               HC_JBUF_FRAME_OK, HC_JBUF_FRAME_OK};
    unsigned got = 0;
    for (uint64_t t = 0; t < 500000; t += 1000) {
        while (pop(&j, t, &f) == 1) {
            ck_assert_int_lt(got, 5);
            ck_assert_int_eq(f.status, want[got]);
            if (got == 1) {
                ck_assert(hc_jbuf_need_keyframe(&j));
                ck_assert_uint_eq(f.npkts, 2);
                ck_assert_uint_eq(g_out[0].seq, 2);
                ck_assert_uint_eq(g_out[1].seq, 4);
                /* the missing packet turns up after the frame was given up */
                ck_assert_int_eq(ins(&j, 3, TPF, false, false, t), HC_JBUF_LATE);
            }
            if (got == 2) ck_assert(hc_jbuf_need_keyframe(&j));
            if (got == 3) ck_assert(!hc_jbuf_need_keyframe(&j));
            got++;
        }
    }
    ck_assert_uint_eq(got, 5);
    hc_jbuf_stats_t s = stats(&j);
    ck_assert_uint_eq(s.frames_on_time, 3);
    ck_assert_uint_eq(s.frames_lost, 1);
    ck_assert_uint_eq(s.frames_dependent, 1);
    ck_assert_uint_eq(s.frames_late, 1); /* frame 1 completed after its deadline */
    ck_assert_uint_eq(s.packets_late, 1);
}
END_TEST

/* The tail of a frame is lost. One missing packet before the next
 * timestamp must be the tail (the last packet present had no marker), so
 * the next frame's start is known; with two missing it is not. */
START_TEST(lost_tail)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    vinit(&j, false);
    put_frame(&j, 0, 0, 2, true, 0);
    ck_assert_int_eq(ins(&j, 2, TPF, false, false, FI), HC_JBUF_STORED); /* 3 lost */
    put_frame(&j, 4, 2 * TPF, 2, false, 2 * FI);
    ck_assert_int_eq(ins(&j, 6, 3 * TPF, false, false, 3 * FI), HC_JBUF_STORED); /* 7, 8 lost */
    put_frame(&j, 9, 4 * TPF, 2, false, 4 * FI);
    put_frame(&j, 11, 5 * TPF, 2, true, 5 * FI);
    hc_jbuf_status_t want[] = {HC_JBUF_FRAME_OK,   HC_JBUF_FRAME_LOST, HC_JBUF_FRAME_DEPENDENT,
                               HC_JBUF_FRAME_LOST, HC_JBUF_FRAME_LOST, HC_JBUF_FRAME_OK};
    unsigned got = 0;
    for (uint64_t t = 0; t < 500000; t += 1000)
        while (pop(&j, t, &f) == 1) {
            ck_assert_int_lt(got, 6);
            ck_assert_int_eq(f.status, want[got]);
            got++;
        }
    ck_assert_uint_eq(got, 6);
    /* a keyframe with nothing after it and its tail missing: held past
     * its playout time (pieces would show nothing), shown late when the
     * tail comes within the hold */
    ck_assert_int_eq(ins(&j, 13, 6 * TPF, false, true, 6 * FI), HC_JBUF_STORED); /* 14 missing */
    ck_assert_int_eq(ins(&j, 13, 6 * TPF, false, true, 6 * FI), HC_JBUF_DUPLICATE);
    ck_assert_int_eq(pop(&j, 1000000, &f), 0);
    uint64_t due = hc_jbuf_next_event_us(&j);
    ck_assert_uint_gt(due, 6 * FI + 4000000);
    ck_assert_uint_le(due, 6 * FI + 4000000 + 400000);
    ck_assert_int_eq(ins(&j, 14, 6 * TPF, true, false, 1000000), HC_JBUF_STORED);
    ck_assert_int_eq(pop(&j, 1000000, &f), 1);
    ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
    ck_assert(f.late);
    ck_assert_uint_eq(f.npkts, 2);
    /* the same past the hold: given up, and its tail is late */
    ck_assert_int_eq(ins(&j, 15, 40 * TPF, false, true, 40 * FI), HC_JBUF_STORED);
    ck_assert_int_eq(pop(&j, 40 * FI + 3000000, &f), 0);
    ck_assert_int_eq(pop(&j, 40 * FI + 4500000, &f), 1);
    ck_assert_int_eq(f.status, HC_JBUF_FRAME_LOST);
    ck_assert_int_eq(ins(&j, 16, 40 * TPF, true, false, 40 * FI + 4500000), HC_JBUF_LATE);
    /* a packet of a later frame ends a hold at once */
    ck_assert_int_eq(ins(&j, 17, 200 * TPF, false, true, 200 * FI), HC_JBUF_STORED);
    ck_assert_int_eq(pop(&j, 200 * FI + 1000000, &f), 0);
    put_frame(&j, 19, 201 * TPF, 1, false, 200 * FI + 1000000);
    ck_assert_int_eq(pop(&j, 200 * FI + 1000000, &f), 1);
    ck_assert_int_eq(f.status, HC_JBUF_FRAME_LOST);
    ck_assert_int_eq(hc_jbuf_check(&j), 0);
}
END_TEST

/* A big keyframe with nothing after it (a still) and a hole: with an RTT
 * longer than the time to its playout, the hole is not asked for before
 * the frame is held (nor given up), then asked for and repaired, and the
 * frame shown late and whole. */
START_TEST(held_frame_nacked)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    uint16_t n[8];
    vinit(&j, true);
    hc_jbuf_on_rtt(&j, 400000);
    put_frame(&j, 0, 0, 2, true, 0);
    while (pop(&j, 1000000, &f) == 1) ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
    /* the still: 10 packets over 600 ms, the 4th lost */
    for (uint16_t k = 0; k < 10; k++)
        if (k != 3)
            ck_assert_int_eq(
                ins(&j, (uint16_t)(2 + k), 60 * TPF, k == 9, k == 0, 2000000 + (uint64_t)k * 60000),
                HC_JBUF_STORED);
    uint64_t t = 2000000, first_nack = 0;
    for (; t < 8000000 && !first_nack; t += 1000) {
        int r = hc_jbuf_nacks(&j, t, n, 8);
        ck_assert_int_ge(r, 0);
        if (r) {
            ck_assert_int_eq(r, 1);
            ck_assert_uint_eq(n[0], 5);
            first_nack = t;
        }
        ck_assert_int_eq(pop(&j, t, &f), 0); /* held, not given up in pieces */
    }
    ck_assert_uint_gt(first_nack, 0);
    ck_assert_uint_eq(stats(&j).nacks_given_up, 0);
    /* the retransmission comes one RTT later: the frame goes out whole */
    ck_assert_int_eq(ins(&j, 5, 60 * TPF, false, false, first_nack + 400000), HC_JBUF_STORED);
    ck_assert_int_eq(pop(&j, first_nack + 400000, &f), 1);
    ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
    ck_assert(f.late);
    ck_assert_uint_eq(f.npkts, 10);
    ck_assert_uint_eq(stats(&j).packets_recovered, 1);
    ck_assert_int_eq(hc_jbuf_check(&j), 0);
}
END_TEST

/* A whole frame missing between two frames, then a keyframe that starts
 * right after the gap. */
START_TEST(whole_frame_missing)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    vinit(&j, false);
    put_frame(&j, 0, 0, 2, true, 0);
    /* frame 1 (seq 2, 3) never arrives; frame 2 is a P frame */
    put_frame(&j, 4, 2 * TPF, 2, false, 2 * FI);
    put_frame(&j, 6, 3 * TPF, 2, true, 3 * FI);
    hc_jbuf_status_t want[] = {HC_JBUF_FRAME_OK, HC_JBUF_FRAME_LOST, HC_JBUF_FRAME_OK};
    unsigned got = 0;
    for (uint64_t t = 0; t < 500000; t += 1000)
        while (pop(&j, t, &f) == 1) {
            ck_assert_int_lt(got, 3);
            ck_assert_int_eq(f.status, want[got]);
            got++;
        }
    ck_assert_uint_eq(got, 3);
    /* and a keyframe straight after a wholly missing frame is fine */
    put_frame(&j, 10, 6 * TPF, 2, true, 6 * FI); /* seq 8, 9 missing */
    while (pop(&j, 1000000, &f) == 1) ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
    hc_jbuf_stats_t s = stats(&j);
    ck_assert_uint_eq(s.frames_lost, 2);
    ck_assert_uint_eq(s.frames_on_time, 3);
}
END_TEST

START_TEST(late_frame)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    vinit(&j, false);
    put_frame(&j, 0, 0, 2, true, 0);
    ck_assert_int_eq(ins(&j, 2, TPF, false, false, FI), HC_JBUF_STORED);
    /* due at FI + 40 ms; the caller looks only at FI + 60 ms, the last
     * packet came at FI + 50 ms: released, but late */
    ck_assert_int_eq(ins(&j, 3, TPF, true, false, FI + 50000), HC_JBUF_STORED);
    ck_assert_int_eq(pop(&j, FI + 60000, &f), 1);
    ck_assert_int_eq(pop(&j, FI + 60000, &f), 1);
    ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
    ck_assert(f.late);
    hc_jbuf_stats_t s = stats(&j);
    ck_assert_uint_eq(s.frames_late, 1);
    ck_assert_uint_eq(s.frames_on_time, 1);
}
END_TEST

START_TEST(freeze)
{
    hc_jbuf_t j;
    hc_jbuf_frame_t f;
    vinit(&j, false);
    for (unsigned k = 0; k < 30; k++) {
        if (k >= 10 && k < 25) continue; /* 500 ms outage */
        put_frame(&j, (uint16_t)(2 * k), k * TPF, 2, k == 0 || k == 25, k * FI);
    }
    for (uint64_t t = 0; t < 2000000; t += 1000)
        while (pop(&j, t, &f) == 1) {
        }
    hc_jbuf_stats_t s = stats(&j);
    ck_assert_uint_eq(s.freezes, 1);
    ck_assert_uint_ge(s.freeze_total_us, 15 * FI);
    ck_assert_uint_le(s.freeze_total_us, 16 * FI + 2000);
    ck_assert_uint_eq(s.frames_on_time, 15);
    ck_assert_uint_eq(s.frames_lost, 1); /* the gap, seen as one lost frame */
}
END_TEST

START_TEST(audio_conceal)
{
    hc_jbuf_t j;
    hc_jbuf_cfg_t c;
    hc_jbuf_frame_t f;
    hc_jbuf_cfg_default(&c, false);
    ck_assert_int_eq(hc_jbuf_init(&j, &c, g_slots, 64), 0);
    /* 20 ms Opus packets at 48 kHz; 3 and 4 lost */
    for (unsigned k = 0; k < 8; k++) {
        if (k == 3 || k == 4) continue;
        hc_jbuf_pkt_t p = pk((uint16_t)(200 + k), 960 * k, k == 0, false);
        ck_assert_int_eq(hc_jbuf_insert(&j, &p, k * 20000), HC_JBUF_STORED);
    }
    unsigned got = 0;
    for (uint64_t t = 0; t < 400000; t += 500) {
        while (hc_jbuf_pop_frame(&j, t, &f, g_out, 64) == 1) {
            ck_assert_uint_eq(f.ts, 960 * got);
            ck_assert_uint_eq(f.first_seq, 200 + got);
            /* each frame, concealed or not, is due 20 ms after the previous */
            ck_assert_uint_eq(f.playout_us, 40000 + 20000 * got);
            if (got == 3 || got == 4) {
                ck_assert_int_eq(f.status, HC_JBUF_FRAME_CONCEAL);
                ck_assert_uint_eq(f.npkts, 0);
            } else {
                ck_assert_int_eq(f.status, HC_JBUF_FRAME_OK);
                ck_assert_uint_eq(f.npkts, 1);
            }
            got++;
        }
    }
    ck_assert_uint_eq(got, 8);
    hc_jbuf_pkt_t p = pk(203, 960 * 3, false, false);
    ck_assert_int_eq(hc_jbuf_insert(&j, &p, 400000), HC_JBUF_LATE);
    hc_jbuf_stats_t s = stats(&j);
    ck_assert_uint_eq(s.frames_concealed, 2);
    ck_assert_uint_eq(s.frames_on_time, 6);
    ck_assert_uint_eq(s.frames_late, 1);
    ck_assert_uint_eq(s.freezes, 0);
    ck_assert(!hc_jbuf_need_keyframe(&j));
}
END_TEST

/* A ring of 16 slots fed 40 packets before anything is due. */
START_TEST(overflow)
{
    static hc_jbuf_slot_t small[16];
    hc_jbuf_t j;
    hc_jbuf_cfg_t c;
    hc_jbuf_frame_t f;
    hc_jbuf_cfg_default(&c, true);
    c.nack = false;
    ck_assert_int_eq(hc_jbuf_init(&j, &c, small, 16), 0);
    unsigned stored = 0, discarded = 0, back = 0;
    /* one 40-packet keyframe: nothing is due before 40 ms */
    for (unsigned i = 0; i < 40; i++) {
        int r = ins(&j, (uint16_t)i, 0, i == 39, i == 0, i * 100);
        if (r == HC_JBUF_STORED) stored++;
        if (r == HC_JBUF_DISCARDED) discarded++;
        while ((r = hc_jbuf_pop_frame(&j, i * 100, &f, g_out, 16)) == 1) {
            ck_assert_int_eq(f.status, HC_JBUF_FRAME_FLUSHED);
            back += (unsigned)f.npkts;
        }
        ck_assert_int_eq(r, 0);
        ck_assert_int_eq(hc_jbuf_check(&j), 0);
    }
    ck_assert_uint_gt(discarded, 0);
    ck_assert_uint_eq(stored + discarded, 40);
    hc_jbuf_flush(&j);
    while (hc_jbuf_pop_frame(&j, 4000, &f, g_out, 16) == 1) back += (unsigned)f.npkts;
    ck_assert_uint_eq(back, stored);
    ck_assert_uint_eq(stats(&j).packets_held, 0);
    ck_assert(hc_jbuf_need_keyframe(&j));
}
END_TEST

/* Random packets, times and calls: invariants hold after every call and
 * every stored packet comes back exactly once. */
START_TEST(random_ownership)
{
    static uint8_t owned[65536];
    hc_jbuf_frame_t f;
    uint16_t n[64];
    for (uint64_t seed = 1; seed <= 40; seed++) {
        hc_jbuf_t j;
        hc_jbuf_cfg_t c;
        uint64_t rng = seed;
        hc_jbuf_cfg_default(&c, seed % 3 != 0);
        c.nack = seed % 2;
        size_t ns = seed % 4 == 0 ? 16 : 256;
        ck_assert_int_eq(hc_jbuf_init(&j, &c, g_slots, ns), 0);
        memset(owned, 0, sizeof(owned));
        uint64_t t = 0;
        uint16_t seq = (uint16_t)hc_test_rand(&rng);
        uint32_t ts = (uint32_t)hc_test_rand(&rng);
        unsigned held = 0;
        for (unsigned i = 0; i < 3000; i++) {
            uint64_t r = hc_test_rand(&rng);
            t += r % 8000;
            switch (r >> 60) {
            case 0: seq = (uint16_t)(seq + (r >> 20) % 9000); break; /* jumps */
            case 1: ts += (uint32_t)(r >> 16); break;
            case 2: hc_jbuf_on_rtt(&j, (uint32_t)(r >> 40) % 500000); break;
            case 3: hc_jbuf_nacks(&j, t, n, (r >> 20) % 64); break;
            default: break;
            }
            uint16_t s = (uint16_t)(seq + (r >> 8) % 40 - 20);
            hc_jbuf_pkt_t p = {s, ts + (uint32_t)((r >> 30) % 4) * 3000, (r >> 40) & 1,
                               ((r >> 41) & 7) == 0, s};
            int ir = hc_jbuf_insert(&j, &p, t);
            ck_assert_int_ge(ir, 0);
            if (ir == HC_JBUF_STORED) {
                ck_assert_uint_eq(owned[s], 0);
                owned[s] = 1;
                held++;
            }
            seq = (uint16_t)(seq + 1);
            if (r & 0x10) ts += 3000;
            int pr;
            while ((pr = hc_jbuf_pop_frame(&j, t, &f, g_out, ns)) == 1) {
                for (size_t k = 0; k < f.npkts; k++) {
                    ck_assert_uint_eq(g_out[k].ref, g_out[k].seq);
                    ck_assert_uint_eq(owned[g_out[k].seq], 1);
                    owned[g_out[k].seq] = 0;
                    held--;
                }
            }
            ck_assert_int_eq(pr, 0);
            ck_assert_int_eq(hc_jbuf_check(&j), 0);
            ck_assert_uint_eq(stats(&j).packets_held, held);
        }
        hc_jbuf_flush(&j);
        while (hc_jbuf_pop_frame(&j, t, &f, g_out, ns) == 1)
            for (size_t k = 0; k < f.npkts; k++) {
                ck_assert_uint_eq(owned[g_out[k].seq], 1);
                owned[g_out[k].seq] = 0;
                held--;
            }
        ck_assert_uint_eq(held, 0);
        ck_assert_int_eq(hc_jbuf_check(&j), 0);
    }
}
END_TEST

/*
 * A simulated lossy channel: 30 fps video, 5 packets per frame (15 for a
 * keyframe) paced 1 ms apart, 50 ms one-way delay plus 0-10 ms jitter,
 * random loss on the media path, NACKs answered by a retransmission one
 * RTT (100 ms, plus jitter) after the request, PLI answered by a keyframe.
 * The playout budget (max delay) is 300 ms.
 */
typedef struct arrival {
    uint64_t t;
    hc_jbuf_pkt_t p;
} arrival_t;

/* The first 2 s are not counted: the loss estimate needs a few hundred
 * packets before the delay leaves room for a second retransmission. */
#define WARMUP_FRAMES 60

typedef struct simres {
    unsigned frames, rendered, complete; /* on time */
    hc_jbuf_stats_t st;
} simres_t;

static simres_t simulate(uint32_t loss_pm, uint32_t rtx_loss_pm, uint64_t seconds, uint64_t seed)
{
    static arrival_t a[8192];
    static hc_jbuf_pkt_t sent[65536];
    static uint8_t seen[4096];
    size_t na = 0;
    hc_jbuf_t j;
    hc_jbuf_cfg_t c;
    hc_jbuf_frame_t f;
    uint16_t n[64];
    uint64_t rng = seed;
    const uint64_t owd = 50000, jit = 10000, rtt = 100000;
    simres_t res;
    memset(&res, 0, sizeof(res));
    memset(seen, 0, sizeof(seen));
    hc_jbuf_cfg_default(&c, true);
    c.max_delay_us = 300000;
    ck_assert_int_eq(hc_jbuf_init(&j, &c, g_slots, NS), 0);
    hc_jbuf_on_rtt(&j, (uint32_t)rtt);
    uint16_t seq = 1000;
    unsigned frame = 0;
    uint64_t key_at = 0, last_pli = 0;
    bool pli = false;
    const uint64_t end = seconds * 1000000;
    for (uint64_t t = 0; t < end; t += 500) {
        /* sender */
        if ((uint64_t)frame * 100000 / 3 <= t && (uint64_t)frame * 100000 / 3 < end - 1000000) {
            bool key = frame == 0 || (pli && t >= key_at);
            if (key) pli = false;
            unsigned np = key ? 15 : 5;
            for (unsigned i = 0; i < np; i++) {
                hc_jbuf_pkt_t p = {seq, frame * TPF, i == np - 1, key && i == 0, seq};
                sent[seq] = p;
                if (hc_test_rand(&rng) % 1000 >= loss_pm) {
                    ck_assert_uint_lt(na, 8192);
                    a[na].t = t + i * 1000 + owd + hc_test_rand(&rng) % jit;
                    a[na++].p = p;
                }
                seq++;
            }
            frame++;
        }
        /* network */
        for (size_t i = 0; i < na;) {
            if (a[i].t <= t) {
                ck_assert_int_ge(hc_jbuf_insert(&j, &a[i].p, t), 0);
                a[i] = a[--na];
            } else {
                i++;
            }
        }
        /* receiver */
        int k = hc_jbuf_nacks(&j, t, n, 64);
        for (int i = 0; i < k; i++) {
            if (hc_test_rand(&rng) % 1000 < rtx_loss_pm) continue;
            ck_assert_uint_lt(na, 8192);
            a[na].t = t + rtt + hc_test_rand(&rng) % jit;
            a[na++].p = sent[n[i]];
        }
        if (hc_jbuf_need_keyframe(&j) && (last_pli == 0 || t - last_pli >= rtt)) {
            last_pli = t;
            pli = true;
            key_at = t + rtt / 2;
        }
        while (hc_jbuf_pop_frame(&j, t, &f, g_out, NS) == 1) {
            unsigned fi = f.ts / TPF;
            if (fi >= 4096 || seen[fi]) continue;
            seen[fi] = 1;
            if (fi < WARMUP_FRAMES) continue;
            if (f.status == HC_JBUF_FRAME_OK && !f.late) res.rendered++;
            if ((f.status == HC_JBUF_FRAME_OK || f.status == HC_JBUF_FRAME_DEPENDENT) && !f.late)
                res.complete++;
        }
        ck_assert_int_eq(hc_jbuf_check(&j), 0);
    }
    res.frames = frame - WARMUP_FRAMES;
    hc_jbuf_stats(&j, &res.st);
    return res;
}

START_TEST(lossy_channel_nack)
{
    /* 10 % random loss; retransmissions get through one RTT later */
    simres_t r = simulate(100, 0, 60, 11);
    printf("jbuf sim 10%% loss, reliable rtx: %u frames, %.2f %% rendered on time, delay %u ms, "
           "nacks %llu, recovered %llu\n",
           r.frames, 100.0 * r.rendered / r.frames, r.st.delay_us / 1000,
           (unsigned long long)r.st.nacks_sent, (unsigned long long)r.st.packets_recovered);
    ck_assert_uint_ge(r.rendered * 100, r.frames * 99);
    ck_assert_uint_le(r.st.delay_us, 300000);
    ck_assert_uint_ge(r.st.loss_ppm, 70000);
    ck_assert_uint_le(r.st.loss_ppm, 130000);

    /* retransmissions lost at 10 % too: two rounds fit in 300 ms */
    r = simulate(100, 100, 60, 12);
    printf("jbuf sim 10%% loss, rtx lost 10%%: %u frames, %.2f %% complete on time, %.2f %% "
           "rendered (the rest wait for a keyframe), delay %u ms\n",
           r.frames, 100.0 * r.complete / r.frames, 100.0 * r.rendered / r.frames,
           r.st.delay_us / 1000);
    ck_assert_uint_ge(r.complete * 100, r.frames * 99);
    ck_assert_uint_le(r.st.delay_us, 300000);

    /* without NACK the same channel loses a third of the frames */
    r = simulate(100, 1000, 20, 13);
    ck_assert_uint_lt(r.complete * 100, r.frames * 70);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("jbuf");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, args);
    tcase_add_test(tc, in_order);
    tcase_add_test(tc, cap_too_small);
    tcase_add_test(tc, reorder);
    tcase_add_test(tc, nack_timing_and_give_up);
    tcase_add_test(tc, nack_recovery);
    tcase_add_test(tc, wrap);
    tcase_add_test(tc, duplicates_and_old);
    tcase_add_test(tc, restart_forward);
    tcase_add_test(tc, restart_backward);
    tcase_add_test(tc, delay_follows_jitter);
    tcase_add_test(tc, delay_includes_rtt);
    tcase_add_test(tc, lost_dependent_keyframe);
    tcase_add_test(tc, lost_tail);
    tcase_add_test(tc, held_frame_nacked);
    tcase_add_test(tc, whole_frame_missing);
    tcase_add_test(tc, late_frame);
    tcase_add_test(tc, freeze);
    tcase_add_test(tc, audio_conceal);
    tcase_add_test(tc, overflow);
    tcase_add_test(tc, random_ownership);
    tcase_add_test(tc, lossy_channel_nack);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
