#include "proto/err.h"
#include "proto/repair.h"
#include "tests/common/testutil.h"

#include <math.h>
#include <string.h>

#define S 1000000ull

static hc_repair_in_t in_of(double loss, uint32_t rtt_ms)
{
    hc_repair_in_t in = {loss, 1.0, rtt_ms * 1000, 10000, 300000, 1500000, false};
    return in;
}

START_TEST(args)
{
    hc_repair_t r;
    hc_repair_out_t o;
    hc_repair_in_t in = in_of(0.01, 100);
    hc_repair_init(&r);
    hc_repair_init(NULL);
    ck_assert_int_eq(hc_repair_update(NULL, &in, 0, &o), -HC_EINVAL);
    ck_assert_int_eq(hc_repair_update(&r, NULL, 0, &o), -HC_EINVAL);
    ck_assert_int_eq(hc_repair_update(&r, &in, 0, NULL), -HC_EINVAL);
    in.loss = NAN;
    ck_assert_int_eq(hc_repair_update(&r, &in, 0, &o), -HC_EINVAL);
    in.loss = 1.5;
    ck_assert_int_eq(hc_repair_update(&r, &in, 0, &o), -HC_EINVAL);
    in.loss = -0.1;
    ck_assert_int_eq(hc_repair_update(&r, &in, 0, &o), -HC_EINVAL);
    in = in_of(0.01, 100);
    in.burst_len = -1;
    ck_assert_int_eq(hc_repair_update(&r, &in, 0, &o), -HC_EINVAL);
    in = in_of(0.01, 100);
    in.budget_us = 0;
    ck_assert_int_eq(hc_repair_update(&r, &in, 0, &o), -HC_EINVAL);
    ck_assert(!r.started);
}
END_TEST

START_TEST(rtx_copies)
{
    ck_assert_uint_eq(hc_repair_rtx_copies(0), 1);
    ck_assert_uint_eq(hc_repair_rtx_copies(0.049), 1);
    ck_assert_uint_eq(hc_repair_rtx_copies(0.05), 2);
    ck_assert_uint_eq(hc_repair_rtx_copies(0.3), 2);
    ck_assert_uint_eq(hc_repair_rtx_copies(0.0 / 0.0), 1);
}
END_TEST

START_TEST(rounds)
{
    /* 300 ms budget, 10 ms jitter: 227 ms for rounds of RTT * 9/8 */
    ck_assert_uint_eq(hc_repair_rounds(50000, 10000, 300000), 3);
    ck_assert_uint_eq(hc_repair_rounds(100000, 10000, 300000), 2);
    ck_assert_uint_eq(hc_repair_rounds(150000, 10000, 300000), 1);
    ck_assert_uint_eq(hc_repair_rounds(250000, 10000, 300000), 0);
    /* jitter eats the budget: 300 - 150 - 43 = 107 ms */
    ck_assert_uint_eq(hc_repair_rounds(80000, 50000, 300000), 1);
    ck_assert_uint_eq(hc_repair_rounds(0, 0, 300000), 3);
    ck_assert_uint_eq(hc_repair_rounds(10000, 0, 40000), 0);
    ck_assert_uint_eq(hc_repair_rounds(100000, 1000000, 300000), 0);
    /* the rule of thumb: RTT + 3 x jitter above budget / 2 leaves <= 1 round */
    for (uint32_t rtt = 1000; rtt < 400000; rtt += 1000)
        if (rtt + 30000 > 150000) ck_assert_uint_le(hc_repair_rounds(rtt, 10000, 300000), 1);
}
END_TEST

typedef struct row {
    double loss, burst;
    uint32_t rtt_ms, rate_kbps;
    bool fec;
    uint8_t k, overhead, red;
    bool ofec;
    uint8_t opus_pct;
    bool ir;
} row_t;

START_TEST(decision_table)
{
    /* budget 300 ms, jitter 10 ms; first decision (no hysteresis) */
    static const row_t rows[] = {
        /* loss  burst rtt  rate   fec   k  ovh red ofec pct ir */
        {0.000, 1.0, 50, 1500, false, 0, 0, 0, false, 0, false},
        {0.010, 1.0, 100, 1500, false, 0, 0, 0, true, 1, false},
        {0.030, 1.0, 100, 1500, false, 0, 0, 1, true, 3, false},  /* 2.7e-5 after 2 rounds */
        {0.100, 1.0, 100, 1500, true, 5, 20, 2, true, 10, false}, /* 1e-3: NACK alone not enough */
        {0.095, 1.0, 50, 1500, false, 0, 0, 1, true, 10, false},  /* 3 rounds: 8e-5 */
        {0.200, 1.0, 50, 1500, true, 4, 25, 2, true, 20, false},
        {0.030, 1.0, 150, 1500, true, 10, 10, 1, true, 3, false}, /* one round: 9e-4 */
        {0.009, 1.0, 150, 1500, false, 0, 0, 0, false, 1, false}, /* one round: 8e-5 */
        {0.012, 1.0, 150, 1500, true, 15, 7, 0, true, 2, false},
        {0.006, 1.0, 300, 1500, true, 15, 7, 0, false, 1, false}, /* no round fits */
        {0.004, 1.0, 300, 1500, false, 0, 0, 0, false, 1, false}, /* below 0.5 %: noise */
        {0.050, 2.5, 50, 1500, false, 0, 0, 2, true, 5, false},   /* bursts: RED 2 */
        {0.050, 1.0, 50, 1500, false, 0, 0, 1, true, 5, false},
        {0.060, 1.0, 100, 1500, true, 7, 15, 1, true, 6, false},
        {0.400, 1.0, 100, 1500, true, 4, 25, 2, true, 30, false},
        {0.000, 1.0, 100, 400, false, 0, 0, 0, false, 0, true}, /* thin link */
        {0.000, 1.0, 100, 600, false, 0, 0, 0, false, 0, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *w = &rows[i];
        hc_repair_t r;
        hc_repair_out_t o;
        hc_repair_in_t in = in_of(w->loss, w->rtt_ms);
        in.burst_len = w->burst;
        in.rate_bps = w->rate_kbps * 1000;
        hc_repair_init(&r);
        ck_assert_int_eq(hc_repair_update(&r, &in, 0, &o), 0);
        ck_assert_msg(o.nack, "row %zu", i);
        ck_assert_msg(o.fec == w->fec, "row %zu fec", i);
        ck_assert_msg(o.fec_k == w->k, "row %zu k %u", i, o.fec_k);
        ck_assert_msg(o.fec_overhead_pct == w->overhead, "row %zu overhead", i);
        ck_assert_msg(o.red_level == w->red, "row %zu red %u", i, o.red_level);
        ck_assert_msg(o.opus_fec == w->ofec, "row %zu opus fec", i);
        ck_assert_msg(o.opus_loss_pct == w->opus_pct, "row %zu opus pct %u", i, o.opus_loss_pct);
        ck_assert_msg(o.intra_refresh == w->ir, "row %zu ir", i);
        ck_assert_uint_eq(o.rounds, hc_repair_rounds(in.rtt_us, in.jitter_us, in.budget_us));
    }
}
END_TEST

static hc_repair_out_t step(hc_repair_t *r, double loss, uint32_t rtt_ms, uint64_t t)
{
    hc_repair_out_t o;
    hc_repair_in_t in = in_of(loss, rtt_ms);
    ck_assert_int_eq(hc_repair_update(r, &in, t, &o), 0);
    return o;
}

START_TEST(fec_hysteresis)
{
    hc_repair_t r;
    hc_repair_init(&r);
    ck_assert(!step(&r, 0.02, 100, 0).fec);
    ck_assert(step(&r, 0.10, 100, S).fec); /* on at once */
    /* 4 % is inside the band (off below ~3.1 %, on above ~4.6 %): stays */
    for (uint64_t t = 2; t < 60; t++) ck_assert(step(&r, 0.04, 100, t * S).fec);
    /* 2 %: off only after 10 s */
    for (uint64_t t = 60; t < 70; t++) ck_assert(step(&r, 0.02, 100, t * S).fec);
    ck_assert(!step(&r, 0.02, 100, 70 * S).fec);
    /* a relapse inside the hold restarts it */
    hc_repair_init(&r);
    step(&r, 0.10, 100, 0);
    for (uint64_t t = 1; t < 9; t++) step(&r, 0.01, 100, t * S);
    ck_assert(step(&r, 0.08, 100, 9 * S).fec);
    for (uint64_t t = 10; t < 19; t++) ck_assert(step(&r, 0.01, 100, t * S).fec);
    ck_assert(step(&r, 0.01, 100, 19 * S).fec);
    ck_assert(!step(&r, 0.01, 100, 20 * S).fec);
}
END_TEST

START_TEST(no_flapping)
{
    hc_repair_t r;
    hc_repair_init(&r);
    bool prev = step(&r, 0.03, 100, 0).fec;
    unsigned changes = 0, red_changes = 0;
    uint8_t red = r.cur.red_level;
    /* loss swinging 3 % <-> 7 % every 2 s for 5 minutes */
    for (uint64_t t = 1; t < 300; t++) {
        hc_repair_out_t o = step(&r, (t / 2) % 2 ? 0.07 : 0.03, 100, t * S);
        if (o.fec != prev) changes++;
        if (o.red_level != red) red_changes++;
        prev = o.fec;
        red = o.red_level;
    }
    ck_assert_uint_eq(changes, 1);
    ck_assert_uint_eq(red_changes, 0);
}
END_TEST

START_TEST(k_hysteresis)
{
    hc_repair_t r;
    hc_repair_init(&r);
    ck_assert_uint_eq(step(&r, 0.10, 100, 0).fec_k, 5);
    ck_assert_uint_eq(step(&r, 0.20, 100, S).fec_k, 4); /* stronger at once */
    /* 6 %: k 7 wanted (and still 7 at 1.25 x 6 %), after 5 s */
    for (uint64_t t = 2; t < 7; t++) ck_assert_uint_eq(step(&r, 0.06, 100, t * S).fec_k, 4);
    ck_assert_uint_eq(step(&r, 0.06, 100, 7 * S).fec_k, 7);
    /* 7 % still wants 7; 9 % wants 5: stronger, at once */
    ck_assert_uint_eq(step(&r, 0.07, 100, 8 * S).fec_k, 7);
    ck_assert_uint_eq(step(&r, 0.09, 100, 9 * S).fec_k, 5);
}
END_TEST

/* Listeners out of sight: audio protected on a clean uplink, more when
 * the uplink itself loses; video repair untouched. */
START_TEST(audio_floor)
{
    hc_repair_t r;
    hc_repair_init(&r);
    hc_repair_in_t in = in_of(0.0, 50);
    in.audio_floor = true;
    in.rate_bps = 500000;
    hc_repair_out_t o;
    ck_assert_int_eq(hc_repair_update(&r, &in, 0, &o), 0);
    ck_assert_uint_eq(o.red_level, 1);
    in.rate_bps = 1500000; /* room for a second copy */
    ck_assert_int_eq(hc_repair_update(&r, &in, 0, &o), 0);
    ck_assert_uint_eq(o.red_level, 2);
    in.rate_bps = 500000;
    ck_assert_int_eq(hc_repair_update(&r, &in, 0, &o), 0);
    ck_assert_uint_eq(o.red_level, 1);
    ck_assert(o.opus_fec);
    ck_assert_uint_eq(o.opus_loss_pct, 10);
    ck_assert(!o.fec);
    in.loss = 0.15;
    ck_assert_int_eq(hc_repair_update(&r, &in, S, &o), 0);
    ck_assert_uint_eq(o.red_level, 2);
    ck_assert_uint_eq(o.opus_loss_pct, 15);
    ck_assert(o.fec);
    /* without the floor the same state relaxes to nothing */
    hc_repair_t r2;
    hc_repair_init(&r2);
    ck_assert_uint_eq(step(&r2, 0.0, 50, 0).red_level, 0);
    ck_assert(!step(&r2, 0.0, 50, S).opus_fec);
}
END_TEST

START_TEST(audio_hysteresis)
{
    hc_repair_t r;
    hc_repair_init(&r);
    hc_repair_out_t o = step(&r, 0.12, 50, 0);
    ck_assert_uint_eq(o.red_level, 2);
    ck_assert(o.opus_fec);
    for (uint64_t t = 1; t < 11; t++) ck_assert_uint_eq(step(&r, 0.05, 50, t * S).red_level, 2);
    o = step(&r, 0.05, 50, 11 * S);
    ck_assert_uint_eq(o.red_level, 1);
    ck_assert_uint_eq(o.opus_loss_pct, 5);
    for (uint64_t t = 12; t < 30; t++) step(&r, 0.001, 50, t * S);
    o = step(&r, 0.001, 50, 30 * S);
    ck_assert_uint_eq(o.red_level, 0);
    ck_assert(!o.opus_fec);
    ck_assert_uint_eq(o.opus_loss_pct, 1);
    /* bursts raise RED at once */
    hc_repair_in_t in = in_of(0.04, 50);
    in.burst_len = 3;
    ck_assert_int_eq(hc_repair_update(&r, &in, 31 * S, &o), 0);
    ck_assert_uint_eq(o.red_level, 2);
}
END_TEST

START_TEST(intra_refresh_hysteresis)
{
    hc_repair_t r;
    hc_repair_out_t o;
    hc_repair_in_t in = in_of(0, 100);
    hc_repair_init(&r);
    in.rate_bps = 400000;
    hc_repair_update(&r, &in, 0, &o);
    ck_assert(o.intra_refresh);
    in.rate_bps = 700000; /* between 600 and 750: stays */
    for (uint64_t t = 1; t < 60; t++) {
        hc_repair_update(&r, &in, t * S, &o);
        ck_assert(o.intra_refresh);
    }
    in.rate_bps = 900000;
    for (uint64_t t = 60; t < 70; t++) {
        hc_repair_update(&r, &in, t * S, &o);
        ck_assert(o.intra_refresh);
    }
    hc_repair_update(&r, &in, 70 * S, &o);
    ck_assert(!o.intra_refresh);
    in.rate_bps = 500000;
    hc_repair_update(&r, &in, 71 * S, &o);
    ck_assert(o.intra_refresh);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("repair");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, args);
    tcase_add_test(tc, rounds);
    tcase_add_test(tc, rtx_copies);
    tcase_add_test(tc, decision_table);
    tcase_add_test(tc, fec_hysteresis);
    tcase_add_test(tc, no_flapping);
    tcase_add_test(tc, k_hysteresis);
    tcase_add_test(tc, audio_hysteresis);
    tcase_add_test(tc, audio_floor);
    tcase_add_test(tc, intra_refresh_hysteresis);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
